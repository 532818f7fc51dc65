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
//! * **Same bytes as systemd.** [`render_mtree`] reproduces `systemd-dissect --mtree` of systemd 257
//!   (`mtree_print_item()` in `src/dissect/dissect.c`): paths relative as `./a/b`, directories suffixed
//!   with `/`, C-style `\xNN` escaping of whitespace, `#;*?[`, backslash, control and non-ASCII bytes,
//!   `mode` as `& 0777` and omitted for symlinks, `size` and `sha256sum` (non-empty files only) for
//!   files, `link=` for symlinks, `device=linux,MAJOR,MINOR` for devices, no times.

use std::ffi::OsStr;
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::ffi::OsStrExt;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;

pub use extwatch_formats::{open_image, EntryKind, RawFormat, ReadAt};
use extwatch_formats::{Entry, FsReader};
use extwatch_model::{FileRecord, FileType, FilesReport, ImageFormat, SCHEMA};
use rustix::fs::{AtFlags, FileType as RxType, Mode, OFlags, ResolveFlags};
use sha2::{Digest, Sha256};

use crate::content::Content;
use crate::host::rootfs::RootFs;

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
    /// SHA-256 of a regular file's content, once [`hash_files`] ran.
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
    /// Most file content bytes [`hash_files_limited`] reads in total.
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

fn lossy(p: &[u8]) -> String {
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
    fn take(&mut self, path: &[u8], depth: usize) -> Result<(), String> {
        if depth > self.limits.max_depth {
            return Err(format!(
                "directory tree deeper than the limit of {} levels at {}",
                self.limits.max_depth,
                lossy(path)
            ));
        }
        self.count += 1;
        if self.count > self.limits.max_entries {
            return Err(format!(
                "image has more than the limit of {} entries (at {})",
                self.limits.max_entries,
                lossy(path)
            ));
        }
        Ok(())
    }
}

/// Lists every entry of `content`: pre-order, the entries of each directory sorted by name bytes,
/// symlinks never followed. Fails with a clear message when a limit is hit or the image is
/// malformed.
pub fn walk(content: &Content, limits: &WalkLimits) -> Result<Vec<FileEntry>, String> {
    match content {
        Content::Fs(fs) => walk_fs(fs.as_ref(), limits),
        Content::Dir(r) => walk_dir(r.dir_fd(), limits, true),
    }
}

/// [`walk`] of a host directory tree without reading extended attributes: for the base hierarchy
/// of the merged view, where only type, mode, owner, size, link target and content take part (the
/// xattrs that matter — whiteouts, opaque markers, file capabilities — are read on the image side).
/// Two `llistxattr` calls per entry were a third of the base walk's time on a full /usr.
pub fn walk_dir_metadata(dir: &RootFs, limits: &WalkLimits) -> Result<Vec<FileEntry>, String> {
    walk_dir(dir.dir_fd(), limits, false)
}

fn fs_entry(fs: &dyn FsReader, path: Vec<u8>, m: &Entry) -> Result<FileEntry, String> {
    let mut e = new_entry(path, m);
    let xattrs = fs
        .xattrs(&e.path)
        .map_err(|err| format!("{}: {err}", lossy(&e.path)))?;
    apply_xattrs(&mut e, xattrs.iter().map(|(n, v)| (&n[..], &v[..])));
    if e.kind == EntryKind::Symlink {
        e.link_target = Some(
            fs.read_link(&e.path)
                .map_err(|err| format!("{}: {err}", lossy(&e.path)))?,
        );
    }
    Ok(e)
}

fn walk_fs(fs: &dyn FsReader, limits: &WalkLimits) -> Result<Vec<FileEntry>, String> {
    let root = fs
        .stat(b"/")
        .map_err(|e| e.to_string())?
        .ok_or("image has no root directory")?;
    if root.kind != EntryKind::Dir {
        return Err("the image's root is not a directory".into());
    }
    let mut budget = Budget { limits, count: 0 };
    budget.take(b"/", 0)?;
    preorder(fs_entry(fs, b"/".to_vec(), &root)?, |dir, depth| {
        let mut children = fs
            .read_dir(dir)
            .map_err(|err| format!("{}: {err}", lossy(dir)))?;
        children.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        if children.windows(2).any(|w| w[0].0 == w[1].0) {
            return Err(format!("{}: duplicate directory entry names", lossy(dir)));
        }
        let mut out = Vec::with_capacity(children.len());
        for (name, m) in children {
            if name.is_empty() || name.contains(&b'/') || name == b"." || name == b".." {
                return Err(format!(
                    "{}: invalid entry name {:?}",
                    lossy(dir),
                    lossy(&name)
                ));
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
    mut children: impl FnMut(&[u8], usize) -> Result<Vec<FileEntry>, String>,
) -> Result<Vec<FileEntry>, String> {
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

const RESOLVE_STRICT: ResolveFlags = ResolveFlags::IN_ROOT
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
fn dir_xattrs(dirfd: BorrowedFd<'_>, name: &[u8], e: &mut FileEntry) -> Result<(), String> {
    use std::os::fd::AsRawFd;
    let mut p = format!("/proc/self/fd/{}/", dirfd.as_raw_fd()).into_bytes();
    p.extend_from_slice(name);
    let p = OsStr::from_bytes(&p);
    let mut names = vec![0u8; 64 * 1024];
    let n = match rustix::fs::llistxattr(p, &mut names[..]) {
        Ok(n) => n,
        Err(rustix::io::Errno::OPNOTSUPP) => return Ok(()),
        Err(err) => return Err(format!("{}: listing xattrs: {err}", lossy(&e.path))),
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
            Err(err) => return Err(format!("{}: reading xattr: {err}", lossy(&e.path))),
        }
    }
    apply_xattrs(e, got.iter().map(|(n, v)| (&n[..], &v[..])));
    Ok(())
}

fn walk_dir(
    root: BorrowedFd<'_>,
    limits: &WalkLimits,
    xattrs: bool,
) -> Result<Vec<FileEntry>, String> {
    let st = rustix::fs::fstat(root).map_err(|e| format!("stat of the image root: {e}"))?;
    let mut top = stat_entry(b"/".to_vec(), &st);
    if top.kind != EntryKind::Dir {
        return Err("the image's root is not a directory".into());
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
        .map_err(|err| format!("{}: cannot open directory: {err}", lossy(dir)))?;
        let mut names = Vec::new();
        let mut rd = rustix::fs::Dir::read_from(&fd)
            .map_err(|err| format!("{}: cannot read directory: {err}", lossy(dir)))?;
        while let Some(ent) = rd.read() {
            let ent = ent.map_err(|err| format!("{}: cannot read directory: {err}", lossy(dir)))?;
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
                .map_err(|err| format!("{}: {err}", lossy(&p)))?;
            let mut c = stat_entry(p, &st);
            if c.kind == EntryKind::Symlink {
                let t = rustix::fs::readlinkat(&fd, OsStr::from_bytes(&name), Vec::new())
                    .map_err(|err| format!("{}: {err}", lossy(&c.path)))?;
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

/// The [`Content`] of an opened raw image as an extension sees it: for a DDI whose chosen partition
/// is a `/usr` partition, its file system appears under `/usr` (as systemd mounts it), see
/// [`UnderUsr`]; otherwise the file system as is.
pub fn content_of(img: extwatch_formats::OpenedImage) -> Content {
    use extwatch_formats::ddi::{Designator, PartitionRole};
    let usr = img
        .ddi
        .as_ref()
        .and_then(|d| d.chosen_partition())
        .is_some_and(|p| {
            matches!(
                p.role,
                PartitionRole::Dps {
                    designator: Designator::Usr,
                    ..
                }
            )
        });
    if usr {
        Content::Fs(Box::new(UnderUsr(img.fs)))
    } else {
        Content::Fs(img.fs)
    }
}

/// A `/usr` partition's file system placed under `/usr` of a synthetic root directory (mode 0755,
/// owned by root, no xattrs), so paths are the ones the extension provides. `systemd-dissect --mtree`
/// lists the same entries; its `./` line describes its own mount point instead of a synthetic root.
pub struct UnderUsr(pub Box<dyn FsReader>);

impl UnderUsr {
    /// `Some(inner path)` for `/usr` and below, `None` for the synthetic root, `Err` elsewhere.
    fn map(path: &[u8]) -> Result<Option<Vec<u8>>, extwatch_formats::FsError> {
        let mut parts = path
            .split(|&b| b == b'/')
            .filter(|c| !c.is_empty() && *c != b".");
        match parts.next() {
            None => Ok(None),
            Some(b"usr") => {
                let mut p = Vec::with_capacity(path.len());
                for c in parts {
                    p.push(b'/');
                    p.extend_from_slice(c);
                }
                if p.is_empty() {
                    p.push(b'/');
                }
                Ok(Some(p))
            }
            Some(_) => Err(extwatch_formats::FsError::NotFound(lossy(path))),
        }
    }

    fn root(&self) -> Result<Entry, extwatch_formats::FsError> {
        let usr = self
            .0
            .stat(b"/")?
            .ok_or_else(|| extwatch_formats::FsError::NotFound("/usr".into()))?;
        Ok(Entry {
            kind: EntryKind::Dir,
            mode: 0o755,
            uid: 0,
            gid: 0,
            size: 0,
            mtime: usr.mtime,
            rdev: 0,
            content_id: None,
        })
    }
}

impl FsReader for UnderUsr {
    fn stat(&self, path: &[u8]) -> Result<Option<Entry>, extwatch_formats::FsError> {
        match Self::map(path) {
            Ok(Some(p)) => self.0.stat(&p),
            Ok(None) => self.root().map(Some),
            Err(_) => Ok(None),
        }
    }
    fn read_dir(&self, path: &[u8]) -> Result<Vec<(Vec<u8>, Entry)>, extwatch_formats::FsError> {
        match Self::map(path)? {
            Some(p) => self.0.read_dir(&p),
            None => {
                let usr = self
                    .0
                    .stat(b"/")?
                    .ok_or_else(|| extwatch_formats::FsError::NotFound("/usr".into()))?;
                Ok(vec![(b"usr".to_vec(), usr)])
            }
        }
    }
    fn read_file_chunks(
        &self,
        path: &[u8],
        sink: &mut dyn FnMut(&[u8]) -> Result<(), extwatch_formats::FsError>,
    ) -> Result<u64, extwatch_formats::FsError> {
        match Self::map(path)? {
            Some(p) => self.0.read_file_chunks(&p, sink),
            None => Err(extwatch_formats::FsError::WrongType(
                "/ is a directory".into(),
            )),
        }
    }
    fn read_link(&self, path: &[u8]) -> Result<Vec<u8>, extwatch_formats::FsError> {
        match Self::map(path)? {
            Some(p) => self.0.read_link(&p),
            None => Err(extwatch_formats::FsError::WrongType(
                "/ is a directory".into(),
            )),
        }
    }
    fn xattrs(
        &self,
        path: &[u8],
    ) -> Result<extwatch_formats::fsimage::Xattrs, extwatch_formats::FsError> {
        match Self::map(path)? {
            Some(p) => self.0.xattrs(&p),
            None => Ok(Vec::new()),
        }
    }
}

/// [`hash_files_limited`] without a cap on the bytes hashed.
pub fn hash_files(
    content: &Content,
    entries: &mut [FileEntry],
    threads: usize,
) -> Result<(), String> {
    hash_files_limited(content, entries, threads, u64::MAX)
}

/// Computes the SHA-256 of every regular file in `entries` (from [`walk`] of `content`) on
/// `threads` threads sharing the one opened image (readers are `Sync`; reopening per thread would
/// index a squashfs tree once per thread). Content stored once (hard links, deduplicated squashfs
/// data: [`FileEntry::content_id`]) is read once. File content is streamed in bounded chunks.
/// Fails before reading anything when the distinct contents add up to more than
/// `max_total_bytes`.
pub fn hash_files_limited(
    content: &Content,
    entries: &mut [FileEntry],
    threads: usize,
    max_total_bytes: u64,
) -> Result<(), String> {
    const BIG: u64 = 1 << 20;
    // Content stored once is hashed once: later entries with the same content id copy the hash.
    let mut first_of: std::collections::HashMap<[u64; 3], usize> = std::collections::HashMap::new();
    let mut copies: Vec<(usize, usize)> = Vec::new();
    let mut total = 0u64;
    for (i, e) in entries.iter().enumerate() {
        // Empty files need no reading (below), so they need no identity either.
        if e.kind != EntryKind::File || e.size == 0 {
            continue;
        }
        if let Some(id) = e.content_id {
            if let Some(&f) = first_of.get(&id) {
                copies.push((i, f));
                continue;
            }
            first_of.insert(id, i);
        }
        total = total.saturating_add(e.size);
    }
    drop(first_of);
    if total > max_total_bytes {
        return Err(format!(
            "files add up to {total} bytes, more than the hashing limit of {max_total_bytes}"
        ));
    }
    let empty: [u8; 32] = Sha256::digest([]).into();
    let mut big: Vec<usize> = Vec::new();
    let mut small: Vec<usize> = Vec::new();
    let mut is_copy = vec![false; entries.len()];
    for &(i, _) in &copies {
        is_copy[i] = true;
    }
    for (i, e) in entries.iter_mut().enumerate() {
        if e.kind != EntryKind::File || is_copy[i] {
            continue;
        }
        if e.size == 0 {
            // Readers deliver exactly the inode size, so nothing needs reading.
            e.sha256 = Some(empty);
        } else if e.size >= BIG {
            big.push(i);
        } else {
            small.push(i);
        }
    }
    big.sort_by(|&a, &b| entries[b].size.cmp(&entries[a].size));
    big.extend(small);
    let jobs = big;
    hash_jobs(content, entries, &jobs, threads)?;
    for (i, f) in copies {
        entries[i].sha256 = entries[f].sha256;
    }
    Ok(())
}

/// Hashes `entries[j]` for every `j` in `jobs` on `threads` threads sharing `content`.
fn hash_jobs(
    content: &Content,
    entries: &mut [FileEntry],
    jobs: &[usize],
    threads: usize,
) -> Result<(), String> {
    if jobs.is_empty() {
        return Ok(());
    }
    let threads = threads.clamp(1, 64).min(jobs.len());
    let next = AtomicUsize::new(0);
    let stop = AtomicBool::new(false);
    let results: Mutex<Vec<(usize, [u8; 32])>> = Mutex::new(Vec::with_capacity(jobs.len()));
    let first_err: Mutex<Option<String>> = Mutex::new(None);
    let ro: &[FileEntry] = entries;
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| {
                let fail = |msg: String| {
                    stop.store(true, Ordering::Relaxed);
                    if let Ok(mut f) = first_err.lock() {
                        f.get_or_insert(msg);
                    }
                };
                let hasher = match Hasher::new(content) {
                    Ok(h) => h,
                    Err(e) => return fail(e),
                };
                let mut local = Vec::new();
                while !stop.load(Ordering::Relaxed) {
                    let j = next.fetch_add(1, Ordering::Relaxed);
                    let Some(&i) = jobs.get(j) else { break };
                    match hasher.hash(&ro[i]) {
                        Ok(h) => local.push((i, h)),
                        Err(e) => return fail(e),
                    }
                }
                if let Ok(mut r) = results.lock() {
                    r.extend(local);
                }
            });
        }
    });
    if let Some(e) = first_err.into_inner().ok().flatten() {
        return Err(e);
    }
    let results = results
        .into_inner()
        .map_err(|_| "internal: hashing thread panicked".to_string())?;
    if results.len() != jobs.len() {
        return Err("internal: not every file was hashed".into());
    }
    for (i, h) in results {
        entries[i].sha256 = Some(h);
    }
    Ok(())
}

/// Hashes files of one opened image.
enum Hasher<'a> {
    Fs(&'a dyn FsReader),
    Dir(BorrowedFd<'a>),
}

impl<'a> Hasher<'a> {
    fn new(c: &'a Content) -> Result<Hasher<'a>, String> {
        Ok(match c {
            Content::Fs(fs) => Hasher::Fs(fs.as_ref()),
            Content::Dir(r) => Hasher::Dir(r.dir_fd()),
        })
    }

    fn hash(&self, e: &FileEntry) -> Result<[u8; 32], String> {
        let mut h = Sha256::new();
        let n = match self {
            Hasher::Fs(fs) => fs
                .read_file_chunks(&e.path, &mut |c| {
                    h.update(c);
                    Ok(())
                })
                .map_err(|err| format!("{}: {err}", lossy(&e.path)))?,
            Hasher::Dir(root) => {
                // O_PATH, fstat, re-open only a regular file (rootfs module doc): a file swapped
                // for a FIFO or a device node since the walk is reported, never opened.
                let fd = crate::host::rootfs::open_regular_at(*root, &e.path, RESOLVE_STRICT, true)
                    .map_err(|err| {
                        format!(
                            "{}: cannot open: {err} (directory image changed during the walk?)",
                            lossy(&e.path)
                        )
                    })?;
                read_fd(fd.as_fd(), &mut h).map_err(|err| format!("{}: {err}", lossy(&e.path)))?
            }
        };
        if n != e.size {
            return Err(format!(
                "{}: read {n} bytes, but the listing says {} (image changed or malformed)",
                lossy(&e.path),
                e.size
            ));
        }
        Ok(h.finalize().into())
    }
}

fn read_fd(fd: std::os::fd::BorrowedFd<'_>, h: &mut Sha256) -> std::io::Result<u64> {
    let mut buf = vec![0u8; 256 * 1024];
    let mut total = 0u64;
    loop {
        match rustix::io::read(fd, &mut buf[..]) {
            Ok(0) => return Ok(total),
            Ok(n) => {
                h.update(&buf[..n]);
                total += n as u64;
            }
            Err(rustix::io::Errno::INTR) => {}
            Err(e) => return Err(e.into()),
        }
    }
}

/// systemd's `xescape(s, WHITESPACE COMMENTS GLOB_CHARS)`: `\xNN` for control bytes, bytes ≥ 0x7f,
/// backslash, whitespace, `#`, `;`, `*`, `?` and `[`.
pub fn mtree_escape(s: &[u8], out: &mut String) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    for &b in s {
        if !(b' '..0x7f).contains(&b) || b"\\ \t\n\r#;*?[".contains(&b) {
            out.push('\\');
            out.push('x');
            out.push(HEX[usize::from(b >> 4)] as char);
            out.push(HEX[usize::from(b & 0xf)] as char);
        } else {
            out.push(b as char);
        }
    }
}

/// Linux `major()` / `minor()` of a `makedev` device number.
pub fn major_minor(rdev: u64) -> (u64, u64) {
    let major = ((rdev >> 8) & 0xfff) | ((rdev >> 32) & !0xfff);
    let minor = (rdev & 0xff) | ((rdev >> 12) & !0xff);
    (major, minor)
}

/// The listing exactly as `systemd-dissect --mtree` (systemd 257) prints it for the same image
/// (`sha256sum=` only for files [`hash_files`] hashed).
pub fn render_mtree(entries: &[FileEntry]) -> String {
    let mut out = Vec::with_capacity(entries.len() * 64);
    // Writing to a Vec cannot fail, and every byte written is ASCII.
    let _ = write_mtree(entries, &mut out);
    String::from_utf8_lossy(&out).into_owned()
}

/// [`render_mtree`] line by line into `out`, so a million-entry listing is not held twice.
pub fn write_mtree(entries: &[FileEntry], out: &mut dyn std::io::Write) -> std::io::Result<()> {
    use std::fmt::Write;
    let mut s = String::with_capacity(256);
    for e in entries {
        s.clear();
        if e.path == b"/" {
            s.push('.');
        } else {
            let mut p = Vec::with_capacity(e.path.len() + 1);
            p.push(b'.');
            p.extend_from_slice(&e.path);
            mtree_escape(&p, &mut s);
        }
        let ty = match e.kind {
            EntryKind::Dir => "dir",
            EntryKind::File => "file",
            EntryKind::Symlink => "link",
            EntryKind::Fifo => "fifo",
            EntryKind::BlockDevice => "block",
            EntryKind::CharDevice => "char",
            EntryKind::Socket => "socket",
        };
        if e.kind == EntryKind::Dir {
            s.push('/');
        }
        let _ = write!(s, " type={ty}");
        if e.kind != EntryKind::Symlink {
            let _ = write!(s, " mode={:04o}", e.mode & 0o777);
        }
        let _ = write!(s, " uid={} gid={}", e.uid, e.gid);
        if e.kind == EntryKind::File {
            let _ = write!(s, " size={}", e.size);
            if let (true, Some(h)) = (e.size > 0, &e.sha256) {
                let _ = write!(s, " sha256sum={}", hex::encode(h));
            }
        }
        if let (EntryKind::Symlink, Some(t)) = (e.kind, &e.link_target) {
            s.push_str(" link=");
            mtree_escape(t, &mut s);
        }
        if matches!(e.kind, EntryKind::CharDevice | EntryKind::BlockDevice) {
            let (ma, mi) = major_minor(e.rdev);
            let _ = write!(s, " device=linux,{ma},{mi}");
        }
        s.push('\n');
        out.write_all(s.as_bytes())?;
    }
    Ok(())
}

fn hex_if_not_utf8(b: &[u8]) -> Option<String> {
    std::str::from_utf8(b).is_err().then(|| hex::encode(b))
}

/// The JSON model of one entry.
pub fn to_record(e: &FileEntry) -> FileRecord {
    FileRecord {
        path: lossy(&e.path),
        path_bytes_hex: hex_if_not_utf8(&e.path),
        file_type: match e.kind {
            EntryKind::File => FileType::File,
            EntryKind::Dir => FileType::Dir,
            EntryKind::Symlink => FileType::Symlink,
            EntryKind::CharDevice => FileType::Char,
            EntryKind::BlockDevice => FileType::Block,
            EntryKind::Fifo => FileType::Fifo,
            EntryKind::Socket => FileType::Socket,
        },
        mode: format!("{:04o}", e.mode & 0o7777),
        uid: e.uid,
        gid: e.gid,
        size: e.size,
        mtime: crate::time::rfc3339(e.mtime),
        device: matches!(e.kind, EntryKind::CharDevice | EntryKind::BlockDevice).then(|| {
            let (ma, mi) = major_minor(e.rdev);
            format!("{ma}:{mi}")
        }),
        target: e.link_target.as_deref().map(lossy),
        target_bytes_hex: e.link_target.as_deref().and_then(hex_if_not_utf8),
        capability: e.capability.as_deref().map(hex::encode),
        selinux: e.selinux.as_deref().map(|v| {
            let v = v.strip_suffix(b"\0").unwrap_or(v);
            lossy(v)
        }),
        opaque: e.opaque,
        whiteout: e.whiteout,
        sha256: e.sha256.map(hex::encode),
    }
}

/// Serialises exactly as [`to_report`]'s `FilesReport` does, converting one entry at a time instead
/// of building every record first (a million entries would otherwise be held twice).
pub struct ReportStream<'a> {
    /// The image path given.
    pub image: &'a str,
    /// Its container format.
    pub format: ImageFormat,
    /// Its entries.
    pub entries: &'a [FileEntry],
}

impl serde::Serialize for ReportStream<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        struct Records<'a>(&'a [FileEntry]);
        impl serde::Serialize for Records<'_> {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_seq(self.0.iter().map(to_record))
            }
        }
        let mut m = s.serialize_struct("FilesReport", 4)?;
        m.serialize_field("schema", SCHEMA)?;
        m.serialize_field("image", self.image)?;
        m.serialize_field("format", &self.format)?;
        m.serialize_field("entries", &Records(self.entries))?;
        m.end()
    }
}

/// The `--format json` report of an image's entries.
pub fn to_report(image: &str, format: ImageFormat, entries: &[FileEntry]) -> FilesReport {
    FilesReport {
        schema: SCHEMA.into(),
        image: image.into(),
        format,
        entries: entries.iter().map(to_record).collect(),
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Vec<FileEntry> {
        let base = FileEntry {
            mode: 0o755,
            mtime: 1_700_000_000,
            ..test_entry("/", EntryKind::Dir)
        };
        vec![
            base.clone(),
            FileEntry {
                path: b"/bin\xff\n".to_vec(),
                kind: EntryKind::File,
                mode: 0o4755,
                size: 3,
                capability: Some(vec![1, 0, 0, 2]),
                selinux: Some(b"system_u:object_r:bin_t:s0\0".to_vec()),
                sha256: Some([7; 32]),
                ..base.clone()
            },
            FileEntry {
                path: b"/l".to_vec(),
                kind: EntryKind::Symlink,
                link_target: Some(b"../\xfe".to_vec()),
                ..base.clone()
            },
            FileEntry {
                path: b"/wh".to_vec(),
                kind: EntryKind::CharDevice,
                rdev: 0x0103,
                whiteout: true,
                ..base
            },
        ]
    }

    #[test]
    fn streamed_json_equals_the_report_model() {
        let e = sample();
        let streamed = ReportStream {
            image: "x.raw",
            format: ImageFormat::Squashfs,
            entries: &e,
        };
        let model = to_report("x.raw", ImageFormat::Squashfs, &e);
        assert_eq!(
            serde_json::to_string_pretty(&streamed).unwrap(),
            serde_json::to_string_pretty(&model).unwrap()
        );
        let back: FilesReport =
            serde_json::from_str(&serde_json::to_string(&streamed).unwrap()).unwrap();
        assert_eq!(back, model);
    }

    #[test]
    fn streamed_mtree_equals_rendered() {
        let e = sample();
        let mut out = Vec::new();
        write_mtree(&e, &mut out).unwrap();
        assert_eq!(String::from_utf8(out).unwrap(), render_mtree(&e));
        assert!(render_mtree(&e)
            .contains("./bin\\xff\\x0a type=file mode=0755 uid=0 gid=0 size=3 sha256sum="));
    }

    #[test]
    fn escapes_like_systemd() {
        let mut s = String::new();
        mtree_escape(b"./a b\n\xff#;*?[\\x", &mut s);
        assert_eq!(s, "./a\\x20b\\x0a\\xff\\x23\\x3b\\x2a\\x3f\\x5b\\x5cx");
    }

    #[test]
    fn device_numbers() {
        assert_eq!(major_minor(0x0103), (1, 3));
        assert_eq!(
            major_minor((259u64 << 8) | 0x12 | (0x34500 << 12)),
            (259, 0x34512)
        );
    }
}
