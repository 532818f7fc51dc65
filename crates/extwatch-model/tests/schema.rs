//! The report contract: required fields and a serde round trip. Whether the committed schemas under
//! `schema/` are current is checked once, for all of them, by `cargo xtask codegen --check` (a test
//! of the xtask crate); `cargo xtask codegen` rewrites them.

/// The report schema requires the top-level fields scripts rely on. (That each committed schema
/// equals the generated one is `cargo xtask codegen --check`, run by the xtask crate's tests.)
#[test]
fn report_schema_requires_the_contract_fields() {
    let v: serde_json::Value = serde_json::from_str(&extwatch_model::report_schema_json()).unwrap();
    let required = v["required"].as_array().unwrap();
    for k in ["schema", "host", "images", "findings", "checks"] {
        assert!(required.iter().any(|r| r == k), "{k} must be required");
    }
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
