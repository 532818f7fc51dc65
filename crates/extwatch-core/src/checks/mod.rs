//! The check registry: every check is a value that pairs its catalogue entry (id, severity,
//! controls, words, the [`Fact`]s it needs; `extwatch_model::catalogue`, docs/design.md §4) with a function
//! over the audit's [`Facts`] returning an [`Outcome`].
//!
//! Why a registry: the catalogue is data every renderer reads, the checks are code, and the two
//! must not drift. Each check names its catalogue entry by an id constant resolved at compile time
//! (`Check::new`), a test proves registry and catalogue match one to one, and `--only/--skip`
//! ([`Selection`]) and the audit's "compute only what is needed" read the same table.
//!
//! An outcome carries findings *and* an optional [`CheckError`]: a check that ran only partly (the
//! content analysis failed for one image) reports what it found and why the list may be incomplete
//! (`CheckRun::partial_error`); a check that could not run at all is status `error` with the
//! reason, never a silent pass.
//!
//! Families, one file each: `inventory.rs` (what is there), `release.rs` (whether systemd takes it),
//! `provenance.rs` (signatures, verity, trust store), `merge.rs` (merge state, overlays, mutable and
//! runtime images), `policy.rs` (image policies), `content.rs` (what an extension changes). A new
//! family adds a field to [`Facts`] (an `Option`, `None` in [`Facts::new`]), a [`Fact`] if it needs
//! one, a file here, its ids and catalogue entries in the model, and its checks at the end of
//! [`REGISTRY`].

use extwatch_model::{CheckRun, CheckStatus, Finding, Hierarchy, Image, ImageClass};

use crate::inventory::image::Extra;

pub use extwatch_model::catalogue::{ids, CheckDef, Fact, CATALOGUE};

mod content;
mod inventory;
mod merge;
mod policy;
mod provenance;
mod release;
mod select;

pub use content::sensitive_category;
pub use select::{SelectError, Selection};

/// What the checks are computed from: one audit's facts, borrowed.
///
/// Build it with [`Facts::new`] and struct update syntax, so a field added for a new family
/// (journal events, tickets, container manifests) leaves existing callers unchanged.
pub struct Facts<'a> {
    /// Images with their extra facts ([`Fact::Images`]).
    pub images: &'a [(Image, Extra)],
    /// Hierarchy states ([`Fact::Hierarchies`]).
    pub hierarchies: &'a [Hierarchy],
    /// `/var/lib/extensions.mutable` entries present (v256+), as paths ([`Fact::Hierarchies`]).
    pub mutable_dirs: &'a [String],
    /// The mount table was available ([`Fact::MountTable`]).
    pub mount_table: bool,
    /// Effective image policies per class ([`Fact::Policies`]).
    pub policies: &'a [crate::inventory::policy::Effective],
    /// The host's verity.d trust store ([`Fact::TrustStore`]).
    pub host_trust: &'a crate::provenance::trust::HostTrust,
    /// systemd version in force ([`Fact::Version`]).
    pub version: crate::host::version::SystemdVersion,
    /// What each extension changes, when computed ([`Fact::Content`]).
    pub content: Option<&'a crate::content::changes::Analysis>,
    /// FIFOs, sockets and character devices in search directories ([`Fact::SpecialFiles`]).
    pub special: &'a [crate::inventory::discover::SpecialFile],
}

impl<'a> Facts<'a> {
    /// Facts of a root with nothing found: no images, no merged hierarchy, no mount table, no
    /// policy, no content analysis.
    pub fn new(
        version: crate::host::version::SystemdVersion,
        host_trust: &'a crate::provenance::trust::HostTrust,
    ) -> Self {
        Facts {
            images: &[],
            hierarchies: &[],
            mutable_dirs: &[],
            mount_table: false,
            policies: &[],
            host_trust,
            version,
            content: None,
            special: &[],
        }
    }

    /// Whether `fact` was computed for this run (a check needing a missing fact is an error).
    pub fn has(&self, fact: Fact) -> bool {
        match fact {
            Fact::MountTable => self.mount_table,
            Fact::Content => self.content.is_some(),
            Fact::Images
            | Fact::Hierarchies
            | Fact::Policies
            | Fact::TrustStore
            | Fact::SpecialFiles
            | Fact::Version => true,
        }
    }
}

/// Why a check could not run, or ran only partly.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CheckError {
    /// The mount table is needed and none was read.
    #[error("no mount table was available (give --mountinfo FILE)")]
    NoMountTable,
    /// A fact the check needs was not computed in this run.
    #[error("{} was not computed in this run", fact_name(*.0))]
    NotComputed(Fact),
    /// The content analysis failed for part of the root (the reasons, in order).
    #[error("{}", content_reasons(.0))]
    Content(Vec<String>),
}

impl CheckError {
    /// The error for a fact that is missing.
    pub fn missing(fact: Fact) -> Self {
        match fact {
            Fact::MountTable => CheckError::NoMountTable,
            f => CheckError::NotComputed(f),
        }
    }
}

fn fact_name(f: Fact) -> &'static str {
    match f {
        Fact::Images => "the image inventory",
        Fact::Hierarchies => "the merge state",
        Fact::MountTable => "the mount table",
        Fact::Policies => "the image policies",
        Fact::TrustStore => "the host trust store",
        Fact::Content => "the content analysis",
        Fact::SpecialFiles => "the special-file scan",
        Fact::Version => "the systemd version",
    }
}

fn content_reasons(errors: &[String]) -> String {
    if errors.is_empty() {
        "the content analysis failed (no reason recorded)".into()
    } else {
        errors.join("; ")
    }
}

/// What one check produced: findings, and why it could not look at everything (if so).
#[derive(Debug, Default)]
pub struct Outcome {
    /// Findings, in the order the check made them.
    pub findings: Vec<Finding>,
    /// Set when the check could not run (no findings) or ran only partly (findings are real,
    /// the list may be incomplete).
    pub error: Option<CheckError>,
}

impl Outcome {
    /// A check that ran completely.
    pub fn of(findings: Vec<Finding>) -> Self {
        Outcome {
            findings,
            error: None,
        }
    }

    /// A check that could not run.
    pub fn failed(e: CheckError) -> Self {
        Outcome {
            findings: vec![],
            error: Some(e),
        }
    }

    /// The check's entry in the report's `checks` array.
    fn run_entry(&self, d: &CheckDef) -> CheckRun {
        let n = self.findings.len();
        let (status, reason, partial_error) = match &self.error {
            None if n == 0 => (CheckStatus::Pass, None, None),
            None => (CheckStatus::Fail, None, None),
            Some(e) if n == 0 => (CheckStatus::Error, Some(e.to_string()), None),
            Some(e) => (CheckStatus::Fail, None, Some(e.to_string())),
        };
        CheckRun {
            id: d.id.into(),
            severity: d.severity,
            controls: d.controls.iter().map(|c| c.to_string()).collect(),
            status,
            findings: n,
            reason,
            partial_error,
        }
    }
}

/// One registered check.
#[derive(Clone, Copy)]
pub struct Check {
    /// Its catalogue entry.
    pub def: &'static CheckDef,
    /// Computes its outcome from the facts (which include every fact `def.facts` names).
    pub run: fn(&Facts) -> Outcome,
}

impl Check {
    /// Pairs the catalogue entry of `id` with `run`. Only called in `const` items, so the lookup
    /// happens at compile time: an id without a catalogue entry fails the build, never a run.
    #[allow(clippy::panic)]
    const fn new(id: &'static str, run: fn(&Facts) -> Outcome) -> Check {
        match extwatch_model::catalogue::get(id) {
            Some(def) => Check { def, run },
            None => panic!("a registered check id has no catalogue entry"),
        }
    }
}

/// Every check, in the order of the report's `checks` array (a contract kept from the first
/// release: append, never reorder).
pub static REGISTRY: &[Check] = &[
    inventory::MERGED,
    provenance::DIRECTORY_IMAGE,
    release::RELEASE_ANY,
    release::RELEASE_MISMATCH,
    release::MISSING_RELEASE,
    release::SHIPS_OS_RELEASE,
    release::MALFORMED,
    inventory::IMPLAUSIBLE_SIZE,
    inventory::OUTSIDE_SEARCH_PATH,
    inventory::SPECIAL_FILE,
    merge::RUNTIME,
    merge::MUTABLE,
    merge::FOREIGN_OVERLAY,
    inventory::PORTABLE,
    provenance::UNSIGNED,
    provenance::NO_VERITY,
    provenance::SIGNATURE_INVALID,
    provenance::VERITY_MISMATCH,
    provenance::TRUST_STORE_IGNORED,
    policy::ALLOWS_UNSIGNED,
    policy::VERITY_FALLBACK,
    content::SHADOWS_BASE,
    content::OVERRIDES_EXTENSION,
    content::ADDS_EXECUTABLE,
    content::SETUID,
    content::ADDS_UNIT,
    content::SENSITIVE_CONFIG,
];

/// Runs the selected checks; returns findings (sorted) and per-check outcomes (registry order).
pub fn run(facts: &Facts, select: &Selection) -> (Vec<Finding>, Vec<CheckRun>) {
    let mut findings = Vec::new();
    let mut runs = Vec::new();
    for check in REGISTRY.iter().filter(|c| select.includes(c.def.id)) {
        let out = match check.def.facts.iter().find(|f| !facts.has(**f)) {
            Some(f) => Outcome::failed(CheckError::missing(*f)),
            None => (check.run)(facts),
        };
        runs.push(out.run_entry(check.def));
        findings.extend(out.findings);
    }
    sort_findings(&mut findings);
    (findings, runs)
}

/// Builds a finding with the catalogue's severity and controls.
pub fn finding(
    d: &CheckDef,
    subject: &str,
    message: String,
    evidence: serde_json::Value,
) -> Finding {
    Finding {
        id: d.id.into(),
        severity: d.severity,
        controls: d.controls.iter().map(|c| c.to_string()).collect(),
        subject: subject.into(),
        message,
        evidence,
    }
}

/// Whether systemd would consider the image at all (searched directory, not masked).
fn candidate(i: &Image) -> bool {
    i.searched && i.masked_by.is_none()
}

/// A sysext or confext (not a portable image).
fn is_extension(i: &Image) -> bool {
    i.class != ImageClass::Portable
}

/// Deterministic order: severity (highest first), id, subject, message.
pub fn sort_findings(f: &mut [Finding]) {
    f.sort_by(|a, b| {
        b.severity
            .cmp(&a.severity)
            .then_with(|| a.id.cmp(&b.id))
            .then_with(|| a.subject.cmp(&b.subject))
            .then_with(|| a.message.cmp(&b.message))
    });
}

#[cfg(test)]
mod tests;
