//! Timestamps as the reports print them: RFC 3339 in UTC, whole seconds, a `Z` suffix
//! (`2024-12-10T12:00:00Z`), years 0000–9999 only (what the report schema's `date-time` accepts).
//! Formatting is jiff's, not hand-written calendar arithmetic.

use jiff::tz::TimeZone;
use jiff::Timestamp;

/// Seconds since the epoch as RFC 3339 UTC; `None` outside years 0000–9999.
pub fn rfc3339(secs: i64) -> Option<String> {
    let ts = Timestamp::from_second(secs).ok()?;
    let year = TimeZone::UTC.to_datetime(ts).year();
    if !(0..=9999).contains(&year) {
        return None;
    }
    // A whole-second timestamp prints without a fraction, in UTC with `Z`.
    Some(ts.to_string())
}

#[cfg(test)]
mod tests;
