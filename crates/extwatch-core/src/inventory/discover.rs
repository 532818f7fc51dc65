//! Image discovery exactly as `image_discover()` does it (docs/systemd.md §1.2–1.4).
//!
//! For each search directory in precedence order, every entry is reduced to an image name; the first
//! image seen with a name wins and later ones are recorded as masked by it. Within one directory
//! systemd iterates in raw `readdir()` order, which is not deterministic; extwatch sorts by name so its
//! answer is stable, and records same-directory collisions as masked too.
//!
//! Version rules: `.sysext`/`.confext` class suffixes are stripped from v255; `.v/` directories are
//! resolved with vpick from v256. Symlinked entries are followed, resolved *inside* the root, as the
//! booted host does; `systemd-sysext --root=` (252 and 257.13 verified) skips them instead, so those
//! images are marked `symlink: true`.

use std::collections::HashMap;

use extwatch_model::ImageClass;
use rustix::fs::FileType;

use crate::diagnostic::{Area, Diagnostic};
use crate::host::paths;
use crate::host::rootfs::{join, RootFs};
use crate::host::vercmp::strverscmp_improved;
use crate::host::version::SystemdVersion;

/// What an entry is on disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Directory (or btrfs subvolume).
    Directory,
    /// Regular `.raw` file.
    Raw,
    /// Block device.
    Block,
}

/// One discovered entry.
#[derive(Debug, Clone)]
pub struct Found {
    /// Class of the directory it was found in.
    pub class: ImageClass,
    /// Derived image name.
    pub name: String,
    /// Path of the directory entry inside the root.
    pub path: String,
    /// The path systemd opens when it differs (symlink target, `.v/` pick).
    pub resolved: Option<String>,
    /// Type of what is opened.
    pub kind: Kind,
    /// Search directory.
    pub search_dir: String,
    /// Whether systemd searches that directory.
    pub searched: bool,
    /// Why the directory is not searched.
    pub unsearched_reason: Option<String>,
    /// Path of the winning entry with the same name.
    pub masked_by: Option<String>,
    /// The entry itself is a symlink.
    pub symlink: bool,
}

impl Found {
    /// The path to open for content.
    pub fn open_path(&self) -> &str {
        self.resolved.as_deref().unwrap_or(&self.path)
    }
}

/// Options that change discovery.
#[derive(Debug, Clone, Copy)]
pub struct DiscoverOptions {
    /// systemd version whose rules apply.
    pub version: SystemdVersion,
    /// The root has /etc/initrd-release.
    pub initrd: bool,
    /// systemd's architecture name of the host.
    pub arch: &'static str,
}

/// Discovers every image of every class, in precedence order, searched directories first.
/// A FIFO, socket or character device in a search directory: systemd skips it, extwatch reports it
/// (a planted FIFO blocks any tool that opens it; a device node in an offline root names a device
/// of the machine reading it) and never opens it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpecialFile {
    /// Path inside the root.
    pub path: String,
    /// The directory it is in.
    pub search_dir: String,
    /// What it is (`fifo`, `socket`, `character device 1:3`).
    pub what: String,
}

/// A discovery diagnostic about `path` (inside the root).
fn diag(path: &str, message: String) -> Diagnostic {
    Diagnostic::new(Area::Discovery, Some(path.to_string()), message)
}

/// Images found, special files found, diagnostics.
pub type Discovery = (Vec<Found>, Vec<SpecialFile>, Vec<Diagnostic>);

/// Discovers every image (and the special files beside them) of every class in `root`.
pub fn discover(root: &RootFs, opts: &DiscoverOptions) -> Discovery {
    let mut out = Vec::new();
    let mut special = Vec::new();
    let mut warnings = Vec::new();
    for class in [
        ImageClass::Sysext,
        ImageClass::Confext,
        ImageClass::Portable,
    ] {
        let mut winners: HashMap<String, String> = HashMap::new();
        for dir in paths::search_dirs(class, opts.version, opts.initrd) {
            scan_dir(
                root,
                opts,
                class,
                dir,
                true,
                None,
                &mut winners,
                (&mut out, &mut special, &mut warnings),
            );
        }
        for (dir, why) in paths::unsearched_dirs(class, opts.version, opts.initrd) {
            let mut own = HashMap::new();
            scan_dir(
                root,
                opts,
                class,
                dir,
                false,
                Some(why),
                &mut own,
                (&mut out, &mut special, &mut warnings),
            );
        }
    }
    (out, special, warnings)
}

#[allow(clippy::too_many_arguments)]
fn scan_dir(
    root: &RootFs,
    opts: &DiscoverOptions,
    class: ImageClass,
    dir: &str,
    searched: bool,
    why: Option<&str>,
    winners: &mut HashMap<String, String>,
    (out, special, warnings): (&mut Vec<Found>, &mut Vec<SpecialFile>, &mut Vec<Diagnostic>),
) {
    // systemd opens the search directory itself with chase() inside the root.
    let entries = match root.read_dir(dir) {
        Ok(e) => e,
        Err(e) => {
            let code = e.raw_os_error();
            if code != Some(rustix::io::Errno::NOENT.raw_os_error())
                && code != Some(rustix::io::Errno::NOTDIR.raw_os_error())
            {
                warnings.push(diag(dir, format!("cannot read {}: {e}", root.display(dir))));
            }
            return;
        }
    };
    for (name_b, _) in entries {
        let Ok(fname) = std::str::from_utf8(&name_b) else {
            warnings.push(diag(
                dir,
                format!(
                    "{}: skipping an entry whose name is not UTF-8",
                    root.display(dir)
                ),
            ));
            continue;
        };
        // image_name_is_valid(): no temporary files, no control characters (string_has_cc).
        if fname.starts_with(".#") || fname.bytes().any(|b| b < b' ' || b == 0x7f) {
            continue;
        }
        let path = join(dir, &name_b);
        let Ok(Some(lst)) = root.lstat(&path) else {
            continue;
        };
        let mut ft = FileType::from_raw_mode(lst.st_mode);
        let symlink = ft == FileType::Symlink;
        let mut resolved = None;
        if symlink {
            // The booted host follows symlinks (resolved inside the root, as at boot). Note:
            // `systemd-sysext --root=` skips symlinked entries (252 and 257.13 alike: "Skipping
            // directory entry …, which is neither regular file, directory nor block device."); the
            // image carries `symlink: true` so that difference stays visible.
            match (root.stat(&path), root.resolve(&path)) {
                (Ok(Some(st)), Ok(target)) => {
                    ft = FileType::from_raw_mode(st.st_mode);
                    resolved = Some(target);
                }
                _ => continue, // dangling: systemd skips it
            }
        }
        let class_suffix = match class {
            ImageClass::Sysext => Some(".sysext"),
            ImageClass::Confext => Some(".confext"),
            ImageClass::Portable => None,
        };
        let (name, kind) = match ft {
            FileType::Directory => {
                if opts.version.major >= 256 {
                    if let Some(stem) = fname.strip_suffix(".v") {
                        let open = resolved.clone().unwrap_or_else(|| path.clone());
                        match vpick(root, &open, stem, class_suffix, opts.arch) {
                            Some((base, picked, kind)) => {
                                push(
                                    out,
                                    winners,
                                    class,
                                    base,
                                    path,
                                    Some(picked),
                                    kind,
                                    dir,
                                    searched,
                                    why,
                                    symlink,
                                );
                            }
                            None => warnings.push(diag(
                                &path,
                                format!("{}: no usable version inside", root.display(&path)),
                            )),
                        }
                        continue;
                    }
                }
                (
                    strip_class(fname, class_suffix, opts.version),
                    Kind::Directory,
                )
            }
            FileType::RegularFile => {
                let Some(stem) = fname.strip_suffix(".raw") else {
                    continue;
                };
                (strip_class(stem, class_suffix, opts.version), Kind::Raw)
            }
            FileType::BlockDevice => (fname.to_string(), Kind::Block),
            // systemd skips these; they are reported here (stat'ed through an O_PATH descriptor,
            // never opened: opening a FIFO blocks, opening a device runs its driver).
            FileType::Fifo | FileType::Socket | FileType::CharacterDevice => {
                if let Ok(Some(st)) = root.stat(&path) {
                    warnings.push(diag(
                        &path,
                        format!(
                            "{}: {}; not an image",
                            root.display(&path),
                            crate::host::rootfs::not_regular(&st)
                        ),
                    ));
                    special.push(SpecialFile {
                        path: path.clone(),
                        search_dir: dir.to_string(),
                        what: crate::host::rootfs::special_kind(&st),
                    });
                }
                continue;
            }
            _ => continue,
        };
        if name.is_empty() {
            continue;
        }
        push(
            out, winners, class, name, path, resolved, kind, dir, searched, why, symlink,
        );
    }
}

#[allow(clippy::too_many_arguments)]
fn push(
    out: &mut Vec<Found>,
    winners: &mut HashMap<String, String>,
    class: ImageClass,
    name: String,
    path: String,
    resolved: Option<String>,
    kind: Kind,
    dir: &str,
    searched: bool,
    why: Option<&str>,
    symlink: bool,
) {
    let masked_by = winners.get(&name).cloned();
    if masked_by.is_none() {
        winners.insert(name.clone(), path.clone());
    }
    out.push(Found {
        class,
        name,
        path,
        resolved,
        kind,
        search_dir: dir.to_string(),
        searched,
        unsearched_reason: why.map(str::to_string),
        masked_by,
        symlink,
    });
}

fn strip_class(stem: &str, class_suffix: Option<&str>, v: SystemdVersion) -> String {
    if v.major >= 255 {
        if let Some(s) = class_suffix.and_then(|c| stem.strip_suffix(c)) {
            if !s.is_empty() {
                return s.to_string();
            }
        }
    }
    stem.to_string()
}

/// Resolves a `.v/` directory (systemd.v(7)): `NAME[.CLASS][.raw].v/NAME_VERSION[_ARCH][+TRIES][.CLASS][.raw]`,
/// newest version first, skipping other architectures and entries with no tries left.
fn vpick(
    root: &RootFs,
    vdir: &str,
    stem: &str,
    class_suffix: Option<&str>,
    arch: &str,
) -> Option<(String, String, Kind)> {
    let (base_c, raw) = match stem.strip_suffix(".raw") {
        Some(s) => (s, true),
        None => (stem, false),
    };
    let (base, suffix) = match class_suffix.and_then(|c| base_c.strip_suffix(c).map(|b| (b, c))) {
        Some((b, c)) => (b, format!("{c}{}", if raw { ".raw" } else { "" })),
        None => (
            base_c,
            if raw {
                ".raw".to_string()
            } else {
                String::new()
            },
        ),
    };
    if base.is_empty() {
        return None;
    }
    let prefix = format!("{base}_");
    let mut best: Option<(String, String)> = None;
    for (name_b, _) in root.read_dir(vdir).ok()? {
        let Ok(fname) = std::str::from_utf8(&name_b) else {
            continue;
        };
        let Some(mid) = fname
            .strip_prefix(&prefix)
            .and_then(|r| r.strip_suffix(suffix.as_str()))
        else {
            continue;
        };
        let mut mid = mid;
        if let Some(i) = mid.find('+') {
            let tries = &mid[i + 1..];
            let left = tries.split('-').next().unwrap_or("");
            if left == "0" {
                continue;
            }
            mid = &mid[..i];
        }
        let version = match mid.rsplit_once('_') {
            Some((ver, a)) if is_arch(a) => {
                if a != arch {
                    continue;
                }
                ver
            }
            _ => mid,
        };
        if version.is_empty() {
            continue;
        }
        let p = join(vdir, &name_b);
        let Ok(Some(st)) = root.stat(&p) else {
            continue;
        };
        let ft = FileType::from_raw_mode(st.st_mode);
        let ok = if raw {
            ft == FileType::RegularFile || ft == FileType::BlockDevice
        } else {
            ft == FileType::Directory
        };
        if !ok {
            continue;
        }
        if best
            .as_ref()
            .is_none_or(|(bv, _)| strverscmp_improved(version, bv).is_gt())
        {
            best = Some((version.to_string(), p));
        }
    }
    let (_, picked) = best?;
    let kind = if raw { Kind::Raw } else { Kind::Directory };
    let resolved = root.resolve(&picked).unwrap_or(picked);
    Some((base.to_string(), resolved, kind))
}

fn is_arch(s: &str) -> bool {
    crate::host::arch::ARCHITECTURES.contains(&s)
}
