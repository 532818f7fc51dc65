//! The committed JSON Schema must equal the one generated from the types: a field change without a
//! schema update (and review of the contract) fails here. Regenerate with
//! `EXTWATCH_UPDATE_SCHEMA=1 cargo test -p extwatch-model --test schema`.

use std::path::PathBuf;

#[test]
fn committed_schema_matches_types() {
    let path =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../schema/extwatch-v1.schema.json");
    let generated = extwatch_model::report_schema_json();
    if std::env::var_os("EXTWATCH_UPDATE_SCHEMA").is_some() {
        std::fs::write(&path, &generated).unwrap();
    }
    let committed = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    assert!(
        committed == generated,
        "schema/extwatch-v1.schema.json is stale: rerun with EXTWATCH_UPDATE_SCHEMA=1 and review the diff"
    );
    let v: serde_json::Value = serde_json::from_str(&committed).unwrap();
    let required = v["required"].as_array().unwrap();
    for k in ["schema", "host", "images", "findings", "checks"] {
        assert!(required.iter().any(|r| r == k), "{k} must be required");
    }
}

#[test]
fn committed_verify_schema_matches_types() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../schema/extwatch-v1-verify.schema.json");
    let generated = extwatch_model::verify_schema_json();
    if std::env::var_os("EXTWATCH_UPDATE_SCHEMA").is_some() {
        std::fs::write(&path, &generated).unwrap();
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == generated,
        "schema/extwatch-v1-verify.schema.json is stale: rerun with EXTWATCH_UPDATE_SCHEMA=1"
    );
}

#[test]
fn report_round_trips() {
    let r = extwatch_model::Report {
        schema: extwatch_model::SCHEMA.into(),
        host: extwatch_model::Host {
            root: "/".into(),
            systemd_version: "257".into(),
            systemd_version_source: "default".into(),
            os_release: None,
            os_release_error: None,
            architecture: "x86-64".into(),
            initrd: false,
            mountinfo: None,
        },
        images: vec![],
        hierarchies: vec![],
        findings: vec![],
        checks: vec![],
    };
    let s = serde_json::to_string(&r).unwrap();
    assert!(s.starts_with("{\"schema\":\"extwatch/v1\""));
    assert_eq!(
        serde_json::from_str::<extwatch_model::Report>(&s).unwrap(),
        r
    );
}
