//! Recomputing the hash tree from the data device, streaming and in parallel, and comparing every
//! finished hash block with the one stored on the hash device (see the parent module for the layout
//! and why level 0 goes through `tape-sha256`).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc;

use sha2::{Digest, Sha256, Sha512};

use super::{Algorithm, VerityError, VerityParams};
use crate::readat::ReadAt;

/// Data handed to one worker at a time.
pub(super) const SUPER_CHUNK: usize = 1024 * 1024;
/// Bytes a worker reads and hashes at once: small enough to stay in its core's cache between the
/// copy out of the page cache and the hashing (an 8 MiB buffer ran at half the hash speed).
const PIECE: usize = 64 * 1024;

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

pub(super) fn hash_block(p: &VerityParams, data: &[u8]) -> Vec<u8> {
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
pub(super) fn hash_blocks(
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
            if let Some(o) = o.get_mut(..32) {
                o.copy_from_slice(d); // a slot is at least a SHA-256 digest
            }
        }
    } else {
        for (blk, o) in blocks.chunks_exact(dbs).zip(out.chunks_mut(slot)) {
            let d = hash_block(p, blk);
            if let Some(o) = o.get_mut(..d.len()) {
                o.copy_from_slice(&d); // a slot is at least a digest
            }
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
                let idx = *produced.get(lvl).ok_or_else(|| no_level(lvl))?;
                let first = levels.get(lvl).ok_or_else(|| no_level(lvl))?.0;
                let off = (first + idx) * hbs as u64;
                dev.read_exact_at(off, &mut stored)
                    .map_err(VerityError::Io)?;
                if stored != *block {
                    mism_count += 1;
                    if mism.len() < 16 {
                        mism.push((lvl, idx));
                    }
                }
            }
            *produced.get_mut(lvl).ok_or_else(|| no_level(lvl))? += 1;
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
                        // k ≤ per_piece = buf.len() / dbs, so the piece is inside buf.
                        let Some(piece) = buf.get_mut(..k * dbs) else {
                            res = Err(VerityError::Invalid(
                                "internal: piece outside buffer".into(),
                            ));
                            break;
                        };
                        if let Err(e) = data.read_exact_at((first + b as u64) * dbs as u64, piece) {
                            res = Err(VerityError::Io(e));
                            break;
                        }
                        let out = out.get_mut(b * slot..).unwrap_or_default();
                        hash_blocks(p, piece, dbs, out, slot, &mut scratch);
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
                    root = dg.get(..digest_size).map(<[u8]>::to_vec);
                } else {
                    for d in dg.chunks(slot) {
                        level(&mut bufs, 0)?.extend_from_slice(d);
                        let mut lvl = 0;
                        while level(&mut bufs, lvl)?.len() >= hbs {
                            let mut blk = std::mem::take(level(&mut bufs, lvl)?);
                            let dgst = emit(lvl, &mut blk, &mut produced)?;
                            *level(&mut bufs, lvl)? = blk;
                            if lvl + 1 < levels.len() {
                                push_digest(level(&mut bufs, lvl + 1)?, &dgst, slot);
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
            return Err(VerityError::WorkerStopped);
        }
        Ok(())
    });
    feed_result?;
    // Flush partial blocks bottom-up.
    for lvl in 0..levels.len() {
        if !level(&mut bufs, lvl)?.is_empty() {
            let mut blk = std::mem::take(level(&mut bufs, lvl)?);
            let dgst = emit(lvl, &mut blk, &mut produced)?;
            if lvl + 1 < levels.len() {
                push_digest(level(&mut bufs, lvl + 1)?, &dgst, slot);
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

/// The error for a tree level that does not exist (cannot happen: every level index is below
/// `levels.len()`, the length of every per-level vector).
fn no_level(lvl: usize) -> VerityError {
    VerityError::Invalid(format!("internal: no tree level {lvl}"))
}

/// The partial hash block of level `lvl`.
fn level(bufs: &mut [Vec<u8>], lvl: usize) -> Result<&mut Vec<u8>, VerityError> {
    bufs.get_mut(lvl).ok_or_else(|| no_level(lvl))
}

fn push_digest(buf: &mut Vec<u8>, d: &[u8], slot: usize) {
    buf.extend_from_slice(d);
    buf.resize(buf.len() + (slot - d.len()), 0);
}
