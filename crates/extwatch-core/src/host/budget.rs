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

use crate::content::hash::HashError;
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

/// The run's hashing budget ([`limits::MAX_HASH_PER_RUN`]) cannot cover a charge.
#[derive(Debug, Clone, thiserror::Error)]
#[error(
    "the run's hashing budget (MAX_HASH_PER_RUN, {total} bytes) is spent: {needed} bytes needed, \
     {left} left"
)]
pub struct HashBudgetSpent {
    /// The run's whole budget.
    pub total: u64,
    /// Bytes the refused charge asked for.
    pub needed: u64,
    /// Bytes left.
    pub left: u64,
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
    pub fn take_hash(&self, n: u64) -> Result<(), HashBudgetSpent> {
        self.hash_left
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |l| l.checked_sub(n))
            .map(|_| ())
            .map_err(|left| HashBudgetSpent {
                total: self.hash_total,
                needed: n,
                left,
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
        hash: &mut dyn FnMut(&mut [FileEntry]) -> Result<(), HashError>,
    ) -> Result<(), HashError> {
        self.evidence_start.get_or_init(Instant::now);
        // What is not hashed yet; each batch is split off its front.
        let mut rest: &mut [FileEntry] = sel;
        while !rest.is_empty() {
            if self.evidence_expired() {
                errors.push(format!(
                    "{what}: {} files not hashed for evidence: the wall-clock budget for \
                     evidence hashing (EVIDENCE_HASH_SECONDS, {} s) is spent",
                    rest.len(),
                    self.evidence_limit.as_secs()
                ));
                return Ok(());
            }
            // At least one file, then as many as fit in the batch.
            let mut n = 0;
            let mut bytes = 0u64;
            for e in rest.iter() {
                if n > 0 && bytes.saturating_add(e.size) > EVIDENCE_BATCH {
                    break;
                }
                bytes = bytes.saturating_add(e.size);
                n += 1;
            }
            let taken = std::mem::take(&mut rest);
            // `n` counts files of `taken`, so the split is inside it (`min` makes that explicit).
            let (batch, tail) = taken.split_at_mut(n.min(taken.len()));
            hash(batch)?;
            rest = tail;
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
        hash: &mut dyn FnMut(&mut [FileEntry]) -> Result<(), HashError>,
    ) -> Result<(), HashError> {
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
        // `admitted` holds indices of `entries` (from `enumerate` above).
        let mut sel: Vec<FileEntry> = admitted
            .iter()
            .filter_map(|&i| entries.get(i).cloned())
            .collect();
        hash(&mut sel)?;
        for (i, e) in admitted.into_iter().zip(sel) {
            if let Some(t) = entries.get_mut(i) {
                t.sha256 = e.sha256;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(size: u64) -> FileEntry {
        FileEntry {
            size,
            ..crate::content::test_entry("/f", EntryKind::File)
        }
    }

    #[test]
    fn hash_budget_is_charged_and_refusals_are_said() {
        let b = RunBudget::new(0, 100, Duration::from_secs(600));
        assert!(b.take_hash(60).is_ok());
        let e = b.take_hash(50).unwrap_err().to_string();
        assert_eq!(
            e,
            "the run's hashing budget (MAX_HASH_PER_RUN, 100 bytes) is spent: 50 bytes needed, \
             40 left"
        );
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

    /// Over the byte budget only some files are hashed: their hashes land on their own entries,
    /// the others stay null, and one message says how many and why.
    #[test]
    fn hash_all_writes_back_only_what_the_budget_admitted() {
        let b = RunBudget::new(0, 25, Duration::from_secs(600));
        let mut entries = vec![file(10), file(0), file(20), file(10)];
        entries[1].kind = EntryKind::Dir;
        for (i, e) in entries.iter_mut().enumerate() {
            e.path = format!("/f{i}").into_bytes();
        }
        let mut errors = Vec::new();
        let mut handed = Vec::new();
        b.hash_all("img", &mut entries, &mut errors, &mut |s| {
            for e in s.iter_mut() {
                handed.push(e.path.clone());
                e.sha256 = Some([e.path[2]; 32]);
            }
            Ok(())
        })
        .unwrap();
        assert_eq!(handed, vec![b"/f0".to_vec(), b"/f3".to_vec()]);
        let got: Vec<Option<u8>> = entries.iter().map(|e| e.sha256.map(|h| h[0])).collect();
        assert_eq!(got, vec![Some(b'0'), None, None, Some(b'3')]);
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert!(
            errors[0].starts_with("img: 1 files not hashed: the run's hashing budget"),
            "{errors:?}"
        );
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
