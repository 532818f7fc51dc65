//! `extwatch audit --only ID… --skip ID…` on a generated root: only the selected checks appear in
//! `checks` and produce findings, an unknown id is a usage error that names it, the exit code
//! follows the findings of the checks that ran, and the content analysis is not computed when no
//! selected check needs it.

use std::path::Path;
use std::process::{Command, Output};

use extwatch_core::checks::{ids, Selection};
use extwatch_model::{CheckStatus, Finding, Report};

fn extwatch(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_extwatch"))
        .args(args)
        .output()
        .expect("run extwatch")
}

fn write(p: &Path, s: &str) {
    std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
    std::fs::write(p, s).expect("write");
}

/// A root with a merged-able directory sysext that ships a new executable, and an
/// `extensions.mutable/usr` directory (a high finding on v257).
fn root() -> tempfile::TempDir {
    let t = tempfile::tempdir().expect("tempdir");
    let r = t.path();
    write(&r.join("etc/os-release"), "ID=debian\nVERSION_ID=13\n");
    let ext = r.join("var/lib/extensions/tools");
    write(
        &ext.join("usr/lib/extension-release.d/extension-release.tools"),
        "ID=debian\nVERSION_ID=13\n",
    );
    write(&ext.join("usr/bin/tool"), "#!/bin/sh\n");
    let mut perm = std::fs::metadata(ext.join("usr/bin/tool"))
        .expect("stat")
        .permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut perm, 0o755);
    std::fs::set_permissions(ext.join("usr/bin/tool"), perm).expect("chmod");
    std::fs::create_dir_all(r.join("var/lib/extensions.mutable/usr")).expect("mkdir");
    std::fs::create_dir_all(r.join("usr/bin")).expect("mkdir");
    t
}

fn audit(root: &Path, extra: &[&str]) -> (Option<i32>, Report, String) {
    let r = root.to_str().expect("utf-8 path");
    let mut args = vec![
        "audit",
        "--root",
        r,
        "--systemd-version",
        "257",
        "--mountinfo",
        "/dev/null",
        "--format",
        "json",
    ];
    args.extend_from_slice(extra);
    let out = extwatch(&args);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let report: Report = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "not a report ({e}): {}\n{stderr}",
            String::from_utf8_lossy(&out.stdout)
        )
    });
    (out.status.code(), report, stderr)
}

fn ids_of(r: &Report) -> Vec<&str> {
    r.checks.iter().map(|c| c.id.as_str()).collect()
}

/// The findings of `r` whose check id satisfies `keep`, in report order.
fn findings_where(r: &Report, keep: impl Fn(&str) -> bool) -> Vec<&Finding> {
    r.findings.iter().filter(|f| keep(&f.id)).collect()
}

#[test]
fn only_one_id() {
    let t = root();
    let (_, full, _) = audit(t.path(), &[]);
    assert!(full.checks.len() > 20, "every check runs by default");
    assert!(full
        .findings
        .iter()
        .any(|f| f.id == ids::EXTENSION_ADDS_EXECUTABLE));

    let (_, r, _) = audit(t.path(), &["--only", ids::EXTENSION_ADDS_EXECUTABLE]);
    assert_eq!(ids_of(&r), [ids::EXTENSION_ADDS_EXECUTABLE]);
    assert_eq!(r.checks[0].status, CheckStatus::Fail);
    assert!(!r.findings.is_empty());
    assert!(r
        .findings
        .iter()
        .all(|f| f.id == ids::EXTENSION_ADDS_EXECUTABLE));
    // The findings of the check are the ones the full audit gives.
    let expected = findings_where(&full, |id| id == ids::EXTENSION_ADDS_EXECUTABLE);
    assert_eq!(findings_where(&r, |_| true), expected);
    // Images and hierarchies are still reported in full.
    assert_eq!(r.images, full.images);

    // Repeated and comma-separated forms; registry order, not argument order.
    let (_, r, _) = audit(
        t.path(),
        &[
            "--only",
            "mutable-extension-mode,extension-merged",
            "--only",
            ids::EXTENSION_UNSIGNED,
        ],
    );
    assert_eq!(
        ids_of(&r),
        [
            ids::EXTENSION_MERGED,
            ids::MUTABLE_EXTENSION_MODE,
            ids::EXTENSION_UNSIGNED
        ]
    );
}

#[test]
fn skip_one_id() {
    let t = root();
    let (_, full, _) = audit(t.path(), &[]);
    let (_, r, _) = audit(t.path(), &["--skip", ids::EXTENSION_ADDS_EXECUTABLE]);
    let mut expected = ids_of(&full);
    expected.retain(|id| *id != ids::EXTENSION_ADDS_EXECUTABLE);
    assert_eq!(ids_of(&r), expected);
    assert!(!r
        .findings
        .iter()
        .any(|f| f.id == ids::EXTENSION_ADDS_EXECUTABLE));
    let others = findings_where(&full, |id| id != ids::EXTENSION_ADDS_EXECUTABLE);
    assert_eq!(findings_where(&r, |_| true), others);

    // --skip applies after --only.
    let (_, r, _) = audit(
        t.path(),
        &[
            "--only",
            "extension-merged,extension-unsigned",
            "--skip",
            "extension-unsigned",
        ],
    );
    assert_eq!(ids_of(&r), [ids::EXTENSION_MERGED]);
}

#[test]
fn unknown_id_is_a_usage_error_naming_it() {
    let t = root();
    let r = t.path().to_str().expect("utf-8");
    let out = extwatch(&["audit", "--root", r, "--only", "extension-mergd"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty(), "no report on a usage error");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("\"extension-mergd\""), "{err}");
    assert!(err.contains("did you mean \"extension-merged\""), "{err}");

    let out = extwatch(&["audit", "--root", r, "--skip", "extension-merged,nonsense"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("\"nonsense\"") && err.contains("--skip"),
        "{err}"
    );
    assert!(
        err.contains("valid ids:") && err.contains(ids::CONFEXT_SENSITIVE_CONFIG),
        "{err}"
    );
}

#[test]
fn exit_code_follows_the_checks_that_ran() {
    let t = root();
    // mutable-extension-mode is high: the default --fail-on high fails.
    let (code, r, _) = audit(t.path(), &[]);
    assert!(r
        .findings
        .iter()
        .any(|f| f.id == ids::MUTABLE_EXTENSION_MODE));
    assert_eq!(code, Some(1));
    let (code, r, _) = audit(t.path(), &["--skip", ids::MUTABLE_EXTENSION_MODE]);
    assert!(r
        .findings
        .iter()
        .all(|f| f.severity < extwatch_model::Severity::High));
    assert_eq!(code, Some(0));
    // A medium finding from the one selected check fails --fail-on medium, not the default.
    let only = ["--only", ids::EXTENSION_ADDS_EXECUTABLE];
    assert_eq!(audit(t.path(), &only).0, Some(0));
    let (code, _, _) = audit(
        t.path(),
        &[
            "--only",
            ids::EXTENSION_ADDS_EXECUTABLE,
            "--fail-on",
            "medium",
        ],
    );
    assert_eq!(code, Some(1));
    // A check that found nothing never fails the run.
    let (code, r, _) = audit(
        t.path(),
        &["--only", ids::EXTENSION_SETUID, "--fail-on", "info"],
    );
    assert_eq!(r.checks[0].status, CheckStatus::Pass);
    assert_eq!(code, Some(0));
}

#[test]
fn content_analysis_only_when_a_selected_check_needs_it() {
    let t = root();
    let opts = |select: Selection| extwatch_core::Options {
        systemd_version: extwatch_core::SystemdVersion::parse("257"),
        mountinfo: Some("/dev/null".into()),
        content: false,
        select,
        ..extwatch_core::options_for(t.path())
    };
    let all = extwatch_core::audit_full(&opts(Selection::all())).expect("audit");
    assert!(all.2.is_some(), "content checks selected: analysis made");
    let merged_only = Selection::new(&[ids::EXTENSION_MERGED], &[] as &[&str]).expect("valid");
    let (report, _, analysis) = extwatch_core::audit_full(&opts(merged_only)).expect("audit");
    assert!(analysis.is_none(), "no selected check needs the content");
    assert_eq!(ids_of(&report), [ids::EXTENSION_MERGED]);
    let one_content = Selection::new(&[ids::EXTENSION_SETUID], &[] as &[&str]).expect("valid");
    assert!(extwatch_core::audit_full(&opts(one_content))
        .expect("audit")
        .2
        .is_some());
}
