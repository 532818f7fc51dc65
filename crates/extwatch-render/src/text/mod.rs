//! Renderings for a person at a terminal. Every field that comes from an image or the audited host
//! goes through [`crate::escape`]; the tables fit the width they are given (the CLI passes
//! `$COLUMNS`, clamped to 40–400) and the `files` listing fits 100 columns.

mod checks;
mod files;
mod report;
mod verify;

pub use checks::checks;
pub use files::write_files;
pub use report::report;
pub use verify::verify;

use comfy_table::{presets::UTF8_BORDERS_ONLY, Cell, ContentArrangement, Table};

/// A table with borders only, wrapping its cells to `width` columns.
fn table(width: u16, header: &[&str]) -> Table {
    let mut t = Table::new();
    t.load_preset(UTF8_BORDERS_ONLY)
        .set_content_arrangement(ContentArrangement::Dynamic)
        .set_width(width)
        .set_header(header.iter().map(Cell::new));
    t
}

/// The serde name of a unit enum variant (`"squashfs"`, `"valid"`), as the JSON spells it.
fn enum_str<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_value(v)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests;
