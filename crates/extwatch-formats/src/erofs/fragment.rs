//! Files stored whole in the packed inode (`-E fragments`): read through a cache of decoded
//! packed-inode extents so each extent is decoded about once (see the parent module, issue 14).

use std::collections::VecDeque;
use std::sync::Arc;

use erofs_rs::types::{Inode, Layout};

use super::{
    block_on, ef_err, malformed, ErofsReader, FEATURE_FRAGMENTS, NID_METABOX, PACKED_READAHEAD,
};
use crate::fsimage::{limits, FsError};

/// Decoded packed-inode extents (`(start offset, bytes)`, newest last) and where the last one ended.
#[derive(Default)]
pub(super) struct Packed {
    inode: Option<Inode>,
    windows: VecDeque<(u64, Arc<Vec<u8>>)>,
    bytes: usize,
    cursor: Option<u64>,
}

impl ErofsReader {
    /// Where in the packed inode a file stored whole as a fragment starts, `None` for any other
    /// file (read through erofs-rs). Reads the 8-byte `z_erofs_map_header` that follows the inode
    /// and its xattrs (8-byte aligned): bit 7 of its last byte marks a whole-file fragment, the
    /// other 63 bits are the offset.
    pub(super) fn whole_fragment(&self, inode: &Inode) -> Result<Option<u64>, FsError> {
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
    pub(super) fn packed_window(&self, pos: u64) -> Result<(u64, Arc<Vec<u8>>), FsError> {
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
    pub(super) fn read_fragment(
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
