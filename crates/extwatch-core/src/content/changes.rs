//! What each extension changes in /usr, /opt and /etc, and what of that an attacker would use.
//!
//! For every hierarchy the layers are the images merged there now (from the marker, in systemd's
//! order) or, when nothing is merged, the images systemd *would* merge (searched, not masked,
//! compatible), sorted with `strverscmp_improved()`. Each image is listed without mounting
//! ([`crate::content::walk`]), stacked over the base ([`crate::content::overlay`]), and every path it adds,
//! replaces or overrides is recorded; then the content rules (PATH executables, setuid/capabilities,
//! units and their kin, authentication and privilege configuration) are applied to what it ships.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use extwatch_formats::{open_image, EntryKind, FsError, ReadAt};
use extwatch_model::{Hierarchy, Image, ImageClass, ImageFormat};

use crate::content::overlay::{self, Change, Layer, Origin};
use crate::content::Content;
use crate::content::{hash_files, walk, FileEntry, WalkLimits};
use crate::error::chain;
use crate::host::rootfs::RootFs;
use crate::host::vercmp::strverscmp_improved;
use crate::inventory::image::Extra;

/// One shadowed or overridden path with the hashes on both sides.
#[derive(Debug, Clone)]
pub struct Replaced {
    /// Absolute path on the host (`/usr/bin/ls`).
    pub path: String,
    /// Entry below (base or lower image).
    pub below: FileEntry,
    /// Name of the image below, `None` for the base.
    pub below_image: Option<String>,
    /// Entry of this image.
    pub entry: FileEntry,
}

/// What one image does to one hierarchy, and what it ships.
#[derive(Debug, Clone)]
pub struct ImageChanges {
    /// Image name.
    pub name: String,
    /// Class.
    pub class: ImageClass,
    /// Merged now (true) or only mergeable (false).
    pub merged: bool,
    /// Paths it adds (absolute on the host).
    pub added: Vec<String>,
    /// Base files it replaces.
    pub replaced_base: Vec<Replaced>,
    /// Files of lower images it overrides.
    pub overrode: Vec<Replaced>,
    /// Paths it deletes with whiteouts or opaque directories.
    pub removed: Vec<String>,
    /// Everything it ships (absolute host paths), for the content rules.
    pub entries: Vec<FileEntry>,
}

/// The content analysis of a root.
#[derive(Debug, Default)]
pub struct Analysis {
    /// Per image and hierarchy.
    pub images: Vec<ImageChanges>,
    /// The merged view per hierarchy: (hierarchy, entries with the layer name or "base").
    pub views: Vec<(String, Vec<(FileEntry, String)>)>,
    /// The base listing per hierarchy.
    pub bases: Vec<(String, Vec<FileEntry>)>,
    /// Why parts could not be analysed.
    pub errors: Vec<String>,
}

/// Why an image's content cannot be opened (the report prints its text, not its chain, as it
/// always has).
#[derive(Debug, thiserror::Error)]
pub enum OpenContentError {
    /// The directory image or the image file cannot be opened inside the root.
    #[error(transparent)]
    Io(#[from] std::io::Error),
    /// The image file cannot be parsed.
    #[error(transparent)]
    Image(#[from] FsError),
}

/// Opens an image's content as systemd mounts it (a DDI's usr partition appears under `/usr`).
pub fn open_content(root: &RootFs, img: &Image, arch: &str) -> Result<Content, OpenContentError> {
    let p = img.resolved_path.as_deref().unwrap_or(&img.path);
    match img.format {
        ImageFormat::Directory => Ok(Content::Dir(root.subroot(p)?)),
        _ => {
            let f = root.open_file(p)?;
            let src: Arc<dyn ReadAt> = Arc::new(f);
            let o = open_image(src, arch)?;
            Ok(crate::content::content_of(o))
        }
    }
}

/// The absolute path inside the root (and inside a sysext image: `/usr/bin/x`) of a
/// hierarchy-relative path (`/bin/x` under `/usr`). A string for reports and image lookups; nothing
/// opens it on the host.
fn in_root_path(hier: &str, rel: &[u8]) -> String {
    let rel = String::from_utf8_lossy(rel);
    if rel == "/" {
        hier.to_string()
    } else {
        format!("{hier}{rel}")
    }
}

/// The inverse of [`in_root_path`]: `/usr/bin/x` → `/bin/x` for `hier = /usr` (`/usr` itself → `/`).
fn hier_relative(hier: &str, p: &[u8]) -> Vec<u8> {
    let h = hier.trim_end_matches('/').as_bytes();
    match p.strip_prefix(h) {
        Some([]) => b"/".to_vec(),
        Some(rest) if rest.starts_with(b"/") => rest.to_vec(),
        _ => p.to_vec(),
    }
}

/// Runs the analysis.
#[allow(clippy::too_many_arguments)]
pub fn analyze_changes(
    root: &RootFs,
    images: &[(Image, Extra)],
    hierarchies: &[Hierarchy],
    classes: &[(ImageClass, &'static [&'static str])],
    arch: &str,
    limits: &WalkLimits,
    threads: usize,
    hash_all: bool,
    budget: &crate::host::budget::RunBudget,
) -> Analysis {
    let mut out = Analysis::default();
    for (class, hiers) in classes {
        // The layer set: what is merged now, else what systemd would merge.
        let merged_names: Option<Vec<String>> = hierarchies
            .iter()
            .find(|h| h.class == *class && h.merged)
            .map(|h| h.extensions.clone());
        let mut layer_imgs: Vec<&Image> = match &merged_names {
            Some(names) => names
                .iter()
                .filter_map(|n| {
                    images.iter().map(|(i, _)| i).find(|i| {
                        i.class == *class && &i.name == n && i.masked_by.is_none() && i.searched
                    })
                })
                .collect(),
            None => images
                .iter()
                .filter(|(i, x)| {
                    i.class == *class
                        && i.searched
                        && i.masked_by.is_none()
                        && i.compatible.ok
                        && !x.ships_os_release
                })
                .map(|(i, _)| i)
                .collect(),
        };
        layer_imgs.sort_by(|a, b| strverscmp_improved(&a.name, &b.name));
        // Walk each image once.
        let mut walked: Vec<(&Image, Vec<FileEntry>)> = Vec::new();
        for img in layer_imgs {
            let content = match open_content(root, img, arch) {
                Ok(c) => c,
                Err(e) => {
                    out.errors.push(format!("{}: {e}", img.name));
                    continue;
                }
            };
            let mut entries = match walk(&content, limits) {
                Ok(entries) => entries,
                Err(e) => {
                    out.errors.push(format!("{}: {}", img.name, chain(&e)));
                    continue;
                }
            };
            if hash_all {
                let r = budget.hash_all(&img.name, &mut entries, &mut out.errors, &mut |s| {
                    hash_files(&content, s, threads)
                });
                if let Err(e) = r {
                    out.errors
                        .push(format!("{}: hashing: {}", img.name, chain(&e)));
                }
            }
            walked.push((img, entries))
        }
        for hier in *hiers {
            let merged_here = hierarchies.iter().any(|h| h.hierarchy == *hier && h.merged);
            let layers: Vec<Layer> = walked
                .iter()
                .map(|(img, entries)| Layer {
                    name: img.name.clone(),
                    entries: overlay::under(entries.clone(), hier),
                })
                .collect();
            if layers.iter().all(|l| l.entries.is_empty()) && !merged_here {
                continue;
            }
            let base = match overlay::read_base(
                root,
                hier,
                merged_here,
                limits,
                hash_all.then_some(budget),
            ) {
                Ok((b, notes)) => {
                    out.errors.extend(notes);
                    b
                }
                Err(e) => {
                    out.errors
                        .push(format!("{hier}: cannot read the base layer: {}", chain(&e)));
                    continue;
                }
            };
            let view = overlay::merge(base.clone(), &layers);
            // Hash both sides of every replaced file (only those: hashing is the expensive part).
            let mut need: HashSet<Vec<u8>> = HashSet::new();
            for ch in &view.changes {
                for (p, c, _) in ch {
                    if matches!(c, Change::ReplacedBase | Change::Overrode(_)) {
                        need.insert(p.clone());
                    }
                }
            }
            let base_sel = budget.admit_evidence(
                &format!("{hier} (base)"),
                to_hash(&base, &need),
                &mut out.errors,
            );
            let base_hashes = hashes_of(hash_subset(
                base_sel,
                merged_here,
                root,
                hier,
                budget,
                &mut out.errors,
            ));
            let layer_hashes: Vec<HashMap<Vec<u8>, [u8; 32]>> = walked
                .iter()
                .zip(layers.iter())
                .map(|((img, _), layer)| {
                    // Layer entries are hierarchy-relative (`/bin/x`); the image holds `/usr/bin/x`.
                    let mut sel = to_hash(&layer.entries, &need);
                    for e in &mut sel {
                        e.path = in_root_path(hier, &e.path).into_bytes();
                    }
                    let mut sel = budget.admit_evidence(&img.name, sel, &mut out.errors);
                    if !sel.is_empty() {
                        // A failure leaves these unhashed; the finding then says so.
                        if let Ok(c) = open_content(root, img, arch) {
                            let _ = budget.hash_evidence(
                                &img.name,
                                &mut sel,
                                &mut out.errors,
                                &mut |s| hash_files(&c, s, threads),
                            );
                        }
                    }
                    for e in &mut sel {
                        e.path = hier_relative(hier, &e.path);
                    }
                    hashes_of(sel)
                })
                .collect();
            let base_map: HashMap<&[u8], &FileEntry> =
                base.iter().map(|e| (e.path.as_slice(), e)).collect();
            let find_hash = |set: &HashMap<Vec<u8>, [u8; 32]>, p: &[u8]| set.get(p).copied();
            // One change list, walked image, layer and hash set per layer, in layer order.
            let per_layer = view
                .changes
                .iter()
                .zip(&walked)
                .zip(&layers)
                .zip(&layer_hashes);
            for (((ch, &(img, _)), layer), my_hashes) in per_layer {
                let mut ic = ImageChanges {
                    name: img.name.clone(),
                    class: *class,
                    merged: img.merged,
                    added: vec![],
                    replaced_base: vec![],
                    overrode: vec![],
                    removed: vec![],
                    entries: layer
                        .entries
                        .iter()
                        .map(|e| {
                            let mut e = e.clone();
                            e.path = in_root_path(hier, &e.path).into_bytes();
                            e
                        })
                        .collect(),
                };
                for (p, c, below) in ch {
                    let hp = in_root_path(hier, p);
                    let mine = layer.entries.iter().find(|e| &e.path == p).cloned();
                    match (c, below, mine) {
                        (Change::Added, _, _) => ic.added.push(hp),
                        (Change::ReplacedBase, Some(b), Some(mut m)) => {
                            let mut b = b.clone();
                            b.sha256 = find_hash(&base_hashes, p);
                            m.sha256 = find_hash(my_hashes, p);
                            ic.replaced_base.push(Replaced {
                                path: hp,
                                below: b,
                                below_image: None,
                                entry: m,
                            });
                        }
                        (Change::Overrode(n), Some(b), Some(mut m)) => {
                            let mut b = b.clone();
                            b.sha256 = layer_hashes.get(*n).and_then(|s| find_hash(s, p));
                            m.sha256 = find_hash(my_hashes, p);
                            // The base file is still underneath: this image shadows it too.
                            if let Some(bb) = base_map
                                .get(p.as_slice())
                                .filter(|e| e.kind != EntryKind::Dir)
                            {
                                let mut bb = (*bb).clone();
                                bb.sha256 = find_hash(&base_hashes, p);
                                ic.replaced_base.push(Replaced {
                                    path: hp.clone(),
                                    below: bb,
                                    below_image: None,
                                    entry: m.clone(),
                                });
                            }
                            ic.overrode.push(Replaced {
                                path: hp,
                                below: b,
                                below_image: layer_name(&layers, *n),
                                entry: m,
                            });
                        }
                        (Change::Removed(_), _, _) => ic.removed.push(hp),
                        _ => {}
                    }
                }
                out.images.push(ic);
            }
            out.views.push((
                hier.to_string(),
                view.entries
                    .into_values()
                    .map(|(e, o)| {
                        let who = match o {
                            Origin::Base => "base".to_string(),
                            Origin::Layer(n) => layer_name(&layers, n).unwrap_or_default(),
                        };
                        (e, who)
                    })
                    .collect(),
            ));
            out.bases.push((hier.to_string(), base));
        }
    }
    out
}

/// Largest file hashed for finding evidence (`below_sha256`/`image_sha256` are null above it): an
/// image can carry a sparse file of terabytes that costs nothing to store and hours to hash. The
/// path is still reported; `--baseline` hashes everything.
pub const EVIDENCE_HASH_MAX: u64 = 1 << 30;

/// The image name of layer `n` ([`overlay::merge`] gives only indices of `layers`; the layers are
/// the walked images, in order).
fn layer_name(layers: &[Layer], n: usize) -> Option<String> {
    layers.get(n).map(|l| l.name.clone())
}

/// The regular files of `entries` in `need` that evidence hashing reads (at most
/// [`EVIDENCE_HASH_MAX`] bytes each).
fn to_hash(entries: &[FileEntry], need: &HashSet<Vec<u8>>) -> Vec<FileEntry> {
    entries
        .iter()
        .filter(|e| e.kind == EntryKind::File && e.size <= EVIDENCE_HASH_MAX)
        .filter(|e| need.contains(&e.path))
        .cloned()
        .collect()
}

/// Path → SHA-256 of the hashed entries.
fn hashes_of(entries: Vec<FileEntry>) -> HashMap<Vec<u8>, [u8; 32]> {
    entries
        .into_iter()
        .filter_map(|e| Some((e.path, e.sha256?)))
        .collect()
}

/// Hashes the base files `sel` (from [`to_hash`], admitted by the run's budget), beneath the
/// overlay when the hierarchy is merged.
fn hash_subset(
    mut sel: Vec<FileEntry>,
    merged: bool,
    root: &RootFs,
    hier: &str,
    budget: &crate::host::budget::RunBudget,
    errors: &mut Vec<String>,
) -> Vec<FileEntry> {
    if sel.is_empty() {
        return sel;
    }
    // A failure leaves the files unhashed; the finding then says so.
    let r = crate::host::namespace::beneath::<_, overlay::BaseError>(root, hier, merged, |r| {
        let base =
            r.subroot(hier)
                .map(Content::Dir)
                .map_err(|source| overlay::BaseError::Open {
                    hier: hier.to_string(),
                    source,
                })?;
        let what = format!("{hier} (base)");
        budget.hash_evidence(&what, &mut sel, errors, &mut |s| hash_files(&base, s, 1))?;
        Ok(sel)
    });
    r.unwrap_or_default()
}

fn kind_name(k: EntryKind) -> &'static str {
    match k {
        EntryKind::File => "file",
        EntryKind::Dir => "dir",
        EntryKind::Symlink => "symlink",
        EntryKind::CharDevice => "char",
        EntryKind::BlockDevice => "block",
        EntryKind::Fifo => "fifo",
        EntryKind::Socket => "socket",
    }
}

fn manifest(
    hier: &str,
    e: &FileEntry,
    layer: Option<&str>,
) -> extwatch_model::baseline::ManifestEntry {
    extwatch_model::baseline::ManifestEntry {
        path: in_root_path(hier, &e.path),
        kind: kind_name(e.kind).into(),
        mode: format!("{:04o}", e.mode),
        uid: e.uid,
        gid: e.gid,
        size: if e.kind == EntryKind::File { e.size } else { 0 },
        target: e
            .link_target
            .as_ref()
            .map(|t| String::from_utf8_lossy(t).into_owned()),
        sha256: e.sha256.map(hex::encode),
        layer: layer.map(str::to_string),
    }
}

impl Analysis {
    /// The FIM export (`--baseline`): base and merged manifests per hierarchy.
    pub fn to_baseline(
        &self,
        root: &str,
        hierarchies: &[Hierarchy],
    ) -> extwatch_model::baseline::Baseline {
        use extwatch_model::baseline::{Baseline, BaselineHierarchy, BASELINE_SCHEMA};
        let out = self
            .views
            .iter()
            .map(|(hier, view)| {
                let base = self
                    .bases
                    .iter()
                    .find(|(h, _)| h == hier)
                    .map(|(_, b)| b.iter().map(|e| manifest(hier, e, None)).collect())
                    .unwrap_or_default();
                let mut layers = vec!["base".to_string()];
                layers.extend(
                    self.images
                        .iter()
                        .filter(|i| {
                            i.entries
                                .iter()
                                .any(|e| e.path.starts_with(hier.as_bytes()))
                        })
                        .map(|i| i.name.clone()),
                );
                layers.dedup();
                BaselineHierarchy {
                    hierarchy: hier.clone(),
                    merged: hierarchies.iter().any(|h| &h.hierarchy == hier && h.merged),
                    layers,
                    base,
                    merged_view: view
                        .iter()
                        .map(|(e, l)| manifest(hier, e, Some(l)))
                        .collect(),
                }
            })
            .collect();
        Baseline {
            schema: BASELINE_SCHEMA.into(),
            root: root.into(),
            hierarchies: out,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hierarchy_paths_round_trip() {
        for (hier, rel, abs) in [
            ("/usr", &b"/bin/x"[..], "/usr/bin/x"),
            ("/usr", b"/", "/usr"),
            ("/etc", b"/pam.d/sshd", "/etc/pam.d/sshd"),
        ] {
            assert_eq!(in_root_path(hier, rel), abs);
            assert_eq!(hier_relative(hier, abs.as_bytes()), rel);
        }
        // Not under the hierarchy: unchanged.
        assert_eq!(hier_relative("/usr", b"/usrx/a"), b"/usrx/a");
    }
}
