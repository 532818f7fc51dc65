//! dm-verity superblock + tree recomputation over hostile superblocks, data and hash devices: never
//! panics, never reads outside the given devices, never allocates from an untrusted size.
#![no_main]

use extwatch_formats::verity::{compute_tree, parse_superblock, SUPERBLOCK_SIZE};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if data.len() < SUPERBLOCK_SIZE {
        let _ = parse_superblock(data);
        return;
    }
    let (sb, rest) = data.split_at(SUPERBLOCK_SIZE);
    let Ok(mut p) = parse_superblock(sb) else {
        return;
    };
    // Keep each run cheap: the data device is whatever follows, the hash device the whole input.
    p.data_blocks = p.data_blocks.min(64);
    let dev: &[u8] = data;
    let datadev: &[u8] = rest;
    let _ = compute_tree(&p, &datadev, Some((&dev, 1)), 2, &|_| {});
    let _ = compute_tree(&p, &datadev, None, 1, &|_| {});
});
