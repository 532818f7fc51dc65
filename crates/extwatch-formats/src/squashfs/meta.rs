//! Metadata blocks (inode, directory, fragment, id and xattr tables) read on demand through a
//! small bounded cache, with a budget on the bytes decompressed over the reader's life.
//!
//! Why: backhand decompressed whole tables up front and let them grow without bound (a 1 MB image
//! of highly compressible directory blocks cost 1 GB). Here a block is decompressed only when a
//! reference points into it, each block is at most 8 KiB ([`disk::METADATA_SIZE`]; more is
//! malformed), at most [`limits::METADATA_CACHE`] blocks are kept, and all decompression over the
//! reader's life is capped at [`limits::MAX_METADATA_BYTES`].

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use super::{compress, disk, malformed, malformed_by};
use crate::fsimage::{limits, FsError};
use crate::readat::ReadAt;

/// One decompressed metadata block.
#[derive(Debug)]
pub(crate) struct Block {
    /// Decompressed bytes (1..=8192).
    pub data: Vec<u8>,
    /// Absolute offset of the block that follows it.
    pub next: u64,
}

#[derive(Default)]
struct Cache {
    map: super::FastMap<u64, Arc<Block>>,
    order: VecDeque<u64>,
}

/// The metadata block source of one image.
pub(crate) struct Meta {
    src: Arc<dyn ReadAt>,
    compressor: u16,
    cache: Mutex<Cache>,
    decompressed: AtomicU64,
    max_bytes: u64,
}

impl Meta {
    pub(crate) fn new(src: Arc<dyn ReadAt>, compressor: u16) -> Meta {
        Meta {
            src,
            compressor,
            cache: Mutex::new(Cache::default()),
            decompressed: AtomicU64::new(0),
            max_bytes: limits::MAX_METADATA_BYTES,
        }
    }

    /// The metadata block at absolute offset `at`, which must end at or before `end`.
    pub(crate) fn block(&self, at: u64, end: u64) -> Result<Arc<Block>, FsError> {
        if let Ok(c) = self.cache.lock() {
            if let Some(b) = c.map.get(&at) {
                return Ok(b.clone());
            }
        }
        let b = Arc::new(self.read(at, end)?);
        if let Ok(mut c) = self.cache.lock() {
            if c.map.len() >= limits::METADATA_CACHE {
                if let Some(old) = c.order.pop_front() {
                    c.map.remove(&old);
                }
            }
            if c.map.insert(at, b.clone()).is_none() {
                c.order.push_back(at);
            }
        }
        Ok(b)
    }

    fn read(&self, at: u64, end: u64) -> Result<Block, FsError> {
        if at >= end {
            return Err(malformed(format!(
                "metadata block at {at} is outside its table (ends at {end})"
            )));
        }
        let mut raw = vec![0u8; 2 + disk::METADATA_SIZE];
        let want = (end - at).min(raw.len() as u64) as usize;
        let raw = raw.get_mut(..want).unwrap_or_default();
        let mut got = 0;
        while got < raw.len() {
            let n = self
                .src
                .read_at(at + got as u64, raw.get_mut(got..).unwrap_or_default())?;
            if n == 0 {
                break;
            }
            got += n;
        }
        let hdr = disk::le16(raw, 0)
            .ok_or_else(|| malformed(format!("metadata block at {at}: image truncated")))?;
        let (len, uncompressed) =
            disk::parse_meta_header(hdr).map_err(|e| malformed(format!("{e} at {at}")))?;
        let payload = raw.get(2..2 + len).ok_or_else(|| {
            malformed(format!(
                "metadata block at {at} of {len} bytes runs past its table or the image"
            ))
        })?;
        let data = if uncompressed {
            payload.to_vec()
        } else {
            let mut out = Vec::new();
            compress::decompress(self.compressor, payload, &mut out, disk::METADATA_SIZE)
                .map_err(|e| malformed_by(format_args!("metadata block at {at}"), &e))?;
            out
        };
        if data.is_empty() {
            return Err(malformed(format!("metadata block at {at} is empty")));
        }
        let total = self
            .decompressed
            .fetch_add(data.len() as u64, Ordering::Relaxed)
            + data.len() as u64;
        if total > self.max_bytes {
            return Err(FsError::TooLarge {
                what: "decompressed squashfs metadata".into(),
                limit: self.max_bytes,
            });
        }
        Ok(Block {
            data,
            next: at + 2 + len as u64,
        })
    }

    /// A cursor at `offset` inside the block at absolute `at`, in a table ending at `end`.
    pub(crate) fn cursor(&self, at: u64, offset: usize, end: u64) -> Result<Cursor<'_>, FsError> {
        let block = self.block(at, end)?;
        if offset >= block.data.len() {
            return Err(malformed(format!(
                "reference offset {offset} beyond the {} bytes of metadata block at {at}",
                block.data.len()
            )));
        }
        Ok(Cursor {
            meta: self,
            end,
            block,
            pos: offset,
        })
    }
}

/// Sequential reads through consecutive metadata blocks of one table.
pub(crate) struct Cursor<'a> {
    meta: &'a Meta,
    end: u64,
    block: Arc<Block>,
    pos: usize,
}

impl Cursor<'_> {
    /// Fills `out`, crossing into following blocks as needed.
    pub(crate) fn read(&mut self, out: &mut [u8]) -> Result<(), FsError> {
        let mut done = 0;
        while done < out.len() {
            if self.pos >= self.block.data.len() {
                self.block = self.meta.block(self.block.next, self.end)?;
                self.pos = 0;
            }
            let avail = self.block.data.get(self.pos..).unwrap_or_default();
            let dst = out.get_mut(done..).unwrap_or_default();
            let n = avail.len().min(dst.len());
            dst.get_mut(..n)
                .unwrap_or_default()
                .copy_from_slice(avail.get(..n).unwrap_or_default());
            done += n;
            self.pos += n;
        }
        Ok(())
    }

    /// Reads `N` bytes.
    pub(crate) fn array<const N: usize>(&mut self) -> Result<[u8; N], FsError> {
        let mut b = [0u8; N];
        self.read(&mut b)?;
        Ok(b)
    }

    /// Reads a little-endian u32.
    pub(crate) fn u32(&mut self) -> Result<u32, FsError> {
        Ok(u32::from_le_bytes(self.array()?))
    }

    /// Reads a little-endian u64.
    pub(crate) fn u64(&mut self) -> Result<u64, FsError> {
        Ok(u64::from_le_bytes(self.array()?))
    }

    /// Skips `n` bytes.
    pub(crate) fn skip(&mut self, mut n: u64) -> Result<(), FsError> {
        while n > 0 {
            if self.pos >= self.block.data.len() {
                self.block = self.meta.block(self.block.next, self.end)?;
                self.pos = 0;
            }
            let avail = (self.block.data.len() - self.pos) as u64;
            let k = avail.min(n);
            self.pos += k as usize;
            n -= k;
        }
        Ok(())
    }

    /// Hands the next `n` bytes to `f` in pieces, without copying them out.
    pub(crate) fn stream(
        &mut self,
        mut n: u64,
        f: &mut dyn FnMut(&[u8]) -> Result<(), FsError>,
    ) -> Result<(), FsError> {
        while n > 0 {
            if self.pos >= self.block.data.len() {
                self.block = self.meta.block(self.block.next, self.end)?;
                self.pos = 0;
            }
            let avail = self.block.data.get(self.pos..).unwrap_or_default();
            let k = (avail.len() as u64).min(n) as usize;
            f(avail.get(..k).unwrap_or_default())?;
            self.pos += k;
            n -= k as u64;
        }
        Ok(())
    }
}
