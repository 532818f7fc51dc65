//! Provenance checks: who built an image and whether it is still what they built (docs/design.md §4:
//! `extension-directory-image`, `extension-unsigned`, `extension-no-verity`,
//! `extension-signature-invalid`, `extension-verity-mismatch`, `trust-store-ignored-files`).
//!
//! The verdicts (signature status against the operator's `--trust` anchors and the host's
//! verity.d, recomputed verity) are made once per image by the provenance evaluation; these checks
//! turn them into findings. The host trust store is judged on its own: systemd loads only `*.crt`
//! from the verity.d directories (docs/systemd.md §5.4), and a store extwatch could not read in
//! full is never reported as fine.

use extwatch_model::{ImageFormat, SignatureStatus, VeritySource};
use serde_json::json;

use super::{candidate, finding, ids, is_extension, Check, Facts, Outcome};
use crate::inventory::image::Extra;

pub(super) const DIRECTORY_IMAGE: Check =
    Check::new(ids::EXTENSION_DIRECTORY_IMAGE, directory_image);
pub(super) const UNSIGNED: Check = Check::new(ids::EXTENSION_UNSIGNED, unsigned);
pub(super) const NO_VERITY: Check = Check::new(ids::EXTENSION_NO_VERITY, no_verity);
pub(super) const SIGNATURE_INVALID: Check =
    Check::new(ids::EXTENSION_SIGNATURE_INVALID, signature_invalid);
pub(super) const VERITY_MISMATCH: Check =
    Check::new(ids::EXTENSION_VERITY_MISMATCH, verity_mismatch);
pub(super) const TRUST_STORE_IGNORED: Check =
    Check::new(ids::TRUST_STORE_IGNORED_FILES, trust_store_ignored);

/// Images systemd would consider merging, plus whatever is merged now (empty masks excluded).
fn relevant<'a>(f: &'a Facts) -> impl Iterator<Item = &'a (extwatch_model::Image, Extra)> + 'a {
    f.images.iter().filter(|(i, x)| {
        is_extension(i) && (candidate(i) || i.merged) && !(x.empty_dir && i.release.is_none())
    })
}

fn directory_image(f: &Facts) -> Outcome {
    Outcome::of(
        f.images
            .iter()
            .filter(|(i, x)| {
                candidate(i)
                    && is_extension(i)
                    && i.format == ImageFormat::Directory
                    && !x.empty_dir
                    && i.release.is_some()
            })
            .map(|(i, _)| {
                finding(
                    DIRECTORY_IMAGE.def,
                    &i.name,
                    format!("'{}' is a directory extension: no image policy, verity or signature can apply to it", i.name),
                    json!({"path": i.path, "compatible": i.compatible.ok}),
                )
            })
            .collect(),
    )
}

fn unsigned(f: &Facts) -> Outcome {
    Outcome::of(
        relevant(f)
            .filter(|(i, _)| i.signature.status == SignatureStatus::Absent)
            .map(|(i, _)| {
                finding(
                    UNSIGNED.def,
                    &i.name,
                    format!(
                        "'{}' ({}) carries no verity signature: nothing says who built it",
                        i.name,
                        fmt_name(i.format)
                    ),
                    json!({"path": i.path, "format": i.format, "verity_source": i.verity.source, "merged": i.merged}),
                )
            })
            .collect(),
    )
}

fn no_verity(f: &Facts) -> Outcome {
    Outcome::of(
        relevant(f)
            .filter(|(i, _)| i.verity.root_hash.is_none() && i.verity.source == VeritySource::None)
            .map(|(i, _)| {
                finding(
                    NO_VERITY.def,
                    &i.name,
                    format!(
                        "'{}' has no dm-verity root hash: its data is not integrity-protected at rest",
                        i.name
                    ),
                    json!({"path": i.path, "format": i.format}),
                )
            })
            .collect(),
    )
}

/// Per image: a bad or untrusted signature, a host-only trust, a fingerprint naming another
/// certificate (in that order).
fn signature_invalid(f: &Facts) -> Outcome {
    let d = SIGNATURE_INVALID.def;
    let mut out = Vec::new();
    for (i, _) in f.images.iter().filter(|(i, _)| is_extension(i)) {
        let s = &i.signature;
        let ev = json!({"path": i.path, "status": s.status, "reason": s.reason, "signer": s.signer, "host_status": s.host_status, "trust": s.trust, "root_hash": i.verity.root_hash, "fingerprint_matches": s.fingerprint_matches});
        if matches!(
            s.status,
            SignatureStatus::Invalid | SignatureStatus::Untrusted
        ) {
            out.push(finding(
                d,
                &i.name,
                format!(
                    "'{}' signature is {}: {}",
                    i.name,
                    if s.status == SignatureStatus::Invalid {
                        "invalid"
                    } else {
                        "not from a trusted signer"
                    },
                    s.reason.clone().unwrap_or_default()
                ),
                ev,
            ));
        }
        if s.status != SignatureStatus::Valid
            && s.host_status == Some(SignatureStatus::Valid)
            && s.trust.as_deref() == Some("operator")
        {
            out.push(finding(
                d,
                &i.name,
                format!("'{}' is accepted by the host's verity.d but not by the --trust anchors: a certificate was added on the host", i.name),
                json!({"path": i.path, "status": s.status, "host_status": s.host_status, "signer": s.signer}),
            ));
        }
        if s.fingerprint_matches == Some(false) {
            out.push(finding(
                d,
                &i.name,
                format!(
                    "'{}' signature JSON names a different certificate than the one that signed it",
                    i.name
                ),
                json!({"path": i.path, "signer": s.signer}),
            ));
        }
    }
    Outcome::of(out)
}

fn verity_mismatch(f: &Facts) -> Outcome {
    Outcome::of(
        f.images
            .iter()
            .filter(|(i, _)| !i.verity.problems.is_empty() || i.verity.verified == Some(false))
            .map(|(i, _)| {
                finding(
                    VERITY_MISMATCH.def,
                    &i.name,
                    format!(
                        "'{}' integrity data does not add up: {}",
                        i.name,
                        i.verity.problems.join("; ")
                    ),
                    json!({"path": i.path, "declared": i.verity.declared, "recomputed": i.verity.recomputed, "problems": i.verity.problems}),
                )
            })
            .collect(),
    )
}

/// Ignored files, files extwatch's budget left unread (never silent: issue 8 case 10), then a
/// store with no usable certificate.
fn trust_store_ignored(f: &Facts) -> Outcome {
    let d = TRUST_STORE_IGNORED.def;
    let t = f.host_trust;
    let mut out: Vec<_> = t
        .ignored
        .iter()
        .map(|(p, why)| {
            finding(
                d,
                p,
                format!("{p} is ignored by systemd: {why}"),
                json!({"path": p, "reason": why}),
            )
        })
        .collect();
    out.extend(t.skipped.iter().map(|(p, why)| {
        finding(
            d,
            p,
            format!("{p} was not checked by extwatch: {why}"),
            json!({"path": p, "reason": why, "skipped_by": "extwatch"}),
        )
    }));
    if t.skipped_more > 0 {
        out.push(finding(
            d,
            "verity.d",
            format!(
                "{} more files in verity.d were not checked by extwatch (budget spent)",
                t.skipped_more
            ),
            json!({"skipped_more": t.skipped_more, "skipped_by": "extwatch"}),
        ));
    }
    if t.certs.is_empty() && (!t.skipped.is_empty() || t.skipped_more > 0) {
        out.push(finding(d, "verity.d",
            "no *.crt in verity.d could be checked within extwatch's budget: which certificates systemd would accept is unknown".into(),
            json!({"directories": crate::provenance::trust::VERITY_DIRS, "present": t.dirs_present, "skipped_by": "extwatch"})));
    } else if t.certs.is_empty() {
        out.push(finding(d, "verity.d",
            "no verity.d directory holds a usable *.crt: systemd's userspace check can accept no signature".into(),
            json!({"directories": crate::provenance::trust::VERITY_DIRS, "present": t.dirs_present})));
    }
    Outcome::of(out)
}

fn fmt_name(f: ImageFormat) -> String {
    serde_json::to_value(f)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}
