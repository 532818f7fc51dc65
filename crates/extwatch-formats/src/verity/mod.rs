//! dm-verity: the superblock `veritysetup format` writes, and the hash tree recomputed from the data.
//!
//! Hand-written because no maintained crate does this (docs/crates.md job 2): the format is
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
//!
//! Split by concern: `superblock` is the on-disk header and the parameters and tree geometry it
//! implies (pure, over bytes); `tree` recomputes and compares the hash tree (I/O through
//! [`ReadAt`](crate::ReadAt) and worker threads). The error type below is shared by both.

mod superblock;
mod tree;

#[cfg(test)]
mod tests;

pub use superblock::{parse_superblock, Algorithm, VerityParams};
pub use tree::{compute_tree, TreeResult};

/// Size of the on-disk superblock.
pub const SUPERBLOCK_SIZE: usize = 512;
/// Deepest tree cryptsetup accepts (`VERITY_MAX_LEVELS`).
pub const MAX_LEVELS: usize = 63;

/// Errors about verity metadata or data. A read error is kept typed in [`VerityError::Io`] but not
/// exposed as `source()`: the message embeds its text (reports show it), so a chain printer would
/// show it twice.
#[derive(Debug, thiserror::Error)]
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
    Io(std::io::Error),
    /// A hashing thread ended without delivering its part (it panicked).
    #[error("I/O error: a hashing thread stopped early")]
    WorkerStopped,
}
