//! Content checks: what each merged or mergeable extension adds, replaces and ships (docs/design.md §4:
//! `extension-shadows-base`, `extension-overrides-extension`, `extension-adds-executable`,
//! `extension-setuid`, `extension-adds-unit`, `confext-sensitive-config`).
//!
//! The path rules are data: an operator reading a finding can see exactly which rule matched.
//!
//! All six read one content analysis ([`Fact::Content`]). When the analysis failed for part of
//! the root (an image that cannot be walked, the base not readable beneath the overlay), each
//! check still reports what it found in the rest, with the analysis error next to the findings:
//! a partly-run check never reads as a complete one.

use std::collections::HashSet;

use extwatch_formats::EntryKind;
use extwatch_model::{Finding, ImageClass};
use serde_json::json;

use super::{finding, ids, Check, CheckError, Fact, Facts, Outcome};
use crate::content::changes::{Analysis, ImageChanges, Replaced};
use crate::content::FileEntry;

pub(super) const SHADOWS_BASE: Check = Check::new(ids::EXTENSION_SHADOWS_BASE, shadows_base);
pub(super) const OVERRIDES_EXTENSION: Check =
    Check::new(ids::EXTENSION_OVERRIDES_EXTENSION, overrides_extension);
pub(super) const ADDS_EXECUTABLE: Check =
    Check::new(ids::EXTENSION_ADDS_EXECUTABLE, adds_executable);
pub(super) const SETUID: Check = Check::new(ids::EXTENSION_SETUID, setuid);
pub(super) const ADDS_UNIT: Check = Check::new(ids::EXTENSION_ADDS_UNIT, adds_unit);
pub(super) const SENSITIVE_CONFIG: Check =
    Check::new(ids::CONFEXT_SENSITIVE_CONFIG, sensitive_config);

/// Directories whose new executables land on `$PATH` or are run by other programs.
const EXEC_DIRS: &[&str] = &[
    "/usr/bin/",
    "/usr/sbin/",
    "/usr/local/bin/",
    "/usr/local/sbin/",
    "/usr/libexec/",
    "/usr/local/libexec/",
    "/usr/lib/systemd/",
    "/opt/",
];

/// Unit files and their kin: anything systemd, udev or early boot picks up and runs or applies.
const UNIT_PREFIXES: &[&str] = &[
    "/usr/lib/systemd/system/",
    "/usr/lib/systemd/user/",
    "/usr/lib/systemd/system-generators/",
    "/usr/lib/systemd/user-generators/",
    "/usr/lib/systemd/system-environment-generators/",
    "/usr/lib/systemd/user-environment-generators/",
    "/usr/lib/systemd/system-preset/",
    "/usr/lib/systemd/system-shutdown/",
    "/usr/lib/systemd/system-sleep/",
    "/usr/lib/udev/rules.d/",
    "/usr/lib/tmpfiles.d/",
    "/usr/lib/sysusers.d/",
    "/usr/lib/modules-load.d/",
    "/usr/lib/environment.d/",
    "/usr/lib/sysctl.d/",
    "/usr/lib/binfmt.d/",
    "/etc/systemd/system/",
    "/etc/systemd/user/",
    "/etc/systemd/system-generators/",
    "/etc/udev/rules.d/",
    "/etc/tmpfiles.d/",
    "/etc/sysusers.d/",
    "/etc/modules-load.d/",
    "/etc/environment.d/",
    "/etc/sysctl.d/",
    "/etc/binfmt.d/",
];

/// Authentication and privilege configuration, by category (prefix match; entries ending in `/`
/// are directories).
const SENSITIVE: &[(&str, &str)] = &[
    ("pam", "/etc/pam.d/"),
    ("pam", "/etc/pam.conf"),
    ("pam", "/etc/security/"),
    ("pam", "/usr/lib/pam.d/"),
    ("pam", "/usr/lib/security/"),
    ("pam", "/usr/lib64/security/"),
    ("sudoers", "/etc/sudoers"),
    ("sudoers", "/etc/sudoers.d/"),
    ("sudoers", "/usr/etc/sudoers"),
    ("sshd", "/etc/ssh/sshd_config"),
    ("sshd", "/etc/ssh/sshd_config.d/"),
    ("sshd", "/etc/ssh/authorized_keys"),
    ("sshd", "/usr/etc/ssh/sshd_config"),
    ("sshd", "/usr/lib/ssh/sshd_config.d/"),
    ("ld-preload", "/etc/ld.so.preload"),
    ("ld-preload", "/etc/ld.so.conf"),
    ("ld-preload", "/etc/ld.so.conf.d/"),
    ("nss", "/etc/nsswitch.conf"),
    ("nss", "/usr/etc/nsswitch.conf"),
    ("polkit", "/etc/polkit-1/"),
    ("polkit", "/usr/share/polkit-1/rules.d/"),
    ("polkit", "/usr/share/polkit-1/actions/"),
    ("cron", "/etc/crontab"),
    ("cron", "/etc/cron.d/"),
    ("cron", "/etc/cron.hourly/"),
    ("cron", "/etc/cron.daily/"),
    ("cron", "/etc/cron.weekly/"),
    ("cron", "/etc/cron.monthly/"),
    ("systemd", "/etc/systemd/"),
    ("other", "/etc/passwd"),
    ("other", "/etc/shadow"),
    ("other", "/etc/group"),
    ("other", "/etc/gshadow"),
    ("other", "/etc/login.defs"),
    ("other", "/etc/profile"),
    ("other", "/etc/profile.d/"),
    ("other", "/etc/environment"),
    ("other", "/etc/sudo.conf"),
    ("other", "/etc/doas.conf"),
];

fn path(e: &FileEntry) -> String {
    String::from_utf8_lossy(&e.path).into_owned()
}

fn hexs(h: Option<[u8; 32]>) -> Option<String> {
    h.map(hex::encode)
}

fn matches(p: &str, rule: &str) -> bool {
    if rule.ends_with('/') {
        p.starts_with(rule)
    } else {
        p == rule || p.starts_with(&format!("{rule}."))
    }
}

/// The sensitive-config category of a path, if any (NSS modules are matched by name).
pub fn sensitive_category(p: &str) -> Option<(&'static str, &'static str)> {
    if let Some(r) = SENSITIVE.iter().find(|(_, r)| matches(p, r)) {
        return Some(*r);
    }
    let file = p.rsplit('/').next().unwrap_or("");
    if p.starts_with("/usr/lib") && file.starts_with("libnss_") && file.contains(".so") {
        return Some(("nss", "libnss_*.so"));
    }
    if p.starts_with("/usr/lib") && p.contains("/security/pam_") && file.ends_with(".so") {
        return Some(("pam", "*/security/pam_*.so"));
    }
    None
}

fn replaced_evidence(r: &Replaced) -> serde_json::Value {
    json!({
        "path": r.path,
        "below": r.below_image.as_deref().unwrap_or("base"),
        "below_sha256": hexs(r.below.sha256),
        "image_sha256": hexs(r.entry.sha256),
        "below_mode": format!("{:04o}", r.below.mode),
        "image_mode": format!("{:04o}", r.entry.mode),
        "same_content": r.below.sha256.is_some() && r.below.sha256 == r.entry.sha256,
    })
}

/// The analysis, or why the content checks cannot run; with the analysis, the error that makes
/// whatever they find partial (the analysis failed for part of the root).
fn analysis<'a>(f: &Facts<'a>) -> Result<(&'a Analysis, Option<CheckError>), CheckError> {
    let a = f.content.ok_or(CheckError::missing(Fact::Content))?;
    let partial = (!a.errors.is_empty()).then(|| CheckError::Content(a.errors.clone()));
    Ok((a, partial))
}

/// Runs `per_image` over every image of the analysis; the findings carry the analysis error.
fn over_images(f: &Facts, per_image: impl Fn(&ImageChanges, &mut Vec<Finding>)) -> Outcome {
    match analysis(f) {
        Err(e) => Outcome::failed(e),
        Ok((a, error)) => {
            let mut findings = Vec::new();
            for ic in &a.images {
                per_image(ic, &mut findings);
            }
            Outcome { findings, error }
        }
    }
}

fn state(ic: &ImageChanges) -> &'static str {
    if ic.merged {
        "merged"
    } else {
        "mergeable"
    }
}

fn added(ic: &ImageChanges) -> HashSet<&str> {
    ic.added.iter().map(String::as_str).collect()
}

fn shadows_base(f: &Facts) -> Outcome {
    over_images(f, |ic, out| {
        for r in &ic.replaced_base {
            out.push(finding(
                SHADOWS_BASE.def,
                &ic.name,
                format!(
                    "'{}' ({}) replaces {} of the base OS",
                    ic.name,
                    state(ic),
                    r.path
                ),
                replaced_evidence(r),
            ));
        }
    })
}

fn overrides_extension(f: &Facts) -> Outcome {
    over_images(f, |ic, out| {
        for r in &ic.overrode {
            out.push(finding(
                OVERRIDES_EXTENSION.def,
                &ic.name,
                format!(
                    "'{}' overrides {} shipped by '{}'",
                    ic.name,
                    r.path,
                    r.below_image.as_deref().unwrap_or("?")
                ),
                replaced_evidence(r),
            ));
        }
    })
}

fn adds_executable(f: &Facts) -> Outcome {
    over_images(f, |ic, out| {
        let added = added(ic);
        for e in &ic.entries {
            let p = path(e);
            if e.kind == EntryKind::File
                && e.mode & 0o111 != 0
                && added.contains(p.as_str())
                && EXEC_DIRS.iter().any(|d| p.starts_with(d))
            {
                out.push(finding(
                    ADDS_EXECUTABLE.def,
                    &ic.name,
                    format!("'{}' ({}) adds executable {p}", ic.name, state(ic)),
                    json!({"path": p, "mode": format!("{:04o}", e.mode), "uid": e.uid, "gid": e.gid}),
                ));
            }
        }
    })
}

fn setuid(f: &Facts) -> Outcome {
    over_images(f, |ic, out| {
        for e in &ic.entries {
            if e.kind != EntryKind::File || (e.mode & 0o6000 == 0 && e.capability.is_none()) {
                continue;
            }
            let p = path(e);
            let what = match (
                e.mode & 0o4000 != 0,
                e.mode & 0o2000 != 0,
                e.capability.is_some(),
            ) {
                (true, _, _) => "setuid",
                (_, true, _) => "setgid",
                _ => "file capabilities",
            };
            out.push(finding(
                SETUID.def,
                &ic.name,
                format!("'{}' ({}) ships {p} with {what}", ic.name, state(ic)),
                json!({"path": p, "mode": format!("{:04o}", e.mode), "uid": e.uid, "gid": e.gid,
                       "capability": e.capability.as_ref().map(hex::encode),
                       "class": ic.class.as_str(),
                       "note": if ic.class == ImageClass::Confext { "confext overlays are mounted nosuid, but the file is merged as shipped" } else { "" }}),
            ));
        }
    })
}

fn adds_unit(f: &Facts) -> Outcome {
    over_images(f, |ic, out| {
        let added = added(ic);
        for e in &ic.entries {
            let p = path(e);
            if e.kind != EntryKind::Dir && UNIT_PREFIXES.iter().any(|d| p.starts_with(d)) {
                out.push(finding(
                    ADDS_UNIT.def,
                    &ic.name,
                    format!("'{}' ({}) ships {p}", ic.name, state(ic)),
                    json!({"path": p, "replaces": !added.contains(p.as_str())}),
                ));
            }
        }
    })
}

fn sensitive_config(f: &Facts) -> Outcome {
    over_images(f, |ic, out| {
        let added = added(ic);
        for e in ic.entries.iter().filter(|e| e.kind != EntryKind::Dir) {
            let p = path(e);
            if let Some((cat, rule)) = sensitive_category(&p) {
                out.push(finding(
                    SENSITIVE_CONFIG.def,
                    &ic.name,
                    format!(
                        "{} '{}' ({}) delivers {cat} configuration {p}",
                        ic.class.as_str(),
                        ic.name,
                        state(ic)
                    ),
                    json!({"path": p, "category": cat, "rule": rule, "class": ic.class.as_str(),
                           "replaces": !added.contains(p.as_str())}),
                ));
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn categories() {
        assert_eq!(sensitive_category("/etc/pam.d/sshd").unwrap().0, "pam");
        assert_eq!(sensitive_category("/etc/sudoers.d/x").unwrap().0, "sudoers");
        assert_eq!(
            sensitive_category("/etc/ssh/sshd_config.d/10.conf")
                .unwrap()
                .0,
            "sshd"
        );
        assert_eq!(
            sensitive_category("/etc/ld.so.preload").unwrap().0,
            "ld-preload"
        );
        assert_eq!(
            sensitive_category("/usr/lib/x86_64-linux-gnu/libnss_evil.so.2")
                .unwrap()
                .0,
            "nss"
        );
        assert_eq!(
            sensitive_category("/usr/lib/x86_64-linux-gnu/security/pam_evil.so")
                .unwrap()
                .0,
            "pam"
        );
        assert_eq!(
            sensitive_category("/etc/systemd/journald.conf").unwrap().0,
            "systemd"
        );
        assert_eq!(sensitive_category("/etc/shadow").unwrap().0, "other");
        assert_eq!(sensitive_category("/etc/hostname"), None);
        assert_eq!(sensitive_category("/etc/sudoersX"), None);
    }
}
