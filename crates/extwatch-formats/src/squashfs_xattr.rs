//! Hand-written squashfs 4.0 pieces that `backhand` does not provide.
//!
//! * **Extended attributes.** backhand 0.25 has no xattr support at all (upstream issue #32), yet a
//!   security auditor must see `security.capability` file capabilities and systemd's
//!   `user.extension-release.strict`. This module reads the xattr id table and the key/value
//!   metadata stream itself.
//! * **A pre-flight scan of the inode table.** backhand's deku-based parser pre-allocates a file's
//!   block list from the untrusted `file_size` (up to 2 TiB / 4 KiB blocks = 512 Mi entries, 2 GiB)
//!   *before* it notices that the bytes are not there. [`prescan_inodes`] walks every inode first
//!   and rejects any whose block list cannot fit in the inode table.
//! * **The superblock** (parsed again here, 96 bytes, so these readers need nothing private).
//!
//! Layout (all little-endian): the superblock's `xattr_table` points at
//! `{ u64 kv_start; u32 ids; u32 unused; u64 block_ptr[ceil(ids*16/8192)] }`. Each id entry (16 bytes,
//! in metadata blocks) is `{ u64 ref; u32 count; u32 size }`, `ref` = (block offset from `kv_start`
//! << 16) | offset inside the uncompressed block. At `ref` start `count` pairs of
//! `{ u16 type; u16 name_size; name }` and `{ u32 value_size; value }`; type bit 0x100 marks an
//! out-of-line value whose 8-byte inline value is another `ref` to `{ u32 size; value }`. Type & 0xff is
//! the name prefix: 0 `user.`, 1 `trusted.`, 2 `security.`.
//!
//! Metadata blocks: a u16 header (bit 15 set = stored uncompressed, low 15 bits = stored length)
//! followed by at most 8 KiB of data once decompressed with the image's compressor.

use std::collections::HashMap;

use crate::fsimage::{limits, FsError};
use crate::readat::ReadAt;

/// Largest uncompressed metadata block.
pub(crate) const METADATA_MAX: usize = 8192;
/// "Not present" marker for superblock table pointers.
pub(crate) const NOT_SET: u64 = u64::MAX;
/// Inode field value meaning "no xattrs".
pub(crate) const NO_XATTR: u32 = u32::MAX;
/// Cap on the uncompressed inode table the pre-flight scan will hold (and backhand too).
const MAX_INODE_TABLE: usize = 512 * 1024 * 1024;

pub(crate) fn malformed(reason: impl Into<String>) -> FsError {
    FsError::Malformed {
        format: "squashfs",
        reason: reason.into(),
    }
}

fn le16(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes(b.get(at..at + 2)?.try_into().ok()?))
}
fn le32(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(at..at + 4)?.try_into().ok()?))
}
fn le64(b: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_le_bytes(b.get(at..at + 8)?.try_into().ok()?))
}

/// The squashfs 4.0 superblock fields these readers need.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Super {
    pub inode_count: u32,
    pub block_size: u32,
    pub block_log: u16,
    pub compressor: u16,
    pub bytes_used: u64,
    pub xattr_table: u64,
    pub inode_table: u64,
    pub dir_table: u64,
}

impl Super {
    pub(crate) fn read(src: &dyn ReadAt) -> Result<Super, FsError> {
        let mut b = [0u8; 96];
        src.read_exact_at(0, &mut b)
            .map_err(|e| malformed(format!("cannot read superblock: {e}")))?;
        if &b[0..4] != b"hsqs" {
            return Err(malformed("bad magic"));
        }
        let g16 = |at| le16(&b, at).unwrap_or(0);
        let g32 = |at| le32(&b, at).unwrap_or(0);
        let g64 = |at| le64(&b, at).unwrap_or(0);
        let (major, minor) = (g16(28), g16(30));
        if (major, minor) != (4, 0) {
            return Err(malformed(format!("unsupported version {major}.{minor}")));
        }
        let sb = Super {
            inode_count: g32(4),
            block_size: g32(12),
            compressor: g16(20),
            block_log: g16(22),
            bytes_used: g64(40),
            xattr_table: g64(56),
            inode_table: g64(64),
            dir_table: g64(72),
        };
        if !(4096..=1 << 20).contains(&sb.block_size)
            || !sb.block_size.is_power_of_two()
            || u32::from(sb.block_log) != sb.block_size.trailing_zeros()
        {
            return Err(malformed("invalid block size"));
        }
        if sb.inode_table > sb.dir_table || sb.dir_table > src.size() {
            return Err(malformed("inode/directory table out of range"));
        }
        Ok(sb)
    }
}

/// Decompresses one metadata block's payload with the image's compressor, bounded to 8 KiB.
pub(crate) fn decompress_meta(compressor: u16, data: &[u8]) -> Result<Vec<u8>, FsError> {
    crate::squashfs::decompress_bounded(compressor, data, METADATA_MAX)
        .map_err(|e| malformed(format!("metadata block: {e}")))
}

/// Reads the metadata block at absolute offset `at`; returns its uncompressed bytes and the offset of
/// the next block.
pub(crate) fn read_meta_block(
    src: &dyn ReadAt,
    compressor: u16,
    at: u64,
) -> Result<(Vec<u8>, u64), FsError> {
    let mut hdr = [0u8; 2];
    src.read_exact_at(at, &mut hdr)
        .map_err(|e| malformed(format!("metadata header at {at}: {e}")))?;
    let h = u16::from_le_bytes(hdr);
    let len = usize::from(h & 0x7fff);
    if len == 0 || len > METADATA_MAX {
        return Err(malformed(format!(
            "bad metadata block length {len} at {at}"
        )));
    }
    let mut buf = vec![0u8; len];
    src.read_exact_at(at + 2, &mut buf)
        .map_err(|e| malformed(format!("metadata block at {at}: {e}")))?;
    let next = at + 2 + len as u64;
    if h & 0x8000 != 0 {
        Ok((buf, next))
    } else {
        Ok((decompress_meta(compressor, &buf)?, next))
    }
}

/// A sequential reader over a metadata stream starting at a `ref` position.
struct MetaStream<'a> {
    src: &'a dyn ReadAt,
    compressor: u16,
    next_block: u64,
    buf: Vec<u8>,
    pos: usize,
    blocks_read: usize,
}

impl<'a> MetaStream<'a> {
    fn new(
        src: &'a dyn ReadAt,
        compressor: u16,
        block: u64,
        offset: usize,
    ) -> Result<Self, FsError> {
        let (buf, next_block) = read_meta_block(src, compressor, block)?;
        if offset > buf.len() {
            return Err(malformed("xattr reference points past its metadata block"));
        }
        Ok(MetaStream {
            src,
            compressor,
            next_block,
            buf,
            pos: offset,
            blocks_read: 1,
        })
    }

    fn take(&mut self, n: usize) -> Result<Vec<u8>, FsError> {
        let mut out = Vec::with_capacity(n.min(limits::MAX_XATTR_VALUE + 16));
        while out.len() < n {
            if self.pos >= self.buf.len() {
                // Bounded: values are capped at 64 KiB, so a handful of blocks suffices.
                if self.blocks_read > 64 {
                    return Err(malformed("xattr entry spans too many metadata blocks"));
                }
                let (buf, next) = read_meta_block(self.src, self.compressor, self.next_block)?;
                self.buf = buf;
                self.next_block = next;
                self.pos = 0;
                self.blocks_read += 1;
            }
            let avail = self.buf.len() - self.pos;
            let want = (n - out.len()).min(avail);
            out.extend_from_slice(&self.buf[self.pos..self.pos + want]);
            self.pos += want;
        }
        Ok(out)
    }

    fn u16(&mut self) -> Result<u16, FsError> {
        let b = self.take(2)?;
        le16(&b, 0).ok_or_else(|| malformed("short read"))
    }
    fn u32(&mut self) -> Result<u32, FsError> {
        let b = self.take(4)?;
        le32(&b, 0).ok_or_else(|| malformed("short read"))
    }
    fn u64(&mut self) -> Result<u64, FsError> {
        let b = self.take(8)?;
        le64(&b, 0).ok_or_else(|| malformed("short read"))
    }
}

/// Full xattr names and values.
pub(crate) type XattrList = Vec<(Vec<u8>, Vec<u8>)>;

/// The xattr id table of one image.
#[derive(Debug, Clone)]
pub(crate) struct XattrTable {
    compressor: u16,
    kv_start: u64,
    ids: u32,
    /// Absolute offsets of the metadata blocks holding the id entries.
    id_blocks: Vec<u64>,
}

impl XattrTable {
    /// Reads the id table; `Ok(None)` when the image has no xattrs.
    pub(crate) fn read(src: &dyn ReadAt, sb: &Super) -> Result<Option<XattrTable>, FsError> {
        if sb.xattr_table == NOT_SET {
            return Ok(None);
        }
        let mut hdr = [0u8; 16];
        src.read_exact_at(sb.xattr_table, &mut hdr)
            .map_err(|e| malformed(format!("xattr id table: {e}")))?;
        let kv_start = le64(&hdr, 0).unwrap_or(0);
        let ids = le32(&hdr, 8).unwrap_or(0);
        if kv_start >= sb.xattr_table {
            return Err(malformed("xattr key/value table starts after its id table"));
        }
        let nblocks = (u64::from(ids) * 16).div_ceil(METADATA_MAX as u64);
        // Each pointer is 8 bytes that must exist in the image: bounds the allocation.
        let ptr_bytes = nblocks * 8;
        if sb.xattr_table + 16 + ptr_bytes > src.size() {
            return Err(malformed("xattr id table runs past the end of the image"));
        }
        let mut raw = vec![0u8; ptr_bytes as usize];
        src.read_exact_at(sb.xattr_table + 16, &mut raw)
            .map_err(|e| malformed(format!("xattr id table: {e}")))?;
        let id_blocks = raw
            .chunks_exact(8)
            .filter_map(|c| le64(c, 0))
            .collect::<Vec<_>>();
        Ok(Some(XattrTable {
            compressor: sb.compressor,
            kv_start,
            ids,
            id_blocks,
        }))
    }

    /// All xattrs of the inode whose xattr index is `idx`.
    pub(crate) fn get(&self, src: &dyn ReadAt, idx: u32) -> Result<XattrList, FsError> {
        if idx == NO_XATTR {
            return Ok(Vec::new());
        }
        if idx >= self.ids {
            return Err(malformed(format!(
                "xattr index {idx} out of range ({})",
                self.ids
            )));
        }
        let byte = u64::from(idx) * 16;
        let block = usize::try_from(byte / METADATA_MAX as u64).unwrap_or(usize::MAX);
        let off = (byte % METADATA_MAX as u64) as usize;
        let Some(&block_at) = self.id_blocks.get(block) else {
            return Err(malformed("xattr id block missing"));
        };
        let mut ms = MetaStream::new(src, self.compressor, block_at, off)?;
        let xref = ms.u64()?;
        let count = ms.u32()?;
        let _size = ms.u32()?;
        if count as usize > limits::MAX_XATTRS {
            return Err(FsError::TooMany {
                what: "xattr count".into(),
                limit: limits::MAX_XATTRS as u64,
            });
        }
        let mut kv = self.stream_at(src, xref)?;
        let mut out = Vec::with_capacity(count as usize);
        for _ in 0..count {
            let ty = kv.u16()?;
            let name_size = kv.u16()?;
            let name = kv.take(usize::from(name_size))?;
            let prefix: &[u8] = match ty & 0xff {
                0 => b"user.",
                1 => b"trusted.",
                2 => b"security.",
                other => return Err(malformed(format!("unknown xattr prefix id {other}"))),
            };
            let vsize = kv.u32()? as usize;
            let value = if ty & 0x100 != 0 {
                if vsize != 8 {
                    return Err(malformed("out-of-line xattr reference is not 8 bytes"));
                }
                let vref = kv.u64()?;
                let mut vs = self.stream_at(src, vref)?;
                let real = vs.u32()? as usize;
                if real > limits::MAX_XATTR_VALUE {
                    return Err(FsError::TooLarge {
                        what: "xattr value".into(),
                        limit: limits::MAX_XATTR_VALUE as u64,
                    });
                }
                vs.take(real)?
            } else {
                if vsize > limits::MAX_XATTR_VALUE {
                    return Err(FsError::TooLarge {
                        what: "xattr value".into(),
                        limit: limits::MAX_XATTR_VALUE as u64,
                    });
                }
                kv.take(vsize)?
            };
            let mut full = prefix.to_vec();
            full.extend_from_slice(&name);
            out.push((full, value));
        }
        Ok(out)
    }

    fn stream_at<'a>(&self, src: &'a dyn ReadAt, xref: u64) -> Result<MetaStream<'a>, FsError> {
        let block = self
            .kv_start
            .checked_add(xref >> 16)
            .ok_or_else(|| malformed("xattr reference overflows"))?;
        MetaStream::new(src, self.compressor, block, (xref & 0xffff) as usize)
    }
}

/// What [`prescan_inodes`] learns before backhand reads the inode table.
#[derive(Default)]
pub(crate) struct Prescan {
    /// Inode number → xattr index, for inodes that carry xattrs.
    pub(crate) xattrs: HashMap<u32, u32>,
    /// Inode number → data blocks, for files with at least [`LONG_BLOCK_LIST`] of them: backhand
    /// copies a file's block list into every directory entry that names the inode.
    pub(crate) blocks: HashMap<u32, u64>,
}

/// Files with fewer blocks are not recorded in [`Prescan::blocks`] (their lists, at most 60 bytes,
/// are small next to backhand's ~300 bytes per entry, which the entry cap already bounds).
pub(crate) const LONG_BLOCK_LIST: u64 = 16;

/// Decompresses the whole inode table (bounded) and walks every inode, checking that each file's
/// block list fits in what is left of the table.
pub(crate) fn prescan_inodes(src: &dyn ReadAt, sb: &Super) -> Result<Prescan, FsError> {
    let mut table = Vec::new();
    let mut at = sb.inode_table;
    while at < sb.dir_table {
        let (block, next) = read_meta_block(src, sb.compressor, at)?;
        if table.len() + block.len() > MAX_INODE_TABLE {
            return Err(FsError::TooLarge {
                what: "squashfs inode table".into(),
                limit: MAX_INODE_TABLE as u64,
            });
        }
        table.extend_from_slice(&block);
        at = next;
    }
    if at != sb.dir_table {
        return Err(malformed("inode table overruns the directory table"));
    }
    let mut out = Prescan::default();
    let mut p = 0usize;
    let mut seen = 0u64;
    let bad = || malformed("truncated inode in inode table");
    let bs = u64::from(sb.block_size);
    let blocks = |size: u64, frag: u32| -> u64 {
        if frag == u32::MAX {
            size.div_ceil(bs)
        } else {
            size / bs
        }
    };
    while p < table.len() {
        let ty = le16(&table, p).ok_or_else(bad)?;
        let ino = le32(&table, p + 12).ok_or_else(bad)?;
        let b = p + 16;
        let mut nblocks = 0u64;
        let (len, xattr) = match ty {
            1 => (16, NO_XATTR),
            2 => {
                let frag = le32(&table, b + 4).ok_or_else(bad)?;
                let size = u64::from(le32(&table, b + 12).ok_or_else(bad)?);
                nblocks = blocks(size, frag);
                (16u64 + 4 * nblocks, NO_XATTR)
            }
            3 | 10 => {
                let tsize = u64::from(le32(&table, b + 4).ok_or_else(bad)?);
                if ty == 10 {
                    let x = le32(&table, b + 8 + tsize as usize).ok_or_else(bad)?;
                    (8 + tsize + 4, x)
                } else {
                    (8 + tsize, NO_XATTR)
                }
            }
            4 | 5 => (8, NO_XATTR),
            6 | 7 => (4, NO_XATTR),
            8 => {
                let index_count = le16(&table, b + 16).ok_or_else(bad)?;
                let x = le32(&table, b + 20).ok_or_else(bad)?;
                let mut q = b + 24;
                for _ in 0..index_count {
                    let name_size = le32(&table, q + 8).ok_or_else(bad)? as usize;
                    q = q
                        .checked_add(12 + name_size + 1)
                        .filter(|&q| q <= table.len())
                        .ok_or_else(bad)?;
                }
                ((q - b) as u64, x)
            }
            9 => {
                let size = le64(&table, b + 8).ok_or_else(bad)?;
                let frag = le32(&table, b + 28).ok_or_else(bad)?;
                let x = le32(&table, b + 36).ok_or_else(bad)?;
                if size >= 1 << 41 {
                    return Err(malformed("file larger than 2 TiB"));
                }
                nblocks = blocks(size, frag);
                (40u64 + 4 * nblocks, x)
            }
            11 | 12 => (12, le32(&table, b + 8).ok_or_else(bad)?),
            13 | 14 => (8, le32(&table, b + 4).ok_or_else(bad)?),
            other => return Err(malformed(format!("unknown inode type {other}"))),
        };
        let end = (b as u64)
            .checked_add(len)
            .filter(|&e| e <= table.len() as u64)
            .ok_or_else(|| malformed(format!("inode {ino} does not fit in the inode table")))?;
        if xattr != NO_XATTR {
            out.xattrs.insert(ino, xattr);
        }
        if nblocks >= LONG_BLOCK_LIST {
            out.blocks.insert(ino, nblocks);
        }
        seen += 1;
        p = end as usize;
    }
    if seen != u64::from(sb.inode_count) {
        return Err(malformed(format!(
            "inode table holds {seen} inodes, superblock says {}",
            sb.inode_count
        )));
    }
    Ok(out)
}
