//! The one way a timestamp appears in extwatch's output: RFC 3339 in UTC with whole seconds
//! (`2023-11-14T22:13:20Z`), or nothing when the year is outside 0000–9999 (an image can store any
//! 64-bit mtime; RFC 3339 and the schemas' `date-time` have four-digit years). It lives with the
//! types whose fields it fills (e.g. [`crate::FileRecord::mtime`]) so every producer — the engine,
//! the renderers — formats alike. The calendar is jiff's, not hand-written arithmetic.

use jiff::civil::DateTime;
use jiff::SignedDuration;

/// `secs` since the epoch as RFC 3339 UTC, `None` outside years 0000–9999.
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
