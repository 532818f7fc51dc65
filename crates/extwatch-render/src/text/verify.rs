//! `extwatch verify` as text: one block per image, a key column and its value.

use extwatch_model::VerifyReport;

use super::enum_str;
use crate::escape::terminal;

/// One block per image: its verdict, then format, partitions, release, verity and signature.
pub fn verify(r: &VerifyReport) -> String {
    let mut out = String::new();
    for i in &r.images {
        out.push_str(&format!(
            "{}: {}\n",
            terminal(&i.path),
            if i.ok { "OK" } else { "FAILED" }
        ));
        let mut line = |k: &str, v: String| out.push_str(&format!("  {k:<12} {}\n", terminal(&v)));
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
