//! The one way a timestamp appears in extwatch's output: RFC 3339 in UTC with whole seconds
//! (`2023-11-14T22:13:20Z`), or nothing when the year is outside 0–9999 (an image can store any
//! 64-bit mtime; RFC 3339 has four-digit years). It lives with the types whose fields it fills
//! (e.g. [`crate::FileRecord::mtime`]) so every producer formats alike.

/// `secs` since the epoch as RFC 3339 UTC, `None` outside years 0–9999.
pub fn rfc3339(secs: i64) -> Option<String> {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Civil-from-days (Howard Hinnant's algorithm): exact over the whole proleptic Gregorian range,
    // where a calendar crate would refuse the last hours of year 9999 that images can carry.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = if m <= 2 { y + 1 } else { y };
    if !(0..=9999).contains(&y) {
        return None;
    }
    Some(format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    ))
}

#[cfg(test)]
mod tests {
    use super::rfc3339;

    #[test]
    fn formats_and_bounds() {
        assert_eq!(rfc3339(0).as_deref(), Some("1970-01-01T00:00:00Z"));
        assert_eq!(
            rfc3339(1_700_000_000).as_deref(),
            Some("2023-11-14T22:13:20Z")
        );
        assert_eq!(rfc3339(-1).as_deref(), Some("1969-12-31T23:59:59Z"));
        assert_eq!(
            rfc3339(951_782_400).as_deref(),
            Some("2000-02-29T00:00:00Z")
        );
        assert_eq!(
            rfc3339(-62_167_219_200).as_deref(),
            Some("0000-01-01T00:00:00Z")
        );
        assert_eq!(rfc3339(-62_167_219_201), None);
        assert_eq!(
            rfc3339(253_402_300_799).as_deref(),
            Some("9999-12-31T23:59:59Z")
        );
        assert_eq!(rfc3339(253_402_300_800), None);
        assert_eq!(rfc3339(i64::MAX), None);
        assert_eq!(rfc3339(i64::MIN), None);
    }
}
