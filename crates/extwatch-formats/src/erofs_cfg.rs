//! Where an erofs image keeps its DEFLATE window size, so the reader can present the value the
//! kernel effectively uses.
//!
//! erofs-utils built with libdeflate (`mkfs.erofs -zlibdeflate`, erofs-utils ≥ 1.7) writes
//! `windowbits = 0` into the DEFLATE compression configuration. The kernel only refuses values over
//! 15 (`z_erofs_load_deflate_config` in `fs/erofs/decompressor_deflate.c`) and always inflates with
//! the largest window, so it mounts such images and systemd merges them. erofs-rs 0.3.0 refuses any
//! value outside 8..=15 ("invalid DEFLATE window bits") and does not use the value to decode
//! either. An image it refuses would hide its whole content from the audit, so the reader shows
//! erofs-rs 15 wherever the image says less than 8 — exactly the kernel's reading.
//!
//! The configurations follow the superblock (`EROFS_SUPER_OFFSET + sb_size`), one per bit of
//! `available_compr_algs` in bit order (0 lz4, 1 lzma, 2 deflate, 3 zstd), each a 4-byte-aligned
//! little-endian `u16` length (0 meaning 65,536) and that many bytes (`z_erofs_parse_cfgs`,
//! `erofs_read_metadata` in `fs/erofs/`).

/// Byte offset of the superblock in the image.
const SUPER_OFFSET: u64 = 1024;
/// `EROFS_FEATURE_INCOMPAT_COMPR_CFGS`.
const COMPR_CFGS: u32 = 0x2;
/// Bit of DEFLATE in `available_compr_algs`.
const DEFLATE: u32 = 2;

fn le16(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes(b.get(at..at + 2)?.try_into().ok()?))
}

/// The image offset of the DEFLATE `windowbits` byte, given the superblock's first 128 bytes and a
/// reader for the configuration area; `None` when the image has no DEFLATE configuration.
pub(crate) fn deflate_windowbits_offset(
    sb: &[u8],
    read: &mut dyn FnMut(u64, &mut [u8]) -> Option<()>,
) -> Option<u64> {
    let incompat = u32::from_le_bytes(sb.get(80..84)?.try_into().ok()?);
    let algs = u32::from(le16(sb, 84)?);
    if incompat & COMPR_CFGS == 0 || algs & (1 << DEFLATE) == 0 {
        return None;
    }
    let extslots = u64::from(*sb.get(13)?);
    let mut offset = SUPER_OFFSET + 128 + extslots * 16;
    for alg in 0..DEFLATE {
        if algs & (1 << alg) == 0 {
            continue;
        }
        offset = offset.checked_next_multiple_of(4)?;
        let mut len = [0u8; 2];
        read(offset, &mut len)?;
        let len = match u16::from_le_bytes(len) {
            0 => 1 << 16,
            n => u64::from(n),
        };
        offset = offset.checked_add(2 + len)?;
    }
    offset.checked_next_multiple_of(4)?.checked_add(2)
}

/// Presents `windowbits` below 8 as 15 (see the module doc) when `at` (the
/// [`deflate_windowbits_offset`]) falls inside `buf`, read from image offset `offset`.
pub(crate) fn normalise_windowbits(at: Option<u64>, offset: u64, buf: &mut [u8]) {
    let Some(i) = at
        .and_then(|at| at.checked_sub(offset))
        .and_then(|i| usize::try_from(i).ok())
    else {
        return;
    };
    if let Some(b) = buf.get_mut(i) {
        if *b < 8 {
            *b = 15;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A superblock with `algs` available and the given configuration records after it.
    fn image(algs: u16, extslots: u8, cfgs: &[&[u8]]) -> Vec<u8> {
        let mut img = vec![0u8; 1024 + 128 + usize::from(extslots) * 16];
        let sb = 1024;
        img[sb + 13] = extslots;
        img[sb + 80..sb + 84].copy_from_slice(&COMPR_CFGS.to_le_bytes());
        img[sb + 84..sb + 86].copy_from_slice(&algs.to_le_bytes());
        for c in cfgs {
            while !img.len().is_multiple_of(4) {
                img.push(0xee);
            }
            img.extend_from_slice(&(c.len() as u16).to_le_bytes());
            img.extend_from_slice(c);
        }
        img
    }

    fn find(img: &[u8]) -> Option<u64> {
        let sb = img[1024..1024 + 128].to_vec();
        deflate_windowbits_offset(&sb, &mut |at, out| {
            let at = usize::try_from(at).ok()?;
            out.copy_from_slice(img.get(at..at + out.len())?);
            Some(())
        })
    }

    #[test]
    fn finds_the_deflate_record_after_the_ones_before_it() {
        // deflate alone.
        let img = image(1 << 2, 0, &[&[0, 0, 0, 0, 0, 0]]);
        assert_eq!(find(&img), Some(1024 + 128 + 2));
        // lz4 (14 bytes) and lzma (14 bytes) before it, with extension slots: 4-byte alignment.
        let img = image(0b111, 1, &[&[1; 14], &[2; 14], &[0, 9, 9, 9, 9, 9]]);
        let at = find(&img).unwrap() as usize;
        assert_eq!(img[at], 0);
        assert_eq!(img[at + 1], 9);
        // No deflate, or no configurations at all.
        assert_eq!(
            find(&image(0b1011, 0, &[&[1; 14], &[2; 14], &[0; 6]])),
            None
        );
        let mut img = image(1 << 2, 0, &[&[0; 6]]);
        img[1024 + 80] = 0;
        assert_eq!(find(&img), None);
        // A truncated area: no offset, no panic.
        let img = image(0b111, 0, &[&[1; 14]]);
        assert_eq!(find(&img[..img.len() - 4]), None);
    }

    #[test]
    fn only_window_bits_below_8_are_raised() {
        for (v, want) in [(0u8, 15u8), (7, 15), (8, 8), (15, 15), (16, 16)] {
            let mut buf = [0xaa, v, 0xbb];
            normalise_windowbits(Some(101), 100, &mut buf);
            assert_eq!(buf, [0xaa, want, 0xbb]);
        }
        let mut buf = [0u8; 4];
        normalise_windowbits(Some(99), 100, &mut buf);
        normalise_windowbits(Some(104), 100, &mut buf);
        normalise_windowbits(None, 100, &mut buf);
        assert_eq!(buf, [0; 4]);
    }
}
