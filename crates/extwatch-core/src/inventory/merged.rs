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

/// Why an overlay does not look like one systemd made (the `foreign-overlay` finding's reason).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ForeignOverlay {
    /// The mount source is not the class name systemd uses.
    #[error("overlay source is '{found}', not '{want}'")]
    Source {
        /// The overlay's source.
        found: String,
        /// What systemd uses for the class.
        want: &'static str,
    },
    /// No lower layers at all.
    #[error("overlay has no lower layers")]
    NoLayers,
    /// The top layer is not systemd's meta directory.
    #[error("top layer '{0}' is not systemd's meta directory")]
    Top(String),
    /// A middle layer is outside systemd's merge workspace.
    #[error("layer '{0}' is not in systemd's merge workspace")]
    Layer(String),
}

/// True when the overlay looks like one systemd made: source matches the class, the top layer is the
/// meta directory, every other layer but the last is an extension mount in systemd's workspace.
pub fn overlay_is_systemds(
    o: &OverlayMount,
    class: ImageClass,
    hier: &str,
) -> Result<(), ForeignOverlay> {
    let want = class.as_str();
    if o.source != want {
        return Err(ForeignOverlay::Source {
            found: o.source.clone(),
            want,
        });
    }
    let Some(first) = o.lowerdirs.first() else {
        return Err(ForeignOverlay::NoLayers);
    };
    if first != &format!("/run/systemd/sysext/meta{hier}") {
        return Err(ForeignOverlay::Top(first.clone()));
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
            return Err(ForeignOverlay::Layer(l.clone()));
        }
    }
    Ok(())
}

/// Undoes systemd's `cescape()` (`\n`, `\t`, `\\`, `\xNN`, octal).
fn c_unescape(s: &str) -> String {
    let mut rest = s.as_bytes();
    let mut out = Vec::with_capacity(rest.len());
    while let Some((&b, tail)) = rest.split_first() {
        if let (b'\\', Some((&c, after))) = (b, tail.split_first()) {
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
                rest = after;
                continue;
            }
            // Bytes, not `&s[..]`: a multi-byte character after `\x` must not split a `str`
            // slice (a panic on a planted marker file).
            if let (b'x', Some((hex, more))) = (c, after.split_at_checked(2)) {
                let v = std::str::from_utf8(hex).map(|h| u8::from_str_radix(h, 16));
                if let Ok(Ok(v)) = v {
                    out.push(v);
                    rest = more;
                    continue;
                }
            }
        }
        out.push(b);
        rest = tail;
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
    fn unescapes_like_cescape_reversed() {
        for (escaped, plain) in [
            ("", ""),
            ("trailing\\", "trailing\\"),
            ("\\n\\t\\'\\\"", "\n\t'\""),
            ("\\q", "\\q"),
            ("\\x41\\x42c", "ABc"),
            ("\\xZZ", "\\xZZ"),
            ("\\\\x41", "\\x41"),
            ("\\x4\u{e9}", "\\x4\u{e9}"),
        ] {
            assert_eq!(c_unescape(escaped), plain, "{escaped:?}");
        }
    }

    #[test]
    fn foreign_overlay_reasons_read_as_before() {
        let o = OverlayMount {
            mount_id: 1,
            dev: "0:1".into(),
            source: "overlay".into(),
            read_only: true,
            lowerdirs: vec!["/x".into()],
            upperdir: None,
            mount_options: vec![],
        };
        let why = |o: &OverlayMount| {
            overlay_is_systemds(o, ImageClass::Sysext, "/usr")
                .unwrap_err()
                .to_string()
        };
        assert_eq!(why(&o), "overlay source is 'overlay', not 'sysext'");
        let o = OverlayMount {
            source: "sysext".into(),
            ..o
        };
        assert_eq!(why(&o), "top layer '/x' is not systemd's meta directory");
        let o = OverlayMount {
            lowerdirs: vec![],
            ..o
        };
        assert_eq!(why(&o), "overlay has no lower layers");
        let o = OverlayMount {
            lowerdirs: vec![
                "/run/systemd/sysext/meta/usr".into(),
                "/tmp/evil".into(),
                "/usr".into(),
            ],
            ..o
        };
        assert_eq!(
            why(&o),
            "layer '/tmp/evil' is not in systemd's merge workspace"
        );
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
