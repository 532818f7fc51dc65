//! What is merged right now (docs/systemd.md §3): systemd's own test (`verb_status()`: the
//! hierarchy is a mount point and its marker `dev` equals its `st_dev`), cross-checked against the
//! mount table, whose overlay source, layers and flags a hand-made overlay rarely gets right.

use extwatch_formats::mountinfo::{overlay_lowerdirs, MountEntry};
use extwatch_model::{Hierarchy, ImageClass, Marker, OverlayMount};

use crate::diagnostic::{Area, Diagnostic};
use crate::host::paths;
use crate::host::rootfs::RootFs;
use crate::host::version::SystemdVersion;

/// Largest marker file read.
const MAX_MARKER: u64 = 1024 * 1024;

/// Reads the merge state of every hierarchy the classes merge into.
pub fn hierarchies(
    root: &RootFs,
    mounts: Option<&[MountEntry]>,
    v: SystemdVersion,
) -> (Vec<Hierarchy>, Vec<Diagnostic>) {
    let mut out = Vec::new();
    let mut warnings = Vec::new();
    for class in [ImageClass::Sysext, ImageClass::Confext] {
        for hier in paths::hierarchies(class, v) {
            match hierarchy(root, mounts, class, hier) {
                Ok(Some(h)) => out.push(h),
                Ok(None) => {}
                Err(e) => warnings.push(Diagnostic::new(
                    Area::MergeState,
                    Some(hier.to_string()),
                    format!("{}: {e}", root.display(hier)),
                )),
            }
        }
    }
    (out, warnings)
}

fn hierarchy(
    root: &RootFs,
    mounts: Option<&[MountEntry]>,
    class: ImageClass,
    hier: &str,
) -> std::io::Result<Option<Hierarchy>> {
    let Some(st) = root.lstat(hier)? else {
        return Ok(None); // systemd prints no row for a missing hierarchy
    };
    let hier_dev = format!(
        "{}:{}",
        rustix::fs::major(st.st_dev),
        rustix::fs::minor(st.st_dev)
    );
    let (marker_dir, list_file) = paths::marker(class);
    let mdir = format!("{hier}/{marker_dir}");
    let read = |f: &str| -> Option<String> {
        root.read_file(&format!("{mdir}/{f}"), MAX_MARKER)
            .ok()
            .flatten()
            .map(|b| String::from_utf8_lossy(&b).into_owned())
    };
    let marker = root.stat(&mdir)?.map(|_| Marker {
        path: mdir.clone(),
        dev: read("dev").map(|s| s.trim().to_string()),
        hierarchy_dev: hier_dev.clone(),
        extensions: read(list_file)
            .map(|s| {
                s.lines()
                    .filter(|l| !l.is_empty())
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default(),
        work_dir: read("work_dir").map(|s| c_unescape(s.trim_end_matches('\n'))),
        backing: read("backing").map(|s| s.trim().to_string()),
        origin: read("origin").and_then(|s| serde_json::from_str(&s).ok()),
    });
    let mount_point = if root.is_host_root() {
        hier.to_string()
    } else {
        root.display(hier)
    };
    let overlay = mounts.and_then(|m| {
        m.iter()
            .rev()
            .find(|e| e.mount_point == mount_point)
            .map(|e| OverlayMount {
                mount_id: e.mount_id,
                dev: format!("{}:{}", e.major, e.minor),
                source: e.source.clone(),
                read_only: e.read_only(),
                lowerdirs: if e.fstype == "overlay" {
                    overlay_lowerdirs(e)
                } else {
                    vec![]
                },
                upperdir: e.super_option("upperdir"),
                mount_options: e.mount_options.clone(),
            })
            .filter(|_| true)
    });
    // Only overlays are of interest; keep the top mount's fstype out of the model but drop non-overlays.
    let overlay = overlay.filter(|o| {
        mounts
            .and_then(|m| m.iter().find(|e| e.mount_id == o.mount_id))
            .is_some_and(|e| e.fstype == "overlay")
    });
    let is_mount = match root.is_mount_point(hier) {
        Ok(b) => b,
        Err(_) => overlay.is_some(),
    };
    let merged = is_mount
        && marker
            .as_ref()
            .and_then(|m| m.dev.as_deref())
            .is_some_and(|d| d == hier_dev);
    let mut extensions = marker
        .as_ref()
        .map(|m| m.extensions.clone())
        .unwrap_or_default();
    if extensions.is_empty() {
        if let Some(o) = &overlay {
            extensions = layer_names(&o.lowerdirs, class);
        }
    }
    let mutable = overlay
        .as_ref()
        .is_some_and(|o| o.upperdir.is_some() || !o.read_only)
        || marker.as_ref().is_some_and(|m| m.work_dir.is_some());
    Ok(Some(Hierarchy {
        hierarchy: hier.to_string(),
        class,
        merged,
        overlay,
        marker,
        extensions,
        mutable,
    }))
}

/// Extension names from overlay layers `/run/systemd/sysext/extensions/NAME/usr` (confext:
/// `/run/systemd/sysext/confexts/NAME/etc`).
pub fn layer_names(lowerdirs: &[String], class: ImageClass) -> Vec<String> {
    let prefix = match class {
        ImageClass::Confext => "/run/systemd/sysext/confexts/",
        _ => "/run/systemd/sysext/extensions/",
    };
    let mut names: Vec<String> = lowerdirs
        .iter()
        .filter_map(|l| l.strip_prefix(prefix))
        .filter_map(|rest| rest.split('/').next())
        .map(str::to_string)
        .collect();
    names.reverse(); // layers are top first; the marker lists names ascending
    names
}

/// True when the overlay looks like one systemd made: source matches the class, the top layer is the
/// meta directory, every other layer but the last is an extension mount in systemd's workspace.
pub fn overlay_is_systemds(o: &OverlayMount, class: ImageClass, hier: &str) -> Result<(), String> {
    let want = class.as_str();
    if o.source != want {
        return Err(format!("overlay source is '{}', not '{want}'", o.source));
    }
    let Some(first) = o.lowerdirs.first() else {
        return Err("overlay has no lower layers".into());
    };
    if first != &format!("/run/systemd/sysext/meta{hier}") {
        return Err(format!(
            "top layer '{first}' is not systemd's meta directory"
        ));
    }
    let ext_prefix = match class {
        ImageClass::Confext => "/run/systemd/sysext/confexts/",
        _ => "/run/systemd/sysext/extensions/",
    };
    // Layers between the meta directory (top) and the base (bottom). A single-layer overlay has
    // none; `get` instead of slicing, since `[1..len-1]` panics when `len` is 1 (issue 8 case 8).
    let middle = o
        .lowerdirs
        .get(1..o.lowerdirs.len().saturating_sub(1))
        .unwrap_or_default();
    for l in middle {
        if !l.starts_with(ext_prefix) && !l.starts_with("/var/lib/extensions.mutable/") {
            return Err(format!("layer '{l}' is not in systemd's merge workspace"));
        }
    }
    Ok(())
}

/// Undoes systemd's `cescape()` (`\n`, `\t`, `\\`, `\xNN`, octal).
fn c_unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' && i + 1 < b.len() {
            let c = b[i + 1];
            let simple = match c {
                b'n' => Some(b'\n'),
                b't' => Some(b'\t'),
                b'\\' => Some(b'\\'),
                b'"' => Some(b'"'),
                b'\'' => Some(b'\''),
                _ => None,
            };
            if let Some(v) = simple {
                out.push(v);
                i += 2;
                continue;
            }
            // Bytes, not `&s[..]`: a multi-byte character after `\x` must not split a `str`
            // slice (a panic on a planted marker file).
            let hex = b
                .get(i + 2..i + 4)
                .and_then(|h| std::str::from_utf8(h).ok());
            if c == b'x' {
                if let Some(Ok(v)) = hex.map(|h| u8::from_str_radix(h, 16)) {
                    out.push(v);
                    i += 4;
                    continue;
                }
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_from_layers() {
        let l = vec![
            "/run/systemd/sysext/meta/usr".to_string(),
            "/run/systemd/sysext/extensions/b/usr".to_string(),
            "/run/systemd/sysext/extensions/a/usr".to_string(),
            "/usr".to_string(),
        ];
        assert_eq!(layer_names(&l, ImageClass::Sysext), vec!["a", "b"]);
        let o = OverlayMount {
            mount_id: 1,
            dev: "0:1".into(),
            source: "sysext".into(),
            read_only: true,
            lowerdirs: l,
            upperdir: None,
            mount_options: vec![],
        };
        assert!(overlay_is_systemds(&o, ImageClass::Sysext, "/usr").is_ok());
        assert!(overlay_is_systemds(&o, ImageClass::Confext, "/etc").is_err());
        assert_eq!(c_unescape("/a\\x20b\\\\c"), "/a b\\c");
        assert_eq!(c_unescape("\\x\u{e9}z"), "\\x\u{e9}z");
        assert_eq!(c_unescape("end\\x4"), "end\\x4");
    }

    #[test]
    fn one_or_two_layer_overlays_do_not_panic() {
        let mk = |l: &[&str]| OverlayMount {
            mount_id: 1,
            dev: "0:1".into(),
            source: "sysext".into(),
            read_only: true,
            lowerdirs: l.iter().map(|s| s.to_string()).collect(),
            upperdir: None,
            mount_options: vec![],
        };
        // The meta directory alone, and meta + base: no extension layers, no panic.
        assert!(overlay_is_systemds(
            &mk(&["/run/systemd/sysext/meta/usr"]),
            ImageClass::Sysext,
            "/usr"
        )
        .is_ok());
        assert!(overlay_is_systemds(
            &mk(&["/run/systemd/sysext/meta/usr", "/usr"]),
            ImageClass::Sysext,
            "/usr"
        )
        .is_ok());
        assert!(overlay_is_systemds(&mk(&["/x"]), ImageClass::Sysext, "/usr").is_err());
        assert!(overlay_is_systemds(&mk(&[]), ImageClass::Sysext, "/usr").is_err());
    }
}
