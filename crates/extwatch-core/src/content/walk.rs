//! What an image contains, without mounting it: a bounded pre-order walk of its file system, file
//! hashes computed in parallel with bounded memory, and the `systemd-dissect --mtree` rendering.
//!
//! Why here and like this:
//!
//! * **No mount.** Raw images (squashfs, erofs, DDI) are read through [`extwatch_formats::FsReader`];
//!   directory images through file descriptors: every directory is opened from the image root with
//!   `openat2(RESOLVE_IN_ROOT | RESOLVE_NO_SYMLINKS)` and every entry is `fstatat(AT_SYMLINK_NOFOLLOW)`ed,
//!   so the walk never follows a symlink and cannot leave the image even if it is being modified.
//! * **Bounded.** [`WalkLimits`] caps the number of entries, the depth and the bytes hashed; a hit limit
//!   is a clear error, never a truncated listing. Files are hashed through
//!   [`FsReader::read_file_chunks`] in fixed chunks, so a
//!   multi-GiB (or decompression-bomb) file costs time, not memory.
//! * **Parallel.** The readers are `Sync` and read file data with `pread` (the squashfs reader is
//!   extwatch's own, with small mutex-guarded caches), so [`hash_files`] shares one
//!   opened [`Content`] between its threads — an image's tree is indexed once, not once per thread —
//!   and deals files out through an atomic counter (large files first, then the small ones in walk
//!   order, which is image order).
//! * **Same bytes as systemd.** `extwatch_render::mtree` reproduces `systemd-dissect --mtree` of systemd 257
//!   (`mtree_print_item()` in `src/dissect/dissect.c`): paths relative as `./a/b`, directories suffixed
//!   with `/`, C-style `\xNN` escaping of whitespace, `#;*?[`, backslash, control and non-ASCII bytes,
//!   `mode` as `& 0777` and omitted for symlinks, `size` and `sha256sum` (non-empty files only) for
//!   files, `link=` for symlinks, `device=linux,MAJOR,MINOR` for devices, no times.

use std::ffi::OsStr;
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::ffi::OsStrExt;

use extwatch_formats::{Entry, EntryKind, FsError, FsReader};
use rustix::fs::{AtFlags, FileType as RxType, Mode, OFlags, ResolveFlags};

use crate::content::Content;
use crate::host::rootfs::RootFs;

/// Why an image or directory tree cannot be listed. Causes are chained (`{:#}` or
/// [`crate::error::chain`] print `context: cause`); a hit limit is an error, never a truncated listing.
#[derive(Debug, thiserror::Error)]
pub enum WalkError {
    /// Deeper than [`WalkLimits::max_depth`].
    #[error("directory tree deeper than the limit of {limit} levels at {path}")]
    TooDeep {
        /// The limit.
        limit: usize,
        /// Where it was hit.
        path: String,
    },
    /// More entries than [`WalkLimits::max_entries`].
    #[error("image has more than the limit of {limit} entries (at {path})")]
    TooMany {
        /// The limit.
        limit: usize,
        /// Where it was hit.
        path: String,
    },
    /// The image's file system cannot be read at all.
    #[error(transparent)]
    Image(FsError),
    /// The image has no root directory.
    #[error("image has no root directory")]
    NoRoot,
    /// The root is not a directory.
    #[error("the image's root is not a directory")]
    RootNotDir,
    /// A directory lists one name twice.
    #[error("{dir}: duplicate directory entry names")]
    DuplicateNames {
        /// The directory.
        dir: String,
    },
    /// A directory entry's name is empty, `.`, `..` or contains `/`.
    #[error("{dir}: invalid entry name {name:?}")]
    InvalidName {
        /// The directory.
        dir: String,
        /// The name.
        name: String,
    },
    /// Reading an entry failed (`context` names the path and what was being done).
    #[error("{context}")]
    At {
        /// The path and the operation.
        context: String,
        /// The cause.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

/// A [`WalkError::At`].
fn at(context: String, source: impl std::error::Error + Send + Sync + 'static) -> WalkError {
    WalkError::At {
        context,
        source: Box::new(source),
    }
}

/// One entry of an image's file system.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileEntry {
    /// Absolute path inside the image, `/` for the root directory.
    pub path: Vec<u8>,
    /// Entry type.
    pub kind: EntryKind,
    /// Permission bits (`mode & 0o7777`).
    pub mode: u32,
    /// Owner.
    pub uid: u32,
    /// Group.
    pub gid: u32,
    /// Size in bytes (file content length; symlink target length; else 0).
    pub size: u64,
    /// Modification time, seconds since the epoch.
    pub mtime: i64,
    /// Device number (Linux `makedev` encoding) of device nodes, else 0.
    pub rdev: u64,
    /// Symlink target, not resolved.
    pub link_target: Option<Vec<u8>>,
    /// `security.capability` xattr.
    pub capability: Option<Vec<u8>>,
    /// `security.selinux` xattr.
    pub selinux: Option<Vec<u8>>,
    /// overlayfs opaque directory: `trusted.overlay.opaque` or `user.overlay.opaque` is `y`.
    pub opaque: bool,
    /// overlayfs whiteout: a 0:0 character device, or an `overlay.whiteout` xattr.
    pub whiteout: bool,
    /// SHA-256 of a regular file's content, once `hash_files` ran.
    pub sha256: Option<[u8; 32]>,
    /// [`Entry::content_id`]: entries sharing one are hashed once.
    pub content_id: Option<[u64; 3]>,
}

/// Caps on one walk (and on hashing).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WalkLimits {
    /// Most entries listed (the root included).
    pub max_entries: usize,
    /// Deepest entry (the root is depth 0, `/a` depth 1).
    pub max_depth: usize,
    /// Most file content bytes [`hash_files_limited`](super::hash::hash_files_limited) reads in total.
    pub max_total_bytes_hashed: u64,
}

impl Default for WalkLimits {
    fn default() -> Self {
        WalkLimits {
            max_entries: extwatch_formats::limits::MAX_ENTRIES,
            max_depth: extwatch_formats::limits::MAX_DEPTH,
            max_total_bytes_hashed: u64::MAX,
        }
    }
}

pub(super) fn lossy(p: &[u8]) -> String {
    String::from_utf8_lossy(p).into_owned()
}

fn child_path(dir: &[u8], name: &[u8]) -> Vec<u8> {
    let mut p = Vec::with_capacity(dir.len() + 1 + name.len());
    if dir != b"/" {
        p.extend_from_slice(dir);
    }
    p.push(b'/');
    p.extend_from_slice(name);
    p
}

/// Fills the xattr-derived fields from (name, value) pairs.
fn apply_xattrs<'a>(e: &mut FileEntry, xattrs: impl Iterator<Item = (&'a [u8], &'a [u8])>) {
    for (n, v) in xattrs {
        match n {
            b"security.capability" => e.capability = Some(v.to_vec()),
            b"security.selinux" => e.selinux = Some(v.to_vec()),
            b"trusted.overlay.opaque" | b"user.overlay.opaque" if v == b"y" => e.opaque = true,
            b"trusted.overlay.whiteout" | b"user.overlay.whiteout" => e.whiteout = true,
            _ => {}
        }
    }
}

fn new_entry(path: Vec<u8>, m: &Entry) -> FileEntry {
    FileEntry {
        path,
        kind: m.kind,
        mode: m.mode & 0o7777,
        uid: m.uid,
        gid: m.gid,
        // Directory sizes differ between formats (erofs reports its directory blocks, squashfs
        // a synthetic count); like `systemd-dissect --mtree` we only report sizes of files and links.
        size: match m.kind {
            EntryKind::File | EntryKind::Symlink => m.size,
            _ => 0,
        },
        mtime: m.mtime,
        rdev: m.rdev,
        link_target: None,
        capability: None,
        selinux: None,
        opaque: false,
        whiteout: m.kind == EntryKind::CharDevice && m.rdev == 0,
        sha256: None,
        content_id: m.content_id,
    }
}

/// Counts entries and depth against the limits.
struct Budget<'a> {
    limits: &'a WalkLimits,
    count: usize,
}

impl Budget<'_> {
    fn take(&mut self, path: &[u8], depth: usize) -> Result<(), WalkError> {
        if depth > self.limits.max_depth {
            return Err(WalkError::TooDeep {
                limit: self.limits.max_depth,
                path: lossy(path),
            });
        }
        self.count += 1;
        if self.count > self.limits.max_entries {
            return Err(WalkError::TooMany {
                limit: self.limits.max_entries,
                path: lossy(path),
            });
        }
        Ok(())
    }
}

/// Lists every entry of `content`: pre-order, the entries of each directory sorted by name bytes,
/// symlinks never followed. Fails with a clear message when a limit is hit or the image is
/// malformed.
pub fn walk(content: &Content, limits: &WalkLimits) -> Result<Vec<FileEntry>, WalkError> {
    match content {
        Content::Fs(fs) => walk_fs(fs.as_ref(), limits),
        Content::Dir(r) => walk_dir(r.dir_fd(), limits, true),
    }
}

/// [`walk`] of a host directory tree without reading extended attributes: for the base hierarchy
/// of the merged view, where only type, mode, owner, size, link target and content take part (the
/// xattrs that matter — whiteouts, opaque markers, file capabilities — are read on the image side).
/// Two `llistxattr` calls per entry were a third of the base walk's time on a full /usr.
pub fn walk_dir_metadata(dir: &RootFs, limits: &WalkLimits) -> Result<Vec<FileEntry>, WalkError> {
    walk_dir(dir.dir_fd(), limits, false)
}

fn fs_entry(fs: &dyn FsReader, path: Vec<u8>, m: &Entry) -> Result<FileEntry, WalkError> {
    let mut e = new_entry(path, m);
    let xattrs = fs.xattrs(&e.path).map_err(|err| at(lossy(&e.path), err))?;
    apply_xattrs(&mut e, xattrs.iter().map(|(n, v)| (&n[..], &v[..])));
    if e.kind == EntryKind::Symlink {
        e.link_target = Some(
            fs.read_link(&e.path)
                .map_err(|err| at(lossy(&e.path), err))?,
        );
    }
    Ok(e)
}

fn walk_fs(fs: &dyn FsReader, limits: &WalkLimits) -> Result<Vec<FileEntry>, WalkError> {
    let root = fs
        .stat(b"/")
        .map_err(WalkError::Image)?
        .ok_or(WalkError::NoRoot)?;
    if root.kind != EntryKind::Dir {
        return Err(WalkError::RootNotDir);
    }
    let mut budget = Budget { limits, count: 0 };
    budget.take(b"/", 0)?;
    preorder(fs_entry(fs, b"/".to_vec(), &root)?, |dir, depth| {
        let mut children = fs.read_dir(dir).map_err(|err| at(lossy(dir), err))?;
        children.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        if children
            .windows(2)
            .any(|w| matches!(w, [a, b] if a.0 == b.0))
        {
            return Err(WalkError::DuplicateNames { dir: lossy(dir) });
        }
        let mut out = Vec::with_capacity(children.len());
        for (name, m) in children {
            if name.is_empty() || name.contains(&b'/') || name == b"." || name == b".." {
                return Err(WalkError::InvalidName {
                    dir: lossy(dir),
                    name: lossy(&name),
                });
            }
            let p = child_path(dir, &name);
            budget.take(&p, depth)?;
            out.push(fs_entry(fs, p, &m)?);
        }
        Ok(out)
    })
}

/// Pre-order traversal shared by both walkers: `children(dir, depth)` lists the entries of
/// directory `dir` (at depth `depth`), sorted by name.
fn preorder(
    root: FileEntry,
    mut children: impl FnMut(&[u8], usize) -> Result<Vec<FileEntry>, WalkError>,
) -> Result<Vec<FileEntry>, WalkError> {
    let mut out = Vec::new();
    let mut stack = vec![(root, 0usize)];
    while let Some((e, depth)) = stack.pop() {
        let dir = (e.kind == EntryKind::Dir).then(|| e.path.clone());
        out.push(e);
        if let Some(dir) = dir {
            let kids = children(&dir, depth + 1)?;
            stack.extend(kids.into_iter().rev().map(|k| (k, depth + 1)));
        }
    }
    Ok(out)
}

pub(super) const RESOLVE_STRICT: ResolveFlags = ResolveFlags::IN_ROOT
    .union(ResolveFlags::NO_SYMLINKS)
    .union(ResolveFlags::NO_MAGICLINKS);

/// `p` relative to the image root, for `openat2` (`.` for the root).
fn rel(p: &[u8]) -> &OsStr {
    let r = p.strip_prefix(b"/").unwrap_or(p);
    OsStr::from_bytes(if r.is_empty() { b"." } else { r })
}

fn kind_of(mode: u32) -> EntryKind {
    match RxType::from_raw_mode(mode) {
        RxType::Directory => EntryKind::Dir,
        RxType::Symlink => EntryKind::Symlink,
        RxType::CharacterDevice => EntryKind::CharDevice,
        RxType::BlockDevice => EntryKind::BlockDevice,
        RxType::Fifo => EntryKind::Fifo,
        RxType::Socket => EntryKind::Socket,
        _ => EntryKind::File,
    }
}

fn stat_entry(path: Vec<u8>, st: &rustix::fs::Stat) -> FileEntry {
    let kind = kind_of(st.st_mode);
    let m = Entry {
        kind,
        mode: st.st_mode & 0o7777,
        uid: st.st_uid,
        gid: st.st_gid,
        size: match kind {
            EntryKind::File | EntryKind::Symlink => u64::try_from(st.st_size).unwrap_or(0),
            _ => 0,
        },
        mtime: st.st_mtime,
        #[allow(clippy::unnecessary_cast)]
        rdev: st.st_rdev as u64,
        // Hard links: one inode on one device.
        #[allow(clippy::unnecessary_cast)]
        content_id: (kind == EntryKind::File).then(|| {
            [
                st.st_dev as u64,
                st.st_ino as u64,
                u64::try_from(st.st_size).unwrap_or(0),
            ]
        }),
    };
    new_entry(path, &m)
}

/// Reads the xattrs we care about from `/proc/self/fd/DIR/NAME` without following a final symlink.
fn dir_xattrs(dirfd: BorrowedFd<'_>, name: &[u8], e: &mut FileEntry) -> Result<(), WalkError> {
    use std::os::fd::AsRawFd;
    let mut p = format!("/proc/self/fd/{}/", dirfd.as_raw_fd()).into_bytes();
    p.extend_from_slice(name);
    let p = OsStr::from_bytes(&p);
    let mut names = vec![0u8; 64 * 1024];
    let n = match rustix::fs::llistxattr(p, &mut names[..]) {
        Ok(n) => n,
        Err(rustix::io::Errno::OPNOTSUPP) => return Ok(()),
        Err(err) => return Err(at(format!("{}: listing xattrs", lossy(&e.path)), err)),
    };
    names.truncate(n);
    let mut got = Vec::new();
    for xn in names.split(|&b| b == 0).filter(|n| !n.is_empty()) {
        if !matches!(
            xn,
            b"security.capability"
                | b"security.selinux"
                | b"trusted.overlay.opaque"
                | b"user.overlay.opaque"
                | b"trusted.overlay.whiteout"
                | b"user.overlay.whiteout"
        ) {
            continue;
        }
        let mut v = vec![0u8; 64 * 1024];
        match rustix::fs::lgetxattr(p, OsStr::from_bytes(xn), &mut v[..]) {
            Ok(len) => {
                v.truncate(len);
                got.push((xn.to_vec(), v));
            }
            Err(rustix::io::Errno::NODATA) => {}
            Err(err) => return Err(at(format!("{}: reading xattr", lossy(&e.path)), err)),
        }
    }
    apply_xattrs(e, got.iter().map(|(n, v)| (&n[..], &v[..])));
    Ok(())
}

fn walk_dir(
    root: BorrowedFd<'_>,
    limits: &WalkLimits,
    xattrs: bool,
) -> Result<Vec<FileEntry>, WalkError> {
    let st = rustix::fs::fstat(root).map_err(|e| at("stat of the image root".to_string(), e))?;
    let mut top = stat_entry(b"/".to_vec(), &st);
    if top.kind != EntryKind::Dir {
        return Err(WalkError::RootNotDir);
    }
    if xattrs {
        dir_xattrs(root, b".", &mut top)?;
    }
    let mut budget = Budget { limits, count: 0 };
    budget.take(b"/", 0)?;
    preorder(top, |dir, depth| {
        let fd = rustix::fs::openat2(
            root,
            rel(dir),
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::empty(),
            RESOLVE_STRICT,
        )
        .map_err(|err| at(format!("{}: cannot open directory", lossy(dir)), err))?;
        let mut names = Vec::new();
        let mut rd = rustix::fs::Dir::read_from(&fd)
            .map_err(|err| at(format!("{}: cannot read directory", lossy(dir)), err))?;
        while let Some(ent) = rd.read() {
            let ent =
                ent.map_err(|err| at(format!("{}: cannot read directory", lossy(dir)), err))?;
            let name = ent.file_name().to_bytes();
            if name == b"." || name == b".." {
                continue;
            }
            budget.take(&child_path(dir, name), depth)?;
            names.push(name.to_vec());
        }
        names.sort_unstable();
        let mut out = Vec::with_capacity(names.len());
        for name in names {
            let p = child_path(dir, &name);
            let st = rustix::fs::statat(&fd, OsStr::from_bytes(&name), AtFlags::SYMLINK_NOFOLLOW)
                .map_err(|err| at(lossy(&p), err))?;
            let mut c = stat_entry(p, &st);
            if c.kind == EntryKind::Symlink {
                let t = rustix::fs::readlinkat(&fd, OsStr::from_bytes(&name), Vec::new())
                    .map_err(|err| at(lossy(&c.path), err))?;
                c.link_target = Some(t.into_bytes());
            }
            if xattrs {
                dir_xattrs(fd.as_fd(), &name, &mut c)?;
            }
            out.push(c);
        }
        Ok(out)
    })
}

/// Linux `major()` / `minor()` of a `makedev` device number.
pub fn major_minor(rdev: u64) -> (u64, u64) {
    let major = ((rdev >> 8) & 0xfff) | ((rdev >> 32) & !0xfff);
    let minor = (rdev & 0xff) | ((rdev >> 12) & !0xff);
    (major, minor)
}

/// A bare entry (mode 0644, root-owned, nothing else set) for unit tests.
#[cfg(test)]
pub(crate) fn test_entry(path: &str, kind: EntryKind) -> FileEntry {
    FileEntry {
        path: path.as_bytes().to_vec(),
        kind,
        mode: 0o644,
        uid: 0,
        gid: 0,
        size: 0,
        mtime: 0,
        rdev: 0,
        link_target: None,
        capability: None,
        selinux: None,
        opaque: false,
        whiteout: false,
        sha256: None,
        content_id: None,
    }
}
