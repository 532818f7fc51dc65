//! Hashing file contents in parallel with bounded memory (what [`super::walk`] listed), and the
//! whole-file identity hash of an image file within the run's budgets.

use std::os::fd::{AsFd, BorrowedFd};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;

use extwatch_formats::{limits, EntryKind, FsReader};
use sha2::{Digest, Sha256};

use super::walk::{lossy, RESOLVE_STRICT};
use crate::content::{Content, FileEntry};
use crate::host::budget::{HashBudgetSpent, RunBudget};

/// Why file contents could not be hashed. Causes are chained where they end the message
/// ([`crate::error::chain`] or `{:#}` print `path: cause`).
#[derive(Debug, thiserror::Error)]
pub enum HashError {
    /// The distinct contents add up to more than the cap.
    #[error("files add up to {total} bytes, more than the hashing limit of {limit}")]
    TooMuch {
        /// Bytes that would be read.
        total: u64,
        /// The cap.
        limit: u64,
    },
    /// Reading a file of a parsed image failed.
    #[error("{path}")]
    Read {
        /// The file.
        path: String,
        /// Why.
        #[source]
        source: extwatch_formats::FsError,
    },
    /// A file of a directory image cannot be opened as a regular file (the cause sits inside the
    /// message, so it is not chained).
    #[error("{path}: cannot open: {cause} (directory image changed during the walk?)")]
    Open {
        /// The file.
        path: String,
        /// Why.
        cause: std::io::Error,
    },
    /// Reading a file of a directory image failed.
    #[error("{path}")]
    ReadFd {
        /// The file.
        path: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The bytes read differ from the listed size.
    #[error(
        "{path}: read {read} bytes, but the listing says {listed} (image changed or malformed)"
    )]
    SizeChanged {
        /// The file.
        path: String,
        /// Bytes read.
        read: u64,
        /// Size in the listing.
        listed: u64,
    },
    /// A hashing thread died or left work undone.
    #[error("internal: {0}")]
    Internal(&'static str),
}

/// [`hash_files_limited`] without a cap on the bytes hashed.
pub fn hash_files(
    content: &Content,
    entries: &mut [FileEntry],
    threads: usize,
) -> Result<(), HashError> {
    hash_files_limited(content, entries, threads, u64::MAX)
}

/// Computes the SHA-256 of every regular file in `entries` (from [`walk`](super::walk::walk) of `content`) on
/// `threads` threads sharing the one opened image (readers are `Sync`; reopening per thread would
/// index a squashfs tree once per thread). Content stored once (hard links, deduplicated squashfs
/// data: [`FileEntry::content_id`]) is read once. File content is streamed in bounded chunks.
/// Fails before reading anything when the distinct contents add up to more than
/// `max_total_bytes`.
pub fn hash_files_limited(
    content: &Content,
    entries: &mut [FileEntry],
    threads: usize,
    max_total_bytes: u64,
) -> Result<(), HashError> {
    const BIG: u64 = 1 << 20;
    // Content stored once is hashed once: later entries with the same content id copy the hash.
    let mut first_of: std::collections::HashMap<[u64; 3], usize> = std::collections::HashMap::new();
    let mut copies: Vec<(usize, usize)> = Vec::new();
    let mut total = 0u64;
    for (i, e) in entries.iter().enumerate() {
        // Empty files need no reading (below), so they need no identity either.
        if e.kind != EntryKind::File || e.size == 0 {
            continue;
        }
        if let Some(id) = e.content_id {
            if let Some(&f) = first_of.get(&id) {
                copies.push((i, f));
                continue;
            }
            first_of.insert(id, i);
        }
        total = total.saturating_add(e.size);
    }
    drop(first_of);
    if total > max_total_bytes {
        return Err(HashError::TooMuch {
            total,
            limit: max_total_bytes,
        });
    }
    let empty: [u8; 32] = Sha256::digest([]).into();
    // Big files (with their sizes) first, largest first, so no thread is left with a big one at
    // the end; then the small ones in listing order.
    let mut big: Vec<(u64, usize)> = Vec::new();
    let mut small: Vec<usize> = Vec::new();
    let mut is_copy = vec![false; entries.len()];
    for &(i, _) in &copies {
        if let Some(c) = is_copy.get_mut(i) {
            *c = true;
        }
    }
    for ((i, e), &copy) in entries.iter_mut().enumerate().zip(&is_copy) {
        if e.kind != EntryKind::File || copy {
            continue;
        }
        if e.size == 0 {
            // Readers deliver exactly the inode size, so nothing needs reading.
            e.sha256 = Some(empty);
        } else if e.size >= BIG {
            big.push((e.size, i));
        } else {
            small.push(i);
        }
    }
    // Stable, as before: equal sizes keep listing order.
    big.sort_by_key(|&(size, _)| std::cmp::Reverse(size));
    let jobs: Vec<usize> = big.into_iter().map(|(_, i)| i).chain(small).collect();
    hash_jobs(content, entries, &jobs, threads)?;
    for (i, f) in copies {
        let h = entries.get(f).and_then(|e| e.sha256);
        if let Some(e) = entries.get_mut(i) {
            e.sha256 = h;
        }
    }
    Ok(())
}

/// Hashes `entries[j]` for every `j` in `jobs` on `threads` threads sharing `content`.
fn hash_jobs(
    content: &Content,
    entries: &mut [FileEntry],
    jobs: &[usize],
    threads: usize,
) -> Result<(), HashError> {
    if jobs.is_empty() {
        return Ok(());
    }
    let threads = threads.clamp(1, 64).min(jobs.len());
    let next = AtomicUsize::new(0);
    let stop = AtomicBool::new(false);
    let results: Mutex<Vec<(usize, [u8; 32])>> = Mutex::new(Vec::with_capacity(jobs.len()));
    let first_err: Mutex<Option<HashError>> = Mutex::new(None);
    let ro: &[FileEntry] = entries;
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| {
                let fail = |msg: HashError| {
                    stop.store(true, Ordering::Relaxed);
                    if let Ok(mut f) = first_err.lock() {
                        f.get_or_insert(msg);
                    }
                };
                let hasher = match Hasher::new(content) {
                    Ok(h) => h,
                    Err(e) => return fail(e),
                };
                let mut local = Vec::new();
                while !stop.load(Ordering::Relaxed) {
                    let j = next.fetch_add(1, Ordering::Relaxed);
                    // An index past the listing stops this thread; the count check below reports
                    // the job as undone.
                    let Some((i, e)) = jobs.get(j).and_then(|&i| Some((i, ro.get(i)?))) else {
                        break;
                    };
                    match hasher.hash(e) {
                        Ok(h) => local.push((i, h)),
                        Err(e) => return fail(e),
                    }
                }
                if let Ok(mut r) = results.lock() {
                    r.extend(local);
                }
            });
        }
    });
    if let Some(e) = first_err.into_inner().ok().flatten() {
        return Err(e);
    }
    let results = results
        .into_inner()
        .map_err(|_| HashError::Internal("hashing thread panicked"))?;
    if results.len() != jobs.len() {
        return Err(HashError::Internal("not every file was hashed"));
    }
    for (i, h) in results {
        let e = entries
            .get_mut(i)
            .ok_or(HashError::Internal("a hash for a file not in the listing"))?;
        e.sha256 = Some(h);
    }
    Ok(())
}

/// Hashes files of one opened image.
enum Hasher<'a> {
    Fs(&'a dyn FsReader),
    Dir(BorrowedFd<'a>),
}

impl<'a> Hasher<'a> {
    fn new(c: &'a Content) -> Result<Hasher<'a>, HashError> {
        Ok(match c {
            Content::Fs(fs) => Hasher::Fs(fs.as_ref()),
            Content::Dir(r) => Hasher::Dir(r.dir_fd()),
        })
    }

    fn hash(&self, e: &FileEntry) -> Result<[u8; 32], HashError> {
        let mut h = Sha256::new();
        let n = match self {
            Hasher::Fs(fs) => fs
                .read_file_chunks(&e.path, &mut |c| {
                    h.update(c);
                    Ok(())
                })
                .map_err(|source| HashError::Read {
                    path: lossy(&e.path),
                    source,
                })?,
            Hasher::Dir(root) => {
                // O_PATH, fstat, re-open only a regular file (rootfs module doc): a file swapped
                // for a FIFO or a device node since the walk is reported, never opened.
                let fd = crate::host::rootfs::open_regular_at(*root, &e.path, RESOLVE_STRICT, true)
                    .map_err(|cause| HashError::Open {
                        path: lossy(&e.path),
                        cause,
                    })?;
                read_fd(fd.as_fd(), &mut h).map_err(|source| HashError::ReadFd {
                    path: lossy(&e.path),
                    source,
                })?
            }
        };
        if n != e.size {
            return Err(HashError::SizeChanged {
                path: lossy(&e.path),
                read: n,
                listed: e.size,
            });
        }
        Ok(h.finalize().into())
    }
}

fn read_fd(fd: std::os::fd::BorrowedFd<'_>, h: &mut Sha256) -> std::io::Result<u64> {
    let mut buf = vec![0u8; 256 * 1024];
    let mut total = 0u64;
    loop {
        match rustix::io::read(fd, buf.as_mut_slice()) {
            Ok(0) => return Ok(total),
            Ok(n) => {
                h.update(got(&buf, n)?);
                total += n as u64;
            }
            Err(rustix::io::Errno::INTR) => {}
            Err(e) => return Err(e.into()),
        }
    }
}

/// Why an image file's identity hash was not computed.
#[derive(Debug, thiserror::Error)]
pub enum HashSkip {
    /// Over the per-image cap: reported as `not_hashed`, the image is not malformed for it.
    #[error(
        "{size} bytes, over the {}-byte cap on image hashing (MAX_IMAGE_HASH)",
        limits::MAX_IMAGE_HASH
    )]
    TooBig {
        /// The file's size.
        size: u64,
    },
    /// Over the run's budget: reported as `not_hashed` too.
    #[error(transparent)]
    Budget(#[from] HashBudgetSpent),
    /// Reading failed.
    #[error(transparent)]
    Io(std::io::Error),
}

/// The identity SHA-256 of an image file of `size` bytes (from `fstat`), within the budgets: files
/// over [`limits::MAX_IMAGE_HASH`] are not hashed (a sparse 1 TiB `.raw` is 4 KB on disk and took
/// 23 minutes to hash, issue 8 case 6), and the bytes are charged to the run's
/// [`limits::MAX_HASH_PER_RUN`] before reading.
pub fn hash_image(f: &std::fs::File, size: u64, budget: &RunBudget) -> Result<String, HashSkip> {
    if size > limits::MAX_IMAGE_HASH {
        return Err(HashSkip::TooBig { size });
    }
    budget.take_hash(size)?;
    hash_file_capped(f, limits::MAX_IMAGE_HASH).map_err(HashSkip::Io)
}

/// SHA-256 of a whole file, streamed; fails rather than read more than [`limits::MAX_IMAGE_HASH`]
/// bytes (a file that grows while it is hashed is stopped too).
pub fn hash_file(f: &std::fs::File) -> std::io::Result<String> {
    hash_file_capped(f, limits::MAX_IMAGE_HASH)
}

fn hash_file_capped(f: &std::fs::File, cap: u64) -> std::io::Result<String> {
    // Positional reads: the descriptor's offset may be shared with a clone used elsewhere.
    let mut h = Sha256::new();
    let mut buf = vec![0u8; limits::CHUNK];
    let mut off = 0u64;
    loop {
        let n = match std::os::unix::fs::FileExt::read_at(f, &mut buf, off) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        off += n as u64;
        if off > cap {
            return Err(std::io::Error::other(format!(
                "not hashed: the file is larger than the {cap}-byte cap (MAX_IMAGE_HASH)"
            )));
        }
        h.update(got(&buf, n)?);
    }
    Ok(hex::encode(h.finalize()))
}

/// The first `n` bytes of `buf`, which a read into `buf` reported filling (so `n <= buf.len()`);
/// an error rather than a panic should a reader ever claim more.
fn got(buf: &[u8], n: usize) -> std::io::Result<&[u8]> {
    buf.get(..n).ok_or_else(|| {
        std::io::Error::other(format!(
            "a read reported {n} bytes into a {}-byte buffer",
            buf.len()
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::host::budget::RunBudget;
    use extwatch_formats::limits;

    /// The identity hash within its budgets: over the per-image cap nothing is read; past the
    /// run's budget nothing is read; both say which budget.
    #[test]
    fn image_hash_respects_the_caps() {
        let dir = tempfile::tempdir().unwrap();
        let rw = |n: &str| {
            std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(true)
                .open(dir.path().join(n))
                .unwrap()
        };
        let sparse = rw("huge.raw");
        sparse.set_len(limits::MAX_IMAGE_HASH + 1).unwrap();
        let b = RunBudget::default();
        let start = std::time::Instant::now();
        match hash_image(&sparse, limits::MAX_IMAGE_HASH + 1, &b) {
            Err(w @ HashSkip::TooBig { .. }) => {
                assert!(w.to_string().contains("MAX_IMAGE_HASH"), "{w}")
            }
            other => panic!("{other:?}"),
        }
        assert!(start.elapsed() < std::time::Duration::from_secs(30));
        let small = rw("small.raw");
        small.set_len(100).unwrap();
        let b = RunBudget::new(0, 150, std::time::Duration::from_secs(1));
        assert!(hash_image(&small, 100, &b).is_ok());
        match hash_image(&small, 100, &b) {
            Err(HashSkip::Budget(w)) => assert!(w.to_string().contains("MAX_HASH_PER_RUN"), "{w}"),
            other => panic!("{other:?}"),
        }
        // A file that grows past the cap while it is hashed is stopped, not followed.
        let grown = rw("grown.raw");
        grown.set_len(3 * limits::CHUNK as u64).unwrap();
        assert!(hash_file_capped(&grown, limits::CHUNK as u64).is_err());
    }
}
