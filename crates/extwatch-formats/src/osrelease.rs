//! os-release / extension-release parsing, exactly as systemd's `parse_env_file()` reads them.
//!
//! Hand-written because no crate implements systemd's env-file dialect (os-release(5)): `KEY=value`
//! lines, `#`/`;` comments, single quotes (literal), double quotes (with `\"`, `\\`, `` \` ``, `\$`
//! escapes and line continuation), backslash escapes and continuations outside quotes, whitespace
//! trimmed around unquoted values. Later assignments of a key replace earlier ones. Keys must be valid
//! environment-variable names; invalid lines are skipped, as systemd does.
//!
//! Spec: <https://www.freedesktop.org/software/systemd/man/latest/os-release.html>; systemd
//! `src/basic/env-file.c` (`parse_env_file_internal`).

use std::collections::BTreeMap;

/// Largest release file accepted: systemd's `read_full_stream()` limit (`READ_FULL_BYTES_MAX`, 64 MiB
/// minus one), so a file systemd would read is never refused here. Real files are a few hundred bytes.
pub const MAX_RELEASE_SIZE: usize = 64 * 1024 * 1024 - 1;
/// Most keys kept (memory stays bounded by the size limit anyway).
pub const MAX_KEYS: usize = 1 << 20;

/// Errors in a release file that make systemd reject it entirely.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ReleaseError {
    /// Larger than [`MAX_RELEASE_SIZE`].
    #[error("release file is {0} bytes, over the {MAX_RELEASE_SIZE}-byte limit")]
    TooLarge(usize),
    /// More keys than [`MAX_KEYS`].
    #[error("release file has more than {MAX_KEYS} keys")]
    TooManyKeys,
}

/// Parses os-release syntax into key/value pairs. Values that are not valid UTF-8 are converted
/// lossily (systemd rejects invalid UTF-8 values with a warning; we keep them visible instead).
pub fn parse_os_release(data: &[u8]) -> Result<BTreeMap<String, String>, ReleaseError> {
    if data.len() > MAX_RELEASE_SIZE {
        return Err(ReleaseError::TooLarge(data.len()));
    }
    #[derive(Clone, Copy, PartialEq)]
    enum St {
        PreKey,
        Key,
        PreValue,
        Value,
        ValueEscape,
        SingleQuote,
        DoubleQuote,
        DoubleQuoteEscape,
        Comment,
        CommentEscape,
    }
    let mut out = BTreeMap::new();
    let mut st = St::PreKey;
    let mut key: Vec<u8> = Vec::new();
    let mut value: Vec<u8> = Vec::new();
    // Length of `value` up to the last non-whitespace byte that came from an unquoted context, used to
    // trim trailing whitespace of unquoted values only.
    let mut last_keep: Option<usize> = None;
    let mut finish = |key: &mut Vec<u8>, value: &mut Vec<u8>, last_keep: &mut Option<usize>| {
        if let Some(n) = last_keep.take() {
            value.truncate(n);
        }
        let k = std::mem::take(key);
        let v = std::mem::take(value);
        if valid_env_name(&k) {
            let k = String::from_utf8_lossy(&k).into_owned();
            let v = String::from_utf8_lossy(&v).into_owned();
            if out.len() >= MAX_KEYS && !out.contains_key(&k) {
                return Err(ReleaseError::TooManyKeys);
            }
            out.insert(k, v);
        }
        Ok(())
    };
    const WS: &[u8] = b" \t";
    const NL: &[u8] = b"\n\r";
    for &c in data {
        match st {
            St::PreKey => {
                if c == b'#' || c == b';' {
                    st = St::Comment;
                } else if !WS.contains(&c) && !NL.contains(&c) {
                    st = St::Key;
                    key.clear();
                    key.push(c);
                }
            }
            St::Key => {
                if NL.contains(&c) {
                    st = St::PreKey;
                    key.clear();
                } else if c == b'=' {
                    st = St::PreValue;
                    last_keep = None;
                    value.clear();
                } else {
                    key.push(c);
                }
            }
            St::PreValue => {
                if NL.contains(&c) {
                    st = St::PreKey;
                    trim_key(&mut key);
                    finish(&mut key, &mut value, &mut last_keep)?;
                } else if c == b'\'' {
                    st = St::SingleQuote;
                } else if c == b'"' {
                    st = St::DoubleQuote;
                } else if c == b'\\' {
                    st = St::ValueEscape;
                } else if !WS.contains(&c) {
                    st = St::Value;
                    value.push(c);
                    last_keep = Some(value.len());
                }
            }
            St::Value => {
                if NL.contains(&c) {
                    st = St::PreKey;
                    trim_key(&mut key);
                    finish(&mut key, &mut value, &mut last_keep)?;
                } else if c == b'\\' {
                    st = St::ValueEscape;
                    last_keep = Some(value.len());
                } else {
                    value.push(c);
                    if !WS.contains(&c) {
                        last_keep = Some(value.len());
                    }
                }
            }
            St::ValueEscape => {
                st = St::Value;
                if !NL.contains(&c) {
                    value.push(c);
                    last_keep = Some(value.len());
                }
            }
            St::SingleQuote => {
                if c == b'\'' {
                    st = St::PreValue;
                    last_keep = Some(value.len());
                } else {
                    value.push(c);
                }
            }
            St::DoubleQuote => {
                if c == b'"' {
                    st = St::PreValue;
                    last_keep = Some(value.len());
                } else if c == b'\\' {
                    st = St::DoubleQuoteEscape;
                } else {
                    value.push(c);
                }
            }
            St::DoubleQuoteEscape => {
                st = St::DoubleQuote;
                if b"\"\\`$".contains(&c) {
                    value.push(c);
                } else if c != b'\n' {
                    value.push(b'\\');
                    value.push(c);
                }
            }
            St::Comment => {
                if c == b'\\' {
                    st = St::CommentEscape;
                } else if NL.contains(&c) {
                    st = St::PreKey;
                }
            }
            St::CommentEscape => st = St::Comment,
        }
    }
    if matches!(
        st,
        St::PreValue
            | St::Value
            | St::ValueEscape
            | St::SingleQuote
            | St::DoubleQuote
            | St::DoubleQuoteEscape
    ) {
        trim_key(&mut key);
        finish(&mut key, &mut value, &mut last_keep)?;
    }
    Ok(out)
}

fn trim_key(key: &mut Vec<u8>) {
    while key.last().is_some_and(|c| *c == b' ' || *c == b'\t') {
        key.pop();
    }
}

/// systemd's `env_name_is_valid()`: non-empty, not starting with a digit, only `[A-Za-z0-9_]`.
fn valid_env_name(k: &[u8]) -> bool {
    k.first().is_some_and(|c| !c.is_ascii_digit())
        && k.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'_')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> BTreeMap<String, String> {
        parse_os_release(s.as_bytes()).unwrap()
    }

    #[test]
    fn plain_and_quoted_values() {
        let m = p("ID=debian\nVERSION_ID=\"13\"\nNAME='Debian GNU/Linux'\n# comment\nEMPTY=\n");
        assert_eq!(m["ID"], "debian");
        assert_eq!(m["VERSION_ID"], "13");
        assert_eq!(m["NAME"], "Debian GNU/Linux");
        assert_eq!(m["EMPTY"], "");
        assert_eq!(m.len(), 4);
    }

    #[test]
    fn escapes_whitespace_and_last_wins() {
        let m = p(
            "A=\"x \\\"y\\\" \\$z\"\nB =  spaced value  \nA2=a\\ b\nB=again\nC=\"multi\\\nline\"",
        );
        assert_eq!(m["A"], "x \"y\" $z");
        assert_eq!(m["B"], "again");
        assert_eq!(m["A2"], "a b");
        assert_eq!(m["C"], "multiline");
    }

    #[test]
    fn invalid_keys_are_skipped_and_no_newline_at_end() {
        let m = p("1BAD=x\nGO-OD=y\nnoequals\nID=fedora");
        assert_eq!(m.len(), 1);
        assert_eq!(m["ID"], "fedora");
    }

    #[test]
    fn hostile_inputs_are_bounded() {
        assert!(matches!(
            parse_os_release(&vec![b'a'; MAX_RELEASE_SIZE + 1]),
            Err(ReleaseError::TooLarge(_))
        ));
        let many: String = (0..MAX_KEYS + 1).map(|i| format!("K{i}=v\n")).collect();
        assert_eq!(
            parse_os_release(many.as_bytes()),
            Err(ReleaseError::TooManyKeys)
        );
        let m = parse_os_release(b"ID=\xff\xfe\nX=\"unterminated").unwrap();
        assert_eq!(m["ID"], "\u{fffd}\u{fffd}");
        assert_eq!(m["X"], "unterminated");
    }
}
