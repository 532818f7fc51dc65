//! Which checks an audit runs (`extwatch audit --only ID… --skip ID…`).
//!
//! Ids come from the operator, so an unknown one is an error that names it and says what was
//! meant (the closest id) or lists the valid ones: a typo in `--skip` must not silently run the
//! check it meant to skip. `--skip` applies after `--only`. The selection also tells the audit
//! which facts it need not compute ([`Selection::needs`]): the content analysis is the expensive
//! one.

use std::collections::BTreeSet;

use super::{Fact, REGISTRY};

/// Ids longer than this get no "did you mean" (bounds the edit-distance table).
const MAX_SUGGEST_LEN: usize = 64;

/// The checks to run: all by default.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Selection {
    /// `Some`: only these ids; `None`: every check.
    only: Option<BTreeSet<&'static str>>,
    /// Never these ids.
    skip: BTreeSet<&'static str>,
}

/// An id given to `--only` or `--skip` that is not a check.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SelectError {
    /// Not in the registry.
    #[error("unknown check id {id:?} in --{option}: {hint}")]
    Unknown {
        /// `only` or `skip`.
        option: &'static str,
        /// The id given.
        id: String,
        /// The closest id, or the list of valid ids.
        hint: String,
    },
    /// An empty id (`--only ''`, `--skip a,,b`).
    #[error("empty check id in --{option} (valid ids: {valid})")]
    Empty {
        /// `only` or `skip`.
        option: &'static str,
        /// The valid ids.
        valid: String,
    },
}

impl Selection {
    /// Every check.
    pub fn all() -> Self {
        Selection::default()
    }

    /// Resolves `--only` and `--skip` values (each may hold comma-separated ids). No `--only`
    /// value means every check.
    pub fn new<S: AsRef<str>>(only: &[S], skip: &[S]) -> Result<Self, SelectError> {
        let only = if only.is_empty() {
            None
        } else {
            Some(resolve("only", only)?)
        };
        Ok(Selection {
            only,
            skip: resolve("skip", skip)?,
        })
    }

    /// Whether check `id` runs.
    pub fn includes(&self, id: &str) -> bool {
        self.only.as_ref().is_none_or(|o| o.contains(id)) && !self.skip.contains(id)
    }

    /// Whether a selected check needs `fact` (so the audit computes it).
    pub fn needs(&self, fact: Fact) -> bool {
        REGISTRY
            .iter()
            .any(|c| self.includes(c.def.id) && c.def.facts.contains(&fact))
    }
}

fn resolve<S: AsRef<str>>(
    option: &'static str,
    values: &[S],
) -> Result<BTreeSet<&'static str>, SelectError> {
    let mut out = BTreeSet::new();
    for id in values.iter().flat_map(|v| v.as_ref().split(',')) {
        let id = id.trim();
        if id.is_empty() {
            return Err(SelectError::Empty {
                option,
                valid: valid_ids(),
            });
        }
        match REGISTRY.iter().find(|c| c.def.id == id) {
            Some(c) => {
                out.insert(c.def.id);
            }
            None => {
                return Err(SelectError::Unknown {
                    option,
                    id: id.to_string(),
                    hint: match closest(id) {
                        Some(c) => {
                            format!("did you mean {c:?}? (`extwatch checks` lists them all)")
                        }
                        None => format!("valid ids: {}", valid_ids()),
                    },
                })
            }
        }
    }
    Ok(out)
}

fn valid_ids() -> String {
    REGISTRY
        .iter()
        .map(|c| c.def.id)
        .collect::<Vec<_>>()
        .join(", ")
}

/// The registered id nearest to `id` when it is plausibly a typo of it (edit distance at most a
/// third of its length, at least 1), or the only id `id` is a part of.
fn closest(id: &str) -> Option<&'static str> {
    if id.len() > MAX_SUGGEST_LEN {
        return None;
    }
    let ids = || REGISTRY.iter().map(|c| c.def.id);
    let (best, dist) = ids()
        .map(|c| (c, distance(id.as_bytes(), c.as_bytes())))
        .min_by_key(|(_, d)| *d)?;
    if dist <= (best.len() / 3).max(1) {
        return Some(best);
    }
    let mut containing = ids().filter(|c| id.len() >= 4 && c.contains(id));
    match (containing.next(), containing.next()) {
        (Some(c), None) => Some(c),
        _ => None,
    }
}

/// Levenshtein distance (both inputs at most [`MAX_SUGGEST_LEN`] or a registered id), one row of
/// the table at a time: before row `i + 1` is computed, `row[j]` is the distance between the first
/// `i` bytes of `a` and the first `j` of `b`.
fn distance(a: &[u8], b: &[u8]) -> usize {
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.iter().enumerate() {
        // `diag` is the previous row's cell up-left of the one computed, `left` this row's cell
        // before it (column 0 of row `i + 1` is `i + 1`).
        let (mut diag, mut left) = (i, i + 1);
        for (cb, cell) in b.iter().zip(row.iter_mut().skip(1)) {
            let up = *cell;
            let here = (diag + usize::from(ca != cb)).min(up + 1).min(left + 1);
            diag = up;
            left = here;
            *cell = here;
        }
        if let Some(first) = row.first_mut() {
            *first = i + 1;
        }
    }
    // `row` has `b.len() + 1` cells, so it has a last one.
    row.last().copied().unwrap_or(a.len())
}

#[cfg(test)]
mod tests {
    use super::distance;

    #[test]
    fn levenshtein_distances() {
        for (a, b, d) in [
            ("kitten", "sitting", 3),
            ("flaw", "lawn", 2),
            ("", "abc", 3),
            ("abc", "", 3),
            ("", "", 0),
            ("same", "same", 0),
            ("ab", "ba", 2),
            ("merge-order", "merge-ordr", 1),
        ] {
            assert_eq!(distance(a.as_bytes(), b.as_bytes()), d, "{a} / {b}");
            assert_eq!(distance(b.as_bytes(), a.as_bytes()), d, "{b} / {a}");
        }
    }
}
