//! The terminal escaper: what an image supplies is shown, never obeyed.
//!
//! A name inside an image or a field of its extension-release file can hold any byte. Written to a
//! terminal raw, C0 controls (ESC starts ANSI sequences: move the cursor, clear lines, set the
//! window title, OSC 52 clipboard writes), DEL and the C1 controls (U+0080–U+009F, of which U+009B
//! is a one-character CSI on some terminals) let a hostile image rewrite what the operator reads.
//! Every table and text output of this crate passes such fields through here, so they come out as
//! `\xNN` (the code point in hex) and a reader sees exactly which bytes were there.
//!
//! One rule, two spellings of a backslash: [`push_bytes`] (the `files` listing, where names are raw
//! bytes) also writes a backslash and every byte that is not UTF-8 as `\xNN`, so the line is
//! unambiguous and can be mapped back to the exact name; [`terminal`] (fields of the report, already
//! UTF-8) leaves a backslash as it is, as those tables always have.

use std::borrow::Cow;
use std::fmt::Write as _;

/// Whether a backslash is escaped too.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Backslash {
    Keep,
    Escape,
}

fn needs_escape(c: char, backslash: Backslash) -> bool {
    // `is_control` is Unicode category Cc: exactly C0, DEL and C1.
    c.is_control() || (backslash == Backslash::Escape && c == '\\')
}

/// Appends `b` to `out`: lossy UTF-8 with control characters, backslashes and bytes that are not
/// UTF-8 written as `\xNN`.
pub fn push_bytes(out: &mut String, b: &[u8]) {
    // Fast path: printable ASCII without backslashes is shown as it is.
    if b.iter().all(|&c| (0x20..0x7f).contains(&c) && c != b'\\') {
        if let Ok(t) = std::str::from_utf8(b) {
            out.push_str(t);
            return;
        }
    }
    for chunk in b.utf8_chunks() {
        push_chars(out, chunk.valid(), Backslash::Escape);
        for &x in chunk.invalid() {
            let _ = write!(out, "\\x{x:02x}");
        }
    }
}

/// `s` safe for a terminal: control characters (C0, DEL, C1) become `\xNN`; a backslash stays.
pub fn terminal(s: &str) -> Cow<'_, str> {
    if !s.chars().any(|c| needs_escape(c, Backslash::Keep)) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    push_chars(&mut out, s, Backslash::Keep);
    Cow::Owned(out)
}

fn push_chars(out: &mut String, s: &str, backslash: Backslash) {
    for c in s.chars() {
        if needs_escape(c, backslash) {
            let _ = write!(out, "\\x{:02x}", c as u32);
        } else {
            out.push(c);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn controls_never_pass() {
        let hostile = "a\x1b]0;pwned\x07b\u{9b}2Jc\x7f\td\\e";
        assert_eq!(
            terminal(hostile),
            "a\\x1b]0;pwned\\x07b\\x9b2Jc\\x7f\\x09d\\e"
        );
        assert!(matches!(terminal("plain ünïcode"), Cow::Borrowed(_)));
        let mut s = String::new();
        push_bytes(&mut s, b"/x\x1b[2J\\\xff\xc3\xa9\n");
        assert_eq!(s, "/x\\x1b[2J\\x5c\\xff\u{e9}\\x0a");
        // Whatever goes in, nothing below 0x20 and no DEL/C1 comes out.
        for b in 0..=255u8 {
            let mut s = String::new();
            push_bytes(&mut s, &[b'a', b, 0xc2, b]);
            let one = [b];
            let t = terminal(std::str::from_utf8(&one).unwrap_or("\u{85}"));
            for c in s.chars().chain(t.chars()) {
                assert!(!c.is_control(), "{b:#x} -> {s:?} / {t:?}");
            }
        }
    }
}
