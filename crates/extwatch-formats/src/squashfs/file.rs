//! Regular-file data: the fragment table and its small cache of decompressed fragment blocks, and
//! the content identity of a file's layout (what [`FsReader::read_file_chunks`] reads it by).

use std::sync::Arc;

use sha2::Digest;

use super::*;

/// How a regular file's data is stored: everything [`FsReader::read_file_chunks`] reads it by,
/// besides the image-wide compressor, block size and fragment table. [`SquashfsReader`] streams
/// the same fields through [`identity_start`] / [`identity_block`] without collecting the list.
#[cfg(test)]
#[derive(Clone, Copy)]
pub(super) struct Layout<'a> {
    /// Offset of the first data block.
    pub(super) start: u64,
    /// Fragment index ([`NO_FRAGMENT`] for none).
    pub(super) frag: u32,
    /// Offset of the file's tail inside the fragment block.
    pub(super) offset: u32,
    /// File length.
    pub(super) len: u64,
    /// Size words of the data blocks (as stored: bit 24 = uncompressed).
    pub(super) sizes: &'a [u32],
}

#[cfg(test)]
impl Layout<'_> {
    /// [`Entry::content_id`]: 192 bits of SHA-256 over the whole layout. Two inodes (hard links,
    /// or files mksquashfs stored once) get the same id only if they decode the same blocks the
    /// same way; comparing start offsets alone would let a hostile image give a file a different
    /// block list, and so different content, under the hash of a benign one.
    pub(super) fn identity(&self) -> [u64; 3] {
        let mut h = identity_start(self.start, self.frag, self.offset, self.len);
        for &w in self.sizes {
            identity_block(&mut h, w);
        }
        identity_end(h)
    }
}

pub(super) fn identity_start(start: u64, frag: u32, offset: u32, len: u64) -> sha2::Sha256 {
    let mut h = sha2::Sha256::new();
    h.update(start.to_le_bytes());
    h.update(frag.to_le_bytes());
    h.update(offset.to_le_bytes());
    h.update(len.to_le_bytes());
    h
}

pub(super) fn identity_block(h: &mut sha2::Sha256, w: u32) {
    let (size, uncompressed) = disk::parse_block_size(w);
    h.update(size.to_le_bytes());
    h.update([u8::from(uncompressed)]);
}

pub(super) fn identity_end(h: sha2::Sha256) -> [u64; 3] {
    let d = h.finalize();
    let word = |i: usize| {
        let mut w = [0u8; 8];
        if let Some(s) = d.get(i * 8..i * 8 + 8) {
            w.copy_from_slice(s);
        }
        u64::from_le_bytes(w)
    };
    [word(0), word(1), word(2)]
}

impl SquashfsReader {
    /// The decompressed fragment block `index`, through a small cache.
    pub(super) fn fragment(&self, index: u32) -> Result<Arc<Vec<u8>>, FsError> {
        if index >= self.sb.frag_count || self.sb.frag_table == disk::NOT_SET {
            return Err(malformed(format!("fragment {index} does not exist")));
        }
        let byte = u64::from(index) * disk::FRAGMENT_ENTRY_SIZE as u64;
        let mut ptr = [0u8; 8];
        let at = self.sb.frag_table + (byte / disk::METADATA_SIZE as u64) * 8;
        self.src
            .read_exact_at(at, &mut ptr)
            .map_err(|e| malformed_by("fragment table", &e))?;
        let block = u64::from_le_bytes(ptr);
        let mut cur = self.meta.cursor(
            block,
            (byte % disk::METADATA_SIZE as u64) as usize,
            self.sb.bytes_used,
        )?;
        let e: [u8; disk::FRAGMENT_ENTRY_SIZE] = cur.array()?;
        let frag = disk::parse_fragment(&e)?;
        if let Ok(c) = self.fragments.lock() {
            if let Some((_, data)) = c.iter().rev().find(|(at, _)| *at == frag.start) {
                return Ok(data.clone());
            }
        }
        let bs = self.sb.block_size as usize;
        let size = frag.size as usize;
        if size > bs || size == 0 {
            return Err(malformed(format!("fragment block of {size} bytes")));
        }
        let mut raw = vec![0u8; size];
        self.src.read_exact_at(frag.start, &mut raw)?;
        let data = if frag.uncompressed {
            raw
        } else {
            let mut out = Vec::new();
            compress::decompress(self.sb.compressor, &raw, &mut out, bs)
                .map_err(|e| malformed_by(format_args!("fragment {index}"), &e))?;
            out
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
}
