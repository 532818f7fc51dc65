//! erofs reader: [`FsReader`] over an erofs image, built on `erofs-rs`.
//!
//! erofs-rs has two front ends. The synchronous one wants an `Image` that hands out *borrowed slices*
//! of the image (in practice an mmap, which SIGBUSes if an attacker truncates the file while we read
//! it). The asynchronous one wants only `read_exact_at(buf, offset)` — a pread. We use the latter over
//! our [`ReadAt`]: every read completes synchronously, so each future is ready on its first poll and
//! a ten-line executor (`block_on`) drives it without any runtime.
//!
//! erofs-rs resolves paths internally but does not expose lookup-by-path for non-files, so we look
//! entries up through directory listings and keep the most recent listings (name → nid, bounded in
//! total entries): a walk looks each child up right after listing its directory, and hashing goes
//! through files in walk order, so each directory is listed about twice whatever the image size.

use std::collections::VecDeque;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};

use erofs_rs::backend::AsyncImage;
use erofs_rs::r#async::EroFS;

use crate::fsimage::{limits, Entry, EntryKind, FsError, FsReader};
use crate::readat::ReadAt;
use crate::squashfs::normalize;

/// erofs superblock magic (little-endian at offset 1024).
pub const EROFS_MAGIC: u32 = 0xE0F5_E1E2;

/// Most directory entries kept across cached listings. The two newest listings are kept whatever
/// their size (each is at most [`limits::MAX_DIR_ENTRIES`]), so two threads alternating between two
/// huge directories do not re-list them on every lookup.
const MAX_CACHED_ENTRIES: usize = 1 << 16;

/// Most directory listings kept (each lookup scans them, newest first).
const MAX_LISTINGS: usize = 256;

/// One directory listing: normalised directory path, children sorted by name with their nids.
type Listing = (Vec<u8>, Vec<(Vec<u8>, u64)>);

/// Recent directory listings, newest last, and the number of children they hold.
#[derive(Default)]
struct Listings {
    dirs: VecDeque<Listing>,
    entries: usize,
}

impl Listings {
    /// `Some(nid or None)` when `dir`'s listing is kept, `None` when it is not.
    fn get(&self, dir: &[u8], name: &[u8]) -> Option<Option<u64>> {
        let (_, kids) = self.dirs.iter().rev().find(|(d, _)| d == dir)?;
        Some(
            kids.binary_search_by(|(n, _)| n.as_slice().cmp(name))
                .ok()
                .map(|i| kids[i].1),
        )
    }

    fn put(&mut self, dir: Vec<u8>, mut kids: Vec<(Vec<u8>, u64)>) {
        kids.sort_unstable();
        if let Some(i) = self.dirs.iter().position(|(d, _)| *d == dir) {
            if let Some((_, old)) = self.dirs.remove(i) {
                self.entries -= old.len();
            }
        }
        self.entries += kids.len();
        self.dirs.push_back((dir, kids));
        while (self.entries > MAX_CACHED_ENTRIES || self.dirs.len() > MAX_LISTINGS)
            && self.dirs.len() > 2
        {
            if let Some((_, old)) = self.dirs.pop_front() {
                self.entries -= old.len();
            }
        }
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

/// pread-based erofs-rs backend over a [`ReadAt`].
pub struct PreadImage(Arc<dyn ReadAt>);

impl AsyncImage for PreadImage {
    fn read_exact_at(
        &self,
        buf: &mut [u8],
        offset: u64,
    ) -> impl Future<Output = erofs_rs::Result<()>> + Send {
        let r = if buf.is_empty() {
            Ok(())
        } else {
            self.0
                .read_exact_at(offset, buf)
                .map_err(erofs_rs::Error::Io)
        };
        std::future::ready(r)
    }
}

/// [`FsReader`] over an erofs image.
pub struct ErofsReader {
    fs: EroFS<PreadImage>,
    listings: Mutex<Listings>,
}

fn makedev(major: u32, minor: u32) -> u64 {
    let (ma, mi) = (u64::from(major), u64::from(minor));
    ((ma & 0xffff_f000) << 32) | ((ma & 0xfff) << 8) | ((mi & 0xffff_ff00) << 12) | (mi & 0xff)
}

fn to_entry(inode: &erofs_rs::types::Inode) -> Entry {
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

impl ErofsReader {
    /// Opens the erofs image at offset 0 of `src`.
    pub fn open(src: Arc<dyn ReadAt>) -> Result<Self, FsError> {
        // The superblock's block count must fit in the file: the kernel refuses a truncated image, and
        // reads past the end would otherwise look like zeroes to some code paths.
        let mut sb = [0u8; 40];
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
        let fs = block_on(EroFS::new(PreadImage(src)))?.map_err(ef_err)?;
        // Fail early on an unreadable root.
        let root = block_on(fs.get_inode(fs.super_block().root_inode_id()))?.map_err(ef_err)?;
        if !root.is_dir() {
            return Err(malformed("root inode is not a directory"));
        }
        Ok(ErofsReader {
            fs,
            listings: Mutex::new(Listings::default()),
        })
    }

    /// Lists a directory (normalised path) and keeps the listing for lookups.
    fn list(&self, dir: &[u8]) -> Result<Vec<(Vec<u8>, erofs_rs::types::Inode)>, FsError> {
        let mut walk = block_on(self.fs.read_dir(dir))?.map_err(ef_err)?;
        let mut out = Vec::new();
        loop {
            let Some(next) = block_on(walk.next_entry())? else {
                break;
            };
            let e = next.map_err(ef_err)?;
            if e.depth != 1 {
                continue;
            }
            let name = e.dir_entry.file_name().to_vec();
            if name == b"." || name == b".." {
                continue;
            }
            if out.len() >= limits::MAX_DIR_ENTRIES {
                return Err(FsError::TooMany {
                    what: "directory entry count".into(),
                    limit: limits::MAX_DIR_ENTRIES as u64,
                });
            }
            out.push((name, e.inode));
        }
        let kids = out.iter().map(|(n, i)| (n.clone(), i.id())).collect();
        if let Ok(mut l) = self.listings.lock() {
            l.put(dir.to_vec(), kids);
        }
        Ok(out)
    }

    /// The inode at `path`, `Ok(None)` when absent.
    fn lookup(&self, path: &[u8]) -> Result<Option<erofs_rs::types::Inode>, FsError> {
        let p = normalize(path);
        if p == b"/" {
            let root = self.fs.super_block().root_inode_id();
            return Ok(Some(block_on(self.fs.get_inode(root))?.map_err(ef_err)?));
        }
        let cut = p.iter().rposition(|&b| b == b'/').unwrap_or(0);
        let (parent, name) = (&p[..cut], &p[cut + 1..]);
        let parent: &[u8] = if parent.is_empty() { b"/" } else { parent };
        let cached = self.listings.lock().ok().and_then(|l| l.get(parent, name));
        match cached {
            Some(Some(nid)) => return Ok(Some(block_on(self.fs.get_inode(nid))?.map_err(ef_err)?)),
            Some(None) => return Ok(None),
            None => {}
        }
        match self.lookup(parent)? {
            Some(inode) if inode.is_dir() => {}
            _ => return Ok(None),
        }
        Ok(self
            .list(parent)?
            .into_iter()
            .find(|(n, _)| n == name)
            .map(|(_, i)| i))
    }

    fn must(&self, path: &[u8]) -> Result<erofs_rs::types::Inode, FsError> {
        self.lookup(path)?
            .ok_or_else(|| FsError::NotFound(String::from_utf8_lossy(path).into_owned()))
    }

    /// The regular file at `path`.
    fn file(&self, path: &[u8]) -> Result<erofs_rs::types::Inode, FsError> {
        let inode = self.must(path)?;
        if inode.is_file() {
            Ok(inode)
        } else {
            Err(FsError::not_a(path, "regular file"))
        }
    }
}

impl FsReader for ErofsReader {
    fn stat(&self, path: &[u8]) -> Result<Option<Entry>, FsError> {
        Ok(self.lookup(path)?.map(|i| to_entry(&i)))
    }

    fn read_dir(&self, path: &[u8]) -> Result<Vec<(Vec<u8>, Entry)>, FsError> {
        let p = normalize(path);
        let inode = self.must(&p)?;
        if !inode.is_dir() {
            return Err(FsError::WrongType(format!(
                "{} is not a directory",
                String::from_utf8_lossy(&p)
            )));
        }
        Ok(self
            .list(&p)?
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
        let file = self.fs.open_inode_file(inode).map_err(ef_err)?;
        let mut buf = vec![0u8; limits::CHUNK];
        let mut off = 0u64;
        while off < len {
            let want = usize::try_from((len - off).min(limits::CHUNK as u64)).unwrap_or(0);
            let Some(chunk) = buf.get_mut(..want) else {
                break;
            };
            let n = block_on(file.read_at(chunk, off))?.map_err(ef_err)?;
            if n == 0 {
                return Err(malformed(format!(
                    "{}: data ends at {off} of {len} bytes",
                    String::from_utf8_lossy(path)
                )));
            }
            let n = n.min(want);
            off += n as u64;
            sink(&chunk[..n])?;
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

#[cfg(test)]
mod tests {
    use super::*;

    fn kids(n: usize) -> Vec<(Vec<u8>, u64)> {
        (0..n)
            .rev()
            .map(|i| (format!("f{i}").into_bytes(), i as u64))
            .collect()
    }

    #[test]
    fn listings_stay_bounded_and_keep_the_two_newest() {
        let mut l = Listings::default();
        l.put(b"/a".to_vec(), kids(MAX_CACHED_ENTRIES));
        l.put(b"/b".to_vec(), kids(MAX_CACHED_ENTRIES));
        assert_eq!(
            l.get(b"/a", b"f7"),
            Some(Some(7)),
            "two huge listings are both kept"
        );
        l.put(b"/c".to_vec(), kids(3));
        assert_eq!(l.get(b"/a", b"f7"), None, "the oldest is evicted");
        assert_eq!(l.get(b"/b", b"f9"), Some(Some(9)));
        assert_eq!(
            l.get(b"/c", b"nope"),
            Some(None),
            "a kept listing answers absence"
        );
        assert_eq!(l.entries, MAX_CACHED_ENTRIES + 3);
        l.put(b"/c".to_vec(), kids(5));
        assert_eq!(l.entries, MAX_CACHED_ENTRIES + 5, "re-listing replaces");
        for i in 0..MAX_LISTINGS * 2 {
            l.put(format!("/d{i}").into_bytes(), kids(1));
        }
        assert_eq!(l.dirs.len(), MAX_LISTINGS);
        assert_eq!(l.entries, MAX_LISTINGS);
    }
}
