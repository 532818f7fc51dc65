//! One read-only file-system interface over every image format extwatch understands.
//!
//! [`open_image`] sniffs a `.raw` file (squashfs magic, erofs magic, or a GPT header making it a
//! Discoverable Disk Image), picks the partition systemd would use for an extension (see [`crate::ddi`])
//! and returns an [`FsReader`] over the file system inside. Paths are byte strings, absolute inside the
//! image (`/usr/lib/...`); readers never follow symlinks themselves.

use std::sync::Arc;

use crate::readat::ReadAt;

pub use crate::limits;

/// What went wrong reading an image.
#[derive(Debug, thiserror::Error)]
pub enum FsError {
    /// The bytes are not any format we know.
    #[error("not a squashfs, erofs or GPT disk image")]
    UnknownFormat,
    /// The image is recognised but malformed.
    #[error("malformed {format} image: {reason}")]
    Malformed {
        /// The format being parsed.
        format: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// A DDI without a partition systemd could use as an extension.
    #[error("disk image has no usable partition: {0}")]
    NoUsablePartition(String),
    /// A file or directory does not exist in the image.
    #[error("no such file in image: {0}")]
    NotFound(String),
    /// A path component is not a directory, or the entry has the wrong type.
    #[error("wrong file type in image: {0}")]
    WrongType(String),
    /// Content larger than the caller's cap.
    #[error("{what} exceeds the limit of {limit} bytes")]
    TooLarge {
        /// What was too large.
        what: String,
        /// The cap.
        limit: u64,
    },
    /// More items than the caller's cap.
    #[error("{what} exceeds the limit of {limit}")]
    TooMany {
        /// What there are too many of.
        what: String,
        /// The cap.
        limit: u64,
    },
    /// I/O error reading the underlying file.
    #[error("I/O error reading image: {0}")]
    Io(#[from] std::io::Error),
}

impl FsError {
    /// `path` is not a `what` (e.g. "regular file", "symlink").
    pub(crate) fn not_a(path: &[u8], what: &str) -> FsError {
        FsError::WrongType(format!("{} is not a {what}", String::from_utf8_lossy(path)))
    }
}

/// [`FsReader::read_file`]: refuses a `size` (the inode's) over `max` before reading, then collects
/// [`FsReader::read_file_chunks`], which delivers exactly `size` bytes or fails.
fn collect_file<F: FsReader + ?Sized>(
    fs: &F,
    path: &[u8],
    size: u64,
    max: u64,
) -> Result<Vec<u8>, FsError> {
    if size > max {
        return Err(FsError::TooLarge {
            what: String::from_utf8_lossy(path).into_owned(),
            limit: max,
        });
    }
    let mut out = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
    fs.read_file_chunks(path, &mut |c| {
        out.extend_from_slice(c);
        Ok(())
    })?;
    Ok(out)
}

/// File type of an entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EntryKind {
    /// Regular file.
    File,
    /// Directory.
    Dir,
    /// Symbolic link.
    Symlink,
    /// Character device (also overlayfs whiteouts, 0:0).
    CharDevice,
    /// Block device.
    BlockDevice,
    /// Named pipe.
    Fifo,
    /// Unix socket.
    Socket,
}

/// Metadata of one entry (what `lstat` would say).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// File type.
    pub kind: EntryKind,
    /// Permission bits incl. setuid/setgid/sticky (`mode & 0o7777`).
    pub mode: u32,
    /// Owner.
    pub uid: u32,
    /// Group.
    pub gid: u32,
    /// Size in bytes (file content length; symlink target length).
    pub size: u64,
    /// Modification time, seconds since the epoch.
    pub mtime: i64,
    /// Device number for device nodes (`major:minor` packed as Linux `makedev`), else 0.
    pub rdev: u64,
    /// Where a regular file's content is stored, when the reader knows: entries with the same id
    /// have the same bytes (hard links; squashfs files whose data mksquashfs stored once), so a
    /// hasher reads it once. A hard-link storm of a sparse multi-GiB file would otherwise cost its
    /// size once per link.
    pub content_id: Option<[u64; 3]>,
}

/// Extended attributes as (full name, value) pairs.
pub type Xattrs = Vec<(Vec<u8>, Vec<u8>)>;

/// Read-only access to the file system inside an image.
pub trait FsReader: Send + Sync {
    /// `lstat` of `path` (absolute inside the image); `Ok(None)` if it does not exist.
    fn stat(&self, path: &[u8]) -> Result<Option<Entry>, FsError>;
    /// Entries of a directory, excluding `.` and `..`, in on-disk order.
    fn read_dir(&self, path: &[u8]) -> Result<Vec<(Vec<u8>, Entry)>, FsError>;
    /// Streams the content of a regular file to `sink` in chunks of at most [`limits::CHUNK`] bytes,
    /// so a file of any size is read in bounded memory (hashing a multi-GiB file, a decompression
    /// bomb). Returns the number of bytes delivered, which equals the inode's size or the call fails.
    fn read_file_chunks(
        &self,
        path: &[u8],
        sink: &mut dyn FnMut(&[u8]) -> Result<(), FsError>,
    ) -> Result<u64, FsError>;
    /// The whole content of a regular file, failing with `TooLarge`, before reading, when its size
    /// is over `max` bytes.
    fn read_file(&self, path: &[u8], max: u64) -> Result<Vec<u8>, FsError> {
        match self.stat(path)? {
            Some(e) if e.kind == EntryKind::File => collect_file(self, path, e.size, max),
            Some(_) => Err(FsError::not_a(path, "regular file")),
            None => Err(FsError::NotFound(
                String::from_utf8_lossy(path).into_owned(),
            )),
        }
    }
    /// Target of a symlink.
    fn read_link(&self, path: &[u8]) -> Result<Vec<u8>, FsError>;
    /// Extended attributes of an entry, full names (`user.x`, `security.capability`).
    fn xattrs(&self, path: &[u8]) -> Result<Xattrs, FsError>;
    /// One xattr by full name.
    fn xattr(&self, path: &[u8], name: &[u8]) -> Result<Option<Vec<u8>>, FsError> {
        Ok(self
            .xattrs(path)?
            .into_iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v))
    }
}

/// The container format of a raw image.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RawFormat {
    /// Naked squashfs.
    Squashfs,
    /// Naked erofs.
    Erofs,
    /// GPT Discoverable Disk Image.
    Ddi,
}

/// An opened raw image: its format, the DDI layout when it is one, and the file system inside.
pub struct OpenedImage {
    /// Container format.
    pub format: RawFormat,
    /// The file system inside (for a DDI: the partition systemd would mount).
    pub fs: Box<dyn FsReader>,
    /// Partition layout, for DDIs.
    pub ddi: Option<crate::ddi::Ddi>,
    /// The file system type inside (`squashfs`, `erofs`).
    pub fstype: &'static str,
}

/// Sniffs and opens a raw image. `arch` is systemd's architecture name (`x86-64`, `arm64`, ...) used to
/// choose among architecture-specific DDI partitions.
pub fn open_image(src: Arc<dyn ReadAt>, arch: &str) -> Result<OpenedImage, FsError> {
    crate::ddi::open_any(src, arch)
}

/// The components of an image path, lexically: empty and `.` components dropped, `..` going up
/// (never above the root). Every reader resolves paths this way, so `a/../b` means the same in
/// each. `Err(max_depth)` when more than `max_depth` components would be kept.
pub(crate) fn lexical_components(path: &[u8], max_depth: usize) -> Result<Vec<&[u8]>, usize> {
    let mut parts: Vec<&[u8]> = Vec::new();
    for c in path.split(|&b| b == b'/') {
        match c {
            b"" | b"." => {}
            b".." => {
                parts.pop();
            }
            _ if parts.len() >= max_depth => return Err(max_depth),
            c => parts.push(c),
        }
    }
    Ok(parts)
}
