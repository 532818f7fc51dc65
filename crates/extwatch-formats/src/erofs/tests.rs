//! Unit tests of the erofs path-resolution helpers (moved out of `mod.rs` to keep it short).

use super::dir::*;
use super::*;

fn kids(n: usize) -> Kids {
    Arc::new(
        (0..n)
            .map(|i| (format!("f{i:08}").into_bytes(), i as u64, false))
            .collect(),
    )
}

#[test]
fn listings_stay_bounded_and_keep_the_two_newest() {
    let big = limits::DIR_CACHE_ENTRIES;
    let mut l = Listings::default();
    l.put(1, kids(big));
    l.put(2, kids(big));
    assert!(l.get(1).is_some(), "two huge listings are both kept");
    l.put(3, kids(3));
    assert!(l.get(1).is_none(), "the oldest is evicted");
    assert!(l.get(2).is_some());
    assert_eq!(l.entries, big + 3);
    l.put(3, kids(5));
    assert_eq!(l.entries, big + 5, "re-listing replaces");
    for i in 0..limits::DIR_CACHE_LISTINGS * 2 {
        l.put(100 + i as u64, kids(1));
    }
    assert_eq!(l.order.len(), limits::DIR_CACHE_LISTINGS);
    assert_eq!(l.by_nid.len(), limits::DIR_CACHE_LISTINGS);
    assert_eq!(l.entries, limits::DIR_CACHE_LISTINGS);
}

#[test]
fn find_by_name() {
    let k = kids(10);
    assert_eq!(find(&k, b"f00000007"), Some((7, false)));
    assert_eq!(find(&k, b"nope"), None);
}

#[test]
fn components_normalise_and_cap() {
    assert_eq!(
        components(b"/a//./b/../c/").unwrap(),
        vec![&b"a"[..], &b"c"[..]]
    );
    assert!(components(b"/../..").unwrap().is_empty());
    let deep = b"/d".repeat(limits::MAX_DEPTH + 1);
    assert!(matches!(components(&deep), Err(FsError::TooMany { .. })));
    let long = vec![b'x'; limits::MAX_PATH_LEN + 1];
    assert!(matches!(components(&long), Err(FsError::TooLarge { .. })));
}

#[test]
fn chain_shares_prefixes() {
    let c = Chain {
        path: b"/a/bb/c".to_vec(),
        ends: vec![2, 5, 7],
        nids: vec![1, 2, 3, 4],
    };
    assert_eq!(c.component(1), b"bb");
    assert_eq!(c.shared(&[b"a", b"bb", b"x"]), 2);
    assert_eq!(c.shared(&[b"a", b"bb", b"c", b"d"]), 3);
    assert_eq!(c.shared(&[b"b"]), 0);
    assert_eq!(c.nid(), 4);
}
