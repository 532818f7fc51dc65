//! Choosing the partition systemd-sysext would mount (`dissect_image()` with
//! `DISSECT_IMAGE_GENERIC_ROOT | DISSECT_IMAGE_USR_NO_ROOT`), and its verity partners.

use std::cmp::Ordering;

use super::{Ddi, Designator, Partition, PartitionRole, FLAG_NO_AUTO};
use crate::fsimage::FsError;

/// Simplified `strverscmp_improved()`: digit runs compare numerically, everything else bytewise.
fn version_cmp(a: &str, b: &str) -> Ordering {
    let (mut a, mut b) = (a.as_bytes(), b.as_bytes());
    loop {
        let (Some((&ca, ra)), Some((&cb, rb))) = (a.split_first(), b.split_first()) else {
            return a.len().cmp(&b.len());
        };
        if ca.is_ascii_digit() && cb.is_ascii_digit() {
            let (da, ra) = digit_run(a);
            let (db, rb) = digit_run(b);
            let ord = da.len().cmp(&db.len()).then_with(|| da.cmp(db));
            if ord != Ordering::Equal {
                return ord;
            }
            (a, b) = (ra, rb);
        } else {
            if ca != cb {
                return ca.cmp(&cb);
            }
            (a, b) = (ra, rb);
        }
    }
}

/// The leading digit run of `s` without its leading zeros (so longer means larger), and the rest.
fn digit_run(s: &[u8]) -> (&[u8], &[u8]) {
    let n = s.iter().take_while(|c| c.is_ascii_digit()).count();
    let (run, rest) = s.split_at_checked(n).unwrap_or((s, &[]));
    let zeros = run.iter().take_while(|&&c| c == b'0').count();
    (run.get(zeros..).unwrap_or_default(), rest)
}

fn canonical_arch(arch: &str) -> &str {
    match arch {
        "x86_64" | "amd64" => "x86-64",
        "aarch64" => "arm64",
        "ppc64le" => "ppc64-le",
        "i386" | "i486" | "i586" | "i686" => "x86",
        other => other,
    }
}

fn secondary_arch(arch: &str) -> Option<&'static str> {
    match arch {
        "x86-64" => Some("x86"),
        "arm64" => Some("arm"),
        _ => None,
    }
}

fn find_dps<'a>(ddi: &'a Ddi, d: Designator, arch: &str) -> Option<&'a Partition> {
    let mut best: Option<&Partition> = None;
    for p in &ddi.partitions {
        if p.flags & FLAG_NO_AUTO != 0 {
            continue;
        }
        match p.role {
            PartitionRole::Dps {
                designator,
                arch: a,
            } if designator == d && a == arch => {}
            _ => continue,
        }
        best = match best {
            Some(b) if version_cmp(&p.label, &b.label) != Ordering::Greater => Some(b),
            _ => Some(p),
        };
    }
    best
}

pub(super) fn choose(ddi: &mut Ddi, arch: &str) -> Result<(), FsError> {
    let arch = canonical_arch(arch);
    let mut arches = vec![arch];
    arches.extend(secondary_arch(arch));
    for (data, verity, sig) in [
        (
            Designator::Root,
            Designator::RootVerity,
            Designator::RootVeritySig,
        ),
        (
            Designator::Usr,
            Designator::UsrVerity,
            Designator::UsrVeritySig,
        ),
    ] {
        for a in &arches {
            if let Some(p) = find_dps(ddi, data, a) {
                let chosen = p.index;
                let v = find_dps(ddi, verity, a).map(|p| p.index);
                let s = find_dps(ddi, sig, a).map(|p| p.index);
                ddi.chosen = Some(chosen);
                ddi.verity = v;
                ddi.verity_sig = s;
                return Ok(());
            }
        }
    }
    let generic: Vec<u32> = ddi
        .partitions
        .iter()
        .filter(|p| p.role == PartitionRole::LinuxGeneric && p.flags & FLAG_NO_AUTO == 0)
        .map(|p| p.index)
        .collect();
    match generic.as_slice() {
        [one] => {
            ddi.chosen = Some(*one);
            Ok(())
        }
        [] => Err(FsError::NoUsablePartition(format!(
            "no root or usr partition for {arch} and no generic Linux data partition"
        ))),
        many => Err(FsError::NoUsablePartition(format!(
            "{} generic Linux data partitions ({}) and no root/usr partition for {arch}: \
             ambiguous, systemd refuses this with ENOTUNIQ",
            many.len(),
            many.iter()
                .map(|i| i.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_cmp_orders_digit_runs_numerically() {
        use Ordering::*;
        for (a, b, want) in [
            ("v2", "v10", Less),
            ("v10", "v2", Greater),
            ("v010", "v10", Equal),
            ("1.2.3", "1.2.3", Equal),
            ("1.2", "1.2.1", Less),
            ("abc", "abd", Less),
            ("", "", Equal),
            ("a", "", Greater),
            ("007", "7", Equal),
            ("1a", "1b", Less),
        ] {
            assert_eq!(version_cmp(a, b), want, "{a:?} vs {b:?}");
        }
    }
}
