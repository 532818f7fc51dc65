//! `extwatch inventory` and `extwatch audit` as tables: the host line, the images, the merge state
//! of each hierarchy, then (when checks ran) the findings and a count per severity.

use extwatch_model::{Report, Severity};

use super::{enum_str, table};
use crate::escape::terminal;

/// The inventory table, then (when checks ran) the findings table.
pub fn report(report: &Report, width: u16) -> String {
    let mut out = String::new();
    let h = &report.host;
    out.push_str(&format!(
        "root {}  systemd {} ({})  arch {}{}\n",
        terminal(&h.root),
        terminal(&h.systemd_version),
        h.systemd_version_source,
        terminal(&h.architecture),
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
                "merged"
            } else if i.masked_by.is_some() {
                "masked"
            } else if !i.searched {
                "not searched"
            } else if i.compatible.ok {
                "mergeable"
            } else {
                "refused"
            };
            t.add_row(vec![
                terminal(&i.name).into_owned(),
                i.class.as_str().to_string(),
                enum_str(&i.format),
                state.to_string(),
                enum_str(&i.signature.status),
                terminal(&i.path).into_owned(),
            ]);
        }
        out.push_str(&t.to_string());
        out.push('\n');
    }
    for hz in &report.hierarchies {
        out.push_str(&format!(
            "{} ({}): {}\n",
            terminal(&hz.hierarchy),
            hz.class.as_str(),
            if hz.merged {
                format!("merged: {}", terminal(&hz.extensions.join(", ")))
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
                    terminal(&f.subject).into_owned(),
                    terminal(&f.message).into_owned(),
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
