//! The one table of budgets that keeps a hostile image or root from exhausting memory, time or disk.
//!
//! An attacker who plants an image knows extwatch will read it and has read this file. Every reader,
//! walker and hasher takes its caps from here, so the whole set can be reviewed in one place. Going
//! over a budget is never a crash and never silent: the reader returns [`crate::FsError::TooMany`] /
//! [`crate::FsError::TooLarge`] (a per-image error with the reason), and the auditor turns that
//! into a finding or an error on the image.
//!
//! | budget | value | why this size |
//! |---|---|---|
//! | [`MAX_ENTRIES`] | 4 Mi | a full distribution `/usr` has 100–300k entries |
//! | [`MAX_DIR_ENTRIES`] | 1 Mi | entries in one directory listing |
//! | [`MAX_DEPTH`] | 4,096 | directory nesting; `PATH_MAX` allows at most 2,048 levels of 1-byte names |
//! | [`MAX_NAME_LEN`] | 255 | `NAME_MAX`; squashfs and erofs cannot store longer names for the kernel |
//! | [`MAX_PATH_LEN`] | 64 KiB | longest path a walk builds (deep trees of long names are refused past it) |
//! | [`MAX_LINK_LEN`] | 4,096 | `PATH_MAX`: the kernel refuses longer symlink targets |
//! | [`MAX_XATTRS`] / [`MAX_XATTR_VALUE`] | 1,024 / 64 KiB | the kernel's `XATTR_SIZE_MAX` |
//! | [`MAX_METADATA_BYTES`] | 512 MiB | decompressed inode + directory tables read per image |
//! | [`METADATA_CACHE`] | 256 blocks | decompressed 8 KiB metadata blocks kept (2 MiB) |
//! | [`MAX_BLOCK_REFS`] | 2^26 | data-block references (blocks × links) a squashfs may make |
//! | [`DIR_CACHE_ENTRIES`] / [`DIR_CACHE_LISTINGS`] | 64 Ki / 256 | directory entries (name → inode) an erofs reader keeps for path lookups (≈ 4 MiB with 255-byte names) |
//! | [`PATH_CACHE`] | 8 | resolved directory paths (nid chains, ≤ [`MAX_DEPTH`] each) an erofs reader keeps, so a walk resolves only the last component |
//! | [`MAX_DECODED_EXTENT`] | 12 MiB | one decompressed erofs extent (erofs-rs refuses larger ones) |
//! | [`FRAGMENT_CACHE`] | 32 MiB | decompressed erofs packed-inode (fragment) data kept, so small files packed into one compressed cluster decompress it once, not once each |
//! | [`MAX_SLURP`] | 64 MiB | whole-file reads of non-streaming readers |
//! | [`CHUNK`] | 256 KiB | streaming read piece |
//! | [`MAX_RELEASE_TOTAL`] | 256 MiB | extension-release bytes read across all images of one run |
//! | [`MAX_TRUST_STORE_TOTAL`] | 64 MiB | certificate bytes read across all trust stores |
//! | [`MAX_IMAGE_HASH`] | 64 GiB | a `.raw` file's identity SHA-256 is computed up to this size |
//! | [`MAX_HASH_PER_RUN`] | 256 GiB | bytes hashed for identity and evidence in one run |
//! | [`EVIDENCE_HASH_SECONDS`] | 600 | wall clock spent hashing evidence in one run |
//! | [`IMPLAUSIBLE_IMAGE_SIZE`] | 16 GiB | a sysext/confext larger than this is itself worth a finding |
//! | [`EVIDENCE_BATCH`] | 1 GiB | evidence bytes hashed between two looks at the evidence clock |
//! | [`MAX_REPORT_VALUE`] | 4 KiB | a release value copied into the report (longer: cut, with a marker) |
//! | [`MAX_REPORT_KEYS`] / [`MAX_REPORT_KEY`] | 256 / 128 | release keys copied into the report, and their length |
//! | [`MAX_UNIT_FILE`] | 1 MiB | a unit file or drop-in read for the image policy (each file read once) |

/// Most entries (directory entries, inodes) an image may have.
pub const MAX_ENTRIES: usize = 1 << 22;
/// Most data-block references the directory entries of a squashfs may make in all (blocks × hard
/// links).
pub const MAX_BLOCK_REFS: u64 = 1 << 26;
/// Most entries one directory listing returns before failing.
pub const MAX_DIR_ENTRIES: usize = 1 << 20;
/// Deepest directory nesting a walk descends into.
pub const MAX_DEPTH: usize = 4096;
/// Longest file name (one path component).
pub const MAX_NAME_LEN: usize = 255;
/// Longest path a walk builds.
pub const MAX_PATH_LEN: usize = 64 * 1024;
/// Longest symlink target read (`PATH_MAX`).
pub const MAX_LINK_LEN: usize = 4096;
/// Most xattrs returned for one inode.
pub const MAX_XATTRS: usize = 1024;
/// Largest single xattr value.
pub const MAX_XATTR_VALUE: usize = 64 * 1024;
/// Most decompressed metadata (inode and directory tables) read from one image.
pub const MAX_METADATA_BYTES: u64 = 512 * 1024 * 1024;
/// Decompressed metadata blocks a reader keeps cached.
pub const METADATA_CACHE: usize = 256;
/// Directory entries (name and inode number) an erofs reader keeps across cached listings; the two
/// newest listings are kept whatever their size (each is at most [`MAX_DIR_ENTRIES`]).
pub const DIR_CACHE_ENTRIES: usize = 1 << 16;
/// Directory listings an erofs reader keeps.
pub const DIR_CACHE_LISTINGS: usize = 256;
/// Resolved directory paths (the inode numbers of every ancestor) an erofs reader keeps.
pub const PATH_CACHE: usize = 8;
/// Largest decompressed erofs extent read at once (erofs-rs's own cap on a decoded cluster).
pub const MAX_DECODED_EXTENT: usize = 12 * 1024 * 1024;
/// Decompressed bytes of an erofs packed inode (the fragments of `mkfs.erofs -E fragments`) kept
/// across file reads.
pub const FRAGMENT_CACHE: usize = 32 * 1024 * 1024;
/// Largest file [`crate::FsReader::read_file_chunks`]'s default implementation (which reads the
/// whole file at once) accepts; readers with real streaming have no such limit.
pub const MAX_SLURP: u64 = 64 * 1024 * 1024;
/// Size of the chunks streaming readers hand out.
pub const CHUNK: usize = 256 * 1024;
/// extension-release bytes read across all images in one run (each file is also capped at
/// systemd's `READ_FULL_BYTES_MAX`, [`crate::osrelease::MAX_RELEASE_SIZE`]).
pub const MAX_RELEASE_TOTAL: u64 = 256 * 1024 * 1024;
/// Certificate bytes read across all trust stores in one run (each file is capped at
/// `MAX_CERT_FILE` in extwatch-core's `provenance/pkcs7.rs`); hard links to one file are read once.
pub const MAX_TRUST_STORE_TOTAL: u64 = 64 * 1024 * 1024;
/// Largest image file whose whole-file SHA-256 is computed; larger ones are reported as not hashed
/// with their size and allocated size.
pub const MAX_IMAGE_HASH: u64 = 64 * 1024 * 1024 * 1024;
/// Bytes hashed (image identity and evidence) in one run.
pub const MAX_HASH_PER_RUN: u64 = 256 * 1024 * 1024 * 1024;
/// Wall-clock seconds spent hashing evidence in one run.
pub const EVIDENCE_HASH_SECONDS: u64 = 600;
/// An extension image larger than this is itself worth a finding (real ones are MiBs to a few GiB).
pub const IMPLAUSIBLE_IMAGE_SIZE: u64 = 16 * 1024 * 1024 * 1024;
/// Evidence bytes hashed between two looks at the [`EVIDENCE_HASH_SECONDS`] clock (one batch
/// takes a second or two, so the clock holds to within that).
pub const EVIDENCE_BATCH: u64 = 1 << 30;
/// Longest extension-release value copied into the report; the verdict uses the whole value.
pub const MAX_REPORT_VALUE: usize = 4096;
/// Most extension-release keys copied into the report (the ones systemd compares come first).
pub const MAX_REPORT_KEYS: usize = 256;
/// Longest extension-release key copied into the report.
pub const MAX_REPORT_KEY: usize = 128;
/// Largest unit file or drop-in read when working out the effective image policy.
pub const MAX_UNIT_FILE: u64 = 1024 * 1024;
