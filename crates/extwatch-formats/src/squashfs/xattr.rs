//! Extended attributes of a squashfs 4.0 image.
//!
//! A security auditor must see `security.capability` file capabilities and systemd's
//! `user.extension-release.strict`. Inodes of the extended types carry an xattr index into the
//! xattr id table.
//!
//! Layout (all little-endian): the superblock's `xattr_table` points at
//! `{ u64 kv_start; u32 ids; u32 unused; u64 block_ptr[ceil(ids*16/8192)] }`. Each id entry (16 bytes,
//! in metadata blocks) is `{ u64 ref; u32 count; u32 size }`, `ref` = (block offset from `kv_start`
//! << 16) | offset inside the uncompressed block. At `ref` start `count` pairs of
//! `{ u16 type; u16 name_size; name }` and `{ u32 value_size; value }`; type bit 0x100 marks an
//! out-of-line value whose 8-byte inline value is another `ref` to `{ u32 size; value }`. Type & 0xff is
//! the name prefix: 0 `user.`, 1 `trusted.`, 2 `security.`.
//!
//! Metadata blocks are read through the reader's bounded cache ([`super::meta`]).

use super::disk::{le16, le32, le64, Superblock, METADATA_SIZE as METADATA_MAX, NOT_SET, NO_XATTR};
use super::meta::{Cursor, Meta};
use super::{malformed, malformed_by};
use crate::fsimage::{limits, FsError};
use crate::readat::ReadAt;

/// A cursor over the xattr key/value stream that refuses to cross more than a few blocks.
struct MetaStream<'a> {
    cur: Cursor<'a>,
}

impl MetaStream<'_> {
    fn take(&mut self, n: usize) -> Result<Vec<u8>, FsError> {
        // Values are capped at 64 KiB before this is called, so this is bounded.
        let mut out = vec![0u8; n];
        self.cur.read(&mut out)?;
        Ok(out)
    }
    fn u16(&mut self) -> Result<u16, FsError> {
        let b = self.take(2)?;
        le16(&b, 0).ok_or_else(|| malformed("short read"))
    }
    fn u32(&mut self) -> Result<u32, FsError> {
        self.cur.u32()
    }
    fn u64(&mut self) -> Result<u64, FsError> {
        self.cur.u64()
    }
}

/// Full xattr names and values.
pub(crate) type XattrList = Vec<(Vec<u8>, Vec<u8>)>;

/// The xattr id table of one image.
#[derive(Debug, Clone)]
pub(crate) struct XattrTable {
    kv_start: u64,
    /// Where the key/value stream may end (the id table follows it).
    kv_end: u64,
    ids: u32,
    /// Absolute offsets of the metadata blocks holding the id entries.
    id_blocks: Vec<u64>,
}

impl XattrTable {
    /// Reads the id table; `Ok(None)` when the image has no xattrs.
    pub(crate) fn read(src: &dyn ReadAt, sb: &Superblock) -> Result<Option<XattrTable>, FsError> {
        if sb.xattr_table == NOT_SET {
            return Ok(None);
        }
        let mut hdr = [0u8; 16];
        src.read_exact_at(sb.xattr_table, &mut hdr)
            .map_err(|e| malformed_by("xattr id table", &e))?;
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
            .map_err(|e| malformed_by("xattr id table", &e))?;
        let id_blocks = raw
            .chunks_exact(8)
            .filter_map(|c| le64(c, 0))
            .collect::<Vec<_>>();
        Ok(Some(XattrTable {
            kv_start,
            kv_end: sb.xattr_table,
            ids,
            id_blocks,
        }))
    }

    /// All xattrs of the inode whose xattr index is `idx`.
    pub(crate) fn get(&self, meta: &Meta, idx: u32) -> Result<XattrList, FsError> {
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
        let mut ms = MetaStream {
            cur: meta.cursor(block_at, off, self.kv_end)?,
        };
        let xref = ms.u64()?;
        let count = ms.u32()?;
        let _size = ms.u32()?;
        if count as usize > limits::MAX_XATTRS {
            return Err(FsError::TooMany {
                what: "xattr count".into(),
                limit: limits::MAX_XATTRS as u64,
            });
        }
        let mut kv = self.stream_at(meta, xref)?;
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
                let mut vs = self.stream_at(meta, vref)?;
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

    fn stream_at<'a>(&self, meta: &'a Meta, xref: u64) -> Result<MetaStream<'a>, FsError> {
        let block = self
            .kv_start
            .checked_add(xref >> 16)
            .ok_or_else(|| malformed("xattr reference overflows"))?;
        let off = (xref & 0xffff) as usize;
        if off >= METADATA_MAX {
            return Err(malformed("xattr reference offset beyond a metadata block"));
        }
        Ok(MetaStream {
            cur: meta.cursor(block, off, self.kv_end)?,
        })
    }
}
