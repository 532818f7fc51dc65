//! The catalogue is complete and its ids follow the contract.

use super::*;

#[test]
fn ids_are_unique_and_kebab_case() {
    let mut seen = std::collections::BTreeSet::new();
    for d in CATALOGUE {
        assert!(seen.insert(d.id), "{} is in the catalogue twice", d.id);
        let kebab = !d.id.is_empty()
            && !d.id.starts_with('-')
            && !d.id.ends_with('-')
            && !d.id.contains("--")
            && d.id
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
        assert!(kebab, "{:?} is not kebab-case", d.id);
        assert_eq!(lookup(d.id).map(|l| l.id), Some(d.id));
    }
    assert!(lookup("extension-merge").is_none());
}

#[test]
fn every_entry_is_filled_in() {
    for d in CATALOGUE {
        for (what, text) in [
            ("summary", d.summary),
            ("rationale", d.rationale),
            ("remediation", d.remediation),
        ] {
            assert!(!text.trim().is_empty(), "{}: {what} is empty", d.id);
            assert!(!text.contains("  "), "{}: {what} has a double space", d.id);
        }
        assert!(!d.controls.is_empty(), "{}: no controls", d.id);
        assert!(!d.facts.is_empty(), "{}: no facts", d.id);
        let mut facts = d.facts.to_vec();
        facts.dedup();
        assert_eq!(facts.len(), d.facts.len(), "{}: a fact twice", d.id);
    }
}

#[test]
fn rationale_and_remediation_are_specific() {
    // Not boilerplate: no two checks share a rationale or a remediation.
    for (i, a) in CATALOGUE.iter().enumerate() {
        for b in &CATALOGUE[i + 1..] {
            assert_ne!(a.rationale, b.rationale, "{} and {}", a.id, b.id);
            assert_ne!(a.remediation, b.remediation, "{} and {}", a.id, b.id);
        }
    }
}

#[test]
fn const_get_agrees_with_lookup() {
    for d in CATALOGUE {
        assert_eq!(get(d.id).map(|g| g.id), Some(d.id));
    }
    assert!(get("extension-merge").is_none());
    assert!(get("extension-merged-").is_none());
    assert!(get("").is_none());
}
