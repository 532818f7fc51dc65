//! JSON documents: every JSON extwatch prints is a model type (with a committed JSON Schema),
//! pretty-printed with two-space indentation and one trailing newline.
//!
//! The layout is part of the contract only in that it never changes: scripts parse the JSON, but
//! golden files and diffs between runs compare bytes.

use std::io::Write;

use serde::Serialize;

/// `doc` as pretty JSON with a trailing newline.
pub fn document<T: Serialize + ?Sized>(doc: &T) -> Result<String, serde_json::Error> {
    let mut s = serde_json::to_string_pretty(doc)?;
    s.push('\n');
    Ok(s)
}

/// [`document`] written straight into `out` (for documents too large to hold twice).
pub fn write_document<T: Serialize + ?Sized>(out: &mut dyn Write, doc: &T) -> std::io::Result<()> {
    serde_json::to_writer_pretty(&mut *out, doc).map_err(std::io::Error::other)?;
    out.write_all(b"\n")
}
