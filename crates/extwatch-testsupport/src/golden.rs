//! Golden files: extwatch's output on fixed inputs, committed, compared byte for byte.
//!
//! They pin the observable behaviour (JSON and table output) across refactors: a change that alters
//! any byte of any golden output fails the test with the first differing line.
//! `EXTWATCH_UPDATE_GOLDEN=1` rewrites the files instead (review the diff before committing).
//!
//! Fixtures are made reproducible ([`crate::repro`]) rather than outputs normalised. Only values
//! that cannot be fixed are replaced, each by a [`Normaliser`] rule that names the exact string (the
//! temporary root path, a fingerprint of a key generated for the run), never a whole field.

use std::path::Path;

/// True when `EXTWATCH_UPDATE_GOLDEN=1`: golden files are written, not compared.
pub fn updating() -> bool {
    std::env::var("EXTWATCH_UPDATE_GOLDEN").is_ok_and(|v| v == "1")
}

/// Exact-string replacements applied to an output before comparison.
#[derive(Debug, Default, Clone)]
pub struct Normaliser {
    rules: Vec<(String, String)>,
}

impl Normaliser {
    /// No rules.
    pub fn new() -> Normaliser {
        Normaliser::default()
    }

    /// Replaces every occurrence of `from` (which must not be empty) with `to`. Longer `from`s are
    /// applied first, so a path and its parent can both have a rule.
    pub fn rule(mut self, from: impl Into<String>, to: &str) -> Normaliser {
        let from = from.into();
        assert!(!from.is_empty(), "empty normaliser pattern for {to}");
        self.rules.push((from, to.to_string()));
        self.rules.sort_by_key(|r| std::cmp::Reverse(r.0.len()));
        self
    }

    /// The output with every rule applied (lossy UTF-8 would hide bytes, so this works on bytes).
    pub fn apply(&self, out: &[u8]) -> Vec<u8> {
        let mut cur = out.to_vec();
        for (from, to) in &self.rules {
            cur = replace_bytes(&cur, from.as_bytes(), to.as_bytes());
        }
        cur
    }
}

fn replace_bytes(hay: &[u8], from: &[u8], to: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(hay.len());
    let mut i = 0;
    while i < hay.len() {
        if hay[i..].starts_with(from) {
            out.extend_from_slice(to);
            i += from.len();
        } else {
            out.push(hay[i]);
            i += 1;
        }
    }
    out
}

/// Compares `actual` with `dir/name` (or writes it when [`updating`]). `Err` says what differs.
pub fn check(dir: &Path, name: &str, actual: &[u8]) -> Result<(), String> {
    let path = dir.join(name);
    if updating() {
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        std::fs::write(&path, actual).map_err(|e| format!("{}: {e}", path.display()))?;
        return Ok(());
    }
    let want = std::fs::read(&path).map_err(|e| {
        format!(
            "{}: {e} (EXTWATCH_UPDATE_GOLDEN=1 writes it)",
            path.display()
        )
    })?;
    if want == actual {
        return Ok(());
    }
    let (w, a) = (
        String::from_utf8_lossy(&want),
        String::from_utf8_lossy(actual),
    );
    let (wl, al): (Vec<&str>, Vec<&str>) = (w.lines().collect(), a.lines().collect());
    let first = (0..wl.len().max(al.len()))
        .find(|&i| wl.get(i) != al.get(i))
        .unwrap_or(0);
    let ctx = |l: &[&str]| {
        l.iter()
            .enumerate()
            .skip(first.saturating_sub(3))
            .take(7)
            .map(|(i, s)| format!("  {:>5} {s}", i + 1))
            .collect::<Vec<_>>()
            .join("\n")
    };
    Err(format!(
        "{name}: output differs from the golden file {} at line {} ({} vs {} bytes)\n golden:\n{}\n actual:\n{}",
        path.display(),
        first + 1,
        want.len(),
        actual.len(),
        ctx(&wl),
        ctx(&al)
    ))
}
