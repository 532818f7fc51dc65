//! Shared bounded tree walk over an [`FsReader`], used by the `image` and `ddi` targets.

use std::collections::VecDeque;

use extwatch_formats::fsimage::limits;
use extwatch_formats::{EntryKind, FsReader};

/// Most entries visited per input (keeps each run fast; hostile images can claim millions).
const MAX_VISITS: usize = 2_000;
/// Deepest directory descended into (hard-linked directory loops are possible in hostile images).
const MAX_DEPTH: usize = 32;
/// Cap passed to `read_file`.
const MAX_FILE: u64 = 1 << 20;

/// Visits up to `MAX_VISITS` entries breadth-first, exercising every reader method on each.
pub fn walk(fs: &dyn FsReader) {
    // Lookups of odd paths must not panic either.
    for p in [
        &b""[..],
        b"/",
        b"//",
        b"/..",
        b"/./usr",
        b"/usr/lib/extension-release.d",
        b"/\0",
    ] {
        let _ = fs.stat(p);
        let _ = fs.read_dir(p);
    }
    let _ = fs.xattr(b"/", b"security.capability");

    let mut queue: VecDeque<(Vec<u8>, usize)> = VecDeque::from([(b"/".to_vec(), 0)]);
    let mut visits = 0usize;
    while let Some((path, depth)) = queue.pop_front() {
        visits += 1;
        if visits > MAX_VISITS {
            break;
        }
        let Ok(Some(entry)) = fs.stat(&path) else {
            continue;
        };
        if let Ok(x) = fs.xattrs(&path) {
            assert!(x.len() <= limits::MAX_XATTRS, "{} xattrs", x.len());
            for (_, v) in &x {
                assert!(
                    v.len() <= limits::MAX_XATTR_VALUE,
                    "xattr value {} bytes",
                    v.len()
                );
            }
        }
        match entry.kind {
            EntryKind::Dir => {
                let Ok(children) = fs.read_dir(&path) else {
                    continue;
                };
                assert!(children.len() <= limits::MAX_DIR_ENTRIES);
                if depth >= MAX_DEPTH {
                    continue;
                }
                for (name, _child) in children {
                    if queue.len() + visits > MAX_VISITS {
                        break;
                    }
                    let mut p = path.clone();
                    if !p.ends_with(b"/") {
                        p.push(b'/');
                    }
                    p.extend_from_slice(&name);
                    queue.push_back((p, depth + 1));
                }
            }
            EntryKind::File => {
                if let Ok(data) = fs.read_file(&path, MAX_FILE) {
                    assert!(
                        data.len() as u64 <= MAX_FILE,
                        "read_file returned {} bytes",
                        data.len()
                    );
                }
                // A tiny cap must be honoured as well.
                if let Ok(data) = fs.read_file(&path, 16) {
                    assert!(
                        data.len() <= 16,
                        "read_file(max 16) returned {} bytes",
                        data.len()
                    );
                }
            }
            EntryKind::Symlink => {
                if let Ok(t) = fs.read_link(&path) {
                    assert!(
                        t.len() <= limits::MAX_LINK_LEN,
                        "link target {} bytes",
                        t.len()
                    );
                }
            }
            _ => {}
        }
    }
}
