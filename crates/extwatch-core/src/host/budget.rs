//! Budgets one audit run shares across all its images and threads (the per-run rows of
//! [`extwatch_formats::limits`]): extension-release bytes read, bytes hashed for image identity and
//! finding evidence, and the wall clock spent hashing evidence.
//!
//! Per-file caps stop one planted file; these stop many. A root can hold any number of sparse
//! files that cost nothing to store and hours to hash, or a dozen 64 MB release files each under
//! systemd's own limit. Every refusal carries a reason naming the budget, and the caller turns it
//! into an error or a finding: a budget is never spent silently.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use extwatch_formats::limits;

use crate::content::FileEntry;
use crate::inventory::release::ReleaseBudget;
use extwatch_formats::EntryKind;

/// The budgets of one run.
#[derive(Debug)]
pub struct RunBudget {
    /// extension-release bytes ([`limits::MAX_RELEASE_TOTAL`]).
    pub release: ReleaseBudget,
    hash_total: u64,
    hash_left: AtomicU64,
    evidence_limit: Duration,
    evidence_start: OnceLock<Instant>,
}

impl Default for RunBudget {
    fn default() -> Self {
        RunBudget::new(
            limits::MAX_RELEASE_TOTAL,
            limits::MAX_HASH_PER_RUN,
            Duration::from_secs(limits::EVIDENCE_HASH_SECONDS),
        )
    }
}

impl RunBudget {
    /// A run with these budgets (tests use small ones; the CLI uses [`RunBudget::default`]).
    pub fn new(release_bytes: u64, hash_bytes: u64, evidence_time: Duration) -> RunBudget {
        RunBudget {
            release: ReleaseBudget::new(release_bytes),
            hash_total: hash_bytes,
            hash_left: AtomicU64::new(hash_bytes),
            evidence_limit: evidence_time,
            evidence_start: OnceLock::new(),
        }
    }

    /// Charges `n` bytes of hashing to the run, or says why not (nothing is charged then).
    pub fn take_hash(&self, n: u64) -> Result<(), String> {
        self.hash_left
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |l| l.checked_sub(n))
            .map(|_| ())
            .map_err(|left| {
                format!(
                    "the run's hashing budget (MAX_HASH_PER_RUN, {} bytes) is spent: {n} bytes \
                     needed, {left} left",
                    self.hash_total
                )
            })
    }

    /// The evidence files of `sel` that may still be hashed: none once
    /// [`limits::EVIDENCE_HASH_SECONDS`] have passed since evidence hashing began (the clock starts
    /// at the first call), and only as many as the byte budget covers. What is left out is said in
    /// one message pushed to `errors`, naming `what` (an image or the base of a hierarchy).
    pub fn admit_evidence(
        &self,
        what: &str,
        sel: Vec<FileEntry>,
        errors: &mut Vec<String>,
    ) -> Vec<FileEntry> {
        if sel.is_empty() {
            return sel;
        }
        let start = *self.evidence_start.get_or_init(Instant::now);
        if start.elapsed() > self.evidence_limit {
            errors.push(format!(
                "{what}: {} files not hashed for evidence: the wall-clock budget for evidence \
                 hashing (EVIDENCE_HASH_SECONDS, {} s) is spent",
                sel.len(),
                self.evidence_limit.as_secs()
            ));
            return Vec::new();
        }
        let mut kept = Vec::with_capacity(sel.len());
        let (mut refused, mut refused_bytes, mut why) = (0usize, 0u64, None);
        for e in sel {
            let n = if e.kind == EntryKind::File { e.size } else { 0 };
            match self.take_hash(n) {
                Ok(()) => kept.push(e),
                Err(w) => {
                    refused += 1;
                    refused_bytes = refused_bytes.saturating_add(n);
                    why.get_or_insert(w);
                }
            }
        }
        if let Some(w) = why {
            errors.push(format!(
                "{what}: {refused} files ({refused_bytes} bytes) not hashed for evidence: {w}"
            ));
        }
        kept
    }
}

/// Evidence bytes hashed between two looks at the clock.
pub use limits::EVIDENCE_BATCH;

impl RunBudget {
    /// True once [`limits::EVIDENCE_HASH_SECONDS`] have passed since evidence hashing began.
    fn evidence_expired(&self) -> bool {
        self.evidence_start
            .get()
            .is_some_and(|s| s.elapsed() > self.evidence_limit)
    }

    /// Hashes the admitted evidence files `sel` with `hash`, in batches of at most
    /// [`EVIDENCE_BATCH`] bytes, looking at the clock before each: once the wall-clock budget is
    /// spent the rest stay unhashed and one message in `errors` says how many. An error from
    /// `hash` is returned as is.
    pub fn hash_evidence(
        &self,
        what: &str,
        sel: &mut [FileEntry],
        errors: &mut Vec<String>,
        hash: &mut dyn FnMut(&mut [FileEntry]) -> Result<(), String>,
    ) -> Result<(), String> {
        self.evidence_start.get_or_init(Instant::now);
        let mut start = 0;
        while start < sel.len() {
            if self.evidence_expired() {
                errors.push(format!(
                    "{what}: {} files not hashed for evidence: the wall-clock budget for \
                     evidence hashing (EVIDENCE_HASH_SECONDS, {} s) is spent",
                    sel.len() - start,
                    self.evidence_limit.as_secs()
                ));
                return Ok(());
            }
            let mut end = start;
            let mut bytes = 0u64;
            while let Some(e) = sel.get(end) {
                if end > start && bytes.saturating_add(e.size) > EVIDENCE_BATCH {
                    break;
                }
                bytes = bytes.saturating_add(e.size);
                end += 1;
            }
            hash(&mut sel[start..end])?;
            start = end;
        }
        Ok(())
    }
}

impl RunBudget {
    /// Hashes every regular file of `entries` for `--baseline` with `hash`: a file larger than
    /// [`limits::MAX_IMAGE_HASH`] (a sparse terabyte costs nothing to plant and hours to read), or
    /// beyond the run's byte budget, stays unhashed (`sha256` null), and one message in `errors`,
    /// naming `what`, says how many and why. Content stored once (same
    /// [`FileEntry::content_id`]) is charged once, as it is read once.
    pub fn hash_all(
        &self,
        what: &str,
        entries: &mut [FileEntry],
        errors: &mut Vec<String>,
        hash: &mut dyn FnMut(&mut [FileEntry]) -> Result<(), String>,
    ) -> Result<(), String> {
        let mut charged = std::collections::HashSet::new();
        let (mut admitted, mut too_big, mut refused, mut why) = (Vec::new(), 0usize, 0usize, None);
        for (i, e) in entries.iter().enumerate() {
            if e.kind != EntryKind::File {
                continue;
            }
            if e.size > limits::MAX_IMAGE_HASH {
                too_big += 1;
                continue;
            }
            let first = e.content_id.is_none_or(|id| charged.insert(id));
            match if first {
                self.take_hash(e.size)
            } else {
                Ok(())
            } {
                Ok(()) => admitted.push(i),
                Err(w) => {
                    refused += 1;
                    why.get_or_insert(w);
                }
            }
        }
        if too_big > 0 {
            errors.push(format!(
                "{what}: {too_big} files larger than {} bytes (MAX_IMAGE_HASH) not hashed",
                limits::MAX_IMAGE_HASH
            ));
        }
        if let Some(w) = why {
            errors.push(format!("{what}: {refused} files not hashed: {w}"));
        }
        if admitted.len() == entries.len() {
            return hash(entries);
        }
        let mut sel: Vec<FileEntry> = admitted.iter().map(|&i| entries[i].clone()).collect();
        hash(&mut sel)?;
        for (i, e) in admitted.into_iter().zip(sel) {
            entries[i].sha256 = e.sha256;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(size: u64) -> FileEntry {
        FileEntry {
            path: b"/f".to_vec(),
            kind: EntryKind::File,
            mode: 0o644,
            uid: 0,
            gid: 0,
            size,
            mtime: 0,
            rdev: 0,
            link_target: None,
            capability: None,
            selinux: None,
            opaque: false,
            whiteout: false,
            sha256: None,
            content_id: None,
        }
    }

    #[test]
    fn hash_budget_is_charged_and_refusals_are_said() {
        let b = RunBudget::new(0, 100, Duration::from_secs(600));
        assert!(b.take_hash(60).is_ok());
        let e = b.take_hash(50).unwrap_err();
        assert!(
            e.contains("MAX_HASH_PER_RUN") && e.contains("40 left"),
            "{e}"
        );
        let mut errors = Vec::new();
        let kept = b.admit_evidence("img", vec![file(30), file(20), file(5)], &mut errors);
        assert_eq!(kept.len(), 2);
        assert_eq!(errors.len(), 1);
        assert!(
            errors[0].starts_with("img: 1 files (20 bytes) not hashed"),
            "{errors:?}"
        );
    }

    /// Batches of at most a GiB, the clock looked at between them: a slow hash stops after the
    /// batch that crossed the limit.
    #[test]
    fn evidence_hashing_is_batched_and_stops_on_the_clock() {
        let b = RunBudget::new(0, u64::MAX, Duration::from_millis(100));
        let mut sel: Vec<FileEntry> = (0..6).map(|_| file(EVIDENCE_BATCH / 2)).collect();
        let mut errors = Vec::new();
        let mut batches = Vec::new();
        b.hash_evidence("img", &mut sel, &mut errors, &mut |s| {
            batches.push(s.len());
            std::thread::sleep(Duration::from_millis(150));
            Ok(())
        })
        .unwrap();
        assert_eq!(
            batches,
            vec![2],
            "one batch of two half-GiB files, then the clock"
        );
        assert!(
            errors[0].starts_with("img: 4 files not hashed"),
            "{errors:?}"
        );
        // Without a clock problem every file is handed over, in order.
        let b = RunBudget::default();
        let mut n = 0;
        b.hash_evidence("img", &mut sel, &mut errors, &mut |s| {
            n += s.len();
            Ok(())
        })
        .unwrap();
        assert_eq!(n, 6);
    }

    #[test]
    fn evidence_clock_stops_hashing() {
        let b = RunBudget::new(0, u64::MAX, Duration::from_millis(200));
        let mut errors = Vec::new();
        assert_eq!(b.admit_evidence("x", vec![file(1)], &mut errors).len(), 1);
        std::thread::sleep(Duration::from_millis(300));
        assert!(b.admit_evidence("y", vec![file(1)], &mut errors).is_empty());
        assert!(errors[0].contains("EVIDENCE_HASH_SECONDS"), "{errors:?}");
    }
}
