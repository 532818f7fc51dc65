//! Turning a typed error into the text the reports carry.
//!
//! The engine's errors chain their causes (`#[source]`) instead of repeating them in their message,
//! so a caller with `anyhow` prints `{:#}` and gets `what: why: deeper why`. Where an error becomes
//! report text (a finding's message, a check's `error`, evidence), [`chain`] writes the same line.

use std::error::Error;
use std::fmt::Write;

/// `e` and each of its sources, joined with `": "` (what anyhow's `{:#}` prints), except that a
/// source whose text the line already ends with is not repeated (some errors of the parser crate
/// both print and chain their cause, e.g. `I/O error reading image: {0}` with `#[from]`).
pub fn chain(e: &dyn Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        let t = c.to_string();
        if !s.ends_with(&t) {
            let _ = write!(s, ": {t}");
        }
        cur = c.source();
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("outer {0}")]
    struct Repeats(#[source] std::io::Error);

    #[derive(Debug, thiserror::Error)]
    #[error("context")]
    struct Chains(#[source] std::io::Error);

    #[test]
    fn chains_without_repeating() {
        let io = || std::io::Error::other("cause");
        assert_eq!(chain(&Chains(io())), "context: cause");
        assert_eq!(chain(&Repeats(io())), "outer cause");
    }
}
