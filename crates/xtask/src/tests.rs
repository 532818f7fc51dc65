use super::*;

/// The committed copies are what the code generates now: a changed flag, model field or catalogue
/// entry without `cargo xtask codegen` fails here, naming each file.
#[test]
fn committed_artefacts_are_current() {
    let artefacts = artefacts().unwrap();
    let stale = stale(&repo_root(), &artefacts).unwrap();
    let names: Vec<String> = stale
        .iter()
        .map(|(p, why)| format!("{} ({why})", p.display()))
        .collect();
    assert!(
        stale.is_empty(),
        "stale generated files, run `cargo xtask codegen`: {names:?}"
    );
}

/// The check names exactly what is missing, changed and left over, and writing repairs it.
#[test]
fn check_finds_every_kind_of_staleness() {
    let artefacts = artefacts().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    assert_eq!(write(root, &artefacts).unwrap().len(), artefacts.len());
    assert!(stale(root, &artefacts).unwrap().is_empty());

    std::fs::write(root.join("docs/checks.md"), "edited by hand\n").unwrap();
    std::fs::remove_file(root.join("docs/man/extwatch-audit.1")).unwrap();
    std::fs::write(root.join("docs/man/extwatch-gone.1"), "old\n").unwrap();
    let found = stale(root, &artefacts).unwrap();
    assert_eq!(
        found,
        vec![
            (
                PathBuf::from("docs/man/extwatch-audit.1"),
                Staleness::Missing
            ),
            (PathBuf::from("docs/checks.md"), Staleness::Differs),
            (PathBuf::from("docs/man/extwatch-gone.1"), Staleness::Orphan),
        ]
    );
    assert_eq!(write(root, &artefacts).unwrap(), found);
    assert!(stale(root, &artefacts).unwrap().is_empty());
    assert!(!root.join("docs/man/extwatch-gone.1").exists());
}

/// Generation is deterministic (no dates, nothing from the environment) and covers every
/// subcommand, shell, schema and check.
#[test]
fn generation_is_deterministic_and_complete() {
    let a = artefacts().unwrap();
    assert_eq!(a, artefacts().unwrap());
    let has = |p: &str| a.iter().any(|x| x.path == Path::new(p));
    for sub in ["inventory", "audit", "verify", "checks", "schema", "files"] {
        assert!(has(&format!("docs/man/extwatch-{sub}.1")), "{sub}");
    }
    for p in [
        "docs/man/extwatch.1",
        "docs/completions/extwatch.bash",
        "docs/completions/_extwatch",
        "docs/completions/extwatch.fish",
        "schema/extwatch-v1-checks.schema.json",
        "docs/checks.md",
    ] {
        assert!(has(p), "{p}");
    }
    let man = a
        .iter()
        .find(|x| x.path == Path::new("docs/man/extwatch.1"))
        .unwrap();
    let man = String::from_utf8_lossy(&man.content);
    assert!(man.starts_with(".ie \\n(.g .ds Aq \\(aq"), "{man}");
    assert!(
        man.contains(".TH extwatch 1  \"extwatch "),
        "no date expected: {man}"
    );
    let md = a
        .iter()
        .find(|x| x.path == Path::new("docs/checks.md"))
        .unwrap();
    let md = String::from_utf8_lossy(&md.content);
    for d in extwatch_model::catalogue::CATALOGUE {
        assert!(md.contains(&format!("\n## {}\n", d.id)), "{}", d.id);
    }
}
