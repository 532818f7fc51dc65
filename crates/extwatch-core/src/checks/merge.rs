//! Merge-state checks: how what is merged got there and whether it can change under the OS (docs/design.md
//! §4: `runtime-extension`, `mutable-extension-mode`, `merge-foreign-overlay`).
//!
//! systemd's merge leaves a recognisable overlay (source `sysext`/`confext`, meta layer on top)
//! and a marker directory whose `dev` names the overlay's device (docs/systemd.md §3.2–3.5).
//! Anything else on `/usr`, `/opt` or `/etc` was made by someone else; a writable upper directory
//! or a `/run` image changes what an "immutable" host runs.

use serde_json::json;

use super::{candidate, finding, ids, is_extension, Check, Facts, Outcome};
use crate::inventory::merged::overlay_is_systemds;

pub(super) const RUNTIME: Check = Check::new(ids::RUNTIME_EXTENSION, runtime);
pub(super) const MUTABLE: Check = Check::new(ids::MUTABLE_EXTENSION_MODE, mutable);
pub(super) const FOREIGN_OVERLAY: Check = Check::new(ids::MERGE_FOREIGN_OVERLAY, foreign_overlay);

fn runtime(f: &Facts) -> Outcome {
    Outcome::of(
        f.images
            .iter()
            .filter(|(i, _)| candidate(i) && is_extension(i) && i.search_dir.starts_with("/run/"))
            .map(|(i, _)| {
                finding(
                    RUNTIME.def,
                    &i.name,
                    format!(
                        "'{}' lives in {} and survives soft-reboot",
                        i.name, i.search_dir
                    ),
                    json!({"path": i.path, "merged": i.merged, "compatible": i.compatible.ok}),
                )
            })
            .collect(),
    )
}

/// Hierarchies merged writable, then `extensions.mutable` directories that make the next merge so.
fn mutable(f: &Facts) -> Outcome {
    let d = MUTABLE.def;
    let mut out = Vec::new();
    for h in f.hierarchies.iter().filter(|h| h.mutable) {
        out.push(finding(
            d,
            &h.hierarchy,
            format!(
                "{} is merged in mutable mode: writes land in the overlay's upper directory",
                h.hierarchy
            ),
            json!({"hierarchy": h.hierarchy, "upperdir": h.overlay.as_ref().and_then(|o| o.upperdir.clone()), "work_dir": h.marker.as_ref().and_then(|m| m.work_dir.clone())}),
        ));
    }
    for p in f.mutable_dirs {
        out.push(finding(
            d,
            p,
            format!(
                "{p} exists: systemd-sysext --mutable=auto/import makes it writable or persistent"
            ),
            json!({"path": p}),
        ));
    }
    Outcome::of(out)
}

/// Needs the mount table ([`super::Fact::MountTable`]): the registry reports an error without it.
fn foreign_overlay(f: &Facts) -> Outcome {
    Outcome::of(
        f.hierarchies
            .iter()
            .filter_map(|h| {
                let why = match (&h.overlay, &h.marker) {
                    (Some(o), _) => {
                        // The reason is finding text: the error's own message, as before.
                        let mut why = overlay_is_systemds(o, h.class, &h.hierarchy)
                            .err()
                            .map(|e| e.to_string());
                        if why.is_none() {
                            if let Some(m) = &h.marker {
                                if m.dev.as_deref() != Some(m.hierarchy_dev.as_str()) {
                                    why = Some(format!(
                                        "marker dev {:?} does not match the hierarchy's {}",
                                        m.dev, m.hierarchy_dev
                                    ));
                                }
                            } else {
                                why = Some("systemd overlay without marker directory".into());
                            }
                        }
                        why
                    }
                    (None, Some(m))
                        if m.dev.as_deref() == Some(m.hierarchy_dev.as_str()) && h.merged =>
                    {
                        Some("marker claims a merge but the mount table shows no overlay".into())
                    }
                    _ => None,
                }?;
                Some(finding(
                    FOREIGN_OVERLAY.def,
                    &h.hierarchy,
                    format!(
                        "overlay on {} was not made by systemd-{}: {why}",
                        h.hierarchy,
                        h.class.as_str()
                    ),
                    json!({"hierarchy": h.hierarchy, "reason": why, "overlay": h.overlay, "marker": h.marker}),
                ))
            })
            .collect(),
    )
}
