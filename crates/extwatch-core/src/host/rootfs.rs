//! Read-only access to an audited root, with every path resolved *inside* it.
//!
//! **One confinement path.** Every access below the audited root — discovery, images, directory
//! images, the base beneath an overlay, the merged view, evidence hashing, `--baseline` — goes
//! through a [`RootFs`]: a directory file descriptor, and `openat2(2)` relative to it with
//! `RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS`. The kernel treats that directory as `/` for absolute
//! symlinks and `..`, exactly like systemd's `chase()` with `--root` (≥v256), so a hostile symlink such
//! as `/etc/extensions/x.raw -> /etc/shadow`, `/usr -> ../../../..` or a search directory pointing at
//! an absolute host path can never leave the audited tree, even under concurrent renames. A
//! directory image or a hierarchy is a [`RootFs::subroot`]: a descriptor obtained by resolving inside
//! the parent root, never a host path re-opened. The host path of a root is kept only to *display*
//! it ([`RootFs::display_path`], [`RootFs::display`]); nothing opens it — except the top-level root
//! itself, which [`RootFs::reopen`] opens again by its host path, checking that it is the same
//! directory, when the base must be read in a private mount namespace (see `overlay.rs`).
//!
//! **Only regular files and directories are ever opened.** Opening a device node runs its driver
//! (a tape rewinds; an offline root's `/dev/sda` node *is the auditing machine's disk*), opening a FIFO
//! without `O_NONBLOCK` waits for a writer, and even a non-blocking open is an observable side effect.
//! So a file is first opened `O_PATH` (which never calls the driver's `open` and never blocks),
//! `fstat`ed, and only when it is a regular file re-opened for reading through `/proc/self/fd/N`.
//! That re-open follows the descriptor's magic link to the *same* inode — the file type of an inode
//! never changes — so no rename or swap between the check and the open can substitute a FIFO or a
//! device; re-resolving the name instead would leave exactly that race open. Directories are opened
//! with `O_DIRECTORY`, which the kernel refuses for anything else before any driver is involved.
//! Everything else (devices, FIFOs, sockets) is only ever `stat`ed and reported. Extended attributes
//! are read with `getxattr` on the `/proc/self/fd/N` path of the `O_PATH` descriptor (no open either).
//! Without `/proc` the re-open fails and the file is reported unreadable: fail closed. Nothing here
//! writes.

use std::ffi::OsStr;
use std::fs::File;
use std::io::{self, Read};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use rustix::fs::{AtFlags, FileType, Mode, OFlags, ResolveFlags, Stat};

/// Most directory entries read from one directory of the root.
pub const MAX_DIR_ENTRIES: usize = 100_000;

/// A directory opened as the root of all lookups.
#[derive(Debug)]
pub struct RootFs {
    /// `O_PATH` descriptor of the root directory.
    dir: OwnedFd,
    /// How the root is shown in messages (for a subroot: the parent's display path joined with the
    /// in-parent path). Never opened.
    display: PathBuf,
    /// For a top-level root (opened from an operator-given path, not a [`RootFs::subroot`]): the
    /// kernel's path of `dir` when it was opened, which only [`RootFs::reopen`] opens.
    top: Option<PathBuf>,
}

const RESOLVE: ResolveFlags = ResolveFlags::IN_ROOT.union(ResolveFlags::NO_MAGICLINKS);

impl RootFs {
    /// Opens `path` (a directory on the host, named by the operator) as a root.
    pub fn open(path: &Path) -> io::Result<RootFs> {
        let display = std::fs::canonicalize(path)?;
        let dir = rustix::fs::open(
            &display,
            OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )?;
        let top = Some(fd_path(&dir).unwrap_or_else(|_| display.clone()));
        Ok(RootFs { dir, display, top })
    }

    /// Opens a top-level root again by the kernel's path of its descriptor — for a thread that has
    /// entered a new mount namespace, whose mounts an old descriptor does not see — and checks that it
    /// is the same directory (device and inode). Fails for a subroot: those are only ever reached by
    /// resolving inside a root.
    pub fn reopen(&self) -> io::Result<RootFs> {
        let Some(path) = &self.top else {
            return Err(io::Error::other(
                "internal: only a top-level root can be re-opened",
            ));
        };
        let dir = rustix::fs::open(
            path,
            OFlags::PATH | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::empty(),
        )?;
        let (a, b) = (rustix::fs::fstat(&self.dir)?, rustix::fs::fstat(&dir)?);
        if (a.st_dev, a.st_ino) != (b.st_dev, b.st_ino) {
            return Err(io::Error::other(format!(
                "{} is no longer the audited root directory",
                self.display.display()
            )));
        }
        Ok(RootFs {
            dir,
            display: self.display.clone(),
            top: self.top.clone(),
        })
    }

    /// The root's path on the host, **for display only** (nothing may open it: a path string is
    /// re-resolved by the host, outside the root).
    pub fn display_path(&self) -> &Path {
        &self.display
    }

    /// The root directory's descriptor (`O_PATH`), for walkers that resolve relative to it.
    pub fn dir_fd(&self) -> BorrowedFd<'_> {
        self.dir.as_fd()
    }

    /// True when this is the host's own `/`.
    pub fn is_host_root(&self) -> bool {
        self.display == Path::new("/")
    }

    /// The host path of `p` (inside the root), for messages.
    pub fn display(&self, p: &str) -> String {
        let rel = p.trim_start_matches('/');
        self.display.join(rel).display().to_string()
    }

    fn openat(&self, p: &str, flags: OFlags) -> io::Result<OwnedFd> {
        openat_in(self.dir.as_fd(), p.as_bytes(), flags, RESOLVE)
    }

    /// Opens a sub-directory as a root of its own (symlinks inside a directory image resolve against the
    /// image, as systemd does when it chases inside an extension). The descriptor is resolved inside
    /// this root.
    pub fn subroot(&self, p: &str) -> io::Result<RootFs> {
        let dir = self.openat(p, OFlags::PATH | OFlags::DIRECTORY)?;
        let display = self.display.join(p.trim_start_matches('/'));
        Ok(RootFs {
            dir,
            display,
            top: None,
        })
    }

    /// An `O_PATH` descriptor of the directory `p` (symlinks followed inside the root): for `statx`,
    /// mount ids and `/proc/self/fd` paths; nothing can be read through it.
    pub fn open_path_dir(&self, p: &str) -> io::Result<OwnedFd> {
        self.openat(p, OFlags::PATH | OFlags::DIRECTORY)
    }

    /// `lstat` inside the root: the parent is resolved in the root, the last component is not followed.
    /// `Ok(None)` when it does not exist.
    pub fn lstat(&self, p: &str) -> io::Result<Option<Stat>> {
        let (parent, name) = split_parent(p);
        let dir = match self.openat(parent, OFlags::PATH | OFlags::DIRECTORY) {
            Ok(d) => d,
            Err(e) if not_found(&e) => return Ok(None),
            Err(e) => return Err(e),
        };
        let r = if name.is_empty() {
            rustix::fs::fstat(&dir)
        } else {
            rustix::fs::statat(&dir, name, AtFlags::SYMLINK_NOFOLLOW)
        };
        match r {
            Ok(st) => Ok(Some(st)),
            Err(e) => {
                let e = io::Error::from(e);
                if not_found(&e) {
                    Ok(None)
                } else {
                    Err(e)
                }
            }
        }
    }

    /// `stat` inside the root, following symlinks inside it. `Ok(None)` when it (or its target) does not
    /// exist.
    pub fn stat(&self, p: &str) -> io::Result<Option<Stat>> {
        match self.openat(p, OFlags::PATH) {
            Ok(fd) => Ok(Some(rustix::fs::fstat(&fd)?)),
            Err(e) if not_found(&e) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// True when `p` is the root of a mount (statx `STATX_ATTR_MOUNT_ROOT`).
    pub fn is_mount_point(&self, p: &str) -> io::Result<bool> {
        let fd = self.openat(p, OFlags::PATH)?;
        let stx = rustix::fs::statx(
            &fd,
            "",
            AtFlags::EMPTY_PATH,
            rustix::fs::StatxFlags::BASIC_STATS,
        )?;
        let mask = rustix::fs::StatxAttributes::MOUNT_ROOT;
        if !stx.stx_attributes_mask.contains(mask) {
            return Err(io::Error::other(
                "kernel does not report STATX_ATTR_MOUNT_ROOT",
            ));
        }
        Ok(stx.stx_attributes.contains(mask))
    }

    /// Entries of a directory (following symlinks inside the root to reach it), with their `d_type`,
    /// sorted by name. At most `MAX_DIR_ENTRIES`.
    pub fn read_dir(&self, p: &str) -> io::Result<Vec<(Vec<u8>, Option<FileType>)>> {
        let fd = self.openat(p, OFlags::RDONLY | OFlags::DIRECTORY)?;
        let mut dir = rustix::fs::Dir::read_from(&fd)?;
        let mut out = Vec::new();
        while let Some(entry) = dir.read() {
            let entry = entry?;
            let name = entry.file_name().to_bytes();
            if name == b"." || name == b".." {
                continue;
            }
            if out.len() >= MAX_DIR_ENTRIES {
                return Err(io::Error::other(format!(
                    "{} holds more than {MAX_DIR_ENTRIES} entries",
                    self.display(p)
                )));
            }
            let ft = entry.file_type();
            out.push((name.to_vec(), (ft != FileType::Unknown).then_some(ft)));
        }
        out.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(out)
    }

    /// Opens a regular file for reading (following symlinks inside the root). Anything else —
    /// device node, FIFO, socket, directory — is refused without being opened (module doc).
    pub fn open_file(&self, p: &str) -> io::Result<File> {
        // OS errors stay as they are (callers test for "not found"); ours name the path.
        open_regular_at(self.dir.as_fd(), p.as_bytes(), RESOLVE, false).map_err(|e| {
            if e.raw_os_error().is_some() {
                e
            } else {
                with_path(e, &self.display(p))
            }
        })
    }

    /// Reads a whole regular file of at most `max` bytes. `Ok(None)` when it does not exist; an error
    /// when it is larger.
    pub fn read_file(&self, p: &str, max: u64) -> io::Result<Option<Vec<u8>>> {
        let f = match self.open_file(p) {
            Ok(f) => f,
            Err(e) if not_found(&e) => return Ok(None),
            Err(e) => return Err(e),
        };
        let mut buf = Vec::new();
        f.take(max + 1).read_to_end(&mut buf)?;
        if buf.len() as u64 > max {
            return Err(io::Error::other(format!(
                "{} is larger than {max} bytes",
                self.display(p)
            )));
        }
        Ok(Some(buf))
    }

    /// Target of a symlink (not resolved).
    pub fn read_link(&self, p: &str) -> io::Result<Vec<u8>> {
        let (parent, name) = split_parent(p);
        let dir = self.openat(parent, OFlags::PATH | OFlags::DIRECTORY)?;
        Ok(rustix::fs::readlinkat(&dir, name, Vec::new())?.into_bytes())
    }

    /// The path `p` resolves to inside the root (symlinks followed inside it), absolute.
    pub fn resolve(&self, p: &str) -> io::Result<String> {
        let fd = self.openat(p, OFlags::PATH)?;
        // Both paths as the kernel names them now (a renamed root stays consistent).
        let base = fd_path(&self.dir)?;
        let link = fd_path(&fd)?;
        let rel = link
            .strip_prefix(&base)
            .map_err(|_| io::Error::other("resolved path left the root"))?;
        Ok(format!("/{}", rel.display()).replace("//", "/"))
    }

    /// An extended attribute of the file at `p` (symlinks followed inside the root); `Ok(None)` if unset.
    /// Read through the `O_PATH` descriptor: the file is never opened.
    pub fn xattr(&self, p: &str, name: &str) -> io::Result<Option<Vec<u8>>> {
        let fd = self.openat(p, OFlags::PATH)?;
        xattr_path_fd(&fd, name)
    }
}

/// `openat2(dir, p, flags, resolve)` with `O_CLOEXEC` (and `O_NOCTTY` unless `O_PATH`); `p` absolute
/// or relative to `dir`, `/` meaning `dir` itself.
fn openat_in(
    dir: BorrowedFd<'_>,
    p: &[u8],
    flags: OFlags,
    resolve: ResolveFlags,
) -> io::Result<OwnedFd> {
    let mut rel = p;
    while let Some(r) = rel.strip_prefix(b"/") {
        rel = r;
    }
    let rel = OsStr::from_bytes(if rel.is_empty() { b"." } else { rel });
    Ok(rustix::fs::openat2(
        dir,
        rel,
        // openat2 rejects O_PATH combined with anything but O_DIRECTORY/O_NOFOLLOW/O_CLOEXEC.
        if flags.contains(OFlags::PATH) {
            flags | OFlags::CLOEXEC
        } else {
            flags | OFlags::CLOEXEC | OFlags::NOCTTY
        },
        Mode::empty(),
        resolve,
    )?)
}

/// A human name of a file type, for messages.
pub fn type_name(ft: FileType) -> &'static str {
    match ft {
        FileType::RegularFile => "regular file",
        FileType::Directory => "directory",
        FileType::Symlink => "symbolic link",
        FileType::Fifo => "FIFO",
        FileType::Socket => "socket",
        FileType::CharacterDevice => "character device",
        FileType::BlockDevice => "block device",
        _ => "file of unknown type",
    }
}

/// The type of a special file, with the device number of a device node (`character device 1:3`).
pub fn special_kind(st: &Stat) -> String {
    let ft = FileType::from_raw_mode(st.st_mode);
    #[allow(clippy::unnecessary_cast)]
    let rdev = st.st_rdev as u64;
    match ft {
        FileType::CharacterDevice | FileType::BlockDevice => format!(
            "{} {}:{}",
            type_name(ft),
            rustix::fs::major(rdev),
            rustix::fs::minor(rdev)
        ),
        _ => type_name(ft).to_string(),
    }
}

/// Why a non-regular file is not read: its type (and device number), and that it was not opened.
pub fn not_regular(st: &Stat) -> String {
    let ft = FileType::from_raw_mode(st.st_mode);
    #[allow(clippy::unnecessary_cast)]
    let rdev = st.st_rdev as u64;
    match ft {
        FileType::CharacterDevice | FileType::BlockDevice => format!(
            "is a {} ({}:{}), not a regular file; device nodes are never opened",
            type_name(ft),
            rustix::fs::major(rdev),
            rustix::fs::minor(rdev)
        ),
        FileType::Fifo | FileType::Socket => format!(
            "is a {}, not a regular file; it is never opened",
            type_name(ft)
        ),
        _ => format!("is a {}, not a regular file", type_name(ft)),
    }
}

/// Opens the regular file `p` under `dir` for reading, race-free and without side effects: an
/// `O_PATH` open (`nofollow`: the last component must not be a symlink), `fstat`, and only for a
/// regular file a re-open of that very inode through `/proc/self/fd/N` (module doc). Anything else is
/// an error naming its type; it has not been opened.
pub fn open_regular_at(
    dir: BorrowedFd<'_>,
    p: &[u8],
    resolve: ResolveFlags,
    nofollow: bool,
) -> io::Result<File> {
    let mut flags = OFlags::PATH;
    if nofollow {
        flags |= OFlags::NOFOLLOW;
    }
    let fd = openat_in(dir, p, flags, resolve)?;
    reopen(&fd, false)
}

/// Opens a file the operator named on the auditing machine (`extwatch files IMAGE`, `extwatch verify
/// IMAGE`) the same way: a regular file, or a block device the operator named explicitly (their own
/// machine's device, not an audited root's node); never a FIFO, a socket or a character device.
pub fn open_operator_file(path: &Path) -> io::Result<File> {
    let fd = rustix::fs::open(path, OFlags::PATH | OFlags::CLOEXEC, Mode::empty())?;
    reopen(&fd, true)
}

/// `fstat` of an `O_PATH` descriptor, then the read-only re-open of the same inode when regular (or,
/// with `block`, a block device).
fn reopen(fd: &OwnedFd, block: bool) -> io::Result<File> {
    let st = rustix::fs::fstat(fd)?;
    let ft = FileType::from_raw_mode(st.st_mode);
    if ft != FileType::RegularFile && !(block && ft == FileType::BlockDevice) {
        return Err(io::Error::other(not_regular(&st)));
    }
    let f = rustix::fs::open(
        proc_fd(fd).as_path(),
        OFlags::RDONLY | OFlags::NOCTTY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| {
        io::Error::new(
            io::Error::from(e).kind(),
            format!("cannot re-open through /proc/self/fd (is /proc mounted?): {e}"),
        )
    })?;
    // Same inode, by construction; checked anyway so a surprise never goes unnoticed.
    let st2 = rustix::fs::fstat(&f)?;
    if (st.st_dev, st.st_ino) != (st2.st_dev, st2.st_ino) {
        return Err(io::Error::other("file changed while being opened"));
    }
    Ok(File::from(f))
}

/// `/proc/self/fd/N` of a descriptor.
fn proc_fd(fd: &impl AsRawFd) -> PathBuf {
    PathBuf::from(format!("/proc/self/fd/{}", fd.as_raw_fd()))
}

/// The kernel's path of an open descriptor.
fn fd_path(fd: &impl AsRawFd) -> io::Result<PathBuf> {
    std::fs::read_link(proc_fd(fd))
}

/// Prefixes an error with the path it is about (keeping its kind, so not-found stays not-found).
fn with_path(e: io::Error, shown: &str) -> io::Error {
    io::Error::new(e.kind(), format!("{shown}: {e}"))
}

/// Reads one xattr of the file an `O_PATH` descriptor names, through its `/proc/self/fd/N` path
/// (`fgetxattr` refuses `O_PATH` descriptors on older kernels), bounded to 64 KiB.
pub fn xattr_path_fd(fd: &OwnedFd, name: &str) -> io::Result<Option<Vec<u8>>> {
    let mut buf = vec![0u8; 65536];
    match rustix::fs::getxattr(proc_fd(fd).as_path(), name, &mut buf[..]) {
        Ok(n) => {
            buf.truncate(n);
            Ok(Some(buf))
        }
        Err(rustix::io::Errno::NODATA) | Err(rustix::io::Errno::OPNOTSUPP) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// Reads one xattr from an open file, bounded to 64 KiB.
pub fn xattr_fd(fd: impl AsFd, name: &str) -> io::Result<Option<Vec<u8>>> {
    let mut buf = vec![0u8; 65536];
    match rustix::fs::fgetxattr(fd, name, &mut buf[..]) {
        Ok(n) => {
            buf.truncate(n);
            Ok(Some(buf))
        }
        Err(rustix::io::Errno::NODATA) | Err(rustix::io::Errno::OPNOTSUPP) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

fn split_parent(p: &str) -> (&str, &str) {
    let p = p.trim_end_matches('/');
    match p.rfind('/') {
        Some(i) => (if i == 0 { "/" } else { &p[..i] }, &p[i + 1..]),
        None => ("/", p),
    }
}

fn not_found(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc_enoent) if libc_enoent == rustix::io::Errno::NOENT.raw_os_error()
            || libc_enoent == rustix::io::Errno::NOTDIR.raw_os_error()
            || libc_enoent == rustix::io::Errno::LOOP.raw_os_error()
    )
}

/// Joins an absolute in-root directory and an entry name.
pub fn join(dir: &str, name: &[u8]) -> String {
    let name = String::from_utf8_lossy(name);
    if dir.ends_with('/') {
        format!("{dir}{name}")
    } else {
        format!("{dir}/{name}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    /// A FIFO without a writer blocks any blocking open; a non-blocking open would still be an open.
    /// Both are refused after an `O_PATH` look, and `open_file` returns at once.
    #[test]
    fn special_files_are_never_opened() {
        let outer = tempfile::tempdir().unwrap();
        let root = outer.path();
        let fifo = root.join("fifo");
        rustix::fs::mknodat(
            rustix::fs::CWD,
            &fifo,
            FileType::Fifo,
            Mode::from_raw_mode(0o644),
            0,
        )
        .unwrap();
        symlink("fifo", root.join("link")).unwrap();
        std::fs::write(root.join("file"), b"data").unwrap();
        let r = RootFs::open(root).unwrap();
        for p in ["/fifo", "/link"] {
            let e = r.open_file(p).unwrap_err().to_string();
            assert!(e.contains("is a FIFO") && e.contains("never opened"), "{e}");
            assert!(r.read_file(p, 10).is_err());
        }
        let e = open_operator_file(&fifo).unwrap_err().to_string();
        assert!(e.contains("FIFO"), "{e}");
        assert!(r
            .open_file("/")
            .unwrap_err()
            .to_string()
            .contains("directory"));
        assert_eq!(r.read_file("/file", 10).unwrap().unwrap(), b"data");
        assert_eq!(r.xattr("/fifo", "user.nothing").unwrap(), None);
        // Not found stays not found (callers rely on it).
        assert!(r.read_file("/nope", 10).unwrap().is_none());
    }

    #[test]
    fn symlinks_never_leave_the_root() {
        let outer = tempfile::tempdir().unwrap();
        let root = outer.path().join("root");
        std::fs::create_dir_all(root.join("etc")).unwrap();
        std::fs::write(outer.path().join("secret"), b"outside").unwrap();
        std::fs::write(root.join("secret"), b"inside").unwrap();
        symlink("/secret", root.join("etc/abs")).unwrap();
        symlink("../../../../secret", root.join("etc/rel")).unwrap();
        symlink("/proc/self/root/etc/passwd", root.join("etc/magic")).unwrap();
        let r = RootFs::open(&root).unwrap();
        assert_eq!(r.read_file("/etc/abs", 100).unwrap().unwrap(), b"inside");
        assert_eq!(r.read_file("/etc/rel", 100).unwrap().unwrap(), b"inside");
        assert_eq!(r.resolve("/etc/abs").unwrap(), "/secret");
        assert!(r.read_file("/etc/magic", 100).unwrap().is_none());
        assert!(r.lstat("/etc/abs").unwrap().is_some());
        assert!(r.lstat("/nope/x").unwrap().is_none());
        assert!(r.read_file("/etc", 100).is_err());
        assert!(r.read_file("/secret", 3).is_err());
        assert_eq!(split_parent("/a/b"), ("/a", "b"));
        // A subroot is a descriptor resolved inside the root: `/etc/absdir -> /` is the root
        // itself, whatever the host's `/` holds.
        symlink("/", root.join("etc/absdir")).unwrap();
        let sub = r.subroot("/etc/absdir").unwrap();
        assert_eq!(sub.read_file("/secret", 100).unwrap().unwrap(), b"inside");
        assert_eq!(sub.resolve("/etc/abs").unwrap(), "/secret");
        // Re-opened top-level roots are the same directory; subroots are never re-opened by path.
        assert_eq!(
            r.reopen()
                .unwrap()
                .read_file("/secret", 100)
                .unwrap()
                .unwrap(),
            b"inside"
        );
        assert!(sub.reopen().is_err());
        assert_eq!(split_parent("/a"), ("/", "a"));
    }
}
