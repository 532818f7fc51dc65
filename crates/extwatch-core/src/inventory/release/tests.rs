use super::*;

fn host(pairs: &[(&str, &str)]) -> HostRelease {
    HostRelease {
        os_release: Some(
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        ),
        scope: "system",
        arch: "x86-64",
        root_display: "/".into(),
    }
}

fn rel(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

const V257: SystemdVersion = SystemdVersion {
    major: 257,
    point: Some(13),
};

#[test]
fn matching_rules_and_reasons() {
    let h = host(&[("ID", "debian"), ("VERSION_ID", "13"), ("ID_LIKE", "")]);
    let s = ImageClass::Sysext;
    assert!(validate(
        "a",
        s,
        Some(&rel(&[("ID", "debian"), ("VERSION_ID", "13")])),
        &h,
        V257
    )
    .is_ok());
    assert_eq!(
        validate("a", s, Some(&rel(&[("ID", "fedora")])), &h, V257).unwrap_err(),
        "Extension 'a' is for OS 'fedora', but deployed on top of 'debian'."
    );
    assert_eq!(
        validate(
            "a",
            s,
            Some(&rel(&[("ID", "debian"), ("VERSION_ID", "12")])),
            &h,
            V257
        )
        .unwrap_err(),
        "Extension 'a' is for OS '12', but deployed on top of '13'."
    );
    assert!(validate(
        "a",
        s,
        Some(&rel(&[("ID", "_any"), ("SYSEXT_SCOPE", "initrd")])),
        &h,
        V257
    )
    .is_err());
    assert!(validate("a", s, Some(&rel(&[("ID", "_any")])), &h, V257).is_ok());
    assert_eq!(
        validate("a", s, None, &h, V257).unwrap_err(),
        "Extension 'a' carries no release data, ignoring."
    );
    assert_eq!(
        validate(
            "a",
            s,
            Some(&rel(&[("ID", "_any"), ("ARCHITECTURE", "arm64")])),
            &h,
            V257
        )
        .unwrap_err(),
        "Extension 'a' is for architecture 'arm64', but deployed on top of 'x86-64'."
    );
    let lvl = host(&[
        ("ID", "debian"),
        ("VERSION_ID", "13"),
        ("SYSEXT_LEVEL", "1.4"),
    ]);
    assert_eq!(
        validate(
            "a",
            s,
            Some(&rel(&[("ID", "debian"), ("SYSEXT_LEVEL", "1.3")])),
            &lvl,
            V257
        )
        .unwrap_err(),
        "Extension 'a' is for API level '1.3', but running on API level '1.4'"
    );
    assert!(validate(
        "a",
        s,
        Some(&rel(&[("ID", "debian"), ("SYSEXT_LEVEL", "1.4")])),
        &lvl,
        V257
    )
    .is_ok());
    // Extension level but host only VERSION_ID: VERSION_ID is required.
    assert!(validate(
        "a",
        s,
        Some(&rel(&[("ID", "debian"), ("SYSEXT_LEVEL", "1.4")])),
        &h,
        V257
    )
    .is_err());
    let like = host(&[
        ("ID", "ubuntu"),
        ("ID_LIKE", "debian"),
        ("VERSION_ID", "24.04"),
    ]);
    let r = rel(&[("ID", "debian"), ("VERSION_ID", "24.04")]);
    assert!(validate("a", s, Some(&r), &like, V257).is_ok());
    let v256 = SystemdVersion {
        major: 256,
        point: None,
    };
    assert!(validate("a", s, Some(&r), &like, v256).is_err());
    let rolling = host(&[("ID", "arch")]);
    assert!(validate("a", s, Some(&rel(&[("ID", "arch")])), &rolling, V257).is_ok());
}

/// The report copy is bounded whatever the release holds: values cut at a character boundary
/// with a marker, keys over the caps dropped, the keys systemd compares always kept.
#[test]
fn report_copy_is_bounded() {
    let mut r = BTreeMap::new();
    r.insert("ID".to_string(), "debian".to_string());
    // "A" sorts before the 1,000 filler keys, so it is among the keys kept.
    r.insert("A".to_string(), "é".repeat(MAX_REPORT_VALUE));
    r.insert("K".repeat(MAX_REPORT_KEY + 1), "x".into());
    for i in 0..1000 {
        r.insert(format!("A{i:04}"), "v".into());
    }
    r.insert("VERSION_ID".to_string(), "13".to_string());
    let (out, note) = for_report(r);
    assert_eq!(out.len(), MAX_REPORT_KEYS);
    assert_eq!(out["ID"], "debian");
    assert_eq!(out["VERSION_ID"], "13");
    let d = &out["A"];
    assert!(d.len() < MAX_REPORT_VALUE + 64, "{}", d.len());
    assert!(d.ends_with(&format!(
        "[extwatch: truncated, {} bytes]",
        2 * MAX_REPORT_VALUE
    )));
    let note = note.unwrap();
    assert!(
        note.contains("1 values") && note.contains("dropped"),
        "{note}"
    );
    let (small, none) = for_report(rel(&[("ID", "x")]));
    assert_eq!((small.len(), none), (1, None));
}

#[test]
fn release_budget_is_shared_and_says_why() {
    let b = ReleaseBudget::new(100);
    assert!(b.take("/a", 60).is_ok());
    let e = b.take("/b", 50).unwrap_err().to_string();
    assert!(
        e.contains("MAX_RELEASE_TOTAL") && e.contains("40 left"),
        "{e}"
    );
    assert!(b.take("/c", 40).is_ok());
}

#[test]
fn base_names() {
    assert_eq!(base_image_name("foo_1.2.raw"), "foo");
    assert_eq!(base_image_name("foo.sysext.raw"), "foo");
    assert_eq!(base_image_name("foo+3-0.raw"), "foo");
    assert_eq!(base_image_name("dir_2"), "dir");
    assert!(parse_bool_false(b"0"));
    assert!(parse_bool_false(b"off\0"));
    assert!(!parse_bool_false(b"1"));
    assert!(!parse_bool_false(b"maybe"));
}
