//! Who signed an image, and whether its data is what was signed (docs/systemd.md §5).
//!
//! Root-hash sources, each reported as such: the DDI signature partition's `rootHash`, the
//! partition-UUID convention (data UUID = first 128 bits, verity UUID = last 128 bits), `.roothash` /
//! `.usrhash` side-cars and `user.verity.roothash`/`usrhash` xattrs. They must agree; any disagreement
//! is a problem of its own. The signature (signature partition or `.roothash.p7s`/`.usrhash.p7s`) is a
//! detached PKCS#7 over the lowercase hex root hash, verified with systemd's exact OpenSSL call against
//! the operator's anchors (`--trust`) and, separately, the host's `verity.d` — because an attacker with
//! root can add his own certificate to the latter. With `deep`, the hash tree is recomputed from the
//! data and compared with both the declared root hash and the stored tree.

use std::sync::Arc;

use crate::provenance::pkcs7::{embedded_certs, verify, CertInfo, TrustedCert, Verdict};
use extwatch_formats::ddi::{read_partition, Ddi};
use extwatch_formats::verity::{compute_tree, parse_superblock, VerityError, SUPERBLOCK_SIZE};
use extwatch_formats::veritysig::{parse_verity_sig, SigError, MAX_SIG_PARTITION};
use extwatch_formats::{ReadAt, Window};
use extwatch_model::{DeclaredHash, Signature, SignatureStatus, Signer, Verity, VeritySource};

use crate::provenance::trust::HostTrust;
use extwatch_model::time::rfc3339;

/// Trust anchors and how hard to look.
#[derive(Debug, Default, Clone)]
pub struct TrustCtx {
    /// The host's verity.d.
    pub host: HostTrust,
    /// `--trust DIR`, if given.
    pub operator: Option<Vec<TrustedCert>>,
    /// Recompute hash trees.
    pub deep: bool,
    /// Hashing threads.
    pub threads: usize,
}

/// What is known about one raw image's integrity metadata before judging it.
pub struct Input<'a> {
    /// The image file.
    pub src: Arc<dyn ReadAt>,
    /// Its partition table, when it is a DDI.
    pub ddi: Option<&'a Ddi>,
    /// Root hash from `user.verity.roothash`/`usrhash`.
    pub xattr_hash: Option<String>,
    /// Root hash from a `.roothash`/`.usrhash` side-car.
    pub sidecar_hash: Option<String>,
    /// `.roothash.p7s`/`.usrhash.p7s` content.
    pub sidecar_sig: Option<Vec<u8>>,
    /// `<img>.verity` external hash device.
    pub sidecar_tree: Option<Arc<dyn ReadAt>>,
}

/// The empty state of a directory or unreadable image.
pub fn none() -> (Verity, Signature) {
    (
        Verity {
            root_hash: None,
            source: VeritySource::None,
            verified: None,
            declared: vec![],
            recomputed: None,
            problems: vec![],
        },
        Signature {
            status: SignatureStatus::Absent,
            source: None,
            signer: None,
            reason: None,
            host_status: None,
            fingerprint_matches: None,
            trust: None,
        },
    )
}

fn signer(c: &CertInfo, source: &str) -> Signer {
    Signer {
        subject: c.subject.clone(),
        issuer: c.issuer.clone(),
        serial: c.serial.clone(),
        sha256_fingerprint: c.sha256_fingerprint.clone(),
        not_before: c.not_before.and_then(rfc3339),
        not_after: c.not_after.and_then(rfc3339),
        certificate_source: source.to_string(),
    }
}

/// Judges one raw image.
pub fn evaluate(
    inp: &Input,
    ctx: &TrustCtx,
    progress: &(dyn Fn(u64) + Sync),
) -> (Verity, Signature) {
    let (mut verity, mut sig) = none();
    let mut declared: Vec<DeclaredHash> = Vec::new();
    let mut push = |source: VeritySource, h: String| {
        declared.push(DeclaredHash {
            source,
            root_hash: h,
        })
    };
    // Externally configured hashes come first: systemd prefers them and checks the JSON against them.
    if let Some(h) = &inp.xattr_hash {
        push(VeritySource::Xattr, h.clone());
    }
    if let Some(h) = &inp.sidecar_hash {
        push(VeritySource::Sidecar, h.clone());
    }
    let mut sig_blob: Option<(Vec<u8>, &'static str, Option<String>)> = None;
    let mut sig_problem: Option<String> = None;
    let mut tree: Option<(Arc<dyn ReadAt>, Arc<dyn ReadAt>)> = None; // (data, hash device)
    if let Some(ddi) = inp.ddi {
        if let Some(p) = ddi.verity_sig_partition() {
            if p.size_bytes > MAX_SIG_PARTITION {
                // Refused unread, as systemd does.
                sig_problem = Some(SigError::TooLarge.to_string());
            } else {
                match read_partition(ddi, p.index, MAX_SIG_PARTITION) {
                    Ok(bytes) => match parse_verity_sig(&bytes) {
                        Ok(s) => {
                            push(VeritySource::SigPartition, s.root_hash.clone());
                            sig_blob =
                                Some((s.signature, "sig-partition", s.certificate_fingerprint));
                        }
                        Err(e) => sig_problem = Some(e.to_string()),
                    },
                    Err(e) => sig_problem = Some(format!("cannot read signature partition: {e}")),
                }
            }
        }
        if let (Some(d), Some(v)) = (ddi.chosen_partition(), ddi.verity_partition()) {
            let a = d.uuid.replace('-', "").to_ascii_lowercase();
            let b = v.uuid.replace('-', "").to_ascii_lowercase();
            if a.len() == 32 && b.len() == 32 {
                push(VeritySource::PartitionUuid, format!("{a}{b}"));
            }
            if let (Some(dw), Some(vw)) =
                (ddi.partition_reader(d.index), ddi.partition_reader(v.index))
            {
                tree = Some((Arc::new(dw), Arc::new(vw)));
            }
        }
    }
    if let Some(p7) = &inp.sidecar_sig {
        if sig_blob.is_none() {
            sig_blob = Some((p7.clone(), "sidecar", None));
        }
    }
    if tree.is_none() {
        if let Some(h) = &inp.sidecar_tree {
            let data: Arc<dyn ReadAt> = Arc::new(Window::new(inp.src.clone(), 0, u64::MAX));
            tree = Some((data, h.clone()));
        }
    }

    // The root hash systemd would use, and whether the sources agree.
    if let Some(first) = declared.first() {
        verity.root_hash = Some(first.root_hash.clone());
        verity.source = first.source;
        for d in declared.iter().skip(1) {
            if d.root_hash != first.root_hash {
                verity.problems.push(format!(
                    "root hash from {} ({}) differs from {} ({})",
                    source_name(d.source),
                    d.root_hash,
                    source_name(first.source),
                    first.root_hash
                ));
            }
        }
    } else if tree.is_some() {
        verity.source = VeritySource::PartitionUuid;
        verity
            .problems
            .push("verity hash data present but no root hash is declared".into());
    }
    verity.declared = declared;

    if ctx.deep {
        if let Some((data, hashdev)) = &tree {
            let mut sb = [0u8; SUPERBLOCK_SIZE];
            let params = hashdev
                .read_exact_at(0, &mut sb)
                .map_err(HashDeviceError::Read)
                .and_then(|()| parse_superblock(&sb).map_err(HashDeviceError::Superblock));
            match params {
                Ok(params) => {
                    let start = 1; // the tree starts one hash block after the superblock
                    match compute_tree(
                        &params,
                        data.as_ref(),
                        Some((hashdev.as_ref(), start)),
                        ctx.threads.max(1),
                        progress,
                    ) {
                        Ok(r) => {
                            if r.mismatched_count > 0 {
                                // The tree lists the first mismatches whenever it counts any.
                                let first = r.mismatched_blocks.first().map_or_else(
                                    String::new,
                                    |(level, block)| {
                                        format!(" (first: level {level}, block {block})")
                                    },
                                );
                                verity.problems.push(format!(
                                    "{} stored hash block(s) differ from the recomputed tree{first}",
                                    r.mismatched_count,
                                ));
                            }
                            let ok = verity.root_hash.as_deref() == Some(r.root_hash.as_str())
                                && r.mismatched_count == 0;
                            if let Some(h) = &verity.root_hash {
                                if *h != r.root_hash {
                                    verity.problems.push(format!(
                                        "recomputed root hash {} does not match the declared {h}",
                                        r.root_hash
                                    ));
                                }
                            }
                            verity.verified = Some(ok);
                            verity.recomputed = Some(r.root_hash);
                        }
                        Err(e) => {
                            verity.verified = Some(false);
                            verity
                                .problems
                                .push(format!("cannot recompute hash tree: {e}"));
                        }
                    }
                }
                Err(e) => {
                    verity.verified = Some(false);
                    verity.problems.push(format!("verity hash device: {e}"));
                }
            }
        } else if verity.root_hash.is_some() {
            verity.problems.push(
                "a root hash is declared but no hash tree (.verity or verity partition) is present"
                    .into(),
            );
        }
    }

    // Signature.
    if let Some(p) = sig_problem {
        sig.status = SignatureStatus::Invalid;
        sig.source = Some("sig-partition".into());
        sig.reason = Some(p);
        sig.host_status = Some(SignatureStatus::Invalid);
        return (verity, sig);
    }
    let Some((blob, source, fp)) = sig_blob else {
        return (verity, sig);
    };
    sig.source = Some(source.into());
    let Some(hash) = verity.root_hash.clone() else {
        sig.status = SignatureStatus::Invalid;
        sig.reason = Some("signature present but no root hash to check it against".into());
        return (verity, sig);
    };
    let host_certs: Vec<_> = ctx.host.certs.iter().map(|c| c.cert.clone()).collect();
    let host_verdict = verify(&blob, &hash, &host_certs);
    sig.host_status = Some(status_of(&host_verdict));
    let (decider, decided, label) = match &ctx.operator {
        Some(op) => {
            let certs: Vec<_> = op.iter().map(|c| c.cert.clone()).collect();
            (op.clone(), verify(&blob, &hash, &certs), "operator")
        }
        None => (ctx.host.certs.clone(), host_verdict.clone(), "host"),
    };
    sig.trust = Some(label.into());
    let source_of = |info: &CertInfo, set: &[TrustedCert]| {
        set.iter()
            .find(|c| {
                crate::provenance::pkcs7::cert_info(&c.cert).sha256_fingerprint
                    == info.sha256_fingerprint
            })
            .map(|c| c.source.clone())
            .unwrap_or_else(|| "embedded".into())
    };
    match decided {
        Verdict::Valid(info) => {
            sig.status = SignatureStatus::Valid;
            sig.signer = Some(signer(&info, &source_of(&info, &decider)));
        }
        Verdict::Malformed(e) => {
            sig.status = SignatureStatus::Invalid;
            sig.reason = Some(e);
        }
        Verdict::BadSignature(e) => {
            sig.status = SignatureStatus::Invalid;
            sig.reason = Some(format!(
                "signature does not verify over root hash {hash}: {e}"
            ));
        }
        Verdict::SignerNotFound => {
            // Name the signer if anything we know of verifies it: the host's certificates (when the
            // operator's decided), or certificates embedded in the PKCS#7 (systemd ignores those).
            let mut others: Vec<TrustedCert> = if ctx.operator.is_some() {
                ctx.host.certs.clone()
            } else {
                vec![]
            };
            others.extend(embedded_certs(&blob).into_iter().map(|cert| TrustedCert {
                source: "embedded".into(),
                cert,
            }));
            let certs: Vec<_> = others.iter().map(|c| c.cert.clone()).collect();
            sig.status = SignatureStatus::Untrusted;
            match verify(&blob, &hash, &certs) {
                Verdict::Valid(info) => {
                    sig.reason = Some(format!(
                        "signed by a certificate that is not among the {label} trust anchors"
                    ));
                    sig.signer = Some(signer(&info, &source_of(&info, &others)));
                }
                Verdict::BadSignature(e) => {
                    sig.status = SignatureStatus::Invalid;
                    sig.reason = Some(format!(
                        "signature does not verify over root hash {hash}: {e}"
                    ));
                }
                _ => {
                    sig.reason = Some(if decider.is_empty() {
                        "no trusted certificates to check it with (give --trust DIR)".to_string()
                    } else {
                        format!("signer certificate not found among the {label} trust anchors")
                    })
                }
            }
        }
    }
    if let (Some(fp), Some(s)) = (fp, &sig.signer) {
        sig.fingerprint_matches = Some(fp == s.sha256_fingerprint);
    }
    (verity, sig)
}

fn status_of(v: &Verdict) -> SignatureStatus {
    match v {
        Verdict::Valid(_) => SignatureStatus::Valid,
        Verdict::SignerNotFound => SignatureStatus::Untrusted,
        Verdict::BadSignature(_) | Verdict::Malformed(_) => SignatureStatus::Invalid,
    }
}

/// The JSON name of a source.
pub fn source_name(s: VeritySource) -> &'static str {
    match s {
        VeritySource::SigPartition => "sig-partition",
        VeritySource::Sidecar => "sidecar",
        VeritySource::Xattr => "xattr",
        VeritySource::PartitionUuid => "partition-uuid",
        VeritySource::None => "none",
    }
}

/// Why the verity hash device's superblock cannot be used (the problem reads
/// `verity hash device: ` and this error's text).
#[derive(Debug, thiserror::Error)]
enum HashDeviceError {
    /// Reading the superblock failed.
    #[error(transparent)]
    Read(std::io::Error),
    /// The superblock is not one systemd accepts.
    #[error(transparent)]
    Superblock(VerityError),
}
