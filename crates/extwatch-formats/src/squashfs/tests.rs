//! Unit tests of the squashfs reader helpers (moved out of `mod.rs` to keep it short).

use super::file::*;
use super::*;

#[test]
fn content_identity_covers_the_whole_layout() {
    let u = disk::DATA_UNCOMPRESSED;
    let sizes = [100, 4096 | u];
    let base = Layout {
        start: 96,
        frag: NO_FRAGMENT,
        offset: 0,
        len: 8192,
        sizes: &sizes,
    };
    let id = base.identity();
    assert_eq!(id, Layout { ..base }.identity(), "deterministic");
    // Same start, length and fragment, but the blocks decode differently: a different id.
    let flipped = [100 | u, 4096 | u];
    let resized = [101, 4096 | u];
    let hole = [0, 4096 | u];
    for other in [&flipped[..], &resized[..], &hole[..], &sizes[..1]] {
        assert_ne!(
            id,
            Layout {
                sizes: other,
                ..base
            }
            .identity()
        );
    }
    assert_ne!(id, Layout { frag: 3, ..base }.identity());
    assert_ne!(id, Layout { offset: 8, ..base }.identity());
    assert_ne!(id, Layout { len: 8191, ..base }.identity());
    assert_ne!(id, Layout { start: 97, ..base }.identity());
}

#[test]
fn normalizes() {
    assert_eq!(normalize(b"/a/./b/../c/"), b"/a/c");
    assert_eq!(normalize(b"//"), b"/");
}
