//! Read-only access to an audited root, with every path resolved *inside* it.
//!
//! All lookups go through `openat2(2)` with `RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS`: the kernel treats
//! the root directory as `/` for absolute symlinks and `..`, exactly like systemd's `chase()` with
//! `--root` (≥v256), so a hostile symlink such as `/etc/extensions/x.raw -> /etc/shadow` or `../../..`
//! can never leave the audited tree, even under concurrent renames. Files are opened `O_RDONLY |
//! O_NONBLOCK | O_NOCTTY` (a FIFO planted in a search path cannot block the audit) and are checked to be
//! regular before they are read. Nothing here writes.

use std::ffi::OsStr;
use std::fs::File;
use std::io::{self, Read};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use rustix::fs::{AtFlags, FileType, Mode, OFlags, ResolveFlags, Stat};

/// Most directory entries read from one directory of the root.
pub const MAX_DIR_ENTRIES: usize = 100_000;

/// A directory opened as the root of all lookups.
#[derive(Debug)]
pub struct RootFs {
    dir: OwnedFd,
    host_path: PathBuf,
}

const RESOLVE: ResolveFlags = ResolveFlags::IN_ROOT.union(ResolveFlags::NO_MAGICLINKS);

impl RootFs {
    /// Opens `path` (a directory on the host) as a root.
    pub fn open(path: &Path) -> io::Result<RootFs> {
        let host_path = std::fs::canonicalize(path)?;
        let dir = rustix::fs::open(
            &host_path,
            OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )?;
        Ok(RootFs { dir, host_path })
    }

    /// The root's path on the host (canonical).
    pub fn host_path(&self) -> &Path {
        &self.host_path
    }

    /// True when this is the host's own `/`.
    pub fn is_host_root(&self) -> bool {
        self.host_path == Path::new("/")
    }

    /// The host path of `p` (inside the root), for messages.
    pub fn display(&self, p: &str) -> String {
        let rel = p.trim_start_matches('/');
        self.host_path.join(rel).display().to_string()
    }

    fn openat(&self, p: &str, flags: OFlags) -> io::Result<OwnedFd> {
        let rel = if p.trim_start_matches('/').is_empty() {
            "."
        } else {
            p
        };
        Ok(rustix::fs::openat2(
            &self.dir,
            rel,
            // openat2 rejects O_PATH combined with anything but O_DIRECTORY/O_NOFOLLOW/O_CLOEXEC.
            if flags.contains(OFlags::PATH) {
                flags | OFlags::CLOEXEC
            } else {
                flags | OFlags::CLOEXEC | OFlags::NOCTTY
            },
            Mode::empty(),
            RESOLVE,
        )?)
    }

    /// Opens a sub-directory as a root of its own (symlinks inside a directory image resolve against the
    /// image, as systemd does when it chases inside an extension).
    pub fn subroot(&self, p: &str) -> io::Result<RootFs> {
        let dir = self.openat(p, OFlags::PATH | OFlags::DIRECTORY)?;
        let host_path = self.host_path.join(p.trim_start_matches('/'));
        Ok(RootFs { dir, host_path })
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
    /// sorted by name. At most [`MAX_DIR_ENTRIES`].
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

    /// Opens a file for reading (following symlinks inside the root). Fails unless it is a regular file
    /// or a block device.
    pub fn open_file(&self, p: &str) -> io::Result<File> {
        let fd = self.openat(p, OFlags::RDONLY | OFlags::NONBLOCK)?;
        let st = rustix::fs::fstat(&fd)?;
        let ft = FileType::from_raw_mode(st.st_mode);
        if ft != FileType::RegularFile && ft != FileType::BlockDevice {
            return Err(io::Error::other(format!(
                "{} is not a regular file",
                self.display(p)
            )));
        }
        Ok(File::from(fd))
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
        let link = std::fs::read_link(format!("/proc/self/fd/{}", fd_num(&fd)))?;
        let rel = link
            .strip_prefix(&self.host_path)
            .map_err(|_| io::Error::other("resolved path left the root"))?;
        Ok(format!("/{}", rel.display()).replace("//", "/"))
    }

    /// An extended attribute of the file at `p` (symlinks followed inside the root); `Ok(None)` if unset.
    pub fn xattr(&self, p: &str, name: &str) -> io::Result<Option<Vec<u8>>> {
        let fd = self.openat(p, OFlags::RDONLY | OFlags::NONBLOCK)?;
        xattr_fd(&fd, name)
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

fn fd_num(fd: &OwnedFd) -> i32 {
    use std::os::fd::AsRawFd;
    fd.as_raw_fd()
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

/// An entry name as an OsStr (names are bytes on Linux).
pub fn os(name: &[u8]) -> &OsStr {
    OsStr::from_bytes(name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

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
        assert_eq!(split_parent("/a"), ("/", "a"));
    }
}
