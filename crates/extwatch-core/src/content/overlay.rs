//! The merged view systemd builds, file by file, with the layer each file comes from.
//!
//! systemd-sysext stacks, bottom to top: the host hierarchy, then the extensions in ascending
//! `strverscmp_improved()` order of their names, then its meta layer (docs/systemd.md §1.2). We
//! apply overlayfs semantics to the layers' listings: an upper non-directory replaces whatever is below
//! (a whole subtree included); directories merge unless the upper one is opaque
//! (`trusted.overlay.opaque=y`); a whiteout (character device 0:0) deletes the path below it.
//! (Kernel docs: <https://docs.kernel.org/filesystems/overlayfs.html>.)
//!
//! **The base layer is read from underneath the overlay.** On a merged host `/usr` shows the union,
//! so the host hierarchy is read on a dedicated thread that enters a private mount namespace
//! (`unshare(CLONE_NEWNS)`, affecting that thread only), makes it private and lazily detaches the
//! sysext/confext overlays stacked on the hierarchy — nothing changes for any other process, nothing is
//! written. That needs CAP_SYS_ADMIN; without it, and with a merged hierarchy, the base cannot be
//! separated from the union and the content checks report `error` rather than guessing.
//!
//! Even there nothing below the root is reached by a host path: the thread re-opens the audited root
//! (checked to be the same directory) and resolves the hierarchy inside it through that handle, finds
//! the mount on top by its `statx` mount id, and detaches through `/proc/self/fd/N`. When the top
//! mount is not a sysext/confext overlay (a tmpfs, a hand-made overlay, another mount stacked over
//! the extensions) the base is *not* what lies beneath, so that is an error too — never the merged
//! view passed off as the base.

use std::collections::BTreeMap;

use extwatch_formats::EntryKind;

use crate::content::hash::HashError;
use crate::content::walk::WalkError;
use crate::content::Content;
use crate::content::{walk_dir_metadata, FileEntry, WalkLimits};
use crate::host::namespace::NamespaceError;
use crate::host::rootfs::RootFs;

/// Why the host's own hierarchy (the base layer beneath the extensions) cannot be read. Causes
/// are chained; [`crate::error::chain`] prints the report line.
#[derive(Debug, thiserror::Error)]
pub enum BaseError {
    /// Getting beneath the overlay failed.
    #[error(transparent)]
    Namespace(#[from] NamespaceError),
    /// The hierarchy cannot be opened inside the root.
    #[error("{hier}")]
    Open {
        /// The hierarchy.
        hier: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// Walking the hierarchy failed.
    #[error(transparent)]
    Walk(#[from] WalkError),
    /// Hashing its files (`--baseline`) failed.
    #[error(transparent)]
    Hash(#[from] HashError),
}

/// Where a path of the merged view comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// The host's own hierarchy.
    Base,
    /// Layer `n` of the extensions (index into the layer list, bottom first).
    Layer(usize),
}

/// One extension layer of one hierarchy.
pub struct Layer {
    /// Image name.
    pub name: String,
    /// Its entries under the hierarchy, paths relative to the hierarchy (`/bin/x` for `/usr/bin/x`).
    pub entries: Vec<FileEntry>,
}

/// What a layer did to the view below it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// A path that did not exist below.
    Added,
    /// Replaced a non-directory (or a directory by a non-directory) of the base.
    ReplacedBase,
    /// Replaced a path provided by a lower extension (its index).
    Overrode(usize),
    /// Deleted a path below with a whiteout, or hid a directory's content by making it opaque.
    Removed(Origin),
}

/// What one layer changed: (path, change, the entry below if any).
pub type LayerChanges = Vec<(Vec<u8>, Change, Option<FileEntry>)>;

/// The merged view of one hierarchy.
pub struct View {
    /// Every visible path (relative to the hierarchy), with its entry and origin.
    pub entries: BTreeMap<Vec<u8>, (FileEntry, Origin)>,
    /// Per layer: (path, change, entry below if any).
    pub changes: Vec<LayerChanges>,
}

fn is_dir(e: &FileEntry) -> bool {
    e.kind == EntryKind::Dir
}

/// Removes `path`'s descendants from the view, returning them.
fn remove_below(
    view: &mut BTreeMap<Vec<u8>, (FileEntry, Origin)>,
    path: &[u8],
) -> Vec<(Vec<u8>, (FileEntry, Origin))> {
    let mut lo = path.to_vec();
    if lo != b"/" {
        lo.push(b'/');
    }
    let keys: Vec<Vec<u8>> = view
        .range(lo.clone()..)
        .take_while(|(k, _)| k.starts_with(&lo))
        .map(|(k, _)| k.clone())
        .collect();
    keys.into_iter()
        .filter_map(|k| view.remove(&k).map(|v| (k, v)))
        .collect()
}

/// Stacks `layers` (bottom first) over `base` with overlayfs semantics.
pub fn merge(base: Vec<FileEntry>, layers: &[Layer]) -> View {
    let mut view: BTreeMap<Vec<u8>, (FileEntry, Origin)> = base
        .into_iter()
        .map(|e| (e.path.clone(), (e, Origin::Base)))
        .collect();
    let mut changes = Vec::with_capacity(layers.len());
    for (li, layer) in layers.iter().enumerate() {
        let mut ch = Vec::new();
        for e in &layer.entries {
            if e.path == b"/" {
                continue; // the layer's root merges with the hierarchy root
            }
            let below = view.get(&e.path).cloned();
            if e.whiteout {
                if let Some((old, origin)) = below {
                    view.remove(&e.path);
                    remove_below(&mut view, &e.path);
                    ch.push((e.path.clone(), Change::Removed(origin), Some(old)));
                }
                continue;
            }
            match &below {
                Some((old, origin)) => {
                    if is_dir(e) && is_dir(old) {
                        if e.opaque && !remove_below(&mut view, &e.path).is_empty() {
                            ch.push((e.path.clone(), Change::Removed(*origin), Some(old.clone())));
                        }
                    } else {
                        if is_dir(old) {
                            remove_below(&mut view, &e.path);
                        }
                        let c = match origin {
                            Origin::Base => Change::ReplacedBase,
                            Origin::Layer(n) => Change::Overrode(*n),
                        };
                        ch.push((e.path.clone(), c, Some(old.clone())));
                    }
                }
                None => ch.push((e.path.clone(), Change::Added, None)),
            }
            // A directory over a directory keeps the lower origin for its children but the upper
            // attributes for itself, as overlayfs does.
            view.insert(e.path.clone(), (e.clone(), Origin::Layer(li)));
        }
        changes.push(ch);
    }
    View {
        entries: view,
        changes,
    }
}

/// Re-roots entries of an image at a hierarchy: keeps those under `prefix` (e.g. `/usr`), with paths
/// made relative to it. `prefix = "/"` keeps everything (an image whose root *is* the hierarchy).
pub fn under(entries: Vec<FileEntry>, prefix: &str) -> Vec<FileEntry> {
    if prefix == "/" {
        return entries;
    }
    let p = prefix.as_bytes();
    entries
        .into_iter()
        .filter_map(|mut e| {
            if e.path == p {
                e.path = b"/".to_vec();
                Some(e)
            } else if let Some(rest) = e.path.strip_prefix(p).filter(|r| r.first() == Some(&b'/')) {
                e.path = rest.to_vec();
                Some(e)
            } else {
                None
            }
        })
        .collect()
}

/// Walks the host's own hierarchy `hier` of `root`, beneath any overlay on it, through the root
/// handle (a `hier` that is a symlink resolves inside the root). With `hash` (`--baseline`) it also
/// hashes every file within the run's budget; what the budget left unhashed is said in the
/// returned messages.
pub fn read_base(
    root: &RootFs,
    hier: &str,
    merged: bool,
    limits: &WalkLimits,
    hash: Option<&crate::host::budget::RunBudget>,
) -> Result<(Vec<FileEntry>, Vec<String>), BaseError> {
    crate::host::namespace::beneath(root, hier, merged, |r| {
        let dir = match r.subroot(hier) {
            Ok(dir) => dir,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok((vec![], vec![])),
            Err(source) => {
                return Err(BaseError::Open {
                    hier: hier.to_string(),
                    source,
                })
            }
        };
        let mut entries = walk_dir_metadata(&dir, limits)?;
        let mut notes = Vec::new();
        if let Some(budget) = hash {
            let content = Content::Dir(dir);
            budget.hash_all(
                &format!("{hier} (base)"),
                &mut entries,
                &mut notes,
                &mut |s| crate::content::hash_files(&content, s, 2),
            )?;
        }
        Ok((entries, notes))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn e(path: &str, kind: EntryKind) -> FileEntry {
        crate::content::test_entry(path, kind)
    }

    #[test]
    fn overlay_semantics() {
        use EntryKind::*;
        let base = vec![
            e("/", Dir),
            e("/bin", Dir),
            e("/bin/ls", File),
            e("/share", Dir),
            e("/share/doc", Dir),
            e("/share/doc/a", File),
            e("/lib", Dir),
            e("/lib/x", File),
        ];
        let mut wh = e("/lib/x", CharDevice);
        wh.whiteout = true;
        let mut opq = e("/share/doc", Dir);
        opq.opaque = true;
        let l1 = Layer {
            name: "a".into(),
            entries: vec![
                e("/", Dir),
                e("/bin", Dir),
                e("/bin/ls", File),
                e("/bin/new", File),
                wh,
            ],
        };
        let l2 = Layer {
            name: "b".into(),
            entries: vec![
                e("/bin", Dir),
                e("/bin/new", File),
                opq,
                e("/share/doc/b", File),
            ],
        };
        let v = merge(base, &[l1, l2]);
        let origin = |p: &str| v.entries.get(p.as_bytes()).map(|(_, o)| *o);
        assert_eq!(origin("/bin/ls"), Some(Origin::Layer(0)));
        assert_eq!(origin("/bin/new"), Some(Origin::Layer(1)));
        assert_eq!(origin("/lib/x"), None);
        assert_eq!(origin("/share/doc/a"), None);
        assert_eq!(origin("/share/doc/b"), Some(Origin::Layer(1)));
        assert!(v.changes[0].contains(&(
            b"/bin/ls".to_vec(),
            Change::ReplacedBase,
            Some(e("/bin/ls", File))
        )));
        assert!(v.changes[1]
            .iter()
            .any(|(p, c, _)| p == b"/bin/new" && *c == Change::Overrode(0)));
        assert!(v.changes[0]
            .iter()
            .any(|(p, c, _)| p == b"/lib/x" && *c == Change::Removed(Origin::Base)));
        let u = under(
            vec![e("/usr", Dir), e("/usr/bin", Dir), e("/etc/x", File)],
            "/usr",
        );
        assert_eq!(
            u.iter().map(|e| e.path.clone()).collect::<Vec<_>>(),
            vec![b"/".to_vec(), b"/bin".to_vec()]
        );
    }
}
