//! Inventory checks: what is on disk and merged, before judging it (docs/design.md §4:
//! `extension-merged`, `extension-implausible-size`, `image-outside-search-path`,
//! `special-file-in-search-path`, `portable-image-present`).
//!
//! They report facts a defender needs to see even when nothing is wrong with them: what is merged
//! right now (and merged names whose image is gone), what is staged where systemd does not look,
//! and what sits in a search directory that is no image at all.

use extwatch_formats::limits::IMPLAUSIBLE_IMAGE_SIZE;
use extwatch_model::ImageClass;
use serde_json::json;

use super::{finding, ids, Check, Facts, Outcome};

pub(super) const MERGED: Check = Check::new(ids::EXTENSION_MERGED, merged);
pub(super) const IMPLAUSIBLE_SIZE: Check =
    Check::new(ids::EXTENSION_IMPLAUSIBLE_SIZE, implausible_size);
pub(super) const OUTSIDE_SEARCH_PATH: Check =
    Check::new(ids::IMAGE_OUTSIDE_SEARCH_PATH, outside_search_path);
pub(super) const SPECIAL_FILE: Check = Check::new(ids::SPECIAL_FILE_IN_SEARCH_PATH, special_file);
pub(super) const PORTABLE: Check = Check::new(ids::PORTABLE_IMAGE_PRESENT, portable);

/// Every merged image, then every merged name no image on disk accounts for.
fn merged(f: &Facts) -> Outcome {
    let d = MERGED.def;
    let imgs = f.images;
    let on_disk = imgs.iter().filter(|(i, _)| i.merged).map(|(i, _)| {
        finding(
            d,
            &i.name,
            format!(
                "{} '{}' is merged into {}",
                i.class.as_str(),
                i.name,
                i.merged_into.join(", ")
            ),
            json!({"path": i.path, "hierarchies": i.merged_into, "format": i.format, "sha256": i.sha256}),
        )
    });
    let gone = f.hierarchies.iter().filter(|h| h.merged).flat_map(|h| {
        h.extensions
            .iter()
            .filter(|n| {
                !imgs
                    .iter()
                    .any(|(i, _)| i.class == h.class && &i.name == *n && i.merged)
            })
            .map(move |n| {
                finding(
                    d,
                    n,
                    format!(
                        "'{n}' is merged into {} but no image with that name is on disk any more",
                        h.hierarchy
                    ),
                    json!({"hierarchy": h.hierarchy, "image": null}),
                )
            })
    });
    Outcome::of(on_disk.chain(gone).collect())
}

/// Issue 8 case 6: a 1 TiB sparse `.raw` is 4 KB on disk; real extensions are MiBs to a few GiB.
fn implausible_size(f: &Facts) -> Outcome {
    Outcome::of(
        f.images
            .iter()
            .filter(|(i, _)| {
                i.class != ImageClass::Portable
                    && i.size.is_some_and(|s| s > IMPLAUSIBLE_IMAGE_SIZE)
            })
            .map(|(i, _)| {
                finding(
                    IMPLAUSIBLE_SIZE.def,
                    &i.name,
                    format!(
                        "'{}' is {} bytes ({} allocated on disk), larger than any real extension",
                        i.name,
                        i.size.unwrap_or(0),
                        i.allocated_size.map_or("?".to_string(), |a| a.to_string())
                    ),
                    json!({"path": i.path, "size": i.size, "allocated_size": i.allocated_size,
                           "limit": IMPLAUSIBLE_IMAGE_SIZE,
                           "sha256": i.sha256, "not_hashed": i.not_hashed}),
                )
            })
            .collect(),
    )
}

fn outside_search_path(f: &Facts) -> Outcome {
    Outcome::of(
        f.images
            .iter()
            .filter(|(i, _)| !i.searched)
            .map(|(i, x)| {
                finding(
                    OUTSIDE_SEARCH_PATH.def,
                    &i.path,
                    format!(
                        "{} image '{}' sits in {}, which systemd does not search",
                        i.class.as_str(),
                        i.name,
                        i.search_dir
                    ),
                    json!({"path": i.path, "search_dir": i.search_dir, "reason": x.unsearched_reason, "format": i.format}),
                )
            })
            .collect(),
    )
}

fn special_file(f: &Facts) -> Outcome {
    Outcome::of(
        f.special
            .iter()
            .map(|s| {
                finding(
                    SPECIAL_FILE.def,
                    &s.path,
                    format!("{} is a {} in {}", s.path, s.what, s.search_dir),
                    json!({"path": s.path, "search_dir": s.search_dir, "type": s.what}),
                )
            })
            .collect(),
    )
}

fn portable(f: &Facts) -> Outcome {
    Outcome::of(
        f.images
            .iter()
            .filter(|(i, _)| i.class == ImageClass::Portable && i.masked_by.is_none())
            .map(|(i, _)| {
                finding(
                    PORTABLE.def,
                    &i.name,
                    format!("portable service image '{}' at {}", i.name, i.path),
                    json!({"path": i.path, "format": i.format, "searched": i.searched}),
                )
            })
            .collect(),
    )
}
