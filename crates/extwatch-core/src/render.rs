//! Human and machine renderings of a report. JSON is the contract (DESIGN §3); the table is for a
//! terminal and fits 100 columns.

use comfy_table::{presets::UTF8_BORDERS_ONLY, Cell, ContentArrangement, Table};
use extwatch_model::{Report, Severity};

/// Pretty JSON with a trailing newline.
pub fn json(report: &Report) -> String {
    let mut s = serde_json::to_string_pretty(report).unwrap_or_else(|e| {
        format!("{{\"schema\":\"extwatch/v1\",\"error\":\"cannot serialise report: {e}\"}}")
    });
    s.push('\n');
    s
}

/// Makes text safe for a terminal: control characters (C0, DEL, C1) become `\xNN`, so a hostile
/// image name cannot move the cursor, clear the screen or set the window title.
pub fn safe(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if (c as u32) < 0x20 || (0x7f..0xa0).contains(&(c as u32)) {
            out.push_str(&format!("\\x{:02x}", c as u32));
        } else {
            out.push(c);
        }
    }
    out
}

fn table(width: u16, header: &[&str]) -> Table {
    let mut t = Table::new();
    t.load_preset(UTF8_BORDERS_ONLY)
        .set_content_arrangement(ContentArrangement::Dynamic)
        .set_width(width)
        .set_header(header.iter().map(Cell::new));
    t
}

/// The inventory table, then (when checks ran) the findings table.
pub fn text(report: &Report, width: u16) -> String {
    let mut out = String::new();
    let h = &report.host;
    out.push_str(&format!(
        "root {}  systemd {} ({})  arch {}{}\n",
        h.root,
        h.systemd_version,
        h.systemd_version_source,
        h.architecture,
        if h.initrd { "  initrd" } else { "" }
    ));
    if report.images.is_empty() {
        out.push_str("no extension images found\n");
    } else {
        let mut t = table(
            width,
            &["NAME", "CLASS", "FORMAT", "STATE", "SIGNATURE", "PATH"],
        );
        for i in &report.images {
            let state = if i.merged {
                "merged".to_string()
            } else if i.masked_by.is_some() {
                "masked".to_string()
            } else if !i.searched {
                "not searched".to_string()
            } else if i.compatible.ok {
                "mergeable".to_string()
            } else {
                "refused".to_string()
            };
            let sig = serde_json::to_value(i.signature.status)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_default();
            let fmt = serde_json::to_value(i.format)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_default();
            t.add_row(vec![
                safe(&i.name),
                i.class.as_str().to_string(),
                fmt,
                state,
                sig,
                safe(&i.path),
            ]);
        }
        out.push_str(&t.to_string());
        out.push('\n');
    }
    for hz in &report.hierarchies {
        out.push_str(&format!(
            "{} ({}): {}\n",
            hz.hierarchy,
            hz.class.as_str(),
            if hz.merged {
                format!("merged: {}", hz.extensions.join(", "))
            } else {
                "not merged".into()
            }
        ));
    }
    if !report.checks.is_empty() {
        if report.findings.is_empty() {
            out.push_str("no findings\n");
        } else {
            let mut t = table(width, &["SEVERITY", "ID", "SUBJECT", "MESSAGE"]);
            for f in &report.findings {
                t.add_row(vec![
                    f.severity.as_str().to_string(),
                    f.id.clone(),
                    safe(&f.subject),
                    safe(&f.message),
                ]);
            }
            out.push_str(&t.to_string());
            out.push('\n');
            let mut counts = Vec::new();
            for s in Severity::ALL.iter().rev() {
                let n = report.findings.iter().filter(|f| f.severity == *s).count();
                if n > 0 {
                    counts.push(format!("{n} {}", s.as_str()));
                }
            }
            out.push_str(&format!(
                "{} findings: {}\n",
                report.findings.len(),
                counts.join(", ")
            ));
        }
    }
    out
}

fn enum_str<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_value(v)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

/// `extwatch verify` as text: one block per image.
pub fn verify_text(r: &extwatch_model::VerifyReport) -> String {
    let mut out = String::new();
    for i in &r.images {
        out.push_str(&format!(
            "{}: {}\n",
            safe(&i.path),
            if i.ok { "OK" } else { "FAILED" }
        ));
        let mut line = |k: &str, v: String| out.push_str(&format!("  {k:<12} {}\n", safe(&v)));
        line(
            "format",
            format!(
                "{}{}",
                enum_str(&i.format),
                i.fstype
                    .as_ref()
                    .map(|f| format!(" ({f})"))
                    .unwrap_or_default()
            ),
        );
        if let Some(s) = &i.sha256 {
            line("sha256", s.clone());
        }
        for p in &i.partitions {
            line(
                "partition",
                format!(
                    "{} {}{} {} bytes at {} uuid {}",
                    p.number,
                    p.role,
                    if p.chosen { " (used)" } else { "" },
                    p.size,
                    p.offset,
                    p.uuid
                ),
            );
        }
        line(
            "release",
            match (&i.class, &i.release_file) {
                (Some(c), Some(f)) => format!("{} {f}", c.as_str()),
                _ => "none (systemd ignores the image)".into(),
            },
        );
        line(
            "root hash",
            match &i.verity.root_hash {
                Some(h) => format!("{h} ({})", enum_str(&i.verity.source)),
                None => "none".into(),
            },
        );
        line(
            "verity",
            match i.verity.verified {
                Some(true) => "tree recomputed, matches".into(),
                Some(false) => "MISMATCH".into(),
                None => "not recomputed (no hash tree)".into(),
            },
        );
        for p in &i.verity.problems {
            line("problem", p.clone());
        }
        let s = &i.signature;
        line(
            "signature",
            format!(
                "{}{}",
                enum_str(&s.status),
                s.reason
                    .as_ref()
                    .map(|r| format!(": {r}"))
                    .unwrap_or_default()
            ),
        );
        if let Some(sg) = &s.signer {
            line("signer", sg.subject.clone());
            line("issuer", sg.issuer.clone());
            line("serial", sg.serial.clone());
            line("fingerprint", sg.sha256_fingerprint.clone());
            if let Some(na) = &sg.not_after {
                line("not after", na.clone());
            }
        }
        for e in &i.errors {
            line("error", e.clone());
        }
    }
    out
}
