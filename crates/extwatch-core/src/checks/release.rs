//! Release checks: whether systemd would take an image for this host, judged from its
//! extension-release and its shape (docs/design.md §4: `extension-release-any`,
//! `extension-release-mismatch`, `extension-missing-release`, `extension-ships-os-release`,
//! `extension-malformed`).
//!
//! The verdict itself (`Image::compatible`) is computed once, by the release matcher that follows
//! systemd's `extension_release_validate()` for the root's version; these checks only say which
//! verdicts a defender should see and with which evidence.

use serde_json::json;

use super::{candidate, finding, ids, is_extension, Check, Facts, Outcome};

pub(super) const RELEASE_ANY: Check = Check::new(ids::EXTENSION_RELEASE_ANY, release_any);
pub(super) const RELEASE_MISMATCH: Check =
    Check::new(ids::EXTENSION_RELEASE_MISMATCH, release_mismatch);
pub(super) const MISSING_RELEASE: Check =
    Check::new(ids::EXTENSION_MISSING_RELEASE, missing_release);
pub(super) const SHIPS_OS_RELEASE: Check =
    Check::new(ids::EXTENSION_SHIPS_OS_RELEASE, ships_os_release);
pub(super) const MALFORMED: Check = Check::new(ids::EXTENSION_MALFORMED, malformed);

fn release_any(f: &Facts) -> Outcome {
    Outcome::of(
        f.images
            .iter()
            .filter(|(i, _)| {
                is_extension(i)
                    && candidate(i)
                    && i.release
                        .as_ref()
                        .and_then(|r| r.get("ID"))
                        .is_some_and(|id| id == "_any")
            })
            .map(|(i, _)| {
                finding(
                    RELEASE_ANY.def,
                    &i.name,
                    format!("'{}' declares ID=_any and merges on any OS", i.name),
                    json!({"path": i.path, "release_file": i.release_file, "architecture": i.release.as_ref().and_then(|r| r.get("ARCHITECTURE"))}),
                )
            })
            .collect(),
    )
}

fn release_mismatch(f: &Facts) -> Outcome {
    Outcome::of(
        f.images
            .iter()
            .filter(|(i, x)| {
                is_extension(i)
                    && candidate(i)
                    && i.release.is_some()
                    && !i.compatible.ok
                    && !x.ships_os_release
            })
            .map(|(i, _)| {
                finding(
                    RELEASE_MISMATCH.def,
                    &i.name,
                    format!("systemd refuses '{}' on this host", i.name),
                    json!({"path": i.path, "reason": i.compatible.reason, "release": i.release}),
                )
            })
            .collect(),
    )
}

/// No release data; an empty directory that masks images below it says so.
fn missing_release(f: &Facts) -> Outcome {
    let imgs = f.images;
    Outcome::of(
        imgs.iter()
            .filter(|(i, x)| {
                is_extension(i)
                    && candidate(i)
                    && i.release.is_none()
                    && i.errors.is_empty()
                    && !x.ships_os_release
            })
            .map(|(i, x)| {
                let masks: Vec<&str> = imgs
                    .iter()
                    .filter(|(o, _)| o.masked_by.as_deref() == Some(&i.path))
                    .map(|(o, _)| o.path.as_str())
                    .collect();
                let msg = if x.empty_dir && !masks.is_empty() {
                    format!(
                        "'{}' is an empty directory masking {}",
                        i.name,
                        masks.join(", ")
                    )
                } else {
                    format!("'{}' has no extension-release; systemd ignores it", i.name)
                };
                finding(
                    MISSING_RELEASE.def,
                    &i.name,
                    msg,
                    json!({"path": i.path, "empty_directory": x.empty_dir, "masks": masks, "reason": i.compatible.reason}),
                )
            })
            .collect(),
    )
}

fn ships_os_release(f: &Facts) -> Outcome {
    Outcome::of(
        f.images
            .iter()
            .filter(|(i, x)| x.ships_os_release && i.searched)
            .map(|(i, _)| {
                finding(
                    SHIPS_OS_RELEASE.def,
                    &i.name,
                    format!("'{}' ships /usr/lib/os-release; systemd refuses it and, for directory images, fails the whole merge", i.name),
                    json!({"path": i.path, "format": i.format, "reason": i.compatible.reason}),
                )
            })
            .collect(),
    )
}

fn malformed(f: &Facts) -> Outcome {
    Outcome::of(
        f.images
            .iter()
            .filter(|(i, _)| !i.errors.is_empty())
            .map(|(i, _)| {
                finding(
                    MALFORMED.def,
                    &i.name,
                    format!("'{}' cannot be read: {}", i.name, i.errors.join("; ")),
                    json!({"path": i.path, "errors": i.errors}),
                )
            })
            .collect(),
    )
}
