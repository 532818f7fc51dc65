use extwatch_model::{CheckList, FileType, Report};

use crate::files::{sample, test_entry};

const ESC: &str = "\x1b]0;owned\x07\x1b[2J";

/// A report whose image-supplied strings all carry terminal escapes.
fn hostile_report() -> Report {
    let sig = serde_json::json!({"status": "absent"});
    let verity = serde_json::json!({"source": "none", "declared": [], "problems": []});
    serde_json::from_value(serde_json::json!({
        "schema": "extwatch/v1",
        "host": {"root": "/", "systemd_version": format!("257{ESC}"),
                 "systemd_version_source": "default", "architecture": "x86-64", "initrd": false},
        "images": [{
            "name": format!("evil{ESC}"), "class": "sysext", "path": format!("/var/lib/extensions/evil{ESC}"),
            "symlink": false, "format": "directory", "search_dir": "/var/lib/extensions", "searched": true,
            "compatible": {"ok": true, "fails_merge": false}, "merged": true, "merged_into": ["/usr"],
            "verity": verity, "signature": sig, "errors": []
        }],
        "hierarchies": [{"hierarchy": "/usr", "class": "sysext", "merged": true,
                         "extensions": [format!("evil{ESC}")], "mutable": false}],
        "findings": [{"id": "extension-merged", "severity": "info", "controls": ["CM-8"],
                      "subject": format!("evil{ESC}"), "message": format!("merged{ESC}"), "evidence": null}],
        "checks": [{"id": "extension-merged", "severity": "info", "controls": ["CM-8"],
                    "status": "fail", "findings": 1}]
    }))
    .unwrap()
}

#[test]
fn report_tables_never_pass_escapes() {
    let text = super::report(&hostile_report(), 200);
    assert!(!text.contains('\x1b') && !text.contains('\x07'), "{text}");
    assert!(text.contains("evil\\x1b]0;owned\\x07\\x1b[2J"), "{text}");
    assert!(text.contains("systemd 257\\x1b]0;owned"), "{text}");
    assert!(
        text.contains("/usr (sysext): merged: evil\\x1b]0;owned"),
        "{text}"
    );
    assert!(text.contains("1 findings: 1 info"), "{text}");
    assert!(
        text.contains("mergeable") || text.contains("merged"),
        "{text}"
    );
}

#[test]
fn checks_listing_is_padded_columns() {
    let text = super::checks(&CheckList::catalogue());
    let first = text.lines().next().unwrap();
    assert_eq!(
        first,
        format!(
            "{:<28} {:<8} {:<16} {}",
            "extension-merged", "info", "CM-8", "the image is merged right now"
        )
    );
    assert_eq!(
        text.lines().count(),
        extwatch_model::catalogue::CATALOGUE.len()
    );
}

#[test]
fn files_table_lines() {
    let mut out = Vec::new();
    super::write_files(&mut out, sample(), false).unwrap();
    let text = String::from_utf8(out).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines[0],
        "drwxr-xr-x     0     0           0 2023-11-14 22:13 /"
    );
    assert_eq!(
        lines[1],
        "-rwsr-xr-x     0     0           3 2023-11-14 22:13 /bin\\xff\\x0a"
    );
    assert_eq!(
        lines[2],
        "lrwxr-xr-x     0     0           0 2023-11-14 22:13 /l -> ../\\xfe"
    );
    assert_eq!(
        lines[3],
        "crwxr-xr-x     0     0         1,3 2023-11-14 22:13 /wh"
    );

    let mut out = Vec::new();
    super::write_files(&mut out, &sample()[1..2], true).unwrap();
    let text = String::from_utf8(out).unwrap();
    assert!(text.contains(" 070707070707 /bin"), "{text}");

    // A long name is cut from the left to fit 100 columns; a sticky dir shows `t`.
    let long = format!("/{}", "d/".repeat(80));
    let e = extwatch_model::FileEntry {
        mode: 0o1777,
        mtime: i64::MAX,
        ..test_entry(&long, FileType::Dir)
    };
    let mut out = Vec::new();
    super::write_files(&mut out, [e], false).unwrap();
    let line = String::from_utf8(out).unwrap();
    let line = line.trim_end();
    assert!(line.starts_with("drwxrwxrwt"), "{line}");
    assert!(line.contains("????????????????"), "{line}");
    assert!(line.contains('…'), "{line}");
    assert_eq!(line.chars().count(), 100, "{line}");
}
