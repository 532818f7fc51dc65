//! The decompressors of every compressor `mksquashfs` offers, each bounded to a caller-given output
//! size (8 KiB for metadata blocks, the block size for data blocks): a block that would decompress
//! to more is malformed, so a decompression bomb costs at most one block of memory.
//!
//! Compressor ids (squashfs 4.0 superblock, `squashfs_fs.h`): 1 gzip (zlib stream), 2 lzma
//! (`.lzma` "alone" format), 3 lzo (lzo1x), 4 xz, 5 lz4 (raw block), 6 zstd (one frame).
//! Decoders: `flate2` (zlib-rs), `liblzma` (xz and lzma-alone), `rust-lzo`, `lz4_flex`, `zstd`;
//! all were already in the dependency graph. Options in the compressor-options block (xz filters,
//! lz4 HC, dictionary sizes) only matter to the compressor: each stream describes itself.

use std::cell::RefCell;

/// Squashfs compressor ids.
pub const GZIP: u16 = 1;
/// `.lzma` (alone) streams.
pub const LZMA: u16 = 2;
/// lzo1x.
pub const LZO: u16 = 3;
/// xz streams.
pub const XZ: u16 = 4;
/// lz4 raw blocks.
pub const LZ4: u16 = 5;
/// zstd frames.
pub const ZSTD: u16 = 6;

/// The name of a compressor id, for messages.
pub fn name(id: u16) -> &'static str {
    match id {
        GZIP => "gzip",
        LZMA => "lzma",
        LZO => "lzo",
        XZ => "xz",
        LZ4 => "lz4",
        ZSTD => "zstd",
        _ => "unknown",
    }
}

/// Whether `id` is a compressor this module decodes.
pub fn supported(id: u16) -> bool {
    (GZIP..=ZSTD).contains(&id)
}

thread_local! {
    static ZSTD_CTX: RefCell<Option<zstd::bulk::Decompressor<'static>>> = const { RefCell::new(None) };
    static ZLIB: RefCell<Option<flate2::Decompress>> = const { RefCell::new(None) };
}

/// Why a block did not decompress. The decoder's own error is the source; [`FsError::Malformed`]
/// carries the whole chain as its reason (`gzip: invalid stored block lengths`).
///
/// [`FsError::Malformed`]: crate::FsError::Malformed
#[derive(Debug, thiserror::Error)]
pub enum DecompressError {
    /// The block would decompress to more than the caller's bound.
    #[error("block decompresses to more than {0} bytes")]
    TooLarge(usize),
    /// The stream ended before its end marker.
    #[error("{0}: truncated stream")]
    Truncated(&'static str),
    /// zlib refused the stream.
    #[error("gzip")]
    Gzip(#[source] flate2::DecompressError),
    /// liblzma refused the stream (`name` is lzma or xz).
    #[error("{name}")]
    Lzma {
        /// The compressor.
        name: &'static str,
        /// liblzma's error.
        #[source]
        source: liblzma::stream::Error,
    },
    /// lzo refused the block (its error code).
    #[error("lzo: error {0}")]
    Lzo(i32),
    /// lz4 refused the block.
    #[error("lz4")]
    Lz4(#[source] lz4_flex::block::DecompressError),
    /// zstd refused the frame or could not make a context.
    #[error("zstd")]
    Zstd(#[source] std::io::Error),
    /// The per-thread zstd context is missing (cannot happen: it is made just before).
    #[error("zstd: no context")]
    ZstdNoContext,
    /// A compressor id this module does not decode.
    #[error("unknown compressor id {0}")]
    Unknown(u16),
}

/// Decompresses `data` into `out` (cleared first), failing when the result would exceed `max`
/// bytes or the stream is corrupt.
pub fn decompress(
    id: u16,
    data: &[u8],
    out: &mut Vec<u8>,
    max: usize,
) -> Result<(), DecompressError> {
    out.clear();
    out.resize(max, 0);
    let n = decompress_into(id, data, out)?;
    out.truncate(n);
    Ok(())
}

fn decompress_into(id: u16, data: &[u8], out: &mut [u8]) -> Result<usize, DecompressError> {
    use DecompressError as E;
    let max = out.len();
    match id {
        GZIP => ZLIB.with(|z| {
            let mut z = z.borrow_mut();
            let d = z.get_or_insert_with(|| flate2::Decompress::new(true));
            d.reset(true);
            let st = d
                .decompress(data, out, flate2::FlushDecompress::Finish)
                .map_err(E::Gzip)?;
            match st {
                flate2::Status::StreamEnd => Ok(d.total_out() as usize),
                _ if d.total_out() as usize >= max => Err(E::TooLarge(max)),
                _ => Err(E::Truncated("gzip")),
            }
        }),
        LZMA | XZ => {
            let lz = |source| E::Lzma {
                name: name(id),
                source,
            };
            // A squashfs block is at most 1 MiB, so a dictionary beyond a few MiB is hostile.
            let mem = 64 << 20;
            let mut s = if id == XZ {
                liblzma::stream::Stream::new_stream_decoder(mem, 0)
            } else {
                liblzma::stream::Stream::new_lzma_decoder(mem)
            }
            .map_err(lz)?;
            let st = s
                .process(data, out, liblzma::stream::Action::Finish)
                .map_err(lz)?;
            let n = s.total_out() as usize;
            match st {
                liblzma::stream::Status::StreamEnd => Ok(n),
                _ if n >= max => Err(E::TooLarge(max)),
                _ => Err(E::Truncated(name(id))),
            }
        }
        LZO => {
            let (got, err) = rust_lzo::LZOContext::decompress_to_slice(data, out);
            match err {
                rust_lzo::LZOError::OK => Ok(got.len()),
                rust_lzo::LZOError::OUTPUT_OVERRUN => Err(E::TooLarge(max)),
                e => Err(E::Lzo(e as i32)),
            }
        }
        LZ4 => lz4_flex::block::decompress_into(data, out).map_err(|e| match e {
            lz4_flex::block::DecompressError::OutputTooSmall { .. } => E::TooLarge(max),
            e => E::Lz4(e),
        }),
        ZSTD => ZSTD_CTX.with(|c| {
            let mut c = c.borrow_mut();
            if c.is_none() {
                *c = Some(zstd::bulk::Decompressor::new().map_err(E::Zstd)?);
            }
            let d = c.as_mut().ok_or(E::ZstdNoContext)?;
            // The frame header may declare its size; refuse early when it is over the bound.
            if let Ok(Some(n)) = zstd::zstd_safe::get_frame_content_size(data) {
                if n > max as u64 {
                    return Err(E::TooLarge(max));
                }
            }
            d.decompress_to_buffer(data, out).map_err(|e| {
                if e.to_string().contains("too small") {
                    E::TooLarge(max)
                } else {
                    E::Zstd(e)
                }
            })
        }),
        other => Err(E::Unknown(other)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounded_and_roundtrip() {
        let data = vec![7u8; 20_000];
        let z = {
            use std::io::Write;
            let mut e = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::fast());
            e.write_all(&data).unwrap();
            e.finish().unwrap()
        };
        let mut out = Vec::new();
        decompress(GZIP, &z, &mut out, 20_000).unwrap();
        assert_eq!(out, data);
        let e = decompress(GZIP, &z, &mut out, 8192).unwrap_err();
        assert!(e.to_string().contains("more than 8192"), "{e}");
        // A literal-only lz4 block (lz4_flex is built without its encoder).
        let mut lz = vec![0xf0];
        let mut n = data.len() - 15;
        while n >= 255 {
            lz.push(255);
            n -= 255;
        }
        lz.push(n as u8);
        lz.extend_from_slice(&data);
        decompress(LZ4, &lz, &mut out, 20_000).unwrap();
        assert_eq!(out, data);
        assert!(decompress(LZ4, &lz, &mut out, 100).is_err());
        let zs = zstd::bulk::compress(&data, 3).unwrap();
        decompress(ZSTD, &zs, &mut out, 20_000).unwrap();
        assert_eq!(out, data);
        assert!(decompress(ZSTD, &zs, &mut out, 8192)
            .unwrap_err()
            .to_string()
            .contains("more than"));
        assert!(decompress(9, &zs, &mut out, 8192).is_err());
        assert!(decompress(XZ, b"garbage", &mut out, 8192).is_err());
    }
}
