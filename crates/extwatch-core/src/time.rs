//! Timestamps as the reports print them: RFC 3339 in UTC, whole seconds, a `Z` suffix
//! (`2024-12-10T12:00:00Z`), years 0000–9999 only (what the report schema's `date-time` accepts).
//! Formatting is jiff's, not hand-written calendar arithmetic.

use jiff::civil::DateTime;
use jiff::SignedDuration;

/// Seconds since the epoch as RFC 3339 UTC; `None` outside years 0000–9999.
pub fn rfc3339(secs: i64) -> Option<String> {
    // Civil (UTC) arithmetic rather than `jiff::Timestamp`: a timestamp stops a day short of
    // 9999-12-31 (it must fit every offset), the civil calendar reaches its last second.
    let dt = DateTime::constant(1970, 1, 1, 0, 0, 0, 0)
        .checked_add(SignedDuration::from_secs(secs))
        .ok()?;
    if dt.year() < 0 {
        return None;
    }
    Some(dt.strftime("%Y-%m-%dT%H:%M:%SZ").to_string())
}

#[cfg(test)]
mod tests;
