//! extwatch's engine: reads an audited root (live `/` or an offline copy) without writing to it,
//! reproduces systemd's discovery, matching and merge-state rules for the root's systemd version, and
//! turns what it sees into findings.
//!
//! The crate is built in rooms, each private to the crate behind this small API:
//!
//! - `host/`: the read-only root handle (the only way to a path inside the audited root), the
//!   systemd version and what follows from it, architecture names, the run's budgets, and the one
//!   module allowed `unsafe` (reading beneath an overlay in a private mount namespace);
//! - `inventory/`: what systemd would discover, each image opened and judged, the merge state, the
//!   image policy;
//! - `provenance/`: dm-verity and signatures as systemd evaluates them, trust anchors, `verify`,
//!   PKCS#7 (OpenSSL);
//! - `content/`: what is inside images and hierarchies, file by file — walk, hashes, listings,
//!   overlay semantics, what each extension changes;
//! - `checks/`: the check registry — each check a value (its catalogue entry from
//!   `extwatch_model::catalogue` and a function over [`checks::Facts`]), one file per family.
//!
//! Printing is the `extwatch-render` crate's job; this crate only builds the report.
//!
//! The audit is explicit stages ([`probe`] → [`inventory`] → [`facts`] → [`checks()`] → [`report`]), so
//! a long-running agent can re-run one. Room is left for `events/` (journal events and ticket
//! reconciliation, over a journal reader crate), `mounts/` (mount-table snapshots and their
//! differences) and `rules/` (detection rules over events and facts): each will be a room beside
//! these, feeding the facts stage.

// The workspace lints deny unsafe code, unwrap/expect/panic and slice indexing; `host/namespace.rs`
// alone allows `unsafe` (one `unshare(2)`).

mod audit;
pub mod checks;
pub(crate) mod content;
mod diagnostic;
pub(crate) mod error;
pub(crate) mod host;
pub(crate) mod inventory;
pub(crate) mod provenance;

use std::path::{Path, PathBuf};

pub use crate::audit::{
    audit, audit_full, checks, facts, inventory, probe, report, AuditError, HostFacts, Inventory,
    MountTableError, Probe,
};
pub use crate::content::changes::Analysis;
pub use crate::diagnostic::{Area, Diagnostic, TARGET as DIAGNOSTIC_TARGET};
pub use crate::error::chain as error_chain;
pub use crate::host::arch::{architecture_name, native_architecture};
pub use crate::host::rootfs::{open_operator_file, RootFs};
pub use crate::host::version::SystemdVersion;
pub use crate::provenance::evaluate::TrustCtx;
pub use crate::provenance::pkcs7::CertError;
pub use crate::provenance::trust::{load_operator as load_operator_trust, TrustError};
pub use crate::provenance::verify::{verify_image, FileHash};
pub use extwatch_model::time::rfc3339;

/// Listing one image (the `files` command): open it, walk it, hash its files (`extwatch-render`
/// prints it as `systemd-dissect --mtree`, a table or the `files` JSON report).
pub mod files {
    pub use crate::content::hash::{hash_files_limited, HashError};
    pub use crate::content::source::{content_of, Content};
    pub use crate::content::walk::{major_minor, walk, FileEntry, WalkError, WalkLimits};
    pub use extwatch_formats::{open_image, EntryKind, RawFormat, ReadAt};
}

/// What to audit and how.
#[derive(Debug, Clone)]
pub struct Options {
    /// The root directory (`/` for the live host).
    pub root: PathBuf,
    /// Force a systemd version instead of detecting it.
    pub systemd_version: Option<SystemdVersion>,
    /// Mount table to read; `None` means `/proc/self/mountinfo`.
    pub mountinfo: Option<PathBuf>,
    /// Architecture name (systemd spelling); `None` = the machine extwatch runs on.
    pub architecture: Option<String>,
    /// Run the checks (audit) or only take the inventory.
    pub checks: bool,
    /// The operator's trust anchors (`--trust`), a directory or file on the auditing machine.
    pub trust: Option<PathBuf>,
    /// Recompute every image's verity hash tree.
    pub deep: bool,
    /// Initrd rules: `None` = the root has `/etc/initrd-release` (how the booted system decides).
    pub initrd: Option<bool>,
    /// Compute what each extension changes even when no selected check needs it (the analysis
    /// [`audit_full`] returns, e.g. for a baseline). With `checks`, it is computed whenever a
    /// selected check needs it.
    pub content: bool,
    /// Hash every file of the base and merged views (for `--baseline`).
    pub hash_all: bool,
    /// Which checks run (`--only`/`--skip`); all by default.
    pub select: checks::Selection,
}

/// Convenience for callers that hold a path.
pub fn options_for(root: &Path) -> Options {
    Options {
        root: root.to_path_buf(),
        systemd_version: None,
        mountinfo: None,
        architecture: None,
        checks: true,
        trust: None,
        deep: false,
        initrd: None,
        content: true,
        hash_all: false,
        select: checks::Selection::all(),
    }
}
