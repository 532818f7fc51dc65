//! Unit tests of the verity superblock parser and tree computation (moved out of `mod.rs` to keep it short).

use super::superblock::*;
use super::tree::*;
use super::*;
use crate::readat::ReadAt;

fn params(blocks: u64) -> VerityParams {
    VerityParams {
        hash_type: 1,
        uuid: String::new(),
        algorithm: Algorithm::Sha256,
        data_block_size: 4096,
        hash_block_size: 4096,
        data_blocks: blocks,
        salt: vec![7; 32],
    }
}

/// A direct, whole-tree-in-memory reference implementation of the same format.
fn reference(p: &VerityParams, data: &[u8]) -> String {
    let mut level: Vec<Vec<u8>> = data.chunks(4096).map(|b| hash_block(p, b)).collect();
    if level.len() == 1 {
        return hex::encode(&level[0]);
    }
    loop {
        let blocks: Vec<Vec<u8>> = level
            .chunks(128)
            .map(|ds| {
                let mut b = ds.concat();
                b.resize(4096, 0);
                b
            })
            .collect();
        let next: Vec<Vec<u8>> = blocks.iter().map(|b| hash_block(p, b)).collect();
        if next.len() == 1 {
            return hex::encode(&next[0]);
        }
        level = next;
    }
}

#[test]
fn streaming_equals_reference_for_many_sizes() {
    for blocks in [1u64, 2, 3, 5, 127, 128, 129, 300, 128 * 128, 128 * 128 + 1] {
        let data: Vec<u8> = (0..blocks * 4096).map(|i| (i * 31 % 251) as u8).collect();
        let p = params(blocks);
        let r = compute_tree(&p, &data, None, 2, &|_| {}).unwrap();
        assert_eq!(r.root_hash, reference(&p, &data), "{blocks} blocks");
    }
}

/// The multi-buffer level-0 path must give exactly what `sha2` gives, for every salt length the
/// superblock allows and for blocks that differ in every lane.
#[test]
fn multi_buffer_leaves_equal_sha2() {
    for salt_len in [0usize, 1, 31, 32, 55, 56, 63, 64, 65, 200, 256] {
        let mut p = params(37);
        p.salt = (0..salt_len).map(|i| (i * 13 + 1) as u8).collect();
        let data: Vec<u8> = (0..37 * 4096u64).map(|i| (i * 7 % 253) as u8).collect();
        let mut out = vec![0u8; 37 * 32];
        hash_blocks(&p, &data, 4096, &mut out, 32, &mut Vec::new());
        for (blk, d) in data.chunks(4096).zip(out.chunks(32)) {
            assert_eq!(d, hash_block(&p, blk), "salt length {salt_len}");
        }
    }
}

#[test]
fn other_formats_use_the_reference_hash() {
    let data: Vec<u8> = (0..300 * 4096u64).map(|i| (i * 17 % 241) as u8).collect();
    let mut p = params(300);
    p.hash_type = 0;
    let r = compute_tree(&p, &data, None, 2, &|_| {}).unwrap();
    assert_eq!(r.root_hash.len(), 64);
    let mut direct = vec![0u8; 300 * 32];
    hash_blocks(&p, &data, 4096, &mut direct, 32, &mut Vec::new());
    for (blk, d) in data.chunks(4096).zip(direct.chunks(32)) {
        assert_eq!(d, hash_block(&p, blk));
    }
    p.hash_type = 1;
    p.algorithm = Algorithm::Sha512;
    let r = compute_tree(&p, &data, None, 2, &|_| {}).unwrap();
    assert_eq!(r.root_hash.len(), 128);
}

/// Data that claims `size` bytes but fails every read past `good` (a file truncated while it is
/// verified, a disk going away).
struct Shrinking {
    size: u64,
    good: u64,
}

impl ReadAt for Shrinking {
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> std::io::Result<usize> {
        if offset >= self.good {
            return Err(std::io::Error::other("image shrank during verification"));
        }
        let n = buf.len().min((self.good - offset) as usize);
        buf[..n].fill(0);
        Ok(n)
    }
    fn size(&self) -> u64 {
        self.size
    }
}

/// Issue 8 case 7: reads failing midway used to leave the workers parked forever on a window the
/// main thread (already returned with the error) would never advance. Every thread count and
/// failure point must end promptly with the error. The 60 s limit is a hang guard.
#[test]
fn data_shrinking_midway_ends_with_an_error_not_a_hang() {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let blocks = 64 * 256; // 64 MiB of 4 KiB blocks, far beyond the in-flight window
        for threads in [1usize, 2, 3, 8] {
            for good in [0u64, 4096, 1 << 20, (1 << 20) + 4096, 5 << 20, 40 << 20] {
                let p = params(blocks);
                let data = Shrinking {
                    size: blocks * 4096,
                    good,
                };
                let r = compute_tree(&p, &data, None, threads, &|_| {});
                assert!(
                    matches!(&r, Err(VerityError::Io(m)) if m.to_string().contains("shrank")),
                    "{threads} threads, good {good}: {r:?}"
                );
            }
        }
        let _ = tx.send(());
    });
    rx.recv_timeout(std::time::Duration::from_secs(60))
        .expect("compute_tree hung after a read error (or the test thread panicked)");
}

/// Data whose reads panic in the super-chunk at `good` (a reader bug): the panic reaches the caller; it must
/// not turn into a hang of the other workers and the main side waiting on each other.
struct Panicking {
    size: u64,
    good: u64,
}

impl ReadAt for Panicking {
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> std::io::Result<usize> {
        // Only one super-chunk panics: the other worker carries on until the window fills.
        let bad = self.good..self.good + SUPER_CHUNK as u64;
        assert!(!bad.contains(&offset), "test reader panics at {offset}");
        let n = buf
            .len()
            .min(usize::try_from(self.size - offset).unwrap_or(usize::MAX));
        buf[..n].fill(0);
        Ok(n)
    }
    fn size(&self) -> u64 {
        self.size
    }
}

#[test]
fn a_panicking_worker_does_not_hang_the_others() {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let blocks = 64 * 256;
        let p = params(blocks);
        let data = Panicking {
            size: blocks * 4096,
            good: 3 << 20,
        };
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            compute_tree(&p, &data, None, 2, &|_| {})
        }));
        let _ = tx.send(r.is_err() || matches!(r, Ok(Err(_))));
    });
    let failed = rx
        .recv_timeout(std::time::Duration::from_secs(60))
        .expect("compute_tree hung after a worker panicked");
    assert!(failed);
}

/// The same with a hash device whose reads fail: the error comes from the main thread's side.
#[test]
fn hash_device_failing_midway_ends_with_an_error_not_a_hang() {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let blocks = 64 * 256;
        let p = params(blocks);
        let data = Shrinking {
            size: blocks * 4096,
            good: blocks * 4096,
        };
        let levels = p.levels(1).unwrap();
        let end = (levels[0].0 + levels[0].1) * 4096;
        let hash = Shrinking {
            size: end,
            good: 8192,
        };
        let r = compute_tree(&p, &data, Some((&hash, 1)), 2, &|_| {});
        assert!(matches!(r, Err(VerityError::Io(_))), "{r:?}");
        let _ = tx.send(());
    });
    rx.recv_timeout(std::time::Duration::from_secs(60))
        .expect("compute_tree hung after a hash-device error");
}

#[test]
fn levels_match_cryptsetup_layout() {
    assert!(params(1).levels(1).unwrap().is_empty());
    assert_eq!(params(128).levels(1).unwrap(), vec![(1, 1)]);
    assert_eq!(params(129).levels(1).unwrap(), vec![(2, 2), (1, 1)]);
}

#[test]
fn hostile_parameters_are_rejected() {
    let mut sb = vec![0u8; 512];
    sb[..8].copy_from_slice(b"verity\0\0");
    sb[8] = 1;
    sb[12] = 1;
    sb[32..38].copy_from_slice(b"sha256");
    sb[64..68].copy_from_slice(&4096u32.to_le_bytes());
    sb[68..72].copy_from_slice(&4096u32.to_le_bytes());
    sb[72..80].copy_from_slice(&u64::MAX.to_le_bytes());
    let p = parse_superblock(&sb).unwrap();
    let data = vec![0u8; 4096];
    assert!(matches!(
        compute_tree(&p, &data, None, 1, &|_| {}),
        Err(VerityError::OutOfBounds { .. })
    ));
    sb[64..68].copy_from_slice(&3u32.to_le_bytes());
    assert!(parse_superblock(&sb).is_err());
    sb[80..82].copy_from_slice(&300u16.to_le_bytes());
    assert!(parse_superblock(&sb).is_err());
    assert!(matches!(
        parse_superblock(&[0u8; 100]),
        Err(VerityError::NoSuperblock)
    ));
    sb[32..38].copy_from_slice(b"md5\0\0\0");
    assert!(parse_superblock(&sb).is_err());
}
