//! Choosing the partition systemd-sysext would mount (`dissect_image()` with
//! `DISSECT_IMAGE_GENERIC_ROOT | DISSECT_IMAGE_USR_NO_ROOT`), and its verity partners.

use std::cmp::Ordering;

use super::{Ddi, Designator, Partition, PartitionRole, FLAG_NO_AUTO};
use crate::fsimage::FsError;

/// Simplified `strverscmp_improved()`: digit runs compare numerically, everything else bytewise.
fn version_cmp(a: &str, b: &str) -> Ordering {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let (mut i, mut j) = (0, 0);
    while i < a.len() && j < b.len() {
        let (ca, cb) = (a[i], b[j]);
        if ca.is_ascii_digit() && cb.is_ascii_digit() {
            let si = i;
            while i < a.len() && a[i].is_ascii_digit() {
                i += 1;
            }
            let sj = j;
            while j < b.len() && b[j].is_ascii_digit() {
                j += 1;
            }
            let na = a[si..i].iter().skip_while(|&&c| c == b'0').count();
            let nb = b[sj..j].iter().skip_while(|&&c| c == b'0').count();
            let ord = na.cmp(&nb).then_with(|| a[i - na..i].cmp(&b[j - nb..j]));
            if ord != Ordering::Equal {
                return ord;
            }
        } else {
            if ca != cb {
                return ca.cmp(&cb);
            }
            i += 1;
            j += 1;
        }
    }
    (a.len() - i).cmp(&(b.len() - j))
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
