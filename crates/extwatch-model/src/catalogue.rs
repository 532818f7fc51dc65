//! The check catalogue: every check's stable id, default severity, NIST SP 800-53 controls and the
//! words a reader needs (what it means, why it matters, what to do), as data.
//!
//! It lives in the model crate because everything that shows a finding needs it: the renderers
//! (SARIF rules, `docs/checks.md`, the `checks` subcommand), the engine that evaluates the checks, and
//! later the fleet collector. Ids are a contract: add, never rename. Code names a check by its
//! constant in [`ids`], never by a string, so a typo does not compile.
//!
//! The systemd behaviour the rationales and remediations describe is the one documented, per
//! version, in `docs/systemd.md` (search paths, `extension_release_validate()`, the merge
//! markers, image policies and the v259 signature fallback).

use serde::Serialize;

use crate::Severity;

pub mod ids;

/// A fact a check needs from the audit (so a long-running agent knows what to recompute, and the
/// audit computes only what the selected checks need).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Fact {
    /// The image inventory (discovery, release matching, provenance).
    Images,
    /// The merge state of each hierarchy (mount table, markers) and the `extensions.mutable`
    /// write-routing directories.
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
    /// Stable id (one of [`ids`]).
    pub id: &'static str,
    /// Default severity.
    pub severity: Severity,
    /// NIST SP 800-53 rev5 controls it evidences.
    pub controls: &'static [&'static str],
    /// What it means, in one line.
    pub summary: &'static str,
    /// Why it matters to a defender.
    pub rationale: &'static str,
    /// What to do about it.
    pub remediation: &'static str,
    /// The facts it is computed from.
    pub facts: &'static [Fact],
}

use Fact::*;
use Severity::*;

/// Every check this build evaluates.
pub const CATALOGUE: &[CheckDef] = &[
    CheckDef {
        id: ids::EXTENSION_MERGED,
        severity: Info,
        controls: &["CM-8"],
        summary: "the image is merged right now",
        rationale: "A merged extension's files are part of the running /usr, /opt or /etc and look \
            like the base to everything that walks the file system (package verification, FIM, \
            the dynamic linker, systemctl daemon-reload). Which images are merged right now, with \
            their paths and hashes, is the baseline the other findings are judged against; a name \
            that is merged while no image of that name is left on disk means the evidence was \
            removed after the merge.",
        remediation: "Compare the list with the extensions your deployment approved (name, path, \
            sha256 or verity root hash). For anything else: `systemd-sysext unmerge` (or \
            `systemd-confext unmerge`), take the image out of its search directory and find out \
            how it got there. A merged name without an image on disk needs the same investigation.",
        facts: &[Images, Hierarchies],
    },
    CheckDef {
        id: ids::EXTENSION_DIRECTORY_IMAGE,
        severity: Medium,
        controls: &["CM-7", "SI-7"],
        summary: "directory extension: no image policy applies to it at all",
        rationale: "systemd bind-mounts a directory extension as it is. Image policies, dm-verity \
            and signatures are applied when a raw image or block device is dissected, so a \
            directory passes even a strict --image-policy, and anyone who can write the directory \
            changes /usr, /opt or /etc at the next merge.",
        remediation: "Ship the extension as a signed image instead (a DDI built by systemd-repart or \
            mkosi with verity and a signature partition, or squashfs/erofs with .roothash and \
            .roothash.p7s side-cars) and remove the directory from the search directory. If a \
            directory is intended, keep it on read-only, verity-protected storage and watch it.",
        facts: &[Images],
    },
    CheckDef {
        id: ids::EXTENSION_RELEASE_ANY,
        severity: Medium,
        controls: &["CM-7"],
        summary: "ID=_any: merges on any OS",
        rationale: "With ID=_any in its extension-release, systemd's extension_release_validate() \
            skips the ID, VERSION_ID and SYSEXT_LEVEL/CONFEXT_LEVEL comparison: the image merges on \
            any distribution and release. The compatibility gate that ties an extension to the OS \
            it was built for, and keeps a foreign image out, is gone.",
        remediation: "Build extensions with the ID= and VERSION_ID= (or SYSEXT_LEVEL=/CONFEXT_LEVEL=) \
            of the OS they are made for. Keep ID=_any for images you build and sign yourself that \
            are really OS-independent (static binaries), and list them.",
        facts: &[Images],
    },
    CheckDef {
        id: ids::EXTENSION_RELEASE_MISMATCH,
        severity: Info,
        controls: &["CM-8"],
        summary: "systemd refuses it for this host; evidence gives systemd's reason",
        rationale: "systemd will not merge this image here: ID, VERSION_ID or level, scope or \
            ARCHITECTURE does not match (the evidence gives the reason). It is inert today but \
            staged: an OS update that changes os-release, `systemd-sysext merge --force` or an \
            edit of the release file makes it live.",
        remediation: "If the image is meant for this host, rebuild it with the host's ID and \
            VERSION_ID (or matching level, scope and architecture). If it is not, remove it from \
            the search directory so it cannot become active later.",
        facts: &[Images],
    },
    CheckDef {
        id: ids::EXTENSION_MISSING_RELEASE,
        severity: Info,
        controls: &["CM-8"],
        summary: "no extension-release: systemd ignores it",
        rationale: "Without an extension-release.NAME file (usr/lib/extension-release.d/ for \
            sysext, etc/extension-release.d/ for confext) systemd ignores the image (\"carries no \
            release data\"). An empty directory with an image's name in a higher-precedence search \
            directory masks that image: a way to switch a legitimate extension off without \
            deleting it.",
        remediation: "Add the release file whose name matches the image name, or remove the image. \
            If an empty directory masks another image, remove the mask unless it was put there on \
            purpose, and find out who created it.",
        facts: &[Images],
    },
    CheckDef {
        id: ids::EXTENSION_SHIPS_OS_RELEASE,
        severity: High,
        controls: &["CM-6", "SI-7"],
        summary: "ships /usr/lib/os-release: systemd fails the whole merge",
        rationale: "An extension must not contain /usr/lib/os-release \
            (extension_has_forbidden_content()). systemd refuses the image and, depending on the \
            version (v252; directory images in current systemd), aborts the whole merge: one such \
            image leaves every other extension of the host unmerged, and an image that carried it \
            into /usr would replace the OS identity other tools read.",
        remediation: "Remove usr/lib/os-release from the image and rebuild it (an extension \
            identifies itself with extension-release.NAME only); until then take the image out of \
            the search directory.",
        facts: &[Images],
    },
    CheckDef {
        id: ids::EXTENSION_MALFORMED,
        severity: High,
        controls: &["SI-7"],
        summary: "image or release cannot be parsed; evidence gives the reason",
        rationale: "The image or its release file could not be read (the evidence gives the \
            reason). At best it is a broken build that fails at merge time; at worst it is crafted \
            so that systemd and an auditor read different things, or to attack the parsers that \
            open it.",
        remediation: "Do not merge it. Compare the file with the build pipeline's copy (sha256 or \
            verity root hash) and rebuild or remove it; keep a copy for analysis when its origin is \
            unknown.",
        facts: &[Images],
    },
    CheckDef {
        id: ids::IMAGE_OUTSIDE_SEARCH_PATH,
        severity: Info,
        controls: &["CM-8"],
        summary:
            "an image in a directory systemd does not search (for its version): inert but staged",
        rationale: "The image sits in a directory this systemd version does not search (for \
            example /usr/lib/extensions from v254 on, or /var/lib/extensions.d, which no version \
            uses). It is not merged, but one rename or symlink into a searched directory, or a \
            different systemd version, makes it live.",
        remediation: "Remove images that have no business there. Move intended ones into a searched \
            directory (/var/lib/extensions for sysext, /var/lib/confexts for confext) so they are \
            inventoried and held to the same policy as the rest.",
        facts: &[Images],
    },
    CheckDef {
        id: ids::SPECIAL_FILE_IN_SEARCH_PATH,
        severity: Medium,
        controls: &["CM-8", "SI-4"],
        summary: "a FIFO, socket or character device in an extension search directory: systemd \
                      skips it, but it has no business there (a FIFO blocks tools that open it; a \
                      device node in an offline root names a device of the machine reading it); \
                      reported, never opened",
        rationale: "systemd takes directories, .raw files, block devices and symlinks to them from \
            its search directories and skips anything else. Nothing legitimate puts a FIFO, socket \
            or character device there: a FIFO hangs every scanner that opens it, and a device node \
            in an offline root names a device of the machine that reads the root.",
        remediation: "Note its owner and times, remove it, and find out what created it. Do not let \
            tools open it; extwatch only reports it.",
        facts: &[SpecialFiles],
    },
    CheckDef {
        id: ids::RUNTIME_EXTENSION,
        severity: Medium,
        controls: &["CM-3", "CM-6"],
        summary: "image in /run/extensions or /run/confexts: survives soft-reboot",
        rationale: "/run is a tmpfs that systemd-soft-reboot keeps: an image in /run/extensions or \
            /run/confexts survives the userspace restart operators use to apply updates and clear \
            runtime state, and leaves nothing on persistent storage for an offline audit. \
            /run/extensions outranks /var/lib/extensions, and /run/confexts every other confext \
            directory.",
        remediation: "Confirm that a deployment tool put it there (runtime images are normally \
            transient test extensions). Otherwise delete it and run `systemd-sysext refresh` \
            (`systemd-confext refresh` for /run/confexts), and reconcile every soft-reboot with a \
            change ticket.",
        facts: &[Images],
    },
    CheckDef {
        id: ids::MUTABLE_EXTENSION_MODE,
        severity: High,
        controls: &["CM-5", "SI-7"],
        summary: "overlay merged writable, or extensions.mutable present",
        rationale: "In mutable mode (systemd-sysext --mutable=yes or auto, v256+) \
            /var/lib/extensions.mutable/<hierarchy> becomes the overlay's upper directory: writes \
            to the read-only, verity-protected /usr land there and persist across reboots. With \
            auto, the directory existing is enough to make the next merge writable; with import \
            it is merged read-only, so whatever was written there is part of /usr.",
        remediation: "Unless writable extensions are intended on this host, preserve and remove \
            /var/lib/extensions.mutable/{usr,opt,etc}, make sure no --mutable= in a \
            systemd-sysext.service drop-in, $SYSTEMD_SYSEXT_MUTABLE_MODE or \
            $SYSTEMD_CONFEXT_MUTABLE_MODE, nor Mutable= in sysext.conf/confext.conf (v259+) \
            enables it, and re-merge with `systemd-sysext refresh`.",
        facts: &[Hierarchies],
    },
    CheckDef {
        id: ids::MERGE_FOREIGN_OVERLAY,
        severity: High,
        controls: &["SI-4", "SI-7"],
        summary: "overlay on /usr, /opt or /etc not made by systemd, or marker/dev mismatch",
        rationale: "systemd's merge leaves an overlay whose source is sysext or confext with its \
            meta layer on top, and a marker directory (.systemd-sysext/ or .systemd-confext/) \
            whose dev file names the overlay's device. An overlay that does not look like that, or \
            a marker that claims a merge the mount table does not show, was made by something \
            else (anyone with CAP_SYS_ADMIN can mount one) and puts files into the running OS \
            outside every extension control and log.",
        remediation: "Compare with `findmnt /usr /opt /etc` and `systemd-sysext status`. Capture \
            /proc/self/mountinfo and the overlay's layers as evidence, unmount the foreign \
            overlay, find the process that made it (audit log, journal), and re-merge with \
            `systemd-sysext refresh`. For an offline root, give extwatch the captured mount table \
            (--mountinfo).",
        facts: &[Hierarchies, MountTable],
    },
    CheckDef {
        id: ids::PORTABLE_IMAGE_PRESENT,
        severity: Info,
        controls: &["CM-8"],
        summary: "portable service image found",
        rationale: "A portable service image (/etc/portables, /run/portables, /var/lib/portables, \
            /usr/local/lib/portables, /usr/lib/portables) runs a service once `portablectl attach` \
            installs its units: the same image format and the same persistence surface as an \
            extension, through another activation path.",
        remediation: "Keep portable images only on hosts that need them, signed and \
            verity-protected like extensions; remove the rest, and forbid `portablectl attach` in \
            production.",
        facts: &[Images],
    },
    CheckDef {
        id: ids::EXTENSION_UNSIGNED,
        severity: Medium,
        controls: &["SI-7", "SR-4", "SR-11"],
        summary: "sysext/confext without a verity signature (directory, plain squashfs/erofs, DDI without signature)",
        rationale: "Without a verity signature (a signature partition in a DDI, or a \
            .roothash.p7s side-car) nothing says who built the image: a root hash alone, in a \
            side-car file or xattr, can be rewritten by whoever can write the image. systemd's \
            default sysext and confext policies accept unsigned images, so a signature is the only \
            provenance an extension carries.",
        remediation: "Sign extensions in the build pipeline (systemd-repart or mkosi with a verity \
            signature partition, or a .roothash.p7s side-car), put the signing certificate as \
            NAME.crt in /etc/verity.d (or in the kernel keyring), and require signatures with \
            --image-policy=root=signed+absent:usr=signed+absent on ExecStart= in a \
            systemd-sysext.service drop-in (ImagePolicy= in /etc/systemd/sysext.conf from v259).",
        facts: &[Images],
    },
    CheckDef {
        id: ids::EXTENSION_NO_VERITY,
        severity: Medium,
        controls: &["SI-7"],
        summary: "no verity root hash at all: nothing protects the data at rest",
        rationale: "Without a dm-verity root hash (directory images; squashfs/erofs without a \
            verity partition or .roothash side-car) the kernel reads the image's blocks unchecked: \
            a change to the file, or to the disk under it, is a change to the merged /usr with no \
            integrity error. dm-verity on the base /usr covers the lower layer, not the extensions \
            in the union.",
        remediation: "Build the image with a hash tree: a DDI with a verity partition (systemd-repart \
            Verity=, mkosi), or `veritysetup format` with .roothash and .verity side-cars, \
            preferably signed; then allow only verity or signed in the image policy.",
        facts: &[Images],
    },
    CheckDef {
        id: ids::EXTENSION_SIGNATURE_INVALID,
        severity: High,
        controls: &["SI-7", "SR-11"],
        summary: "signature present but does not verify with any trusted certificate, or signs another root hash",
        rationale: "A signature that does not verify with the trusted certificates, signs another \
            root hash, names another certificate than the one that signed, or is accepted only \
            because a certificate was added to the host's verity.d means the image is not what its \
            signer built, or the host's trust store was changed to let it in. Up to v258 systemd \
            refuses such an image; from v259 a policy that allows verity (the default) activates \
            it by root hash alone.",
        remediation: "Treat it as tampering: do not merge it, compare it with the pipeline's copy, \
            replace or re-sign it. Check /etc/verity.d, /run/verity.d, /usr/local/lib/verity.d and \
            /usr/lib/verity.d for certificates you did not put there, and judge signatures against \
            your own anchors (--trust). On v259+ drop verity from the image policy \
            (root=signed+absent) so a bad signature refuses the image.",
        facts: &[Images, TrustStore],
    },
    CheckDef {
        id: ids::EXTENSION_VERITY_MISMATCH,
        severity: High,
        controls: &["SI-7"],
        summary: "the recomputed hash tree does not match the declared root hash, or declared root hashes disagree",
        rationale: "The hash tree recomputed from the data does not give the declared root hash, or \
            the declared root hashes (signature JSON, side-car, xattr, partition UUIDs) disagree: \
            the data or hash area was changed after the image was built, or its parts come from \
            different builds. Which root hash gets signed and trusted is then open to choice.",
        remediation: "Replace the image with the build pipeline's copy and verify it (`extwatch \
            verify IMAGE` or `veritysetup verify`); find out how the file was changed (the search \
            directories are root-writable).",
        facts: &[Images],
    },
    CheckDef {
        id: ids::TRUST_STORE_IGNORED_FILES,
        severity: Low,
        controls: &["SI-7", "SR-4"],
        summary: "verity.d holds files systemd ignores (.pem, wrong suffix) or is empty",
        rationale: "systemd's userspace signature check loads only *.crt from /etc/verity.d, \
            /run/verity.d, /usr/local/lib/verity.d and /usr/lib/verity.d (the first file of a name \
            wins). A .pem or misnamed certificate is silently ignored, so a signer the operator \
            believes trusted is not; with no usable certificate no signature verifies in userspace. \
            Files extwatch could not read within its budget leave the trusted set unknown.",
        remediation: "Name certificates NAME.crt (PEM), remove files that do not belong, and check \
            every certificate against your signing keys: any listed certificate is trusted, \
            without chain or expiry checks, and the directories are root-writable. If userspace \
            verification is not wanted, boot with systemd.allow_userspace_verity=0 (v256+) and \
            rely on the kernel keyring.",
        facts: &[TrustStore],
    },
    CheckDef {
        id: ids::POLICY_ALLOWS_UNSIGNED,
        severity: Medium,
        controls: &["SI-7", "CM-7", "SR-11"],
        summary: "effective image policy accepts unsigned/unprotected images",
        rationale: "systemd's default sysext policy, \
            root=verity+signed+encrypted+unprotected+absent:usr=verity+signed+encrypted+unprotected+absent \
            (confext: the same for root), accepts images with no signature and no verity at all, \
            and v252-v253 have no image policy. Signing images then protects nothing: an attacker \
            drops an unsigned one.",
        remediation: "Require signatures: in a drop-in for systemd-sysext.service replace \
            ExecStart= with `systemd-sysext refresh \
            --image-policy=root=signed+absent:usr=signed+absent` (systemd-confext.service: \
            root=signed+absent), or from v259 set ImagePolicy= in /etc/systemd/sysext.conf and \
            confext.conf. systemd.image_policy= on the kernel command line does not apply to \
            sysext or confext.",
        facts: &[Policies],
    },
    CheckDef {
        id: ids::POLICY_VERITY_FALLBACK,
        severity: Medium,
        controls: &["SI-7"],
        summary: "systemd version/policy lets a bad signature fall back to plain verity",
        rationale: "From v259, when an image's signature fails and the policy for its partition \
            also allows verity (the default policies do), systemd logs \"Activation of signed \
            Verity volume without validating signature is permitted by policy\" and activates the \
            image by root hash alone: an invalid or untrusted signature no longer blocks the merge.",
        remediation: "Remove verity (and unprotected) from the sysext and confext policies: \
            ImagePolicy=root=signed+absent:usr=signed+absent in /etc/systemd/sysext.conf and \
            ImagePolicy=root=signed+absent in confext.conf, or --image-policy= on ExecStart= in a \
            drop-in.",
        facts: &[Policies, Version],
    },
    CheckDef {
        id: ids::EXTENSION_SHADOWS_BASE,
        severity: High,
        controls: &["SI-7", "CM-5"],
        summary: "replaces a file of the base /usr, /opt or /etc (path, base and image sha256; files over 1 GiB unhashed)",
        rationale: "A file the extension ships at the path of a base file replaces it for every \
            process that runs or reads it, while dm-verity on the base /usr and any check of the \
            base image still vouch for the original. It is the most direct way to change what the \
            OS runs (evidence.same_content says whether the bytes differ).",
        remediation: "Extensions should add files, not replace the OS's own. If the replacement is \
            not intended, unmerge and remove the extension; if it is, record the path and sha256 \
            in the approved contents of that extension so a change is noticed.",
        facts: &[Content],
    },
    CheckDef {
        id: ids::EXTENSION_OVERRIDES_EXTENSION,
        severity: Medium,
        controls: &["CM-5"],
        summary: "two images ship the same path; subject = the one on top",
        rationale: "When two images ship the same path, the one whose name sorts last \
            (strverscmp_improved()) is the upper layer and wins. An image named to sort after a \
            trusted one replaces files of the trusted extension without touching it.",
        remediation: "Make extensions ship disjoint paths and document intended overrides; \
            otherwise remove the top image and find out why its name sorts above the one it \
            overrides.",
        facts: &[Content],
    },
    CheckDef {
        id: ids::EXTENSION_ADDS_EXECUTABLE,
        severity: Medium,
        controls: &["CM-7", "CM-8"],
        summary: "new executable in a PATH or libexec directory",
        rationale: "A new executable in /usr/bin, /usr/sbin, /usr/libexec, /usr/lib/systemd, /opt \
            or their /usr/local variants is on $PATH or run by other programs, with no package \
            database entry: an extension is the cleanest way to install a tool on an immutable \
            host, wanted or not.",
        remediation: "Check each added executable against the extension's approved contents (path, \
            sha256) and remove the extension when it ships programs it should not.",
        facts: &[Content],
    },
    CheckDef {
        id: ids::EXTENSION_SETUID,
        severity: High,
        controls: &["AC-6", "CM-7"],
        summary: "setuid/setgid file or file capabilities",
        rationale: "A setuid or setgid file, or one with file capabilities (security.capability), \
            gives whoever runs it its owner's or the capabilities' privileges. sysext overlays are \
            not mounted nosuid, so merged into /usr it is a privilege escalation no package \
            manager lists (confext overlays are nosuid, but the file is still merged as shipped).",
        remediation: "Drop the setuid/setgid bits and capabilities in the build unless the program \
            needs them; keep a list of the privileged files each extension may ship and unmerge \
            extensions that exceed it.",
        facts: &[Content],
    },
    CheckDef {
        id: ids::EXTENSION_ADDS_UNIT,
        severity: Medium,
        controls: &["CM-7", "CM-5"],
        summary: "systemd units, generators, udev rules, tmpfiles.d, sysusers.d",
        rationale: "Units, generators, udev rules and tmpfiles.d, sysusers.d, modules-load.d, \
            sysctl.d, binfmt.d and environment.d files are applied by PID 1, udev and early-boot \
            services: an extension that ships one runs code as root at boot or at the next \
            daemon-reload (EXTENSION_RELOAD_MANAGER=1 triggers one at merge), and persists with \
            nothing in the writable /etc.",
        remediation: "Review each unit and rule the extension ships and accept them only from \
            signed extensions whose contents you approved; otherwise unmerge and remove the \
            extension or rebuild it without them.",
        facts: &[Content],
    },
    CheckDef {
        id: ids::EXTENSION_IMPLAUSIBLE_SIZE,
        severity: Medium,
        controls: &["CM-8", "SI-7"],
        summary: "sysext/confext image file larger than any real extension (IMPLAUSIBLE_IMAGE_SIZE, 16 GiB): a sparse or padded file built to exhaust the tools that read it; evidence gives size, allocated size and whether it was hashed",
        rationale: "No real extension is larger than 16 GiB. A file that big, often sparse or \
            padded, is made to exhaust the disk, time or memory of the tools that hash and parse \
            it (scanners, backups, forensic copies) so that they give up on it or skip it.",
        remediation: "Compare its size with its allocated size (`du --apparent-size` and `du`), \
            note its owner and times, remove it if it is not a genuine image, and find out who \
            created it.",
        facts: &[Images],
    },
    CheckDef {
        id: ids::CONFEXT_SENSITIVE_CONFIG,
        severity: High,
        controls: &["AC-3", "CM-5", "CM-6"],
        summary: "delivers authentication/privilege config (pam, sudoers, sshd, ld-preload, nss, polkit, cron, systemd, other)",
        rationale: "PAM, sudoers, sshd, ld.so.preload, NSS, polkit, cron and systemd configuration \
            decide who may log in, with which privileges, and what runs as root. Delivered by an \
            extension, it lands in the merged /etc (or /usr) that PAM, sudo and sshd read, while \
            file watches on the directory underneath see nothing.",
        remediation: "Accept authentication and privilege configuration only from signed confexts \
            built by your configuration management; review each file (evidence.category and rule \
            say why it matched) and unmerge the extension otherwise. Where confext is not used at \
            all, `systemctl mask systemd-confext.service`.",
        facts: &[Content],
    },
];

/// Looks a check up by id (for user input such as `--only`; code uses [`ids`] and [`CATALOGUE`]).
pub fn lookup(id: &str) -> Option<&'static CheckDef> {
    CATALOGUE.iter().find(|d| d.id == id)
}

/// [`lookup`] usable in `const` items, so code can resolve an [`ids`] constant at compile time.
pub const fn get(id: &str) -> Option<&'static CheckDef> {
    let mut rest: &'static [CheckDef] = CATALOGUE;
    while let [d, tail @ ..] = rest {
        if const_eq(d.id.as_bytes(), id.as_bytes()) {
            return Some(d);
        }
        rest = tail;
    }
    None
}

const fn const_eq(a: &[u8], b: &[u8]) -> bool {
    let (mut a, mut b) = (a, b);
    loop {
        match (a, b) {
            ([], []) => return true,
            ([x, at @ ..], [y, bt @ ..]) if *x == *y => {
                a = at;
                b = bt;
            }
            _ => return false,
        }
    }
}

#[cfg(test)]
mod tests;
