//! The registry matches the catalogue, selection works, and a partly-run check says so.

use extwatch_formats::EntryKind;
use extwatch_model::{CheckStatus, ImageClass};

use super::*;
use crate::content::changes::{Analysis, ImageChanges};
use crate::content::FileEntry;
use crate::host::version::SystemdVersion;
use crate::provenance::trust::HostTrust;

#[test]
fn every_catalogue_id_has_exactly_one_check_and_back() {
    for d in CATALOGUE {
        let n = REGISTRY.iter().filter(|c| c.def.id == d.id).count();
        assert_eq!(n, 1, "{} is registered {n} times", d.id);
    }
    for c in REGISTRY {
        let d = extwatch_model::catalogue::lookup(c.def.id);
        let d = d.unwrap_or_else(|| panic!("{} is registered, not in the catalogue", c.def.id));
        // The catalogue's own entry (a `const`, so compared by value, not by address).
        assert_eq!(
            (d.severity, d.controls, d.summary, d.facts),
            (c.def.severity, c.def.controls, c.def.summary, c.def.facts),
            "{}",
            c.def.id
        );
    }
    assert_eq!(REGISTRY.len(), CATALOGUE.len());
}

#[test]
fn empty_root_every_check_runs_in_registry_order() {
    let trust = HostTrust::default();
    let analysis = Analysis::default();
    let facts = Facts {
        content: Some(&analysis),
        ..Facts::new(SystemdVersion::DEFAULT, &trust)
    };
    let (f, runs) = run(&facts, &Selection::all());
    assert_eq!(f.len(), 1, "an empty trust store is reported: {f:?}");
    assert_eq!(f[0].id, ids::TRUST_STORE_IGNORED_FILES);
    let order: Vec<_> = runs.iter().map(|r| r.id.as_str()).collect();
    let registry: Vec<_> = REGISTRY.iter().map(|c| c.def.id).collect();
    assert_eq!(order, registry);
    let errors: Vec<_> = runs
        .iter()
        .filter(|r| r.status == CheckStatus::Error)
        .collect();
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(errors[0].id, ids::MERGE_FOREIGN_OVERLAY);
    assert_eq!(
        errors[0].reason.as_deref(),
        Some("no mount table was available (give --mountinfo FILE)")
    );
}

#[test]
fn a_missing_fact_is_an_error_not_a_pass() {
    let trust = HostTrust::default();
    let facts = Facts::new(SystemdVersion::DEFAULT, &trust);
    let (_, runs) = run(&facts, &Selection::all());
    let setuid = runs.iter().find(|r| r.id == ids::EXTENSION_SETUID);
    let setuid = setuid.expect("selected checks all appear");
    assert_eq!(setuid.status, CheckStatus::Error);
    assert_eq!(
        setuid.reason.as_deref(),
        Some("the content analysis was not computed in this run")
    );
}

fn entry(path: &str, mode: u32) -> FileEntry {
    FileEntry {
        mode,
        ..crate::content::test_entry(path, EntryKind::File)
    }
}

/// Issue 9: a content check whose analysis failed midway (here: the second image could not be
/// walked) reports what it found in the first image *and* the error, instead of a plain `fail`.
#[test]
fn partly_run_content_check_reports_findings_and_error() {
    let analysis = Analysis {
        images: vec![ImageChanges {
            name: "tools".into(),
            class: ImageClass::Sysext,
            merged: true,
            added: vec!["/usr/bin/su2".into()],
            replaced_base: vec![],
            overrode: vec![],
            removed: vec![],
            entries: vec![entry("/usr/bin/su2", 0o4755)],
        }],
        errors: vec!["other.raw: cannot walk /usr: budget spent".into()],
        ..Analysis::default()
    };
    let trust = HostTrust::default();
    let facts = Facts {
        content: Some(&analysis),
        ..Facts::new(SystemdVersion::DEFAULT, &trust)
    };
    let out = (content::SETUID.run)(&facts);
    assert_eq!(out.findings.len(), 1);
    assert_eq!(
        out.error,
        Some(CheckError::Content(vec![
            "other.raw: cannot walk /usr: budget spent".into()
        ]))
    );

    let (findings, runs) = run(&facts, &Selection::all());
    let by_id = |id: &str| runs.iter().find(|r| r.id == id).cloned();
    let setuid = by_id(ids::EXTENSION_SETUID).expect("setuid ran");
    assert_eq!(setuid.status, CheckStatus::Fail);
    assert_eq!(setuid.findings, 1);
    assert_eq!(setuid.reason, None);
    assert_eq!(
        setuid.partial_error.as_deref(),
        Some("other.raw: cannot walk /usr: budget spent")
    );
    assert!(findings
        .iter()
        .any(|f| f.id == ids::EXTENSION_SETUID && f.subject == "tools"));
    // The executable check found the same file: partial too.
    let execs = by_id(ids::EXTENSION_ADDS_EXECUTABLE).expect("ran");
    assert_eq!((execs.status, execs.findings), (CheckStatus::Fail, 1));
    assert!(execs.partial_error.is_some());
    // A content check with nothing found in the part that was analysed: an error, as before.
    let units = by_id(ids::EXTENSION_ADDS_UNIT).expect("ran");
    assert_eq!(units.status, CheckStatus::Error);
    assert_eq!(
        units.reason.as_deref(),
        Some("other.raw: cannot walk /usr: budget spent")
    );
    assert_eq!(units.partial_error, None);
    // Serialised: the field appears only when set.
    let json = serde_json::to_value(&runs).expect("serialises");
    let arr = json.as_array().expect("array");
    let with: Vec<_> = arr
        .iter()
        .filter(|r| r.get("partial_error").is_some())
        .map(|r| r["id"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(
        with,
        [ids::EXTENSION_ADDS_EXECUTABLE, ids::EXTENSION_SETUID]
    );
}

#[test]
fn selection_only_skip_and_facts() {
    let all = Selection::all();
    assert!(REGISTRY.iter().all(|c| all.includes(c.def.id)));
    assert!(all.needs(Fact::Content));

    let s = Selection::new(
        &["extension-merged,extension-setuid"],
        &["extension-setuid"],
    )
    .expect("valid");
    assert!(s.includes(ids::EXTENSION_MERGED));
    assert!(
        !s.includes(ids::EXTENSION_SETUID),
        "skip applies after only"
    );
    assert!(!s.includes(ids::EXTENSION_UNSIGNED));
    assert!(!s.needs(Fact::Content));
    assert!(s.needs(Fact::Hierarchies));

    let s = Selection::new::<&str>(&[], &["extension-setuid"]).expect("valid");
    assert!(s.includes(ids::EXTENSION_MERGED) && !s.includes(ids::EXTENSION_SETUID));
    assert!(s.needs(Fact::Content), "other content checks still run");

    let content: Vec<&str> = CATALOGUE
        .iter()
        .filter(|d| d.facts.contains(&Fact::Content))
        .map(|d| d.id)
        .collect();
    let s = Selection::new(&[] as &[&str], &content).expect("valid");
    assert!(!s.needs(Fact::Content));
}

#[test]
fn selection_errors_name_the_id() {
    let e = Selection::new(&["extension-mergd"], &[] as &[&str]).unwrap_err();
    let msg = e.to_string();
    assert!(msg.contains("\"extension-mergd\""), "{msg}");
    assert!(msg.contains("--only"), "{msg}");
    assert!(msg.contains("did you mean \"extension-merged\""), "{msg}");

    let e = Selection::new(&[] as &[&str], &["setuid"]).unwrap_err();
    assert!(
        e.to_string().contains("did you mean \"extension-setuid\""),
        "{e}"
    );

    let e = Selection::new(&[] as &[&str], &["bogus"])
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("--skip") && e.contains("valid ids: extension-merged, "),
        "{e}"
    );
    assert!(e.contains("confext-sensitive-config"), "{e}");

    let e = Selection::new(&["extension-merged,"], &[] as &[&str]).unwrap_err();
    assert!(
        matches!(e, SelectError::Empty { option: "only", .. }),
        "{e}"
    );

    let long = "x".repeat(10_000);
    let e = Selection::new(&[long.as_str()], &[] as &[&str]).unwrap_err();
    assert!(e.to_string().contains("valid ids:"));
}
