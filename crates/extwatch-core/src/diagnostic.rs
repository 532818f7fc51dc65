//! Diagnostics: what an audit noticed but that is neither a finding nor a reason to stop — an
//! unreadable directory, a skipped mount-table line, a host os-release that is not a regular file.
//!
//! They are records, not strings, so a long-running agent can route them by area (and later the
//! journal/event layers can attach them to what they concern); [`Diagnostic`]'s `Display` is the
//! exact line the CLI has always printed after `extwatch: warning: `.
//!
//! [`Diagnostic::emit`] sends one as a `tracing` event (level WARN, target [`TARGET`], fields
//! `area` and `path`, the message as the event's message): the CLI prints those under `--verbose`
//! through a `tracing-subscriber` layer, and an agent can install its own subscriber instead.

use std::fmt;

/// The part of the audit a diagnostic comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Area {
    /// The host's os-release.
    OsRelease,
    /// The mount table (`/proc/self/mountinfo` or `--mountinfo`).
    MountTable,
    /// Image discovery in the search directories.
    Discovery,
    /// The merge state of the hierarchies.
    MergeState,
}

impl Area {
    /// A short, stable name (`os-release`, `mount-table`, `discovery`, `merge-state`).
    pub fn name(self) -> &'static str {
        match self {
            Area::OsRelease => "os-release",
            Area::MountTable => "mount-table",
            Area::Discovery => "discovery",
            Area::MergeState => "merge-state",
        }
    }
}

/// One diagnostic of an audit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// Where it comes from.
    pub area: Area,
    /// The path it concerns, when there is one (inside the root, or a file on the auditing machine
    /// such as the mount table).
    pub path: Option<String>,
    /// The full message, as printed.
    pub message: String,
}

impl Diagnostic {
    /// A diagnostic of `area` about `path`.
    pub fn new(area: Area, path: Option<String>, message: String) -> Diagnostic {
        Diagnostic {
            area,
            path,
            message,
        }
    }
}

/// The `tracing` target of diagnostic events.
pub const TARGET: &str = "extwatch::diagnostic";

impl Diagnostic {
    /// Emits this diagnostic as a `tracing` event: WARN on [`TARGET`], with `area` (its
    /// [`Area::name`]) and `path` (when there is one) as fields and the message as the event's
    /// message. Without a subscriber it goes nowhere.
    pub fn emit(&self) {
        tracing::warn!(
            target: TARGET,
            area = self.area.name(),
            path = self.path.as_deref(),
            "{}",
            self.message
        );
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}
