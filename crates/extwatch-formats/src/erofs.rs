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

use std::collections::{HashMap, HashSet, VecDeque};
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};

use erofs_rs::backend::AsyncImage;
use erofs_rs::r#async::EroFS;
use erofs_rs::types::{Inode, Layout};

use crate::fsimage::{limits, Entry, EntryKind, FsError, FsReader};
use crate::readat::ReadAt;

/// erofs superblock magic (little-endian at offset 1024).
pub const EROFS_MAGIC: u32 = 0xE0F5_E1E2;

/// `EROFS_FEATURE_INCOMPAT_FRAGMENTS`.
const FEATURE_FRAGMENTS: u32 = 0x20;
/// Inode numbers with this bit live in the metabox inode (erofs-utils 1.9), not at `meta_blkaddr`.
const NID_METABOX: u64 = 1 << 63;
/// How far past the end of the last decoded packed extent a fragment may start for the reader to
/// decode forward from there (each extent once) rather than jump to it.
const PACKED_READAHEAD: u64 = (limits::FRAGMENT_CACHE / 4) as u64;

/// One directory's children sorted by name: (name, nid, is a directory).
type Kids = Arc<Vec<(Vec<u8>, u64, bool)>>;

/// Recent directory listings by directory nid, bounded in total entries.
#[derive(Default)]
struct Listings {
    by_nid: HashMap<u64, Kids>,
    order: VecDeque<u64>,
    entries: usize,
}

impl Listings {
    fn get(&self, nid: u64) -> Option<Kids> {
        self.by_nid.get(&nid).cloned()
    }

    fn put(&mut self, nid: u64, kids: Kids) {
        self.entries += kids.len();
        if let Some(old) = self.by_nid.insert(nid, kids) {
            self.entries -= old.len();
            self.order.retain(|&n| n != nid);
        }
        self.order.push_back(nid);
        while (self.entries > limits::DIR_CACHE_ENTRIES
            || self.order.len() > limits::DIR_CACHE_LISTINGS)
            && self.order.len() > 2
        {
            if let Some(old) = self.order.pop_front().and_then(|n| self.by_nid.remove(&n)) {
                self.entries -= old.len();
            }
        }
    }
}

fn find(kids: &[(Vec<u8>, u64, bool)], name: &[u8]) -> Option<(u64, bool)> {
    kids.binary_search_by(|(n, _, _)| n.as_slice().cmp(name))
        .ok()
        .and_then(|i| kids.get(i))
        .map(|&(_, nid, dir)| (nid, dir))
}

/// A resolved directory path: `path` is `/a/b` (empty for the root), `ends[i]` is where component
/// `i` ends in it, `nids[0]` is the root and `nids[i + 1]` component `i`.
struct Chain {
    path: Vec<u8>,
    ends: Vec<usize>,
    nids: Vec<u64>,
}

impl Chain {
    fn component(&self, i: usize) -> &[u8] {
        let start = if i == 0 { 0 } else { self.ends[i - 1] };
        self.path.get(start + 1..self.ends[i]).unwrap_or_default()
    }

    /// How many leading components of `comps` this chain has resolved.
    fn shared(&self, comps: &[&[u8]]) -> usize {
        (0..self.ends.len().min(comps.len()))
            .take_while(|&i| self.component(i) == comps[i])
            .count()
    }

    fn nid(&self) -> u64 {
        self.nids.last().copied().unwrap_or(0)
    }

    /// The path as erofs-rs wants it.
    fn erofs_path(&self) -> &[u8] {
        if self.path.is_empty() {
            b"/"
        } else {
            &self.path
        }
    }
}

/// Decoded packed-inode extents (`(start offset, bytes)`, newest last) and where the last one ended.
#[derive(Default)]
struct Packed {
    inode: Option<Inode>,
    windows: VecDeque<(u64, Arc<Vec<u8>>)>,
    bytes: usize,
    cursor: Option<u64>,
}

/// The path's components: `.` and empty ones dropped, `..` going up (never above the root).
fn components(path: &[u8]) -> Result<Vec<&[u8]>, FsError> {
    if path.len() > limits::MAX_PATH_LEN {
        return Err(FsError::TooLarge {
            what: "erofs path length".into(),
            limit: limits::MAX_PATH_LEN as u64,
        });
    }
    let mut parts: Vec<&[u8]> = Vec::new();
    for c in path.split(|&b| b == b'/') {
        match c {
            b"" | b"." => {}
            b".." => {
                parts.pop();
            }
            c => {
                if parts.len() >= limits::MAX_DEPTH {
                    return Err(FsError::TooMany {
                        what: "erofs directory depth".into(),
                        limit: limits::MAX_DEPTH as u64,
                    });
                }
                parts.push(c);
            }
        }
    }
    Ok(parts)
}

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

    /// Lists the directory `chain` resolves to (children only, with their inodes), sorted by name,
    /// and keeps the listing for lookups. Refuses a child directory that is one of its ancestors.
    fn list(&self, chain: &Chain) -> Result<Vec<(Vec<u8>, Inode)>, FsError> {
        let mut walk = block_on(self.fs.read_dir(chain.erofs_path()))?.map_err(ef_err)?;
        let mut out = Vec::new();
        loop {
            let Some(next) = block_on(walk.next_entry())? else {
                break;
            };
            let e = next.map_err(ef_err)?;
            // `read_dir` is erofs-rs's walk with max_depth(1): it yields children only.
            if e.depth != 1 {
                continue;
            }
            if out.len() >= limits::MAX_DIR_ENTRIES {
                return Err(FsError::TooMany {
                    what: "directory entry count".into(),
                    limit: limits::MAX_DIR_ENTRIES as u64,
                });
            }
            out.push((e.dir_entry.file_name().to_vec(), e.inode));
        }
        out.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        if let Some(w) = out.windows(2).find(|w| w[0].0 == w[1].0) {
            return Err(malformed(format!(
                "{} holds two entries named {:?}",
                show(&chain.path),
                String::from_utf8_lossy(&w[0].0)
            )));
        }
        let ancestors: HashSet<u64> = chain.nids.iter().copied().collect();
        if let Some((name, inode)) = out
            .iter()
            .find(|(_, i)| i.is_dir() && ancestors.contains(&i.id()))
        {
            return Err(cycle(&chain.path, name, inode.id()));
        }
        if let Ok(mut placed) = self.placed.lock() {
            for (i, (name, inode)) in out.iter().enumerate().filter(|(_, (_, i))| i.is_dir()) {
                let here = (chain.nid(), u32::try_from(i).unwrap_or(u32::MAX));
                let first = *placed.entry(inode.id()).or_insert(here);
                if first != here {
                    return Err(malformed(format!(
                        "directory {}/{} (nid {}) is also reachable by another path: \
                         directories cannot be hard-linked",
                        String::from_utf8_lossy(&chain.path),
                        String::from_utf8_lossy(name),
                        inode.id()
                    )));
                }
            }
        }
        let kids: Kids = Arc::new(
            out.iter()
                .map(|(n, i)| (n.clone(), i.id(), i.is_dir()))
                .collect(),
        );
        if let Ok(mut l) = self.listings.lock() {
            l.put(chain.nid(), kids);
        }
        Ok(out)
    }

    /// The children of the directory `chain` resolves to, from the cache or a fresh listing.
    fn kids(&self, chain: &Chain) -> Result<Kids, FsError> {
        if let Some(k) = self.listings.lock().ok().and_then(|l| l.get(chain.nid())) {
            return Ok(k);
        }
        let listed = self.list(chain)?;
        Ok(Arc::new(
            listed
                .into_iter()
                .map(|(n, i)| {
                    let (id, dir) = (i.id(), i.is_dir());
                    (n, id, dir)
                })
                .collect(),
        ))
    }

    /// Resolves `comps` (all of which must be directories) to the nid of the root and of each, or
    /// `Ok(None)` when one is missing or not a directory. Iterative; starts from the longest
    /// resolved prefix kept in the path cache.
    fn dir_chain(&self, comps: &[&[u8]]) -> Result<Option<Arc<Chain>>, FsError> {
        let best = self.chains.lock().ok().and_then(|c| {
            c.iter()
                .map(|ch| (ch.shared(comps), ch.clone()))
                .max_by_key(|(n, _)| *n)
        });
        let (k, mut chain) = match best {
            Some((k, ch)) if k == comps.len() && ch.ends.len() == k => return Ok(Some(ch)),
            Some((k, ch)) => {
                let cut = if k == 0 { 0 } else { ch.ends[k - 1] };
                (
                    k,
                    Chain {
                        path: ch.path[..cut].to_vec(),
                        ends: ch.ends[..k].to_vec(),
                        nids: ch.nids[..=k].to_vec(),
                    },
                )
            }
            None => (
                0,
                Chain {
                    path: Vec::new(),
                    ends: Vec::new(),
                    nids: vec![self.fs.super_block().root_inode_id()],
                },
            ),
        };
        let mut ancestors: HashSet<u64> = chain.nids.iter().copied().collect();
        for name in &comps[k..] {
            let kids = self.kids(&chain)?;
            let Some((nid, is_dir)) = find(&kids, name) else {
                return Ok(None);
            };
            if !is_dir {
                return Ok(None);
            }
            if !ancestors.insert(nid) {
                return Err(cycle(&chain.path, name, nid));
            }
            chain.path.push(b'/');
            chain.path.extend_from_slice(name);
            chain.ends.push(chain.path.len());
            chain.nids.push(nid);
        }
        let chain = Arc::new(chain);
        if let Ok(mut c) = self.chains.lock() {
            c.retain(|old| old.path != chain.path);
            c.push_back(chain.clone());
            while c.len() > limits::PATH_CACHE {
                c.pop_front();
            }
        }
        Ok(Some(chain))
    }

    /// The inode at `path`, `Ok(None)` when absent.
    fn lookup(&self, path: &[u8]) -> Result<Option<Inode>, FsError> {
        let comps = components(path)?;
        let Some((name, parents)) = comps.split_last() else {
            return Ok(Some(self.inode(self.fs.super_block().root_inode_id())?));
        };
        let Some(chain) = self.dir_chain(parents)? else {
            return Ok(None);
        };
        let kids = self.kids(&chain)?;
        let Some((nid, is_dir)) = find(&kids, name) else {
            return Ok(None);
        };
        if is_dir && chain.nids.contains(&nid) {
            return Err(cycle(&chain.path, name, nid));
        }
        Ok(Some(self.inode(nid)?))
    }

    fn must(&self, path: &[u8]) -> Result<Inode, FsError> {
        self.lookup(path)?
            .ok_or_else(|| FsError::NotFound(String::from_utf8_lossy(path).into_owned()))
    }

    /// The regular file at `path`.
    fn file(&self, path: &[u8]) -> Result<Inode, FsError> {
        let inode = self.must(path)?;
        if inode.is_file() {
            Ok(inode)
        } else {
            Err(FsError::not_a(path, "regular file"))
        }
    }

    /// Where in the packed inode a file stored whole as a fragment starts, `None` for any other
    /// file (read through erofs-rs). Reads the 8-byte `z_erofs_map_header` that follows the inode
    /// and its xattrs (8-byte aligned): bit 7 of its last byte marks a whole-file fragment, the
    /// other 63 bits are the offset.
    fn whole_fragment(&self, inode: &Inode) -> Result<Option<u64>, FsError> {
        let sb = self.fs.super_block();
        let nid = inode.id();
        if sb.feature_incompat & FEATURE_FRAGMENTS == 0
            || sb.packed_nid == 0
            || sb.packed_nid == nid
            || nid & NID_METABOX != 0
            || !matches!(
                inode.layout(),
                Some(Layout::CompressedFull | Layout::CompressedCompact)
            )
        {
            return Ok(None);
        }
        let at = (u64::from(sb.meta_blk_addr) << sb.blk_size_bits)
            .checked_add(
                nid.checked_mul(32)
                    .ok_or_else(|| malformed("inode number overflows"))?,
            )
            .ok_or_else(|| malformed("inode offset overflows"))?;
        let mut format = [0u8; 2];
        self.src.read_exact_at(at, &mut format)?;
        let isize = if format[0] & 1 == 0 { 32 } else { 64 };
        let header = at
            .checked_add(isize + inode.xattr_size() as u64)
            .and_then(|h| h.checked_add(7))
            .ok_or_else(|| malformed("compression header offset overflows"))?
            & !7;
        let mut h = [0u8; 8];
        self.src.read_exact_at(header, &mut h)?;
        if h[7] & 0x80 == 0 {
            return Ok(None);
        }
        Ok(Some(u64::from_le_bytes(h) & !(1 << 63)))
    }

    /// The decoded packed-inode extent holding byte `pos` (its start offset and bytes).
    fn packed_window(&self, pos: u64) -> Result<(u64, Arc<Vec<u8>>), FsError> {
        let mut p = self
            .packed
            .lock()
            .map_err(|_| malformed("internal: fragment cache lock poisoned"))?;
        if let Some((s, d)) = p
            .windows
            .iter()
            .rev()
            .find(|(s, d)| *s <= pos && pos - *s < d.len() as u64)
        {
            return Ok((*s, d.clone()));
        }
        let packed = match p.inode {
            Some(i) => i,
            None => {
                let i = self.inode(self.fs.super_block().packed_nid)?;
                if !i.is_file() {
                    return Err(malformed("the packed inode is not a regular file"));
                }
                p.inode = Some(i);
                i
            }
        };
        let file = self.fs.open_inode_file(packed).map_err(ef_err)?;
        let mut at = match p.cursor {
            Some(c) if c <= pos && pos - c <= PACKED_READAHEAD => c,
            _ => pos,
        };
        loop {
            let room = packed.data_size().saturating_sub(at);
            let want = usize::try_from(room)
                .unwrap_or(usize::MAX)
                .min(limits::MAX_DECODED_EXTENT);
            if want == 0 {
                return Err(malformed(format!(
                    "fragment at {pos} is outside the packed inode of {} bytes",
                    packed.data_size()
                )));
            }
            let mut buf = vec![0u8; want];
            let n = block_on(file.read_at(&mut buf, at))?.map_err(ef_err)?;
            if n == 0 {
                return Err(malformed(format!("packed inode ends at {at}")));
            }
            buf.truncate(n);
            buf.shrink_to_fit();
            let data = Arc::new(buf);
            p.bytes += n;
            p.windows.push_back((at, data.clone()));
            while p.bytes > limits::FRAGMENT_CACHE && p.windows.len() > 1 {
                if let Some((_, old)) = p.windows.pop_front() {
                    p.bytes -= old.len();
                }
            }
            let start = at;
            at += n as u64;
            p.cursor = Some(at);
            if pos < at {
                return Ok((start, data));
            }
        }
    }

    /// Streams `len` bytes of the packed inode from `off` (a whole-file fragment) to `sink`.
    fn read_fragment(
        &self,
        path: &[u8],
        off: u64,
        len: u64,
        sink: &mut dyn FnMut(&[u8]) -> Result<(), FsError>,
    ) -> Result<u64, FsError> {
        let end = off.checked_add(len).ok_or_else(|| {
            malformed(format!(
                "{}: fragment range overflows",
                String::from_utf8_lossy(path)
            ))
        })?;
        let mut pos = off;
        while pos < end {
            let (start, data) = self.packed_window(pos)?;
            let from = usize::try_from(pos - start).unwrap_or(usize::MAX);
            let Some(avail) = data.get(from..) else {
                return Err(malformed(
                    "internal: fragment window does not hold its offset",
                ));
            };
            let take = avail
                .len()
                .min(usize::try_from(end - pos).unwrap_or(usize::MAX))
                .min(limits::CHUNK);
            let Some(piece) = avail.get(..take) else {
                break;
            };
            if piece.is_empty() {
                return Err(malformed(format!(
                    "{}: fragment data ends at {} of {len} bytes",
                    String::from_utf8_lossy(path),
                    pos - off
                )));
            }
            sink(piece)?;
            pos += take as u64;
        }
        Ok(pos - off)
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

    fn kids(n: usize) -> Kids {
        Arc::new(
            (0..n)
                .map(|i| (format!("f{i:08}").into_bytes(), i as u64, false))
                .collect(),
        )
    }

    #[test]
    fn listings_stay_bounded_and_keep_the_two_newest() {
        let big = limits::DIR_CACHE_ENTRIES;
        let mut l = Listings::default();
        l.put(1, kids(big));
        l.put(2, kids(big));
        assert!(l.get(1).is_some(), "two huge listings are both kept");
        l.put(3, kids(3));
        assert!(l.get(1).is_none(), "the oldest is evicted");
        assert!(l.get(2).is_some());
        assert_eq!(l.entries, big + 3);
        l.put(3, kids(5));
        assert_eq!(l.entries, big + 5, "re-listing replaces");
        for i in 0..limits::DIR_CACHE_LISTINGS * 2 {
            l.put(100 + i as u64, kids(1));
        }
        assert_eq!(l.order.len(), limits::DIR_CACHE_LISTINGS);
        assert_eq!(l.by_nid.len(), limits::DIR_CACHE_LISTINGS);
        assert_eq!(l.entries, limits::DIR_CACHE_LISTINGS);
    }

    #[test]
    fn find_by_name() {
        let k = kids(10);
        assert_eq!(find(&k, b"f00000007"), Some((7, false)));
        assert_eq!(find(&k, b"nope"), None);
    }

    #[test]
    fn components_normalise_and_cap() {
        assert_eq!(
            components(b"/a//./b/../c/").unwrap(),
            vec![&b"a"[..], &b"c"[..]]
        );
        assert!(components(b"/../..").unwrap().is_empty());
        let deep = b"/d".repeat(limits::MAX_DEPTH + 1);
        assert!(matches!(components(&deep), Err(FsError::TooMany { .. })));
        let long = vec![b'x'; limits::MAX_PATH_LEN + 1];
        assert!(matches!(components(&long), Err(FsError::TooLarge { .. })));
    }

    #[test]
    fn chain_shares_prefixes() {
        let c = Chain {
            path: b"/a/bb/c".to_vec(),
            ends: vec![2, 5, 7],
            nids: vec![1, 2, 3, 4],
        };
        assert_eq!(c.component(1), b"bb");
        assert_eq!(c.shared(&[b"a", b"bb", b"x"]), 2);
        assert_eq!(c.shared(&[b"a", b"bb", b"c", b"d"]), 3);
        assert_eq!(c.shared(&[b"b"]), 0);
        assert_eq!(c.nid(), 4);
    }
}
