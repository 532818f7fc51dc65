use super::*;

/// The hand-written formatter jiff replaced (civil-from-days, Howard Hinnant's algorithm): the
/// oracle that the output did not change.
fn old_rfc3339(secs: i64) -> Option<String> {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let z = days.checked_add(719_468)?;
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

#[test]
fn formats_times() {
    assert_eq!(rfc3339(0).unwrap(), "1970-01-01T00:00:00Z");
    assert_eq!(rfc3339(1_733_832_000).unwrap(), "2024-12-10T12:00:00Z");
    assert_eq!(rfc3339(951_782_400).unwrap(), "2000-02-29T00:00:00Z");
    assert_eq!(rfc3339(i64::MAX), None);
    assert_eq!(rfc3339(i64::MIN), None);
}

/// Byte-identical to the formatter it replaced across the whole accepted range and its edges
/// (year 0 and 9999, before the epoch, leap days, every second of a day boundary).
#[test]
fn same_text_as_before() {
    let year0 = -62_167_219_200i64; // 0000-01-01T00:00:00Z
    let end = 253_402_300_799i64; // 9999-12-31T23:59:59Z
    let mut cases = vec![
        year0 - 1,
        year0,
        year0 + 1,
        end - 1,
        end,
        end + 1,
        -1,
        1,
        86_399,
    ];
    let mut s = year0;
    while s < end {
        cases.push(s);
        s += 7_776_001; // ~90 days and a second: walks every month, hour and minute over time
    }
    for c in cases {
        assert_eq!(rfc3339(c), old_rfc3339(c), "{c}");
    }
}

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
