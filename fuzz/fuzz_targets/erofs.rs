//! The erofs reader, structure-aware: the input is an erofs image (seeds: real images from
//! mkfs.erofs, see seed.sh) whose superblock gates are repaired before opening — magic, block size
//! and a block count that fits the bytes — so mutations reach what comes after the superblock:
//! inodes, dirents (nids pointing anywhere, cycles, bad names), xattrs, compression indexes,
//! fragments and the packed inode. Then the whole tree is walked and read, bounded, through every
//! `FsReader` method. Never panics, never exceeds the caps in `limits.rs`.
#![no_main]

mod walk;

use std::sync::Arc;

use extwatch_formats::erofs::{ErofsReader, EROFS_MAGIC};
use extwatch_formats::ReadAt;
use libfuzzer_sys::fuzz_target;

/// Superblock offset and the fields repaired (erofs_fs.h `struct erofs_super_block`).
const SB: usize = 1024;
const SB_BLKSZBITS: usize = SB + 12;
const SB_BLOCKS: usize = SB + 36;
/// Largest image accepted (seeds are tens of KiB).
const MAX_IMAGE: usize = 4 << 20;

fuzz_target!(|data: &[u8]| {
    if data.len() > MAX_IMAGE {
        return;
    }
    let mut img = data.to_vec();
    if img.len() < SB + 128 {
        img.resize(SB + 128, 0);
    }
    img[SB..SB + 4].copy_from_slice(&EROFS_MAGIC.to_le_bytes());
    // Keep mutated block sizes that the reader supports, else the common 4 KiB.
    if !(9..=12).contains(&img[SB_BLKSZBITS]) {
        img[SB_BLKSZBITS] = 12;
    }
    let bs = 1usize << img[SB_BLKSZBITS];
    let blocks = img.len().div_ceil(bs);
    img.resize(blocks * bs, 0);
    img[SB_BLOCKS..SB_BLOCKS + 4].copy_from_slice(&(blocks as u32).to_le_bytes());
    let src: Arc<dyn ReadAt> = Arc::new(img);
    if let Ok(fs) = ErofsReader::open(src) {
        walk::walk(&fs);
    }
});
