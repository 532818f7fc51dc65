//! The check registry: stable ids, default severities and NIST SP 800-53 controls as data
//! (DESIGN §4), and the checks that can be computed from an inventory.
//!
//! Ids are a contract: add, never rename. Each check returns findings; a check that cannot run
//! reports `error` with the reason, never a silent pass.

use extwatch_model::{CheckRun, CheckStatus, Finding, Hierarchy, Image, ImageClass, ImageFormat};
use serde_json::json;

use crate::inventory::image::Extra;
use crate::inventory::merged::overlay_is_systemds;

pub use extwatch_model::catalogue::{CheckDef, CATALOGUE};

/// Looks a check up by id.
pub fn def(id: &str) -> &'static CheckDef {
    CATALOGUE
        .iter()
        .find(|d| d.id == id)
        .unwrap_or_else(|| panic!("check {id} is not in the catalogue"))
}

/// Inputs of the inventory checks.
pub struct Inputs<'a> {
    /// Images with their extra facts.
    pub images: &'a [(Image, Extra)],
    /// Hierarchy states.
    pub hierarchies: &'a [Hierarchy],
    /// `/var/lib/extensions.mutable` entries present (v256+), as paths.
    pub mutable_dirs: &'a [String],
    /// The mount table was available.
    pub have_mounts: bool,
    /// Effective image policies per class.
    pub policies: &'a [crate::inventory::policy::Effective],
    /// The host's verity.d trust store.
    pub host_trust: &'a crate::provenance::trust::HostTrust,
    /// systemd version in force.
    pub version: crate::host::version::SystemdVersion,
    /// What each extension changes, when computed.
    pub content: Option<&'a crate::content::changes::Analysis>,
    /// FIFOs, sockets and character devices in search directories.
    pub special: &'a [crate::inventory::discover::SpecialFile],
}

/// Builds a finding with the catalogue's severity and controls.
pub fn finding(id: &str, subject: &str, message: String, evidence: serde_json::Value) -> Finding {
    let d = def(id);
    Finding {
        id: id.into(),
        severity: d.severity,
        controls: d.controls.iter().map(|c| c.to_string()).collect(),
        subject: subject.into(),
        message,
        evidence,
    }
}

/// Whether systemd would consider the image at all (searched directory, not masked).
fn candidate(i: &Image) -> bool {
    i.searched && i.masked_by.is_none()
}

/// Runs every inventory check; returns findings (sorted) and per-check outcomes.
pub fn run(inp: &Inputs) -> (Vec<Finding>, Vec<CheckRun>) {
    let mut all: Vec<(&'static str, Result<Vec<Finding>, String>)> = Vec::new();
    let imgs = inp.images;
    let ext = |i: &Image| i.class != ImageClass::Portable;

    all.push(("extension-merged", Ok(imgs.iter().filter(|(i, _)| i.merged).map(|(i, _)| {
        finding("extension-merged", &i.name,
            format!("{} '{}' is merged into {}", i.class.as_str(), i.name, i.merged_into.join(", ")),
            json!({"path": i.path, "hierarchies": i.merged_into, "format": i.format, "sha256": i.sha256}))
    }).chain(inp.hierarchies.iter().filter(|h| h.merged).flat_map(|h| {
        h.extensions.iter().filter(|n| !imgs.iter().any(|(i, _)| i.class == h.class && &i.name == *n && i.merged)).map(move |n| {
            finding("extension-merged", n,
                format!("'{n}' is merged into {} but no image with that name is on disk any more", h.hierarchy),
                json!({"hierarchy": h.hierarchy, "image": null}))
        })
    })).collect())));

    all.push(("extension-directory-image", Ok(imgs.iter().filter(|(i, x)| candidate(i) && ext(i) && i.format == ImageFormat::Directory && !x.empty_dir && i.release.is_some()).map(|(i, _)| {
        finding("extension-directory-image", &i.name,
            format!("'{}' is a directory extension: no image policy, verity or signature can apply to it", i.name),
            json!({"path": i.path, "compatible": i.compatible.ok}))
    }).collect())));

    all.push(("extension-release-any", Ok(imgs.iter().filter(|(i, _)| ext(i) && candidate(i) && i.release.as_ref().and_then(|r| r.get("ID")).is_some_and(|id| id == "_any")).map(|(i, _)| {
        finding("extension-release-any", &i.name,
            format!("'{}' declares ID=_any and merges on any OS", i.name),
            json!({"path": i.path, "release_file": i.release_file, "architecture": i.release.as_ref().and_then(|r| r.get("ARCHITECTURE"))}))
    }).collect())));

    all.push((
        "extension-release-mismatch",
        Ok(imgs
            .iter()
            .filter(|(i, x)| {
                ext(i)
                    && candidate(i)
                    && i.release.is_some()
                    && !i.compatible.ok
                    && !x.ships_os_release
            })
            .map(|(i, _)| {
                finding(
                    "extension-release-mismatch",
                    &i.name,
                    format!("systemd refuses '{}' on this host", i.name),
                    json!({"path": i.path, "reason": i.compatible.reason, "release": i.release}),
                )
            })
            .collect()),
    ));

    all.push(("extension-missing-release", Ok(imgs.iter().filter(|(i, x)| ext(i) && candidate(i) && i.release.is_none() && i.errors.is_empty() && !x.ships_os_release).map(|(i, x)| {
        let masks: Vec<&str> = imgs.iter().filter(|(o, _)| o.masked_by.as_deref() == Some(&i.path)).map(|(o, _)| o.path.as_str()).collect();
        let msg = if x.empty_dir && !masks.is_empty() {
            format!("'{}' is an empty directory masking {}", i.name, masks.join(", "))
        } else {
            format!("'{}' has no extension-release; systemd ignores it", i.name)
        };
        finding("extension-missing-release", &i.name, msg,
            json!({"path": i.path, "empty_directory": x.empty_dir, "masks": masks, "reason": i.compatible.reason}))
    }).collect())));

    all.push(("extension-ships-os-release", Ok(imgs.iter().filter(|(i, x)| x.ships_os_release && i.searched).map(|(i, _)| {
        finding("extension-ships-os-release", &i.name,
            format!("'{}' ships /usr/lib/os-release; systemd refuses it and, for directory images, fails the whole merge", i.name),
            json!({"path": i.path, "format": i.format, "reason": i.compatible.reason}))
    }).collect())));

    all.push((
        "extension-malformed",
        Ok(imgs
            .iter()
            .filter(|(i, _)| !i.errors.is_empty())
            .map(|(i, _)| {
                finding(
                    "extension-malformed",
                    &i.name,
                    format!("'{}' cannot be read: {}", i.name, i.errors.join("; ")),
                    json!({"path": i.path, "errors": i.errors}),
                )
            })
            .collect()),
    ));

    // Issue 8 case 6: a 1 TiB sparse `.raw` is 4 KB on disk; real extensions are MiBs to a few GiB.
    all.push((
        "extension-implausible-size",
        Ok(imgs
            .iter()
            .filter(|(i, _)| {
                i.class != ImageClass::Portable
                    && i.size
                        .is_some_and(|s| s > extwatch_formats::limits::IMPLAUSIBLE_IMAGE_SIZE)
            })
            .map(|(i, _)| {
                finding(
                    "extension-implausible-size",
                    &i.name,
                    format!(
                        "'{}' is {} bytes ({} allocated on disk), larger than any real extension",
                        i.name,
                        i.size.unwrap_or(0),
                        i.allocated_size.map_or("?".to_string(), |a| a.to_string())
                    ),
                    json!({"path": i.path, "size": i.size, "allocated_size": i.allocated_size,
                           "limit": extwatch_formats::limits::IMPLAUSIBLE_IMAGE_SIZE,
                           "sha256": i.sha256, "not_hashed": i.not_hashed}),
                )
            })
            .collect()),
    ));

    all.push(("image-outside-search-path", Ok(imgs.iter().filter(|(i, _)| !i.searched).map(|(i, x)| {
        finding("image-outside-search-path", &i.path,
            format!("{} image '{}' sits in {}, which systemd does not search", i.class.as_str(), i.name, i.search_dir),
            json!({"path": i.path, "search_dir": i.search_dir, "reason": x.unsearched_reason, "format": i.format}))
    }).collect())));

    all.push((
        "special-file-in-search-path",
        Ok(inp
            .special
            .iter()
            .map(|f| {
                finding(
                    "special-file-in-search-path",
                    &f.path,
                    format!("{} is a {} in {}", f.path, f.what, f.search_dir),
                    json!({"path": f.path, "search_dir": f.search_dir, "type": f.what}),
                )
            })
            .collect()),
    ));

    all.push((
        "runtime-extension",
        Ok(imgs
            .iter()
            .filter(|(i, _)| candidate(i) && ext(i) && i.search_dir.starts_with("/run/"))
            .map(|(i, _)| {
                finding(
                    "runtime-extension",
                    &i.name,
                    format!(
                        "'{}' lives in {} and survives soft-reboot",
                        i.name, i.search_dir
                    ),
                    json!({"path": i.path, "merged": i.merged, "compatible": i.compatible.ok}),
                )
            })
            .collect()),
    ));

    let mut mutable = Vec::new();
    for h in inp.hierarchies.iter().filter(|h| h.mutable) {
        mutable.push(finding("mutable-extension-mode", &h.hierarchy,
            format!("{} is merged in mutable mode: writes land in the overlay's upper directory", h.hierarchy),
            json!({"hierarchy": h.hierarchy, "upperdir": h.overlay.as_ref().and_then(|o| o.upperdir.clone()), "work_dir": h.marker.as_ref().and_then(|m| m.work_dir.clone())})));
    }
    for d in inp.mutable_dirs {
        mutable.push(finding(
            "mutable-extension-mode",
            d,
            format!(
                "{d} exists: systemd-sysext --mutable=auto/import makes it writable or persistent"
            ),
            json!({"path": d}),
        ));
    }
    all.push(("mutable-extension-mode", Ok(mutable)));

    let foreign = if !inp.have_mounts {
        Err("no mount table was available (give --mountinfo FILE)".to_string())
    } else {
        Ok(inp.hierarchies.iter().filter_map(|h| {
            let why = match (&h.overlay, &h.marker) {
                (Some(o), _) => {
                    let mut why = overlay_is_systemds(o, h.class, &h.hierarchy).err();
                    if why.is_none() {
                        if let Some(m) = &h.marker {
                            if m.dev.as_deref() != Some(m.hierarchy_dev.as_str()) {
                                why = Some(format!("marker dev {:?} does not match the hierarchy's {}", m.dev, m.hierarchy_dev));
                            }
                        } else {
                            why = Some("systemd overlay without marker directory".into());
                        }
                    }
                    why
                }
                (None, Some(m)) if m.dev.as_deref() == Some(m.hierarchy_dev.as_str()) && h.merged => {
                    Some("marker claims a merge but the mount table shows no overlay".into())
                }
                _ => None,
            }?;
            Some(finding("merge-foreign-overlay", &h.hierarchy,
                format!("overlay on {} was not made by systemd-{}: {why}", h.hierarchy, h.class.as_str()),
                json!({"hierarchy": h.hierarchy, "reason": why, "overlay": h.overlay, "marker": h.marker})))
        }).collect())
    };
    all.push(("merge-foreign-overlay", foreign));

    all.push((
        "portable-image-present",
        Ok(imgs
            .iter()
            .filter(|(i, _)| i.class == ImageClass::Portable && i.masked_by.is_none())
            .map(|(i, _)| {
                finding(
                    "portable-image-present",
                    &i.name,
                    format!("portable service image '{}' at {}", i.name, i.path),
                    json!({"path": i.path, "format": i.format, "searched": i.searched}),
                )
            })
            .collect()),
    ));

    provenance_checks(inp, &mut all);
    if let Some(a) = inp.content {
        all.extend(crate::checks_content::run(a));
    }

    let mut findings = Vec::new();
    let mut runs = Vec::new();
    for (id, r) in all {
        let d = def(id);
        let (status, n, reason) = match r {
            Ok(f) => {
                let n = f.len();
                findings.extend(f);
                (
                    if n == 0 {
                        CheckStatus::Pass
                    } else {
                        CheckStatus::Fail
                    },
                    n,
                    None,
                )
            }
            Err(e) => (CheckStatus::Error, 0, Some(e)),
        };
        runs.push(CheckRun {
            id: id.into(),
            severity: d.severity,
            controls: d.controls.iter().map(|c| c.to_string()).collect(),
            status,
            findings: n,
            reason,
        });
    }
    sort_findings(&mut findings);
    (findings, runs)
}

type Outcomes = Vec<(&'static str, Result<Vec<Finding>, String>)>;

fn provenance_checks(inp: &Inputs, all: &mut Outcomes) {
    use extwatch_model::{SignatureStatus, VeritySource};
    let imgs = inp.imgs();
    // Images systemd would consider merging, plus whatever is merged now.
    let relevant = || {
        imgs.iter().filter(|(i, x)| {
            i.class != ImageClass::Portable
                && (candidate(i) || i.merged)
                && !(x.empty_dir && i.release.is_none())
        })
    };
    all.push(("extension-unsigned", Ok(relevant().filter(|(i, _)| i.signature.status == SignatureStatus::Absent).map(|(i, _)| {
        finding("extension-unsigned", &i.name,
            format!("'{}' ({}) carries no verity signature: nothing says who built it", i.name, fmt_name(i.format)),
            json!({"path": i.path, "format": i.format, "verity_source": i.verity.source, "merged": i.merged}))
    }).collect())));
    all.push(("extension-no-verity", Ok(relevant().filter(|(i, _)| i.verity.root_hash.is_none() && i.verity.source == VeritySource::None).map(|(i, _)| {
        finding("extension-no-verity", &i.name,
            format!("'{}' has no dm-verity root hash: its data is not integrity-protected at rest", i.name),
            json!({"path": i.path, "format": i.format}))
    }).collect())));
    let mut bad_sig = Vec::new();
    for (i, _) in imgs.iter().filter(|(i, _)| i.class != ImageClass::Portable) {
        let s = &i.signature;
        let ev = json!({"path": i.path, "status": s.status, "reason": s.reason, "signer": s.signer, "host_status": s.host_status, "trust": s.trust, "root_hash": i.verity.root_hash, "fingerprint_matches": s.fingerprint_matches});
        match s.status {
            SignatureStatus::Invalid | SignatureStatus::Untrusted => bad_sig.push(finding(
                "extension-signature-invalid",
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
            )),
            SignatureStatus::Valid if s.trust.as_deref() == Some("operator") => {}
            _ => {}
        }
        if s.status != SignatureStatus::Valid
            && s.host_status == Some(SignatureStatus::Valid)
            && s.trust.as_deref() == Some("operator")
        {
            bad_sig.push(finding("extension-signature-invalid", &i.name,
                format!("'{}' is accepted by the host's verity.d but not by the --trust anchors: a certificate was added on the host", i.name),
                json!({"path": i.path, "status": s.status, "host_status": s.host_status, "signer": s.signer})));
        }
        if s.fingerprint_matches == Some(false) {
            bad_sig.push(finding(
                "extension-signature-invalid",
                &i.name,
                format!(
                    "'{}' signature JSON names a different certificate than the one that signed it",
                    i.name
                ),
                json!({"path": i.path, "signer": s.signer}),
            ));
        }
    }
    all.push(("extension-signature-invalid", Ok(bad_sig)));
    all.push(("extension-verity-mismatch", Ok(imgs.iter().filter(|(i, _)| !i.verity.problems.is_empty() || i.verity.verified == Some(false)).map(|(i, _)| {
        finding("extension-verity-mismatch", &i.name,
            format!("'{}' integrity data does not add up: {}", i.name, i.verity.problems.join("; ")),
            json!({"path": i.path, "declared": i.verity.declared, "recomputed": i.verity.recomputed, "problems": i.verity.problems}))
    }).collect())));
    let t = inp.host_trust;
    let mut ign: Vec<Finding> = t
        .ignored
        .iter()
        .map(|(p, why)| {
            finding(
                "trust-store-ignored-files",
                p,
                format!("{p} is ignored by systemd: {why}"),
                json!({"path": p, "reason": why}),
            )
        })
        .collect();
    // Files systemd would load but extwatch's budget left unread: never silent (issue 8 case 10).
    ign.extend(t.skipped.iter().map(|(p, why)| {
        finding(
            "trust-store-ignored-files",
            p,
            format!("{p} was not checked by extwatch: {why}"),
            json!({"path": p, "reason": why, "skipped_by": "extwatch"}),
        )
    }));
    if t.skipped_more > 0 {
        ign.push(finding(
            "trust-store-ignored-files",
            "verity.d",
            format!(
                "{} more files in verity.d were not checked by extwatch (budget spent)",
                t.skipped_more
            ),
            json!({"skipped_more": t.skipped_more, "skipped_by": "extwatch"}),
        ));
    }
    if t.certs.is_empty() && (!t.skipped.is_empty() || t.skipped_more > 0) {
        ign.push(finding("trust-store-ignored-files", "verity.d",
            "no *.crt in verity.d could be checked within extwatch's budget: which certificates systemd would accept is unknown".into(),
            json!({"directories": crate::provenance::trust::VERITY_DIRS, "present": t.dirs_present, "skipped_by": "extwatch"})));
    } else if t.certs.is_empty() {
        ign.push(finding("trust-store-ignored-files", "verity.d",
            "no verity.d directory holds a usable *.crt: systemd's userspace check can accept no signature".into(),
            json!({"directories": crate::provenance::trust::VERITY_DIRS, "present": t.dirs_present})));
    }
    all.push(("trust-store-ignored-files", Ok(ign)));
    all.push((
        "policy-allows-unsigned",
        Ok(inp
            .policies
            .iter()
            .filter(|p| p.allows_unsigned())
            .map(|p| {
                finding(
                    "policy-allows-unsigned",
                    &format!("systemd-{}", p.class.as_str()),
                    format!(
                        "systemd-{} accepts unsigned images (policy {} from {})",
                        p.class.as_str(),
                        p.policy,
                        p.source
                    ),
                    json!({"policy": p.policy, "source": p.source, "flags": p.flags}),
                )
            })
            .collect()),
    ));
    all.push(("policy-verity-fallback", Ok(inp.policies.iter().filter(|p| inp.version.major >= 259 && p.allows_verity()).map(|p| {
        finding("policy-verity-fallback", &format!("systemd-{}", p.class.as_str()),
            format!("systemd {} with policy {} activates images whose signature fails by root hash alone", inp.version, p.policy),
            json!({"policy": p.policy, "source": p.source, "systemd_version": inp.version.to_string()}))
    }).collect())));
}

fn fmt_name(f: ImageFormat) -> String {
    serde_json::to_value(f)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

impl Inputs<'_> {
    fn imgs(&self) -> &[(Image, Extra)] {
        self.images
    }
}

/// Deterministic order: severity (highest first), id, subject, message.
pub fn sort_findings(f: &mut [Finding]) {
    f.sort_by(|a, b| {
        b.severity
            .cmp(&a.severity)
            .then_with(|| a.id.cmp(&b.id))
            .then_with(|| a.subject.cmp(&b.subject))
            .then_with(|| a.message.cmp(&b.message))
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn catalogue_is_consistent() {
        let mut ids: Vec<_> = CATALOGUE.iter().map(|d| d.id).collect();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), CATALOGUE.len());
        for d in CATALOGUE {
            assert!(d.id.chars().all(|c| c.is_ascii_lowercase() || c == '-'));
            assert!(!d.controls.is_empty());
        }
        let trust = crate::provenance::trust::HostTrust::default();
        let (f, runs) = run(&Inputs {
            images: &[],
            hierarchies: &[],
            mutable_dirs: &[],
            have_mounts: false,
            policies: &[],
            host_trust: &trust,
            version: crate::host::version::SystemdVersion::DEFAULT,
            content: Some(&crate::content::changes::Analysis::default()),
            special: &[],
        });
        assert_eq!(f.len(), 1, "an empty trust store is reported: {f:?}");
        assert_eq!(runs.len(), CATALOGUE.len());
        assert!(runs.iter().any(|r| r.status == CheckStatus::Error));
    }
}
