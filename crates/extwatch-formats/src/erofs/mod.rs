//! erofs reader: [`FsReader`] over an erofs image, built on `erofs-rs`.
//!
//! Format: <https://docs.kernel.org/filesystems/erofs.html> and erofs-utils' `include/erofs_fs.h`.
//!
//! erofs-rs has two front ends. The synchronous one wants an `Image` that hands out *borrowed slices*
//! of the image (in practice an mmap, which SIGBUSes if an attacker truncates the file while we read
//! it). The asynchronous one wants only `read_exact_at(buf, offset)` — a pread. We use the latter over
//! our [`ReadAt`]: every read completes synchronously, so each future is ready on its first poll and
//! a ten-line executor (`block_on`) drives it without any runtime.
//!
//! **Lookups and cycles.** erofs-rs lists a directory by path (`read_dir`, which reads only that
//! directory's dirents) and does not expose lookup by inode, so we resolve paths ourselves,
//! iteratively, component by component, through bounded caches: directory listings keyed by inode
//! number (name → nid), and the last few resolved directory paths with the nid of every ancestor
//! ([`limits::PATH_CACHE`]), so a walk that lists `/a/b/c` after `/a/b` resolves one component. The
//! nid chain is also the cycle check: erofs has no directory hard links, so a directory whose nid is
//! already on the path from the root to it (two directories that are each other's child, or one
//! that holds itself — made by editing dirent nids) is a malformed image, refused with that reason
//! instead of being walked until the depth cap with an ever longer path per entry (issue 8: a 172 KB
//! image cost 2 GB). Paths are capped at [`limits::MAX_DEPTH`] components and
//! [`limits::MAX_PATH_LEN`] bytes, listings at [`limits::MAX_DIR_ENTRIES`]; a name that appears twice
//! in one directory is refused. erofs-rs itself refuses empty names, names longer than 255 bytes or
//! holding `/` or NUL, and unsorted dirent blocks; it drops every entry named `.` or `..` (so an extra
//! one cannot move a subtree), which we cannot see through its API.
//!
//! **Fragments.** `mkfs.erofs -E fragments` / `-E all-fragments` pack small files (and file tails)
//! into one shared compressed "packed inode". erofs-rs reads a fragment by decompressing the whole
//! packed-inode extent that holds it (up to 12 MiB with big `-C` clusters, lzma) and keeping only the
//! file's bytes — once per file, so an image of many small files decompressed the same cluster
//! hundreds of times (issue 14: 23 s and 45 s of CPU against 1.6 s without fragments; 231 s of CPU with
//! `-C1048576`). Files stored *entirely* in the packed inode (map header bit 7 of `h_clusterbits`,
//! `Z_EROFS_FRAGMENT_INODE_BIT`, with the 63-bit packed offset in the header) are therefore read here
//! from the packed inode through erofs-rs's file API, with a cache of decompressed packed-inode
//! extents ([`limits::FRAGMENT_CACHE`]): a miss decodes from the end of the last extent read when the
//! wanted offset is a little ahead of it (readers go through files in roughly the order mkfs packed
//! them), so each extent is decoded about once. Tails of larger files (fragment after regular
//! clusters) still go through erofs-rs: finding where the tail starts needs the file's compression
//! index, which erofs-rs does not expose, and they cost one packed-extent decode per large file.
//! Regular files are streamed with erofs-rs's sequential reader, which keeps the decoded extent
//! between reads instead of decoding it again for every [`limits::CHUNK`].
//!
//! Split by concern: this module holds the reader, its erofs-rs backend and the [`FsReader`] face;
//! `dir` resolves paths (listings cache, nid chains, the cycle and hard-link checks); `fragment`
//! reads files stored whole in the packed inode through the extent cache.

mod dir;
mod fragment;

#[cfg(test)]
mod tests;

use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};

use erofs_rs::backend::AsyncImage;
use erofs_rs::r#async::EroFS;
use erofs_rs::types::Inode;

use crate::fsimage::{limits, Entry, EntryKind, FsError, FsReader};
use crate::readat::ReadAt;
use dir::{components, Chain, Listings};
use fragment::Packed;

/// erofs superblock magic (little-endian at offset 1024).
pub const EROFS_MAGIC: u32 = 0xE0F5_E1E2;

/// `EROFS_FEATURE_INCOMPAT_FRAGMENTS`.
const FEATURE_FRAGMENTS: u32 = 0x20;
/// Inode numbers with this bit live in the metabox inode (erofs-utils 1.9), not at `meta_blkaddr`.
const NID_METABOX: u64 = 1 << 63;
/// How far past the end of the last decoded packed extent a fragment may start for the reader to
/// decode forward from there (each extent once) rather than jump to it.
const PACKED_READAHEAD: u64 = (limits::FRAGMENT_CACHE / 4) as u64;

fn show(path: &[u8]) -> String {
    if path.is_empty() {
        "/".into()
    } else {
        String::from_utf8_lossy(path).into_owned()
    }
}

fn cycle(dir: &[u8], name: &[u8], nid: u64) -> FsError {
    malformed(format!(
        "directory cycle: {}/{} (nid {nid}) is one of its own ancestors",
        String::from_utf8_lossy(dir),
        String::from_utf8_lossy(name)
    ))
}

fn makedev(major: u32, minor: u32) -> u64 {
    let (ma, mi) = (u64::from(major), u64::from(minor));
    ((ma & 0xffff_f000) << 32) | ((ma & 0xfff) << 8) | ((mi & 0xffff_ff00) << 12) | (mi & 0xff)
}

fn to_entry(inode: &Inode) -> Entry {
    use std::os::unix::fs::PermissionsExt;
    let raw = inode.file_type().as_raw_mode() & 0o170000;
    let kind = match raw {
        0o040000 => EntryKind::Dir,
        0o120000 => EntryKind::Symlink,
        0o020000 => EntryKind::CharDevice,
        0o060000 => EntryKind::BlockDevice,
        0o010000 => EntryKind::Fifo,
        0o140000 => EntryKind::Socket,
        _ => EntryKind::File,
    };
    let rdev = inode.device().map(|(ma, mi)| makedev(ma, mi)).unwrap_or(0);
    Entry {
        kind,
        mode: inode.permissions().mode() & 0o7777,
        uid: inode.uid(),
        gid: inode.gid(),
        size: inode.data_size(),
        mtime: inode.modified_unix().0,
        rdev,
        // Hard links share the inode (nid); erofs does not share data between inodes.
        content_id: (kind == EntryKind::File).then(|| [inode.id(), 0, inode.data_size()]),
    }
}

fn malformed(reason: impl Into<String>) -> FsError {
    FsError::Malformed {
        format: "erofs",
        reason: reason.into(),
    }
}

fn ef_err(e: erofs_rs::Error) -> FsError {
    match e {
        erofs_rs::Error::Io(io) => FsError::Io(io),
        erofs_rs::Error::PathNotFound(p) => FsError::NotFound(p),
        erofs_rs::Error::NotADirectory(p) => FsError::WrongType(format!("{p} is not a directory")),
        erofs_rs::Error::NotAFile(p) => FsError::WrongType(p),
        other => malformed(other.to_string()),
    }
}

/// Runs a future that never waits (all our I/O is synchronous) to completion.
fn block_on<F: Future>(f: F) -> Result<F::Output, FsError> {
    let mut f = std::pin::pin!(f);
    let mut cx = Context::from_waker(Waker::noop());
    match f.as_mut().poll(&mut cx) {
        Poll::Ready(v) => Ok(v),
        Poll::Pending => Err(malformed(
            "internal: erofs read did not complete synchronously",
        )),
    }
}

/// pread-based erofs-rs backend over a [`ReadAt`], showing erofs-rs the DEFLATE window size the
/// kernel uses (`windowbits` below 8 shows as 15: see the `erofs_cfg` module).
pub struct PreadImage {
    src: Arc<dyn ReadAt>,
    windowbits_at: Option<u64>,
}

impl PreadImage {
    /// A backend over `src` (whose superblock bytes at 1024.. are `sb`).
    fn new(src: Arc<dyn ReadAt>, sb: &[u8]) -> PreadImage {
        let windowbits_at = crate::erofs_cfg::deflate_windowbits_offset(sb, &mut |at, out| {
            src.read_exact_at(at, out).ok()
        });
        PreadImage { src, windowbits_at }
    }
}

impl AsyncImage for PreadImage {
    fn read_exact_at(
        &self,
        buf: &mut [u8],
        offset: u64,
    ) -> impl Future<Output = erofs_rs::Result<()>> + Send {
        let r = if buf.is_empty() {
            Ok(())
        } else {
            let r = self
                .src
                .read_exact_at(offset, buf)
                .map_err(erofs_rs::Error::Io);
            crate::erofs_cfg::normalise_windowbits(self.windowbits_at, offset, buf);
            r
        };
        std::future::ready(r)
    }
}

/// [`FsReader`] over an erofs image.
pub struct ErofsReader {
    fs: EroFS<PreadImage>,
    src: Arc<dyn ReadAt>,
    listings: Mutex<Listings>,
    chains: Mutex<VecDeque<Arc<Chain>>>,
    packed: Mutex<Packed>,
    /// Where each directory listed so far sits: its nid → (parent's nid, index in the parent's
    /// sorted listing). Directories cannot be hard-linked, so a directory met at a second place
    /// makes the tree a graph whose paths can double at every level (an 8 KiB image of 22 levels
    /// took over 5 minutes and 1.2 GB before the walk's entry cap): refused.
    placed: Mutex<HashMap<u64, (u64, u32)>>,
}

impl ErofsReader {
    /// Opens the erofs image at offset 0 of `src`.
    pub fn open(src: Arc<dyn ReadAt>) -> Result<Self, FsError> {
        // The superblock's block count must fit in the file: the kernel refuses a truncated image, and
        // reads past the end would otherwise look like zeroes to some code paths.
        let mut sb = [0u8; 128];
        src.read_exact_at(1024, &mut sb)?;
        let blkszbits = u32::from(sb[12]);
        let blocks = u64::from(u32::from_le_bytes([sb[36], sb[37], sb[38], sb[39]]));
        if !(9..=16).contains(&blkszbits) {
            return Err(malformed("block size out of range"));
        }
        let need = blocks << blkszbits;
        if need > src.size() {
            return Err(malformed(format!(
                "image is truncated: the superblock declares {need} bytes, the file has {}",
                src.size()
            )));
        }
        let fs = block_on(EroFS::new(PreadImage::new(src.clone(), &sb)))?.map_err(ef_err)?;
        // Fail early on an unreadable root.
        let root = block_on(fs.get_inode(fs.super_block().root_inode_id()))?.map_err(ef_err)?;
        if !root.is_dir() {
            return Err(malformed("root inode is not a directory"));
        }
        Ok(ErofsReader {
            fs,
            src,
            listings: Mutex::new(Listings::default()),
            chains: Mutex::new(VecDeque::new()),
            packed: Mutex::new(Packed::default()),
            placed: Mutex::new(HashMap::new()),
        })
    }

    fn inode(&self, nid: u64) -> Result<Inode, FsError> {
        block_on(self.fs.get_inode(nid))?.map_err(ef_err)
    }
}

impl FsReader for ErofsReader {
    fn stat(&self, path: &[u8]) -> Result<Option<Entry>, FsError> {
        Ok(self.lookup(path)?.map(|i| to_entry(&i)))
    }

    fn read_dir(&self, path: &[u8]) -> Result<Vec<(Vec<u8>, Entry)>, FsError> {
        let comps = components(path)?;
        let Some(chain) = self.dir_chain(&comps)? else {
            return Err(match self.lookup(path)? {
                Some(_) => FsError::WrongType(format!(
                    "{} is not a directory",
                    String::from_utf8_lossy(path)
                )),
                None => FsError::NotFound(String::from_utf8_lossy(path).into_owned()),
            });
        };
        Ok(self
            .list(&chain)?
            .into_iter()
            .map(|(n, i)| (n, to_entry(&i)))
            .collect())
    }

    fn read_file_chunks(
        &self,
        path: &[u8],
        sink: &mut dyn FnMut(&[u8]) -> Result<(), FsError>,
    ) -> Result<u64, FsError> {
        let inode = self.file(path)?;
        let len = inode.data_size();
        if len == 0 {
            return Ok(0);
        }
        if let Some(off) = self.whole_fragment(&inode)? {
            return self.read_fragment(path, off, len, sink);
        }
        // The sequential reader keeps the rest of a decoded extent between calls.
        let mut file = self.fs.open_inode_file(inode).map_err(ef_err)?;
        let mut buf = vec![0u8; limits::CHUNK];
        let mut off = 0u64;
        while off < len {
            let want = usize::try_from((len - off).min(limits::CHUNK as u64)).unwrap_or(0);
            let Some(chunk) = buf.get_mut(..want) else {
                break;
            };
            let n = block_on(file.read(chunk))?.map_err(ef_err)?;
            if n == 0 {
                return Err(malformed(format!(
                    "{}: data ends at {off} of {len} bytes",
                    String::from_utf8_lossy(path)
                )));
            }
            let n = n.min(want);
            off += n as u64;
            // n ≤ want = chunk.len().
            sink(chunk.get(..n).unwrap_or(chunk))?;
        }
        Ok(off)
    }

    fn read_link(&self, path: &[u8]) -> Result<Vec<u8>, FsError> {
        let inode = self.must(path)?;
        if !inode.is_symlink() {
            return Err(FsError::not_a(path, "symlink"));
        }
        if inode.data_size() > limits::MAX_LINK_LEN as u64 {
            return Err(FsError::TooLarge {
                what: "symlink target".into(),
                limit: limits::MAX_LINK_LEN as u64,
            });
        }
        let t = block_on(self.fs.read_link_inode(inode))?.map_err(ef_err)?;
        Ok(t.as_bytes().to_vec())
    }

    fn xattrs(&self, path: &[u8]) -> Result<crate::fsimage::Xattrs, FsError> {
        let inode = self.must(path)?;
        let map = block_on(self.fs.xattrs_inode(inode))?.map_err(ef_err)?;
        if map.len() > limits::MAX_XATTRS {
            return Err(FsError::TooLarge {
                what: "xattr count".into(),
                limit: limits::MAX_XATTRS as u64,
            });
        }
        Ok(map.into_iter().collect())
    }
}
