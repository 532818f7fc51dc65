//! UAPI.10 version ordering (`strverscmp_improved()`), which systemd uses to sort extensions into
//! overlay layers and to pick the newest entry of a `.v/` directory.
//!
//! Spec: <https://uapi-group.org/specifications/specs/version_format_specification/>.
//!
//! The comparison walks both strings with slice patterns and splits (no indexing): a version string
//! comes from an image's file name or release file, so it is untrusted input.

use std::cmp::Ordering;

fn valid(c: u8) -> bool {
    c.is_ascii_alphanumeric() || b"~-^.".contains(&c)
}

/// Splits `s` into its longest prefix whose bytes satisfy `pred` and the rest.
fn split_while(s: &[u8], pred: impl Fn(&u8) -> bool) -> (&[u8], &[u8]) {
    let n = s.iter().take_while(|c| pred(c)).count();
    // `n <= s.len()` (it counts elements of `s`), so the fallback is never taken.
    s.split_at_checked(n).unwrap_or((s, &[]))
}

/// Compares two version strings the way systemd does.
pub fn strverscmp_improved(a: &str, b: &str) -> Ordering {
    let (mut a, mut b) = (a.as_bytes(), b.as_bytes());
    if a.is_empty() || b.is_empty() {
        return a.cmp(b);
    }
    loop {
        a = split_while(a, |c| !valid(*c)).1;
        b = split_while(b, |c| !valid(*c)).1;
        for sep in [b'~', b'-', b'^', b'.'] {
            if sep == b'-' && (a.is_empty() || b.is_empty()) {
                return a.cmp(b);
            }
            // The side carrying '~' is older; for '-', '^', '.' the side lacking it is newer-first
            // inverted: systemd returns CMP(*a != sep, *b != sep).
            match (a.strip_prefix(&[sep]), b.strip_prefix(&[sep])) {
                (Some(ra), Some(rb)) => {
                    a = ra;
                    b = rb;
                }
                (None, None) => {}
                (Some(_), None) => return Ordering::Less,
                (None, Some(_)) => return Ordering::Greater,
            }
        }
        let (Some(ca), Some(cb)) = (a.first(), b.first()) else {
            return a.cmp(b);
        };
        if ca.is_ascii_digit() || cb.is_ascii_digit() {
            let (da, ra) = split_while(a, u8::is_ascii_digit);
            let (db, rb) = split_while(b, u8::is_ascii_digit);
            match (!da.is_empty()).cmp(&!db.is_empty()) {
                Ordering::Equal => {}
                o => return o,
            }
            let (na, nb) = (strip_zeros(da), strip_zeros(db));
            match na.len().cmp(&nb.len()).then_with(|| na.cmp(nb)) {
                Ordering::Equal => {}
                o => return o,
            }
            a = ra;
            b = rb;
        } else {
            // Byte-wise over the common length, then the shorter run first: slice order.
            let (wa, ra) = split_while(a, u8::is_ascii_alphabetic);
            let (wb, rb) = split_while(b, u8::is_ascii_alphabetic);
            match wa.cmp(wb) {
                Ordering::Equal => {}
                o => return o,
            }
            a = ra;
            b = rb;
        }
    }
}

fn strip_zeros(s: &[u8]) -> &[u8] {
    split_while(s, |c| *c == b'0').1
}

#[cfg(test)]
mod tests {
    use super::*;
    use Ordering::*;

    #[test]
    fn orders_like_systemd() {
        // Pairs from systemd's test-string-util.c test_strverscmp_improved (older first).
        let newer = [
            ("123", "124"),
            ("123.4", "123.5"),
            ("123~rc1", "123"),
            ("123~rc1", "123~rc2"),
            ("123-9", "123.1-1"),
            ("123.4-3.1", "123.4^1"),
            ("1.9", "1.10"),
            ("abc", "abcde"),
            ("a", "1"),
            ("1.2", "1.2.1"),
            ("foo_1.2", "foo_1.3"),
        ];
        for (old, new) in newer {
            assert_eq!(strverscmp_improved(old, new), Less, "{old} < {new}");
            assert_eq!(strverscmp_improved(new, old), Greater, "{new} > {old}");
        }
        assert_eq!(strverscmp_improved("00123", "123"), Equal);
        assert_eq!(strverscmp_improved("", "1"), Less);
    }

    #[test]
    fn separator_runs_invalid_bytes_and_letters_like_systemd_257() {
        // Each verdict as printed by `systemd-analyze compare-versions A B` (systemd 257).
        let cases = [
            ("1..2", "1.2", Less),
            ("1_2", "1.2", Greater),
            ("1~~", "1~", Greater),
            ("123a", "123b", Less),
            ("1.a", "1.1", Less),
            ("a~", "a", Less),
            ("1-2", "1^2", Less),
            ("1^", "1.", Less),
            ("1-", "1", Greater),
            ("~", "-", Less),
            ("^", ".", Less),
            ("1a1", "1a", Greater),
            ("0", "00", Equal),
            ("a.", "a", Greater),
        ];
        for (a, b, want) in cases {
            assert_eq!(strverscmp_improved(a, b), want, "{a} vs {b}");
            assert_eq!(strverscmp_improved(b, a), want.reverse(), "{b} vs {a}");
        }
    }

    /// The indexing implementation this module had before it was rewritten over slice patterns,
    /// kept as the reference the rewrite must agree with.
    fn reference(a: &str, b: &str) -> Ordering {
        let (mut a, mut b) = (a.as_bytes(), b.as_bytes());
        if a.is_empty() || b.is_empty() {
            return a.cmp(b);
        }
        loop {
            while a.first().is_some_and(|c| !valid(*c)) {
                a = &a[1..];
            }
            while b.first().is_some_and(|c| !valid(*c)) {
                b = &b[1..];
            }
            for sep in [b'~', b'-', b'^', b'.'] {
                if sep == b'-' && (a.is_empty() || b.is_empty()) {
                    return a.cmp(b);
                }
                let (sa, sb) = (a.first() == Some(&sep), b.first() == Some(&sep));
                if sa || sb {
                    match (!sa).cmp(&!sb) {
                        Equal => {}
                        o => return o,
                    }
                    a = &a[1..];
                    b = &b[1..];
                }
            }
            if a.is_empty() || b.is_empty() {
                return a.cmp(b);
            }
            if a[0].is_ascii_digit() || b[0].is_ascii_digit() {
                let la = a.iter().take_while(|c| c.is_ascii_digit()).count();
                let lb = b.iter().take_while(|c| c.is_ascii_digit()).count();
                match (la != 0).cmp(&(lb != 0)) {
                    Equal => {}
                    o => return o,
                }
                let za = a[..la].iter().take_while(|c| **c == b'0').count();
                let zb = b[..lb].iter().take_while(|c| **c == b'0').count();
                let (na, nb) = (&a[za..la], &b[zb..lb]);
                match na.len().cmp(&nb.len()).then_with(|| na.cmp(nb)) {
                    Equal => {}
                    o => return o,
                }
                a = &a[la..];
                b = &b[lb..];
            } else {
                let la = a.iter().take_while(|c| c.is_ascii_alphabetic()).count();
                let lb = b.iter().take_while(|c| c.is_ascii_alphabetic()).count();
                let m = la.min(lb);
                match a[..m].cmp(&b[..m]).then(la.cmp(&lb)) {
                    Equal => {}
                    o => return o,
                }
                a = &a[la..];
                b = &b[lb..];
            }
        }
    }

    #[test]
    fn agrees_with_the_indexing_implementation_on_every_short_string() {
        // Every string of up to three bytes over digits, letters, each separator and one invalid
        // byte: 1111 strings, every ordered pair compared.
        let alphabet = ['0', '1', '9', 'a', 'Z', '~', '-', '^', '.', '_'];
        let mut all = vec![String::new()];
        let mut last = vec![String::new()];
        for _ in 0..3 {
            let next: Vec<String> = last
                .iter()
                .flat_map(|p| alphabet.iter().map(move |c| format!("{p}{c}")))
                .collect();
            all.extend(next.iter().cloned());
            last = next;
        }
        assert_eq!(all.len(), 1 + 10 + 100 + 1000);
        for a in &all {
            for b in &all {
                assert_eq!(strverscmp_improved(a, b), reference(a, b), "{a:?} vs {b:?}");
            }
        }
    }
}
