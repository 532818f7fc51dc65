//! One entry of an image's file system with its exact bytes: what the `extwatch files` renderings
//! (the table, `systemd-dissect --mtree` lines, the [`crate::FileRecord`] JSON) are made from.
//!
//! [`crate::FileRecord`] is the JSON contract, lossy where JSON must be (UTF-8 strings, hex); this is
//! the in-memory form before that: names and link targets are bytes (an image may hold any byte but
//! `/` and NUL in a name), the mtime is seconds, the device number is split. The renderer needs
//! nothing else, so it does not depend on the crate that reads images.

use crate::FileType;

/// One entry of an image's file system, as read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileEntry {
    /// Absolute path inside the image, `/` for the root directory.
    pub path: Vec<u8>,
    /// Entry type.
    pub file_type: FileType,
    /// Permission bits including setuid/setgid/sticky (`mode & 0o7777`).
    pub mode: u32,
    /// Owner uid.
    pub uid: u32,
    /// Owner gid.
    pub gid: u32,
    /// Size in bytes (file content length; symlink target length; else 0).
    pub size: u64,
    /// Modification time, seconds since the epoch.
    pub mtime: i64,
    /// `(major, minor)` of character and block devices, else `None`.
    pub device: Option<(u64, u64)>,
    /// Symlink target, not resolved.
    pub link_target: Option<Vec<u8>>,
    /// `security.capability` xattr.
    pub capability: Option<Vec<u8>>,
    /// `security.selinux` xattr, as stored (a trailing NUL included when the image has one).
    pub selinux: Option<Vec<u8>>,
    /// overlayfs opaque directory.
    pub opaque: bool,
    /// overlayfs whiteout.
    pub whiteout: bool,
    /// SHA-256 of a regular file's content, when it was hashed.
    pub sha256: Option<[u8; 32]>,
}
