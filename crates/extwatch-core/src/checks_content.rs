//! Content checks: what each merged or mergeable extension adds, replaces and ships (DESIGN §4:
//! `extension-shadows-base`, `extension-overrides-extension`, `extension-adds-executable`,
//! `extension-setuid`, `extension-adds-unit`, `confext-sensitive-config`).
//!
//! The path rules are data: an operator reading a finding can see exactly which rule matched.

use extwatch_formats::EntryKind;
use extwatch_model::{Finding, ImageClass};
use serde_json::json;

use crate::checks::finding;
use crate::content::changes::{Analysis, ImageChanges, Replaced};
use crate::content::FileEntry;

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

/// Runs the content checks over an analysis; `Err` when the analysis could not be made.
pub fn run(a: &Analysis) -> Vec<(&'static str, Result<Vec<Finding>, String>)> {
    let err = (!a.errors.is_empty()).then(|| a.errors.join("; "));
    let wrap = |f: Vec<Finding>| match &err {
        Some(e) if f.is_empty() => Err(e.clone()),
        _ => Ok(f),
    };
    let mut shadows = Vec::new();
    let mut overrides = Vec::new();
    let mut execs = Vec::new();
    let mut setuid = Vec::new();
    let mut units = Vec::new();
    let mut sensitive = Vec::new();
    for ic in &a.images {
        per_image(
            ic,
            &mut shadows,
            &mut overrides,
            &mut execs,
            &mut setuid,
            &mut units,
            &mut sensitive,
        );
    }
    vec![
        ("extension-shadows-base", wrap(shadows)),
        ("extension-overrides-extension", wrap(overrides)),
        ("extension-adds-executable", wrap(execs)),
        ("extension-setuid", wrap(setuid)),
        ("extension-adds-unit", wrap(units)),
        ("confext-sensitive-config", wrap(sensitive)),
    ]
}

#[allow(clippy::too_many_arguments)]
fn per_image(
    ic: &ImageChanges,
    shadows: &mut Vec<Finding>,
    overrides: &mut Vec<Finding>,
    execs: &mut Vec<Finding>,
    setuid: &mut Vec<Finding>,
    units: &mut Vec<Finding>,
    sensitive: &mut Vec<Finding>,
) {
    let state = if ic.merged { "merged" } else { "mergeable" };
    for r in &ic.replaced_base {
        shadows.push(finding(
            "extension-shadows-base",
            &ic.name,
            format!("'{}' ({state}) replaces {} of the base OS", ic.name, r.path),
            replaced_evidence(r),
        ));
    }
    for r in &ic.overrode {
        overrides.push(finding(
            "extension-overrides-extension",
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
    let added: std::collections::HashSet<&str> = ic.added.iter().map(String::as_str).collect();
    for e in &ic.entries {
        let p = path(e);
        if e.kind == EntryKind::File
            && e.mode & 0o111 != 0
            && added.contains(p.as_str())
            && EXEC_DIRS.iter().any(|d| p.starts_with(d))
        {
            execs.push(finding(
                "extension-adds-executable",
                &ic.name,
                format!("'{}' ({state}) adds executable {p}", ic.name),
                json!({"path": p, "mode": format!("{:04o}", e.mode), "uid": e.uid, "gid": e.gid}),
            ));
        }
        if e.kind == EntryKind::File && (e.mode & 0o6000 != 0 || e.capability.is_some()) {
            let what = match (
                e.mode & 0o4000 != 0,
                e.mode & 0o2000 != 0,
                e.capability.is_some(),
            ) {
                (true, _, _) => "setuid",
                (_, true, _) => "setgid",
                _ => "file capabilities",
            };
            setuid.push(finding(
                "extension-setuid",
                &ic.name,
                format!("'{}' ({state}) ships {p} with {what}", ic.name),
                json!({"path": p, "mode": format!("{:04o}", e.mode), "uid": e.uid, "gid": e.gid,
                       "capability": e.capability.as_ref().map(hex::encode),
                       "class": ic.class.as_str(),
                       "note": if ic.class == ImageClass::Confext { "confext overlays are mounted nosuid, but the file is merged as shipped" } else { "" }}),
            ));
        }
        if e.kind != EntryKind::Dir && UNIT_PREFIXES.iter().any(|d| p.starts_with(d)) {
            units.push(finding(
                "extension-adds-unit",
                &ic.name,
                format!("'{}' ({state}) ships {p}", ic.name),
                json!({"path": p, "replaces": !added.contains(p.as_str())}),
            ));
        }
        if e.kind != EntryKind::Dir {
            if let Some((cat, rule)) = sensitive_category(&p) {
                sensitive.push(finding(
                    "confext-sensitive-config",
                    &ic.name,
                    format!(
                        "{} '{}' ({state}) delivers {cat} configuration {p}",
                        ic.class.as_str(),
                        ic.name
                    ),
                    json!({"path": p, "category": cat, "rule": rule, "class": ic.class.as_str(),
                           "replaces": !added.contains(p.as_str())}),
                ));
            }
        }
    }
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
