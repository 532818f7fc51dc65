//! End-to-end behaviour of the command line on generated roots: exit codes, stdout/stderr discipline,
//! JSON contract, and discovery rules that need no real systemd.

use std::path::Path;
use std::process::Command;

use extwatch_model::{ImageClass, Report};
use extwatch_testsupport::reports::{self, ReportExt};
use extwatch_testsupport::roots::{base_root, sysext_tree, write};

fn extwatch(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_extwatch"))
        .args(args)
        .output()
        .expect("run extwatch")
}

/// A Debian 13 os-release (the test roots' own, and a release matching them).
const DEB13: &str = "ID=debian\nVERSION_ID=13\n";

fn sysext_dir(root: &Path, dir: &str, name: &str, release: &str) {
    let d = root.join(dir.trim_start_matches('/')).join(name);
    sysext_tree(&d, name, release);
}

/// The `audit`/`inventory --format json` report of a run.
fn report(out: &std::process::Output) -> Report {
    reports::report(&out.stdout, &String::from_utf8_lossy(&out.stderr))
}

fn root() -> tempfile::TempDir {
    base_root("extwatch-cli")
}

#[test]
fn audit_json_contract_precedence_and_exit_codes() {
    let t = root();
    let r = t.path();
    sysext_dir(r, "/var/lib/extensions", "good", DEB13);
    sysext_dir(
        r,
        "/var/lib/extensions",
        "fed",
        "ID=fedora\nVERSION_ID=41\n",
    );
    sysext_dir(r, "/var/lib/extensions", "anyos", "ID=_any\n");
    sysext_dir(r, "/var/lib/extensions", "masked", DEB13);
    std::fs::create_dir_all(r.join("etc/extensions/masked")).unwrap();
    sysext_dir(r, "/run/extensions", "good", DEB13);
    sysext_dir(r, "/var/lib/extensions.d", "staged", "ID=debian\n");
    sysext_dir(r, "/etc/confexts", "conf", "ID=debian\n");
    let root = r.to_str().unwrap();
    let out = extwatch(&[
        "audit",
        "--root",
        root,
        "--systemd-version",
        "257",
        "--format",
        "json",
    ]);
    assert_eq!(out.status.code(), Some(0), "no high finding → exit 0");
    let v = report(&out);
    let find = |path: &str| v.image(path);
    // /run/extensions beats /var/lib/extensions.
    assert_eq!(
        find("/var/lib/extensions/good").masked_by.as_deref(),
        Some("/run/extensions/good")
    );
    assert!(find("/run/extensions/good").compatible.ok);
    // An empty directory in /etc/extensions masks the image.
    assert_eq!(
        find("/var/lib/extensions/masked").masked_by.as_deref(),
        Some("/etc/extensions/masked")
    );
    assert_eq!(
        find("/etc/extensions/masked").compatible.reason.as_deref(),
        Some("Extension 'masked' carries no release data, ignoring.")
    );
    assert_eq!(
        find("/var/lib/extensions/fed").compatible.reason.as_deref(),
        Some("Extension 'fed' is for OS 'fedora', but deployed on top of 'debian'.")
    );
    assert!(!find("/var/lib/extensions.d/staged").searched);
    assert_eq!(find("/etc/confexts/conf").class, ImageClass::Confext);
    assert!(!find("/etc/confexts/conf").searched);
    let ids: Vec<(&str, &str)> = v
        .findings
        .iter()
        .map(|f| (f.id.as_str(), f.subject.as_str()))
        .collect();
    for want in [
        ("extension-release-any", "anyos"),
        ("extension-release-mismatch", "fed"),
        ("runtime-extension", "good"),
        ("image-outside-search-path", "/var/lib/extensions.d/staged"),
        ("image-outside-search-path", "/etc/confexts/conf"),
        ("extension-directory-image", "good"),
        ("extension-missing-release", "masked"),
    ] {
        assert!(ids.contains(&want), "missing {want:?} in {ids:?}");
    }
    for f in &v.findings {
        assert!(!f.controls.is_empty());
    }
    let fail = extwatch(&[
        "audit",
        "--root",
        root,
        "--fail-on",
        "medium",
        "--format",
        "json",
    ]);
    assert_eq!(fail.status.code(), Some(1));
    assert!(
        fail.stderr.is_empty(),
        "stderr must stay quiet: {}",
        String::from_utf8_lossy(&fail.stderr)
    );
}

#[test]
fn version_rules_differ_between_252_and_257() {
    let t = root();
    let r = t.path();
    sysext_dir(r, "/var/lib/extensions", "tool.sysext", DEB13);
    sysext_dir(r, "/usr/lib/extensions", "old", DEB13);
    let root = r.to_str().unwrap();
    let names = |ver: &str| -> Vec<(String, bool)> {
        let v = report(&extwatch(&[
            "inventory",
            "--root",
            root,
            "--systemd-version",
            ver,
            "--format",
            "json",
        ]));
        v.images
            .iter()
            .map(|i| (i.name.clone(), i.searched))
            .collect()
    };
    let v252 = names("252");
    assert!(v252.contains(&("tool.sysext".into(), true)), "{v252:?}");
    assert!(v252.contains(&("old".into(), true)), "{v252:?}");
    let v257 = names("257");
    assert!(v257.contains(&("tool".into(), true)), "{v257:?}");
    assert!(v257.contains(&("old".into(), false)), "{v257:?}");
}

#[test]
fn usage_and_runtime_errors_exit_2() {
    let out = extwatch(&["audit", "--root", "/nonexistent/root"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty());
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot open root"));
    assert_eq!(extwatch(&["audit", "--bogus"]).status.code(), Some(2));
    assert_eq!(
        extwatch(&["audit", "--systemd-version", "x"]).status.code(),
        Some(2)
    );
    let t = root();
    let bad = t.path().join("mi");
    write(&bad, "garbage line\n");
    let out = extwatch(&[
        "inventory",
        "--root",
        t.path().to_str().unwrap(),
        "--mountinfo",
        bad.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn checks_and_schema_commands() {
    let out = extwatch(&["checks", "--format", "json"]);
    assert!(out.status.success());
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(v
        .as_array()
        .unwrap()
        .iter()
        .any(|c| c["id"] == "merge-foreign-overlay"));
    let s = extwatch(&["schema"]);
    let committed = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../schema/extwatch-v1.schema.json"
    ))
    .unwrap();
    assert_eq!(String::from_utf8(s.stdout).unwrap(), committed);
}
