//! dm-verity: the superblock `veritysetup format` writes, and the hash tree recomputed from the data.
//!
//! Hand-written because no maintained crate does this (shared/reference/crates.md job 2): the format is
//! small and fixed. Layout (cryptsetup `lib/verity/verity_hash.c`, kernel
//! `Documentation/admin-guide/device-mapper/verity.rst`):
//!
//! * a 512-byte superblock at the start of the hash device (`"verity\0\0"`, version, hash type, UUID,
//!   algorithm, data/hash block sizes, data block count, salt);
//! * the tree after it, starting one hash block in, **top level first**; level 0 holds
//!   `H(salt ‖ data block)` (format 1) in slots padded to a power of two, a hash block per
//!   `hash_block_size / slot` digests, tails zeroed; the root hash is `H(salt ‖ top block)`.
//!
//! The tree is computed **streaming**: data is read in bounded chunks, level-0 digests of a chunk are
//! computed on all cores, and each level keeps only its one partial hash block, so memory stays at a
//! few chunk buffers whatever the image size. Every finished hash block is compared with the one stored
//! on the hash device, so a flipped byte in the hash partition is caught even when the data is intact.
//!
//! Level 0 (all but 1/128 of the work) is hashed with `tape-sha256`'s multi-buffer kernels, several
//! blocks in lockstep: one SHA-256 is a serial chain of rounds that leaves the CPU's SHA unit idle
//! between instructions, and interleaving independent blocks fills those gaps (the technique Linux
//! 6.19's dm-verity adopted as `sha256_finup_2x`). On the 2-core AMD EPYC CI machine it hashes
//! `salt ‖ 4 KiB` blocks 1.5x faster per core than `sha2`. The upper levels and non-default formats
//! (hash type 0, SHA-512) use `sha2`; the unit tests check both paths against each other.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc;

use sha2::{Digest, Sha256, Sha512};

use crate::readat::ReadAt;

/// Size of the on-disk superblock.
pub const SUPERBLOCK_SIZE: usize = 512;
/// Deepest tree cryptsetup accepts (`VERITY_MAX_LEVELS`).
pub const MAX_LEVELS: usize = 63;
/// Data handed to one worker at a time.
const SUPER_CHUNK: usize = 1024 * 1024;
/// Bytes a worker reads and hashes at once: small enough to stay in its core's cache between the
/// copy out of the page cache and the hashing (an 8 MiB buffer ran at half the hash speed).
const PIECE: usize = 64 * 1024;

/// Errors about verity metadata or data.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum VerityError {
    /// No `verity\0\0` magic.
    #[error("no dm-verity superblock (magic 'verity' missing)")]
    NoSuperblock,
    /// A field is out of range.
    #[error("invalid dm-verity superblock: {0}")]
    Invalid(String),
    /// Hash algorithm not supported.
    #[error("unsupported verity hash algorithm '{0}'")]
    Algorithm(String),
    /// The declared sizes point outside the device.
    #[error("verity {what} needs {need} bytes but the device has {have}")]
    OutOfBounds {
        /// Data or hash device.
        what: &'static str,
        /// Bytes needed.
        need: u64,
        /// Bytes present.
        have: u64,
    },
    /// Reading failed.
    #[error("I/O error: {0}")]
    Io(String),
}

/// Hash algorithm of the tree.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Algorithm {
    /// SHA-256 (what systemd-repart and veritysetup use by default).
    Sha256,
    /// SHA-512.
    Sha512,
}

impl Algorithm {
    fn digest_size(self) -> usize {
        match self {
            Algorithm::Sha256 => 32,
            Algorithm::Sha512 => 64,
        }
    }
    /// The name as in the superblock.
    pub fn name(self) -> &'static str {
        match self {
            Algorithm::Sha256 => "sha256",
            Algorithm::Sha512 => "sha512",
        }
    }
}

/// Verity parameters (from a superblock, or given).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerityParams {
    /// 0 = Chrome OS (salt appended, no slot padding), 1 = normal.
    pub hash_type: u32,
    /// UUID from the superblock (lowercase, hyphenated).
    pub uuid: String,
    /// Tree hash.
    pub algorithm: Algorithm,
    /// Data block size.
    pub data_block_size: u32,
    /// Hash block size.
    pub hash_block_size: u32,
    /// Number of data blocks covered.
    pub data_blocks: u64,
    /// Salt.
    pub salt: Vec<u8>,
}

fn u32_at(b: &[u8], o: usize) -> u32 {
    let mut a = [0u8; 4];
    a.copy_from_slice(&b[o..o + 4]);
    u32::from_le_bytes(a)
}

/// Parses the 512-byte superblock at the start of a hash device.
pub fn parse_superblock(b: &[u8]) -> Result<VerityParams, VerityError> {
    if b.len() < SUPERBLOCK_SIZE || &b[..8] != b"verity\0\0" {
        return Err(VerityError::NoSuperblock);
    }
    let version = u32_at(b, 8);
    if version != 1 {
        return Err(VerityError::Invalid(format!("version {version}")));
    }
    let hash_type = u32_at(b, 12);
    if hash_type > 1 {
        return Err(VerityError::Invalid(format!("hash type {hash_type}")));
    }
    let u = &b[16..32];
    let uuid = format!(
        "{}-{}-{}-{}-{}",
        hex::encode(&u[0..4]),
        hex::encode(&u[4..6]),
        hex::encode(&u[6..8]),
        hex::encode(&u[8..10]),
        hex::encode(&u[10..16])
    );
    let alg_raw = &b[32..64];
    let alg_end = alg_raw.iter().position(|c| *c == 0).unwrap_or(32);
    let alg = String::from_utf8_lossy(&alg_raw[..alg_end]).to_ascii_lowercase();
    let algorithm = match alg.as_str() {
        "sha256" => Algorithm::Sha256,
        "sha512" => Algorithm::Sha512,
        _ => return Err(VerityError::Algorithm(alg)),
    };
    let data_block_size = u32_at(b, 64);
    let hash_block_size = u32_at(b, 68);
    let mut d = [0u8; 8];
    d.copy_from_slice(&b[72..80]);
    let data_blocks = u64::from_le_bytes(d);
    let salt_size = usize::from(u16::from_le_bytes([b[80], b[81]]));
    if salt_size > 256 {
        return Err(VerityError::Invalid(format!("salt size {salt_size}")));
    }
    let salt = b[88..88 + salt_size].to_vec();
    let p = VerityParams {
        hash_type,
        uuid,
        algorithm,
        data_block_size,
        hash_block_size,
        data_blocks,
        salt,
    };
    p.check()?;
    Ok(p)
}

impl VerityParams {
    fn check(&self) -> Result<(), VerityError> {
        for (what, s) in [
            ("data block size", self.data_block_size),
            ("hash block size", self.hash_block_size),
        ] {
            if !(512..=1 << 20).contains(&s) || !s.is_power_of_two() {
                return Err(VerityError::Invalid(format!("{what} {s}")));
            }
        }
        if (self.hash_block_size as usize) < self.slot() * 2 {
            return Err(VerityError::Invalid(
                "hash block smaller than two digests".into(),
            ));
        }
        if self.data_blocks == 0 {
            return Err(VerityError::Invalid("zero data blocks".into()));
        }
        Ok(())
    }

    fn slot(&self) -> usize {
        let d = self.algorithm.digest_size();
        if self.hash_type == 0 {
            d
        } else {
            d.next_power_of_two()
        }
    }

    /// Bytes of data the tree covers.
    pub fn data_size(&self) -> u64 {
        self.data_blocks
            .saturating_mul(u64::from(self.data_block_size))
    }

    /// Per level (0 = leaves): (first hash block index on the hash device, number of blocks).
    /// `tree_start` is the block index where the tree begins (1 after a superblock).
    pub fn levels(&self, tree_start: u64) -> Result<Vec<(u64, u64)>, VerityError> {
        let per = (self.hash_block_size as usize / self.slot()) as u64;
        let bits = per.trailing_zeros();
        let n = self.data_blocks;
        let mut levels = 0usize;
        while (bits as usize * levels) < 64 && ((n - 1) >> (bits as usize * levels)) != 0 {
            levels += 1;
        }
        if levels > MAX_LEVELS {
            return Err(VerityError::Invalid(format!("{levels} tree levels")));
        }
        let mut out = vec![(0u64, 0u64); levels];
        let mut pos = tree_start;
        for i in (0..levels).rev() {
            let shift = (i as u32 + 1) * bits;
            let s = if shift >= 64 {
                1
            } else {
                (n >> shift) + u64::from(n & ((1u64 << shift) - 1) != 0)
            };
            out[i] = (pos, s);
            pos = pos
                .checked_add(s)
                .ok_or_else(|| VerityError::Invalid("hash tree size overflows".into()))?;
        }
        Ok(out)
    }
}

/// Outcome of recomputing a tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TreeResult {
    /// The recomputed root hash (lowercase hex).
    pub root_hash: String,
    /// Hash blocks on the hash device that differ from the recomputed ones (level, index), at most 16.
    pub mismatched_blocks: Vec<(usize, u64)>,
    /// Total differing hash blocks.
    pub mismatched_count: u64,
}

fn hash_block(p: &VerityParams, data: &[u8]) -> Vec<u8> {
    macro_rules! h {
        ($t:ty) => {{
            let mut h = <$t>::new();
            if p.hash_type == 1 {
                h.update(&p.salt);
                h.update(data);
            } else {
                h.update(data);
                h.update(&p.salt);
            }
            h.finalize().to_vec()
        }};
    }
    match p.algorithm {
        Algorithm::Sha256 => h!(Sha256),
        Algorithm::Sha512 => h!(Sha512),
    }
}

/// Hashes every `dbs`-sized block of `blocks` into `out`, one digest per `slot` bytes (the slot
/// padding is left as it is). The common format — SHA-256, hash type 1, `H(salt ‖ block)` — goes
/// through the multi-buffer kernel; `scratch` holds its digests between calls.
fn hash_blocks(
    p: &VerityParams,
    blocks: &[u8],
    dbs: usize,
    out: &mut [u8],
    slot: usize,
    scratch: &mut Vec<[u8; 32]>,
) {
    let n = blocks.len() / dbs;
    if p.algorithm == Algorithm::Sha256 && p.hash_type == 1 {
        let bodies: Vec<&[u8]> = blocks.chunks_exact(dbs).collect();
        scratch.clear();
        scratch.resize(n, [0; 32]);
        tape_sha256::hash_many_prefixed(&p.salt, &bodies, scratch);
        for (d, o) in scratch.iter().zip(out.chunks_mut(slot)) {
            o[..32].copy_from_slice(d);
        }
    } else {
        for (blk, o) in blocks.chunks_exact(dbs).zip(out.chunks_mut(slot)) {
            let d = hash_block(p, blk);
            o[..d.len()].copy_from_slice(&d);
        }
    }
}

/// Recomputes the tree over `data` and, when `hash_dev` is given, compares every hash block with the
/// one stored there (tree starting at block `tree_start` of `hash_dev`). `threads` workers hash in
/// parallel; `progress` is called with bytes of data done.
pub fn compute_tree(
    p: &VerityParams,
    data: &dyn ReadAt,
    hash_dev: Option<(&dyn ReadAt, u64)>,
    threads: usize,
    progress: &(dyn Fn(u64) + Sync),
) -> Result<TreeResult, VerityError> {
    p.check()?;
    let need = p.data_size();
    if need / u64::from(p.data_block_size) != p.data_blocks || data.size() < need {
        return Err(VerityError::OutOfBounds {
            what: "data",
            need,
            have: data.size(),
        });
    }
    let hbs = p.hash_block_size as usize;
    let levels = p.levels(hash_dev.map(|(_, s)| s).unwrap_or(1))?;
    if let (Some((dev, _)), Some(&(first, count))) = (hash_dev, levels.first()) {
        let end = first
            .checked_add(count)
            .and_then(|b| b.checked_mul(hbs as u64))
            .unwrap_or(u64::MAX);
        // Level 0 is stored last, so its end is the end of the whole tree.
        if dev.size() < end {
            return Err(VerityError::OutOfBounds {
                what: "hash tree",
                need: end,
                have: dev.size(),
            });
        }
    }
    let slot = p.slot();
    let mut bufs: Vec<Vec<u8>> = levels.iter().map(|_| Vec::with_capacity(hbs)).collect();
    let mut produced: Vec<u64> = vec![0; levels.len()];
    let mut root: Option<Vec<u8>> = None;
    let mut mism = Vec::new();
    let mut mism_count = 0u64;
    let mut stored = vec![0u8; hbs];

    // Emits a finished block of level `lvl`, propagating its digest upward.
    let mut emit =
        |lvl: usize, block: &mut Vec<u8>, produced: &mut [u64]| -> Result<Vec<u8>, VerityError> {
            block.resize(hbs, 0);
            if let Some((dev, _)) = hash_dev {
                let idx = produced[lvl];
                let off = (levels[lvl].0 + idx) * hbs as u64;
                dev.read_exact_at(off, &mut stored)
                    .map_err(|e| VerityError::Io(e.to_string()))?;
                if stored != *block {
                    mism_count += 1;
                    if mism.len() < 16 {
                        mism.push((lvl, idx));
                    }
                }
            }
            produced[lvl] += 1;
            let d = hash_block(p, block);
            block.clear();
            Ok(d)
        };

    let dbs = p.data_block_size as usize;
    let per_super = (SUPER_CHUNK / dbs).max(1) as u64;
    let nsuper = p.data_blocks.div_ceil(per_super);
    let threads = threads.clamp(1, 64);
    let next = AtomicU64::new(0);
    let consumed = AtomicU64::new(0);
    let window = (threads as u64) * 8;
    let digest_size = p.algorithm.digest_size();
    // Workers: each takes the next super-chunk, reads it piece by piece into a small buffer that stays
    // in cache and hashes it at once, and sends the digests; the main thread re-orders and feeds them
    // into the upper levels. At most `window` super-chunks are in flight, so memory stays bounded.
    //
    // Workers never wait on a thread that may have returned (issue 8 case 7): the main thread can
    // leave the loop below early (`?` on a read error, a hash-device error, a panic), after which
    // `consumed` never advances again. `stop` is set by a guard dropped on *every* exit from the
    // main side, and every wait and every piece of work in the workers checks it, so the scope's
    // implicit join always ends.
    let stop = AtomicBool::new(false);
    let feed_result: Result<(), VerityError> = std::thread::scope(|s| {
        let (tx, rx) = mpsc::sync_channel::<(u64, Result<Vec<u8>, VerityError>)>(window as usize);
        for _ in 0..threads {
            let tx = tx.clone();
            let (next, consumed, stop) = (&next, &consumed, &stop);
            s.spawn(move || {
                // A worker that panics never sends its chunk, so the main side would wait for it
                // while the other workers wait for the main side: stop them all instead.
                let _stop_on_panic = StopOnPanic(stop);
                let mut buf = vec![0u8; PIECE.max(dbs)];
                let mut scratch = Vec::new();
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= nsuper || stop.load(Ordering::Acquire) {
                        break;
                    }
                    while i >= consumed.load(Ordering::Acquire) + window {
                        if stop.load(Ordering::Acquire) {
                            return;
                        }
                        std::thread::park_timeout(std::time::Duration::from_millis(1));
                    }
                    let first = i * per_super;
                    let n = per_super.min(p.data_blocks - first) as usize;
                    let mut out = vec![0u8; n * slot];
                    let per_piece = (buf.len() / dbs).max(1);
                    let mut res = Ok(());
                    let mut b = 0usize;
                    while b < n {
                        if stop.load(Ordering::Acquire) {
                            return;
                        }
                        let k = per_piece.min(n - b);
                        let piece = &mut buf[..k * dbs];
                        if let Err(e) = data.read_exact_at((first + b as u64) * dbs as u64, piece) {
                            res = Err(VerityError::Io(e.to_string()));
                            break;
                        }
                        hash_blocks(p, piece, dbs, &mut out[b * slot..], slot, &mut scratch);
                        b += k;
                    }
                    if tx.send((i, res.map(|_| out))).is_err() {
                        break;
                    }
                }
            });
        }
        drop(tx);
        let _stop_workers = StopOnDrop(&stop);
        let mut pending: BTreeMap<u64, Result<Vec<u8>, VerityError>> = BTreeMap::new();
        let mut want = 0u64;
        for (i, r) in rx {
            pending.insert(i, r);
            while let Some(r) = pending.remove(&want) {
                let dg = r?;
                if levels.is_empty() {
                    // A single data block: the root is its hash.
                    root = Some(dg[..digest_size].to_vec());
                } else {
                    for d in dg.chunks(slot) {
                        bufs[0].extend_from_slice(d);
                        let mut lvl = 0;
                        while bufs[lvl].len() >= hbs {
                            let mut blk = std::mem::take(&mut bufs[lvl]);
                            let dgst = emit(lvl, &mut blk, &mut produced)?;
                            bufs[lvl] = blk;
                            if lvl + 1 < levels.len() {
                                push_digest(&mut bufs[lvl + 1], &dgst, slot);
                                lvl += 1;
                            } else {
                                root = Some(dgst);
                                break;
                            }
                        }
                    }
                }
                want += 1;
                consumed.store(want, Ordering::Release);
                progress((want * per_super).min(p.data_blocks) * dbs as u64);
            }
        }
        if want < nsuper {
            return Err(VerityError::Io("a hashing thread stopped early".into()));
        }
        Ok(())
    });
    feed_result?;
    // Flush partial blocks bottom-up.
    for lvl in 0..levels.len() {
        if !bufs[lvl].is_empty() {
            let mut blk = std::mem::take(&mut bufs[lvl]);
            let dgst = emit(lvl, &mut blk, &mut produced)?;
            if lvl + 1 < levels.len() {
                push_digest(&mut bufs[lvl + 1], &dgst, slot);
            } else {
                root = Some(dgst);
            }
        }
    }
    let root = root.ok_or_else(|| VerityError::Invalid("tree produced no root".into()))?;
    Ok(TreeResult {
        root_hash: hex::encode(root),
        mismatched_blocks: mism,
        mismatched_count: mism_count,
    })
}

/// Sets its flag when dropped: the main side of a parallel stage holds one, so however it leaves
/// (return, `?`, panic) the workers see the stop.
struct StopOnDrop<'a>(&'a AtomicBool);

impl Drop for StopOnDrop<'_> {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Release);
    }
}

/// Sets its flag when dropped during a panic (a worker unwinding).
struct StopOnPanic<'a>(&'a AtomicBool);

impl Drop for StopOnPanic<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.0.store(true, Ordering::Release);
        }
    }
}

fn push_digest(buf: &mut Vec<u8>, d: &[u8], slot: usize) {
    buf.extend_from_slice(d);
    buf.resize(buf.len() + (slot - d.len()), 0);
}

#[cfg(test)]
mod tests {
    use super::*;

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
                        matches!(&r, Err(VerityError::Io(m)) if m.contains("shrank")),
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
        assert_eq!(
            parse_superblock(&[0u8; 100]),
            Err(VerityError::NoSuperblock)
        );
        sb[32..38].copy_from_slice(b"md5\0\0\0");
        assert!(parse_superblock(&sb).is_err());
    }
}
