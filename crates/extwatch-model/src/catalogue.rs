//! The check catalogue: every check's stable id, default severity, NIST SP 800-53 controls and the
//! words a reader needs (what it means, why it matters, what to do), as data.
//!
//! It lives in the model crate because everything that shows a finding needs it: the renderers
//! (SARIF rules, `docs/checks.md`, the `checks` subcommand), the engine that evaluates the checks, and
//! later the fleet collector. Ids are a contract: add, never rename.

use serde::Serialize;

use crate::Severity;

/// A fact a check needs from the audit (so a long-running agent knows what to recompute).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Fact {
    /// The image inventory (discovery, release matching, provenance).
    Images,
    /// The merge state of each hierarchy (mount table, markers).
    Hierarchies,
    /// The mount table itself.
    MountTable,
    /// The effective image policies.
    Policies,
    /// The host's verity.d trust store.
    TrustStore,
    /// What each extension changes in the merged view.
    Content,
    /// Special files found in search directories.
    SpecialFiles,
    /// The systemd version in force.
    Version,
}

/// One entry of the catalogue.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct CheckDef {
    /// Stable id.
    pub id: &'static str,
    /// Default severity.
    pub severity: Severity,
    /// NIST SP 800-53 rev5 controls it evidences.
    pub controls: &'static [&'static str],
    /// What it means, in one line.
    pub summary: &'static str,
    /// Why it matters.
    pub rationale: &'static str,
    /// What to do about it.
    pub remediation: &'static str,
    /// The facts it is computed from.
    pub facts: &'static [Fact],
}

use Severity::*;

/// Every check this build evaluates.
pub const CATALOGUE: &[CheckDef] = &[
    CheckDef {
        id: "extension-merged",
        severity: Info,
        controls: &["CM-8"],
        summary: "the image is merged right now", rationale: "", remediation: "", facts: &[]
    },
    CheckDef {
        id: "extension-directory-image",
        severity: Medium,
        controls: &["CM-7", "SI-7"],
        summary: "directory extension: no image policy applies to it at all", rationale: "", remediation: "", facts: &[]
    },
    CheckDef {
        id: "extension-release-any",
        severity: Medium,
        controls: &["CM-7"],
        summary: "ID=_any: merges on any OS", rationale: "", remediation: "", facts: &[]
    },
    CheckDef {
        id: "extension-release-mismatch",
        severity: Info,
        controls: &["CM-8"],
        summary: "systemd refuses it for this host; evidence gives systemd's reason", rationale: "", remediation: "", facts: &[]
    },
    CheckDef {
        id: "extension-missing-release",
        severity: Info,
        controls: &["CM-8"],
        summary: "no extension-release: systemd ignores it", rationale: "", remediation: "", facts: &[]
    },
    CheckDef {
        id: "extension-ships-os-release",
        severity: High,
        controls: &["CM-6", "SI-7"],
        summary: "ships /usr/lib/os-release: systemd fails the whole merge", rationale: "", remediation: "", facts: &[]
    },
    CheckDef {
        id: "extension-malformed",
        severity: High,
        controls: &["SI-7"],
        summary: "image or release cannot be parsed; evidence gives the reason", rationale: "", remediation: "", facts: &[]
    },
    CheckDef {
        id: "image-outside-search-path",
        severity: Info,
        controls: &["CM-8"],
        summary:
            "an image in a directory systemd does not search (for its version): inert but staged", rationale: "", remediation: "", facts: &[]
    },
    CheckDef {
        id: "special-file-in-search-path",
        severity: Medium,
        controls: &["CM-8", "SI-4"],
        summary: "a FIFO, socket or character device in an extension search directory: systemd \
                      skips it, but it has no business there (a FIFO blocks tools that open it; a \
                      device node in an offline root names a device of the machine reading it); \
                      reported, never opened", rationale: "", remediation: "", facts: &[]
    },
    CheckDef {
        id: "runtime-extension",
        severity: Medium,
        controls: &["CM-3", "CM-6"],
        summary: "image in /run/extensions or /run/confexts: survives soft-reboot", rationale: "", remediation: "", facts: &[]
    },
    CheckDef {
        id: "mutable-extension-mode",
        severity: High,
        controls: &["CM-5", "SI-7"],
        summary: "overlay merged writable, or extensions.mutable present", rationale: "", remediation: "", facts: &[]
    },
    CheckDef {
        id: "merge-foreign-overlay",
        severity: High,
        controls: &["SI-4", "SI-7"],
        summary: "overlay on /usr, /opt or /etc not made by systemd, or marker/dev mismatch", rationale: "", remediation: "", facts: &[]
    },
    CheckDef {
        id: "portable-image-present",
        severity: Info,
        controls: &["CM-8"],
        summary: "portable service image found", rationale: "", remediation: "", facts: &[]
    },
    CheckDef { id: "extension-unsigned", severity: Medium, controls: &["SI-7", "SR-4", "SR-11"], summary: "sysext/confext without a verity signature (directory, plain squashfs/erofs, DDI without signature)", rationale: "", remediation: "", facts: &[] },
    CheckDef { id: "extension-no-verity", severity: Medium, controls: &["SI-7"], summary: "no verity root hash at all: nothing protects the data at rest", rationale: "", remediation: "", facts: &[] },
    CheckDef { id: "extension-signature-invalid", severity: High, controls: &["SI-7", "SR-11"], summary: "signature present but does not verify with any trusted certificate, or signs another root hash", rationale: "", remediation: "", facts: &[] },
    CheckDef { id: "extension-verity-mismatch", severity: High, controls: &["SI-7"], summary: "the recomputed hash tree does not match the declared root hash, or declared root hashes disagree", rationale: "", remediation: "", facts: &[] },
    CheckDef { id: "trust-store-ignored-files", severity: Low, controls: &["SI-7", "SR-4"], summary: "verity.d holds files systemd ignores (.pem, wrong suffix) or is empty", rationale: "", remediation: "", facts: &[] },
    CheckDef { id: "policy-allows-unsigned", severity: Medium, controls: &["SI-7", "CM-7", "SR-11"], summary: "effective image policy accepts unsigned/unprotected images", rationale: "", remediation: "", facts: &[] },
    CheckDef { id: "policy-verity-fallback", severity: Medium, controls: &["SI-7"], summary: "systemd version/policy lets a bad signature fall back to plain verity", rationale: "", remediation: "", facts: &[] },
    CheckDef { id: "extension-shadows-base", severity: High, controls: &["SI-7", "CM-5"], summary: "replaces a file of the base /usr, /opt or /etc (path, base and image sha256; files over 1 GiB unhashed)", rationale: "", remediation: "", facts: &[] },
    CheckDef { id: "extension-overrides-extension", severity: Medium, controls: &["CM-5"], summary: "two images ship the same path; subject = the one on top", rationale: "", remediation: "", facts: &[] },
    CheckDef { id: "extension-adds-executable", severity: Medium, controls: &["CM-7", "CM-8"], summary: "new executable in a PATH or libexec directory", rationale: "", remediation: "", facts: &[] },
    CheckDef { id: "extension-setuid", severity: High, controls: &["AC-6", "CM-7"], summary: "setuid/setgid file or file capabilities", rationale: "", remediation: "", facts: &[] },
    CheckDef { id: "extension-adds-unit", severity: Medium, controls: &["CM-7", "CM-5"], summary: "systemd units, generators, udev rules, tmpfiles.d, sysusers.d", rationale: "", remediation: "", facts: &[] },
    CheckDef { id: "extension-implausible-size", severity: Medium, controls: &["CM-8", "SI-7"], summary: "sysext/confext image file larger than any real extension (IMPLAUSIBLE_IMAGE_SIZE, 16 GiB): a sparse or padded file built to exhaust the tools that read it; evidence gives size, allocated size and whether it was hashed", rationale: "", remediation: "", facts: &[] },
    CheckDef { id: "confext-sensitive-config", severity: High, controls: &["AC-3", "CM-5", "CM-6"], summary: "delivers authentication/privilege config (pam, sudoers, sshd, ld-preload, nss, polkit, cron, systemd, other)", rationale: "", remediation: "", facts: &[] },
];

/// Looks a check up by id.
pub fn lookup(id: &str) -> Option<&'static CheckDef> {
    CATALOGUE.iter().find(|d| d.id == id)
}
