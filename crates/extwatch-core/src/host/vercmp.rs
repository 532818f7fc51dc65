//! UAPI.10 version ordering (`strverscmp_improved()`), which systemd uses to sort extensions into
//! overlay layers and to pick the newest entry of a `.v/` directory.
//!
//! Spec: <https://uapi-group.org/specifications/specs/version_format_specification/>.

use std::cmp::Ordering;

fn valid(c: u8) -> bool {
    c.is_ascii_alphanumeric() || b"~-^.".contains(&c)
}

/// Compares two version strings the way systemd does.
pub fn strverscmp_improved(a: &str, b: &str) -> Ordering {
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
                // The side carrying '~' is older; for '-', '^', '.' the side lacking it is newer-first
                // inverted: systemd returns CMP(*a != sep, *b != sep).
                match (!sa).cmp(&!sb) {
                    Ordering::Equal => {}
                    o => return o,
                }
                a = &a[1..];
                b = &b[1..];
            }
        }
        if a.is_empty() || b.is_empty() {
            return a.cmp(b);
        }
        let digit_a = a[0].is_ascii_digit();
        let digit_b = b[0].is_ascii_digit();
        if digit_a || digit_b {
            let la = a.iter().take_while(|c| c.is_ascii_digit()).count();
            let lb = b.iter().take_while(|c| c.is_ascii_digit()).count();
            match (la != 0).cmp(&(lb != 0)) {
                Ordering::Equal => {}
                o => return o,
            }
            let (na, nb) = (strip_zeros(&a[..la]), strip_zeros(&b[..lb]));
            match na.len().cmp(&nb.len()).then_with(|| na.cmp(nb)) {
                Ordering::Equal => {}
                o => return o,
            }
            a = &a[la..];
            b = &b[lb..];
        } else {
            let la = a.iter().take_while(|c| c.is_ascii_alphabetic()).count();
            let lb = b.iter().take_while(|c| c.is_ascii_alphabetic()).count();
            let m = la.min(lb);
            match a[..m].cmp(&b[..m]).then(la.cmp(&lb)) {
                Ordering::Equal => {}
                o => return o,
            }
            a = &a[la..];
            b = &b[lb..];
        }
    }
}

fn strip_zeros(s: &[u8]) -> &[u8] {
    let n = s.iter().take_while(|c| **c == b'0').count();
    &s[n..]
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
}
