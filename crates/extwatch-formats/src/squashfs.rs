//! squashfs reader: [`FsReader`] over a squashfs 4.0 image, built on `backhand`.
//!
//! backhand parses the superblock, inode/directory tables and file data for every compressor the
//! kernel supports (gzip, lzo, lz4, xz, zstd); we add what it lacks:
//!
//! * **xattrs** — backhand has no xattr support, so our `squashfs_xattr` module reads the xattr id table
//!   and key/value stream itself, and we map each path to its inode's xattr index by walking
//!   backhand's decompressed directory table;
//! * **lzma** (compressor id 2, which mksquashfs offers but the kernel cannot mount) via `lzma-rs`, by
//!   plugging our own `CompressionAction` into backhand;
//! * **bounds** — a pre-flight scan of the inode table (`squashfs_xattr::prescan_inodes`)
//!   before backhand sees it, a bounded decompressor, and a `ReadAt` adapter so backhand never seeks
//!   a shared file cursor.

use std::collections::{HashMap, HashSet};

use sha2::Digest;
use std::io::{self, BufRead, Read, Seek, SeekFrom};
use std::path::Path;
use std::sync::Arc;

use backhand::compression::{CompressionAction, Compressor, DefaultCompressor};
use backhand::kind::Kind;
use backhand::{
    BackhandError, FilesystemCompressor, FilesystemReader, InnerNode, Squashfs, SuperBlock,
};

use crate::fsimage::{limits, Entry, EntryKind, FsError, FsReader};
use crate::readat::ReadAt;
use crate::squashfs_xattr::{malformed, prescan_inodes, Prescan, Super, XattrTable, NO_XATTR};

/// Fragment blocks kept decompressed (at most 1 MiB each).
const FRAGMENT_CACHE: usize = 8;

/// `frag_index` of a file without a fragment.
const NO_FRAGMENT: u32 = 0xffff_ffff;

/// Adapts a [`ReadAt`] to the `BufRead + Seek` backhand wants, with a private cursor and buffer.
pub struct ReadAtCursor {
    src: Arc<dyn ReadAt>,
    pos: u64,
    buf: Vec<u8>,
    buf_pos: usize,
    buf_len: usize,
}

impl ReadAtCursor {
    /// A cursor at offset 0 of `src`.
    pub fn new(src: Arc<dyn ReadAt>) -> Self {
        ReadAtCursor {
            src,
            pos: 0,
            buf: vec![0u8; 64 * 1024],
            buf_pos: 0,
            buf_len: 0,
        }
    }
}

impl Read for ReadAtCursor {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        let avail = self.fill_buf()?;
        let n = avail.len().min(out.len());
        out[..n].copy_from_slice(&avail[..n]);
        self.consume(n);
        Ok(n)
    }
}

impl BufRead for ReadAtCursor {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        if self.buf_pos >= self.buf_len {
            self.buf_len = self.src.read_at(self.pos, &mut self.buf)?;
            self.buf_pos = 0;
        }
        Ok(&self.buf[self.buf_pos..self.buf_len])
    }
    fn consume(&mut self, amt: usize) {
        let amt = amt.min(self.buf_len - self.buf_pos);
        self.buf_pos += amt;
        self.pos += amt as u64;
    }
}

impl Seek for ReadAtCursor {
    fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
        let target = match to {
            SeekFrom::Start(n) => Some(n),
            SeekFrom::End(d) => self.src.size().checked_add_signed(d),
            SeekFrom::Current(d) => self.pos.checked_add_signed(d),
        }
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "seek out of range"))?;
        // Keep the buffer when seeking inside it.
        let buf_start = self.pos - self.buf_pos as u64;
        if target >= buf_start && target < buf_start + self.buf_len as u64 {
            self.buf_pos = (target - buf_start) as usize;
        } else {
            self.buf_pos = 0;
            self.buf_len = 0;
        }
        self.pos = target;
        Ok(target)
    }
}

/// Decompresses `data` with squashfs compressor id `compressor`, failing if the output exceeds `max`.
pub(crate) fn decompress_bounded(
    compressor: u16,
    data: &[u8],
    max: usize,
) -> Result<Vec<u8>, String> {
    let id = match compressor {
        1 => Compressor::Gzip,
        2 => Compressor::Lzma,
        3 => Compressor::Lzo,
        4 => Compressor::Xz,
        5 => Compressor::Lz4,
        6 => Compressor::Zstd,
        other => return Err(format!("unknown compressor id {other}")),
    };
    let mut out = Vec::with_capacity(max);
    ExtCompressor
        .decompress(data, &mut out, id)
        .map_err(|e| e.to_string())?;
    if out.len() > max {
        return Err(format!("block decompresses to more than {max} bytes"));
    }
    Ok(out)
}

/// backhand's default compressor plus LZMA (squashfs compressor 2) through `lzma-rs`.
struct ExtCompressor;

static EXT_COMPRESSOR: ExtCompressor = ExtCompressor;

/// A writer that refuses to grow past a limit (decompression-bomb guard).
struct Bounded<'a> {
    out: &'a mut Vec<u8>,
    max: usize,
}

impl io::Write for Bounded<'_> {
    fn write(&mut self, b: &[u8]) -> io::Result<usize> {
        if self.out.len() + b.len() > self.max {
            return Err(io::Error::other("lzma block too large"));
        }
        self.out.extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl CompressionAction for ExtCompressor {
    type Error = BackhandError;
    type Compressor = Compressor;
    type FilesystemCompressor = FilesystemCompressor;
    type SuperBlock = SuperBlock;

    fn decompress(
        &self,
        bytes: &[u8],
        out: &mut Vec<u8>,
        compressor: Compressor,
    ) -> Result<(), BackhandError> {
        if compressor == Compressor::Lzma {
            // squashfs blocks are at most 1 MiB; the dictionary cannot usefully exceed that either.
            let opts = lzma_rs::decompress::Options {
                memlimit: Some(2 << 20),
                ..Default::default()
            };
            let mut input = bytes;
            let mut w = Bounded { out, max: 1 << 20 };
            return lzma_rs::lzma_decompress_with_options(&mut input, &mut w, &opts)
                .map_err(|_| BackhandError::CorruptedOrInvalidSquashfs);
        }
        DefaultCompressor.decompress(bytes, out, compressor)
    }

    fn compress(
        &self,
        bytes: &[u8],
        fc: FilesystemCompressor,
        block_size: u32,
    ) -> Result<Vec<u8>, BackhandError> {
        DefaultCompressor.compress(bytes, fc, block_size)
    }
}

fn bh_err(e: BackhandError) -> FsError {
    match e {
        BackhandError::StdIo(io) => FsError::Io(io),
        other => malformed(other.to_string()),
    }
}

/// Normalises an absolute image path to `/a/b` form; `..` pops lexically.
pub(crate) fn normalize(path: &[u8]) -> Vec<u8> {
    let mut parts: Vec<&[u8]> = Vec::new();
    for c in path.split(|&b| b == b'/') {
        match c {
            b"" | b"." => {}
            b".." => {
                parts.pop();
            }
            c => parts.push(c),
        }
    }
    let mut out = Vec::with_capacity(path.len() + 1);
    for p in &parts {
        out.push(b'/');
        out.extend_from_slice(p);
    }
    if out.is_empty() {
        out.push(b'/');
    }
    out
}

fn as_path(p: &[u8]) -> &Path {
    use std::os::unix::ffi::OsStrExt;
    Path::new(std::ffi::OsStr::from_bytes(p))
}

/// [`FsReader`] over a squashfs image.
pub struct SquashfsReader {
    src: Arc<dyn ReadAt>,
    fs: FilesystemReader<'static>,
    /// Normalised path → xattr index, for entries that have xattrs.
    xattr_index: HashMap<Vec<u8>, u32>,
    xattrs: Option<XattrTable>,
    /// Superblock compressor id and block size, for [`FsReader::read_file_chunks`].
    compressor: u16,
    block_size: u32,
    /// The last fragment blocks decompressed by `read_file_chunks` (start offset, bytes), newest
    /// last: files are usually read in image order, so consecutive small files share a block, and
    /// with one slot per hashing thread, threads reading the same image do not evict each other's.
    /// At most [`FRAGMENT_CACHE`] blocks, so memory stays bounded (backhand's own reader caches
    /// every fragment block it ever decompressed).
    fragments: std::sync::Mutex<Vec<(u64, Arc<Vec<u8>>)>>,
}

/// How a regular file's data is stored: everything [`FsReader::read_file_chunks`] reads it by,
/// besides the image-wide compressor, block size and fragment table.
struct Layout<'a> {
    /// Offset of the first data block.
    start: u64,
    /// Fragment index ([`NO_FRAGMENT`] for none).
    frag: u32,
    /// Offset of the file's tail inside the fragment block.
    offset: u32,
    /// File length.
    len: u64,
    /// Stored size and compression flag of each data block.
    sizes: &'a [backhand::DataSize],
}

fn layout(f: &backhand::SquashfsFileReader) -> Layout<'_> {
    use backhand::SquashfsFileReader as F;
    match f {
        F::Basic(b) => Layout {
            start: u64::from(b.blocks_start),
            frag: b.frag_index,
            offset: b.block_offset,
            len: u64::from(b.file_size),
            sizes: &b.block_sizes,
        },
        F::Extended(e) => Layout {
            start: e.blocks_start,
            frag: e.frag_index,
            offset: e.block_offset,
            len: e.file_size,
            sizes: &e.block_sizes,
        },
    }
}

impl Layout<'_> {
    /// [`Entry::content_id`]: 192 bits of SHA-256 over the whole layout. Two inodes (hard links,
    /// or files mksquashfs stored once) get the same id only if they decode the same blocks the
    /// same way; comparing start offsets alone would let a hostile image give a file a different
    /// block list, and so different content, under the hash of a benign one.
    fn identity(&self) -> [u64; 3] {
        let mut h = sha2::Sha256::new();
        h.update(self.start.to_le_bytes());
        h.update(self.frag.to_le_bytes());
        h.update(self.offset.to_le_bytes());
        h.update(self.len.to_le_bytes());
        for ds in self.sizes {
            h.update(ds.size().to_le_bytes());
            h.update([u8::from(ds.uncompressed())]);
        }
        let d = h.finalize();
        let word = |i: usize| {
            let mut w = [0u8; 8];
            w.copy_from_slice(&d[i * 8..i * 8 + 8]);
            u64::from_le_bytes(w)
        };
        [word(0), word(1), word(2)]
    }
}

impl SquashfsReader {
    /// Opens the squashfs image at offset 0 of `src`.
    pub fn open(src: Arc<dyn ReadAt>) -> Result<Self, FsError> {
        Self::open_limited(src, limits::MAX_ENTRIES)
    }

    /// [`SquashfsReader::open`] refusing images with more than `max_entries` inodes or directory
    /// entries ([`FsError::TooMany`]), checked before the tree is indexed in memory.
    pub fn open_limited(src: Arc<dyn ReadAt>, max_entries: usize) -> Result<Self, FsError> {
        let sb = Super::read(&*src)?;
        if sb.bytes_used > src.size() {
            return Err(malformed("image is truncated (bytes_used beyond end)"));
        }
        if sb.inode_count as usize > max_entries {
            return Err(FsError::TooMany {
                what: format!("inode count ({})", sb.inode_count),
                limit: max_entries as u64,
            });
        }
        let pre = prescan_inodes(&*src, &sb)?;
        let xattrs = XattrTable::read(&*src, &sb)?;
        let kind = Kind::new_v4(&EXT_COMPRESSOR);
        let sq =
            Squashfs::from_reader_with_offset_and_kind(ReadAtCursor::new(src.clone()), 0, kind)
                .map_err(bh_err)?;
        // Before backhand builds its tree (a node per directory entry): hard links make entries
        // outnumber inodes, so count them too.
        let xattr_index = scan_dirs(&sq, &pre, max_entries)?;
        let fs = sq.into_filesystem_reader().map_err(bh_err)?;
        Ok(SquashfsReader {
            src,
            fs,
            xattr_index,
            xattrs,
            compressor: sb.compressor,
            block_size: sb.block_size,
            fragments: std::sync::Mutex::new(Vec::with_capacity(FRAGMENT_CACHE)),
        })
    }

    fn node(&self, path: &[u8]) -> Option<&backhand::Node<backhand::SquashfsFileReader>> {
        let p = normalize(path);
        let p = as_path(&p);
        let nodes = &self.fs.root.nodes;
        nodes
            .binary_search_by(|n| n.fullpath.as_path().cmp(p))
            .ok()
            .and_then(|i| nodes.get(i))
    }

    /// The regular file at `path`.
    fn file(&self, path: &[u8]) -> Result<&backhand::SquashfsFileReader, FsError> {
        match self.node(path).map(|n| &n.inner) {
            Some(InnerNode::File(f)) => Ok(f),
            Some(_) => Err(FsError::not_a(path, "regular file")),
            None => Err(FsError::NotFound(
                String::from_utf8_lossy(path).into_owned(),
            )),
        }
    }

    /// The decompressed fragment block `index`, through the one-block cache.
    fn fragment(&self, index: u32) -> Result<Arc<Vec<u8>>, FsError> {
        let frag = self
            .fs
            .fragments
            .as_ref()
            .and_then(|f| f.get(index as usize))
            .ok_or_else(|| malformed(format!("fragment {index} does not exist")))?;
        if let Ok(c) = self.fragments.lock() {
            if let Some((_, data)) = c.iter().rev().find(|(at, _)| *at == frag.start) {
                return Ok(data.clone());
            }
        }
        let bs = self.block_size as usize;
        let size = frag.size.size() as usize;
        if size > bs {
            return Err(malformed(format!("fragment block of {size} bytes")));
        }
        let mut raw = vec![0u8; size];
        self.src.read_exact_at(frag.start, &mut raw)?;
        let data = if frag.size.uncompressed() {
            raw
        } else {
            decompress_bounded(self.compressor, &raw, bs).map_err(malformed)?
        };
        let data = Arc::new(data);
        if let Ok(mut c) = self.fragments.lock() {
            if c.len() >= FRAGMENT_CACHE {
                c.remove(0);
            }
            c.push((frag.start, data.clone()));
        }
        Ok(data)
    }

    fn entry(&self, node: &backhand::Node<backhand::SquashfsFileReader>) -> Entry {
        use std::os::unix::ffi::OsStrExt;
        let mut content_id = None;
        let (kind, size, rdev) = match &node.inner {
            InnerNode::File(f) => {
                content_id = Some(layout(f).identity());
                (EntryKind::File, f.file_len() as u64, 0)
            }
            InnerNode::Dir(_) => (EntryKind::Dir, 0, 0),
            InnerNode::Symlink(s) => (
                EntryKind::Symlink,
                s.link.as_os_str().as_bytes().len() as u64,
                0,
            ),
            InnerNode::CharacterDevice(d) => (EntryKind::CharDevice, 0, u64::from(d.device_number)),
            InnerNode::BlockDevice(d) => (EntryKind::BlockDevice, 0, u64::from(d.device_number)),
            InnerNode::NamedPipe => (EntryKind::Fifo, 0, 0),
            InnerNode::Socket => (EntryKind::Socket, 0, 0),
        };
        Entry {
            kind,
            mode: u32::from(node.header.permissions) & 0o7777,
            uid: node.header.uid,
            gid: node.header.gid,
            size,
            mtime: i64::from(node.header.mtime),
            rdev,
            content_id,
        }
    }
}

/// Walks the directory table from the root, recording path → xattr index for inodes with xattrs,
/// and fails when the tree has more than `max_entries` entries or its directory entries name more
/// than [`limits::MAX_BLOCK_REFS`] data blocks in all (a long block list hard-linked many times).
fn scan_dirs(
    sq: &Squashfs<'_>,
    pre: &Prescan,
    max_entries: usize,
) -> Result<HashMap<Vec<u8>, u32>, FsError> {
    let by_inode = &pre.xattrs;
    let mut block_refs = 0u64;
    use backhand::v4::inode::InodeInner;
    use backhand::Inode;

    fn dir_loc(inode: &Inode) -> Option<(u64, u32, usize)> {
        match &inode.inner {
            InodeInner::BasicDirectory(d) => Some((
                u64::from(d.block_index),
                u32::from(d.file_size),
                usize::from(d.block_offset),
            )),
            InodeInner::ExtendedDirectory(d) => Some((
                u64::from(d.block_index),
                d.file_size,
                usize::from(d.block_offset),
            )),
            _ => None,
        }
    }

    let mut out = HashMap::new();
    let root_no = sq.root_inode.header.inode_number;
    if let Some(&x) = by_inode.get(&root_no) {
        out.insert(b"/".to_vec(), x);
    }
    let mut visited = HashSet::new();
    let mut entries = 1usize;
    let mut stack: Vec<(Vec<u8>, Inode)> = vec![(Vec::new(), sq.root_inode.clone())];
    let (block_map, dir_bytes) = &sq.dir_blocks;
    while let Some((path, inode)) = stack.pop() {
        if !visited.insert(inode.header.inode_number) {
            return Err(malformed("directory loop"));
        }
        let Some((block, size, offset)) = dir_loc(&inode) else {
            continue;
        };
        if size < 4 {
            continue;
        }
        let start = block_map
            .get(&block)
            .and_then(|&o| usize::try_from(o).ok())
            .and_then(|o| o.checked_add(offset))
            .ok_or_else(|| malformed("directory points outside the directory table"))?;
        let bytes = dir_bytes
            .get(start..start.saturating_add(size as usize - 3))
            .ok_or_else(|| malformed("directory runs past the directory table"))?;
        let mut p = 0usize;
        let rd16 =
            |b: &[u8], at: usize| b.get(at..at + 2).map(|s| u16::from_le_bytes([s[0], s[1]]));
        let rd32 = |b: &[u8], at: usize| {
            b.get(at..at + 4)
                .map(|s| u32::from_le_bytes([s[0], s[1], s[2], s[3]]))
        };
        'headers: while let (Some(count), Some(base)) = (rd32(bytes, p), rd32(bytes, p + 8)) {
            if count > 256 {
                break;
            }
            p += 12;
            for _ in 0..=count {
                let (Some(ioff), Some(ty), Some(nsize)) =
                    (rd16(bytes, p + 2), rd16(bytes, p + 4), rd16(bytes, p + 6))
                else {
                    break 'headers;
                };
                let Some(name) = bytes.get(p + 8..p + 8 + usize::from(nsize) + 1) else {
                    break 'headers;
                };
                p += 8 + usize::from(nsize) + 1;
                let ino = i64::from(base) + i64::from(ioff as i16);
                let Ok(ino) = u32::try_from(ino) else {
                    return Err(malformed("bad inode number in directory"));
                };
                entries += 1;
                if entries > max_entries {
                    return Err(FsError::TooMany {
                        what: "entry count".into(),
                        limit: max_entries as u64,
                    });
                }
                if ty == 2 || ty == 9 {
                    block_refs += pre.blocks.get(&ino).copied().unwrap_or(0);
                    if block_refs > limits::MAX_BLOCK_REFS {
                        return Err(FsError::TooMany {
                            what: "data block references (blocks × hard links)".into(),
                            limit: limits::MAX_BLOCK_REFS,
                        });
                    }
                }
                let xattr = by_inode.get(&ino).copied().filter(|&x| x != NO_XATTR);
                let is_dir = ty == 1 || ty == 8;
                if xattr.is_none() && !is_dir {
                    continue;
                }
                let mut child = path.clone();
                child.push(b'/');
                child.extend_from_slice(name);
                if let Some(x) = xattr {
                    out.insert(child.clone(), x);
                }
                if is_dir {
                    if let Some(inode) = sq.inodes.get(&ino) {
                        stack.push((child, inode.clone()));
                    }
                }
            }
        }
    }
    Ok(out)
}

impl FsReader for SquashfsReader {
    fn stat(&self, path: &[u8]) -> Result<Option<Entry>, FsError> {
        Ok(self.node(path).map(|n| self.entry(n)))
    }

    fn read_dir(&self, path: &[u8]) -> Result<Vec<(Vec<u8>, Entry)>, FsError> {
        use std::os::unix::ffi::OsStrExt;
        let p = normalize(path);
        let nodes = &self.fs.root.nodes;
        let dir = as_path(&p);
        let idx = nodes
            .binary_search_by(|n| n.fullpath.as_path().cmp(dir))
            .map_err(|_| FsError::NotFound(String::from_utf8_lossy(&p).into_owned()))?;
        if !matches!(nodes.get(idx).map(|n| &n.inner), Some(InnerNode::Dir(_))) {
            return Err(FsError::WrongType(format!(
                "{} is not a directory",
                String::from_utf8_lossy(&p)
            )));
        }
        let mut out = Vec::new();
        for n in nodes.iter().skip(idx + 1) {
            if !n.fullpath.starts_with(dir) {
                break;
            }
            if n.fullpath.parent() != Some(dir) {
                continue;
            }
            if out.len() >= limits::MAX_DIR_ENTRIES {
                return Err(FsError::TooMany {
                    what: "directory entry count".into(),
                    limit: limits::MAX_DIR_ENTRIES as u64,
                });
            }
            let name = n
                .fullpath
                .file_name()
                .map(|s| s.as_bytes().to_vec())
                .unwrap_or_default();
            out.push((name, self.entry(n)));
        }
        Ok(out)
    }

    fn read_file_chunks(
        &self,
        path: &[u8],
        sink: &mut dyn FnMut(&[u8]) -> Result<(), FsError>,
    ) -> Result<u64, FsError> {
        let f = self.file(path)?;
        // We read the data blocks ourselves, straight from the inode's block list: one block at a
        // time (at most the block size, itself at most 1 MiB), sparse blocks as zeros without
        // reading, and the fragment through a one-block cache. Memory stays bounded whatever the
        // file size or the number of files (a decompression bomb costs time, not memory).
        let Layout {
            start,
            frag,
            offset,
            len,
            sizes,
        } = layout(f);
        let name = || String::from_utf8_lossy(path).into_owned();
        let bs = u64::from(self.block_size);
        if !(4096..=1 << 20).contains(&bs) {
            return Err(malformed(format!("block size {bs}")));
        }
        let mut pos = start;
        let mut left = len;
        let mut raw = Vec::new();
        let zeros = vec![0u8; limits::CHUNK];
        for ds in sizes {
            if left == 0 {
                return Err(malformed(format!("{}: more blocks than data", name())));
            }
            let want = left.min(bs) as usize;
            let size = u64::from(ds.size());
            if size == 0 {
                let mut n = want;
                while n > 0 {
                    let c = n.min(zeros.len());
                    sink(&zeros[..c])?;
                    n -= c;
                }
            } else {
                if size > bs {
                    return Err(malformed(format!("{}: block of {size} bytes", name())));
                }
                raw.resize(size as usize, 0);
                self.src.read_exact_at(pos, &mut raw)?;
                pos = pos.saturating_add(size);
                let data = if ds.uncompressed() {
                    std::mem::take(&mut raw)
                } else {
                    decompress_bounded(self.compressor, &raw, bs as usize)
                        .map_err(|e| malformed(format!("{}: {e}", name())))?
                };
                let part = data.get(..want).ok_or_else(|| {
                    malformed(format!("{}: block holds {} bytes", name(), data.len()))
                })?;
                for c in part.chunks(limits::CHUNK) {
                    sink(c)?;
                }
                if ds.uncompressed() {
                    raw = data;
                }
            }
            left -= want as u64;
        }
        if left > 0 {
            if frag == NO_FRAGMENT || left >= bs {
                return Err(malformed(format!(
                    "{}: {left} bytes beyond the data blocks",
                    name()
                )));
            }
            let block = self.fragment(frag)?;
            let from = offset as usize;
            let part = block
                .get(from..from.saturating_add(left as usize))
                .ok_or_else(|| malformed(format!("{}: fragment too short", name())))?;
            sink(part)?;
        }
        Ok(len)
    }

    fn read_link(&self, path: &[u8]) -> Result<Vec<u8>, FsError> {
        use std::os::unix::ffi::OsStrExt;
        let node = self
            .node(path)
            .ok_or_else(|| FsError::NotFound(String::from_utf8_lossy(path).into_owned()))?;
        match &node.inner {
            InnerNode::Symlink(s) => {
                let t = s.link.as_os_str().as_bytes();
                if t.len() > limits::MAX_LINK_LEN {
                    return Err(FsError::TooLarge {
                        what: "symlink target".into(),
                        limit: limits::MAX_LINK_LEN as u64,
                    });
                }
                Ok(t.to_vec())
            }
            _ => Err(FsError::not_a(path, "symlink")),
        }
    }

    fn xattrs(&self, path: &[u8]) -> Result<crate::fsimage::Xattrs, FsError> {
        if self.node(path).is_none() {
            return Err(FsError::NotFound(
                String::from_utf8_lossy(path).into_owned(),
            ));
        }
        let p = normalize(path);
        match (self.xattr_index.get(&p), &self.xattrs) {
            (Some(&idx), Some(table)) => table.get(&*self.src, idx),
            (Some(_), None) => Err(malformed(
                "inode has xattrs but the image has no xattr table",
            )),
            (None, _) => Ok(Vec::new()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use backhand::DataSize;

    #[test]
    fn content_identity_covers_the_whole_layout() {
        let sizes = [DataSize::new(100, false), DataSize::new(4096, true)];
        let base = Layout {
            start: 96,
            frag: NO_FRAGMENT,
            offset: 0,
            len: 8192,
            sizes: &sizes,
        };
        let id = base.identity();
        assert_eq!(id, Layout { ..base }.identity(), "deterministic");
        // Same start, length and fragment, but the blocks decode differently: a different id.
        let flipped = [DataSize::new(100, true), DataSize::new(4096, true)];
        let resized = [DataSize::new(101, false), DataSize::new(4096, true)];
        let hole = [DataSize::hole(), DataSize::new(4096, true)];
        for other in [&flipped[..], &resized[..], &hole[..], &sizes[..1]] {
            assert_ne!(
                id,
                Layout {
                    sizes: other,
                    ..base
                }
                .identity()
            );
        }
        assert_ne!(id, Layout { frag: 3, ..base }.identity());
        assert_ne!(id, Layout { offset: 8, ..base }.identity());
        assert_ne!(id, Layout { len: 8191, ..base }.identity());
        assert_ne!(id, Layout { start: 97, ..base }.identity());
    }
}
