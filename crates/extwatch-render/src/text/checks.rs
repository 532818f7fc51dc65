//! `extwatch checks`: one line per check (id, default severity, controls, what it means), in
//! catalogue order, columns padded for reading rather than boxed (the list is long and grepped).

use std::fmt::Write as _;

use extwatch_model::CheckList;

use crate::escape::terminal;

/// One padded line per check.
pub fn checks(list: &CheckList) -> String {
    let mut s = String::new();
    for d in &list.0 {
        let _ = writeln!(
            s,
            "{:<28} {:<8} {:<16} {}",
            terminal(&d.id),
            d.severity.as_str(),
            terminal(&d.controls.join(",")),
            terminal(&d.description)
        );
    }
    s
}
