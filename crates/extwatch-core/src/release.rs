//! Finding an image's extension-release (reference systemd.md §2.4) and judging it against the host
//! with systemd's own algorithm and words (§2.3, `extension_release_validate()`).

use std::collections::BTreeMap;

use extwatch_formats::osrelease::parse_os_release;
use extwatch_model::ImageClass;

use crate::content::Content;
use crate::version::SystemdVersion;

/// Largest release file read (systemd's `READ_FULL_BYTES_MAX`).
const MAX_RELEASE: u64 = extwatch_formats::osrelease::MAX_RELEASE_SIZE as u64;

/// The host facts systemd compares against.
#[derive(Debug, Clone, Default)]
pub struct HostRelease {
    /// os-release key/values of the audited root.
    pub os_release: Option<BTreeMap<String, String>>,
    /// `system` or `initrd`.
    pub scope: &'static str,
    /// uname architecture in systemd's spelling.
    pub arch: &'static str,
    /// Path of the root, as systemd prints it in messages.
    pub root_display: String,
}

impl HostRelease {
    fn get(&self, k: &str) -> Option<&str> {
        self.os_release
            .as_ref()
            .and_then(|m| m.get(k))
            .map(String::as_str)
            .filter(|s| !s.is_empty())
    }
}

/// A release file found in an image.
#[derive(Debug, Clone)]
pub struct FoundRelease {
    /// Path inside the image.
    pub path: String,
    /// Parsed pairs.
    pub pairs: BTreeMap<String, String>,
}

/// `path_extract_image_name()` (≥v256): strip `.raw`, then a `.sysext`/`.confext` class suffix (also
/// for directories — verified against 257.13), cut at `_` or `+`.
pub fn base_image_name(file_name: &str) -> String {
    let s = file_name;
    let s = s.strip_suffix(".raw").unwrap_or(s);
    let s = s
        .strip_suffix(".sysext")
        .or_else(|| s.strip_suffix(".confext"))
        .unwrap_or(s);
    let end = s.find(['_', '+']).unwrap_or(s.len());
    s[..end].to_string()
}

fn parse_bool_false(v: &[u8]) -> bool {
    let s = String::from_utf8_lossy(v);
    let s = s.trim_end_matches('\0').trim();
    ["0", "no", "n", "false", "f", "off"]
        .iter()
        .any(|f| s.eq_ignore_ascii_case(f))
}

/// systemd's `image_name_is_valid()` (the part that matters for release-file suffixes).
fn image_name_valid(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 255
        && !s.starts_with(".#")
        && s != "."
        && s != ".."
        && !s.contains('/')
        && s.chars().all(|c| !c.is_control())
}

/// Outcome of a release lookup.
#[derive(Debug, Clone)]
pub enum Lookup {
    /// Found.
    Found(FoundRelease),
    /// No qualifying file.
    Absent,
    /// More than one qualifying file (`-ENOTUNIQ`).
    NotUnique(Vec<String>),
}

impl Lookup {
    /// The release, if found.
    pub fn found(self) -> Option<FoundRelease> {
        match self {
            Lookup::Found(f) => Some(f),
            _ => None,
        }
    }
}

/// Looks up the extension-release of `name` (or, for portable images, the os-release).
/// `file_name` is the basename systemd uses for the base-name fallback (≥v256).
pub fn find_release(
    content: &Content,
    class: ImageClass,
    name: &str,
    file_name: &str,
    v: SystemdVersion,
) -> Result<Lookup, String> {
    if class == ImageClass::Portable {
        for p in ["/etc/os-release", "/usr/lib/os-release"] {
            if let Some(data) = content.read_file(p, MAX_RELEASE)? {
                let pairs = parse_os_release(&data).map_err(|e| format!("{p}: {e}"))?;
                return Ok(Lookup::Found(FoundRelease {
                    path: p.into(),
                    pairs,
                }));
            }
        }
        return Ok(Lookup::Absent);
    }
    let dir = match class {
        ImageClass::Confext => "/etc/extension-release.d",
        _ => "/usr/lib/extension-release.d",
    };
    let exact = format!("{dir}/extension-release.{name}");
    if let Some(data) = content.read_file(&exact, MAX_RELEASE)? {
        let pairs = parse_os_release(&data).map_err(|e| format!("{exact}: {e}"))?;
        return Ok(Lookup::Found(FoundRelease { path: exact, pairs }));
    }
    let base = base_image_name(file_name);
    let mut chosen: Vec<String> = Vec::new();
    for (entry, regular) in content.list(dir)? {
        let Some(suffix) = entry.strip_prefix("extension-release.") else {
            continue;
        };
        if !regular || !image_name_valid(suffix) {
            continue;
        }
        let p = format!("{dir}/{entry}");
        let by_base = v.major >= 256 && suffix == base;
        let by_xattr = !by_base
            && content
                .xattr(&p, "user.extension-release.strict")?
                .is_some_and(|x| parse_bool_false(&x));
        if !(by_base || by_xattr) {
            continue;
        }
        chosen.push(p);
    }
    match chosen.len() {
        0 => Ok(Lookup::Absent),
        1 => {
            let p = chosen.remove(0);
            let data = content
                .read_file(&p, MAX_RELEASE)?
                .ok_or_else(|| format!("{p} vanished"))?;
            let pairs = parse_os_release(&data).map_err(|e| format!("{p}: {e}"))?;
            Ok(Lookup::Found(FoundRelease { path: p, pairs }))
        }
        // -ENOTUNIQ: more than one candidate; systemd then has no release data.
        _ => Ok(Lookup::NotUnique(chosen)),
    }
}

/// systemd's verdict on an image, with its debug message when it refuses: `Ok(())` or `Err(reason)`.
pub fn validate(
    name: &str,
    class: ImageClass,
    release: Option<&BTreeMap<String, String>>,
    host: &HostRelease,
    v: SystemdVersion,
) -> Result<(), String> {
    if class == ImageClass::Portable {
        return match release {
            Some(r) if !r.is_empty() => Ok(()),
            _ => Err(format!("Image '{name}' carries no os-release data.")),
        };
    }
    let Some(host_id) = host.get("ID") else {
        return Err(format!(
            "'ID' field not found or empty in 'os-release' data of OS tree '{}'.",
            host.root_display
        ));
    };
    let empty = BTreeMap::new();
    let rel = release.unwrap_or(&empty);
    let get = |k: &str| rel.get(k).map(String::as_str).filter(|s| !s.is_empty());
    // systemd ≤253 (src/shared/extension-release.c) words some refusals differently.
    let old = v.major <= 253;
    if rel.is_empty() {
        return Err(if old {
            format!("Extension '{name}' carries no extension-release data, ignoring extension.")
        } else {
            format!("Extension '{name}' carries no release data, ignoring.")
        });
    }
    let (level_key, scope_key) = match class {
        ImageClass::Confext => ("CONFEXT_LEVEL", "CONFEXT_SCOPE"),
        _ => ("SYSEXT_LEVEL", "SYSEXT_SCOPE"),
    };
    let scopes: Vec<&str> = match rel.get(scope_key) {
        Some(s) => s.split_ascii_whitespace().collect(),
        None => vec!["system", "portable"],
    };
    if !scopes.contains(&host.scope) {
        return Err(format!(
            "Extension '{name}' is not suitable for scope {}, ignoring{}.",
            host.scope,
            if old { " extension" } else { "" }
        ));
    }
    if let Some(a) = get("ARCHITECTURE") {
        if a != "_any" && a != host.arch {
            return Err(format!(
                "Extension '{name}' is for architecture '{a}', but deployed on top of '{}'.",
                host.arch
            ));
        }
    }
    let Some(id) = get("ID") else {
        return Err(format!(
            "Extension '{name}' does not contain ID in {} but requested to match '{host_id}' or be '_any'",
            if old { "extension-release" } else { "release file" }
        ));
    };
    if id == "_any" {
        return Ok(());
    }
    let id_like = host.get("ID_LIKE").filter(|_| v.honours_id_like());
    let like = id_like.is_some_and(|l| l.split_ascii_whitespace().any(|w| w == id));
    if id != host_id && !like {
        return Err(match id_like {
            Some(l) => format!(
                "Extension '{name}' is for OS '{id}', but deployed on top of '{host_id}' (like '{l}')."
            ),
            None => format!("Extension '{name}' is for OS '{id}', but deployed on top of '{host_id}'."),
        });
    }
    let host_ver = host.get("VERSION_ID");
    let host_level = host.get(level_key);
    if host_ver.is_none() && host_level.is_none() {
        return Ok(());
    }
    let ext_level = get(level_key);
    if let (Some(hl), Some(el)) = (host_level, ext_level) {
        if hl != el {
            let api = if old { "sysext API level" } else { "API level" };
            return Err(format!(
                "Extension '{name}' is for {api} '{el}', but running on {api} '{hl}'"
            ));
        }
    } else if let Some(hv) = host_ver {
        let Some(ev) = get("VERSION_ID") else {
            return Err(format!(
                "Extension '{name}' does not contain VERSION_ID in {} but requested to match '{hv}'",
                if old { "extension-release" } else { "release file" }
            ));
        };
        if ev != hv {
            return Err(format!(
                "Extension '{name}' is for OS '{ev}', but deployed on top of '{hv}'."
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host(pairs: &[(&str, &str)]) -> HostRelease {
        HostRelease {
            os_release: Some(
                pairs
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
            ),
            scope: "system",
            arch: "x86-64",
            root_display: "/".into(),
        }
    }

    fn rel(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    const V257: SystemdVersion = SystemdVersion {
        major: 257,
        point: Some(13),
    };

    #[test]
    fn matching_rules_and_reasons() {
        let h = host(&[("ID", "debian"), ("VERSION_ID", "13"), ("ID_LIKE", "")]);
        let s = ImageClass::Sysext;
        assert!(validate(
            "a",
            s,
            Some(&rel(&[("ID", "debian"), ("VERSION_ID", "13")])),
            &h,
            V257
        )
        .is_ok());
        assert_eq!(
            validate("a", s, Some(&rel(&[("ID", "fedora")])), &h, V257).unwrap_err(),
            "Extension 'a' is for OS 'fedora', but deployed on top of 'debian'."
        );
        assert_eq!(
            validate(
                "a",
                s,
                Some(&rel(&[("ID", "debian"), ("VERSION_ID", "12")])),
                &h,
                V257
            )
            .unwrap_err(),
            "Extension 'a' is for OS '12', but deployed on top of '13'."
        );
        assert!(validate(
            "a",
            s,
            Some(&rel(&[("ID", "_any"), ("SYSEXT_SCOPE", "initrd")])),
            &h,
            V257
        )
        .is_err());
        assert!(validate("a", s, Some(&rel(&[("ID", "_any")])), &h, V257).is_ok());
        assert_eq!(
            validate("a", s, None, &h, V257).unwrap_err(),
            "Extension 'a' carries no release data, ignoring."
        );
        assert_eq!(
            validate(
                "a",
                s,
                Some(&rel(&[("ID", "_any"), ("ARCHITECTURE", "arm64")])),
                &h,
                V257
            )
            .unwrap_err(),
            "Extension 'a' is for architecture 'arm64', but deployed on top of 'x86-64'."
        );
        let lvl = host(&[
            ("ID", "debian"),
            ("VERSION_ID", "13"),
            ("SYSEXT_LEVEL", "1.4"),
        ]);
        assert_eq!(
            validate(
                "a",
                s,
                Some(&rel(&[("ID", "debian"), ("SYSEXT_LEVEL", "1.3")])),
                &lvl,
                V257
            )
            .unwrap_err(),
            "Extension 'a' is for API level '1.3', but running on API level '1.4'"
        );
        assert!(validate(
            "a",
            s,
            Some(&rel(&[("ID", "debian"), ("SYSEXT_LEVEL", "1.4")])),
            &lvl,
            V257
        )
        .is_ok());
        // Extension level but host only VERSION_ID: VERSION_ID is required.
        assert!(validate(
            "a",
            s,
            Some(&rel(&[("ID", "debian"), ("SYSEXT_LEVEL", "1.4")])),
            &h,
            V257
        )
        .is_err());
        let like = host(&[
            ("ID", "ubuntu"),
            ("ID_LIKE", "debian"),
            ("VERSION_ID", "24.04"),
        ]);
        let r = rel(&[("ID", "debian"), ("VERSION_ID", "24.04")]);
        assert!(validate("a", s, Some(&r), &like, V257).is_ok());
        let v256 = SystemdVersion {
            major: 256,
            point: None,
        };
        assert!(validate("a", s, Some(&r), &like, v256).is_err());
        let rolling = host(&[("ID", "arch")]);
        assert!(validate("a", s, Some(&rel(&[("ID", "arch")])), &rolling, V257).is_ok());
    }

    #[test]
    fn base_names() {
        assert_eq!(base_image_name("foo_1.2.raw"), "foo");
        assert_eq!(base_image_name("foo.sysext.raw"), "foo");
        assert_eq!(base_image_name("foo+3-0.raw"), "foo");
        assert_eq!(base_image_name("dir_2"), "dir");
        assert!(parse_bool_false(b"0"));
        assert!(parse_bool_false(b"off\0"));
        assert!(!parse_bool_false(b"1"));
        assert!(!parse_bool_false(b"maybe"));
    }
}
