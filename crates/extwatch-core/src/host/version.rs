//! Which systemd's rules apply: the version, parsed from `--systemd-version` or detected in the root.
//!
//! systemd's extension behaviour changes in almost every release (docs/systemd.md §10), so every
//! discovery and matching rule is keyed on this. Detection looks, inside the audited root, for the
//! versioned shared library every systemd build installs (`libsystemd-shared-NNN[.x-y].so` under
//! `/usr/lib/systemd`, `/usr/lib64/systemd` or `/usr/lib/<triplet>/systemd`) and, for the point release,
//! the `systemd NNN (NNN.x-...)` banner inside that library (or `/usr/lib/systemd/systemd`) (first 64 MiB only).

use std::fmt;

use crate::host::rootfs::RootFs;

/// A systemd version: major plus, when known, the stable point release (257.13).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct SystemdVersion {
    /// Major release, e.g. 257.
    pub major: u32,
    /// Stable point release, e.g. 13 in 257.13.
    pub point: Option<u32>,
}

impl SystemdVersion {
    /// The default when nothing else is known: systemd 257 (Debian 13, Fedora 42 era).
    pub const DEFAULT: SystemdVersion = SystemdVersion {
        major: 257,
        point: None,
    };

    /// Parses `257`, `257.13`, `v257`, `257.13-1~deb13u1`.
    pub fn parse(s: &str) -> Option<Self> {
        let s = s.trim().trim_start_matches('v');
        let s = s.split(['-', '~', ' ', '+']).next()?;
        let mut parts = s.split('.');
        let major: u32 = parts.next()?.parse().ok()?;
        if !(200..1000).contains(&major) {
            return None;
        }
        let point = match parts.next() {
            Some(p) => Some(p.parse().ok()?),
            None => None,
        };
        Some(SystemdVersion { major, point })
    }

    /// True when the host `ID_LIKE` is matched: v258, and the 257 stable branch (present in Debian's
    /// 257.13; the exact first point release is unconfirmed, so any 257.x with a point ≥ 1 and plain
    /// "257" as detected on Debian trixie count).
    pub fn honours_id_like(self) -> bool {
        self.major >= 258 || self.major == 257 && self.point != Some(0)
    }
}

impl fmt::Display for SystemdVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.point {
            Some(p) => write!(f, "{}.{}", self.major, p),
            None => write!(f, "{}", self.major),
        }
    }
}

/// Detects the systemd version installed in `root`; returns it and the path it came from.
pub fn detect(root: &RootFs) -> Option<(SystemdVersion, String)> {
    let mut dirs: Vec<String> = vec!["/usr/lib/systemd".into(), "/usr/lib64/systemd".into()];
    if let Ok(entries) = root.read_dir("/usr/lib") {
        for (name, _) in entries {
            let name = String::from_utf8_lossy(&name).into_owned();
            if name.contains("-linux-") {
                dirs.push(format!("/usr/lib/{name}/systemd"));
            }
        }
    }
    let mut found: Option<(SystemdVersion, String)> = None;
    for dir in &dirs {
        let Ok(entries) = root.read_dir(dir) else {
            continue;
        };
        for (name, _) in entries {
            let name = String::from_utf8_lossy(&name);
            let Some(rest) = name.strip_prefix("libsystemd-shared-") else {
                continue;
            };
            let Some(ver) = rest.strip_suffix(".so") else {
                continue;
            };
            if let Some(v) = SystemdVersion::parse(ver) {
                found = Some((v, format!("{dir}/{name}")));
            }
        }
    }
    let (mut v, path) = found?;
    if v.point.is_none() {
        v.point = [path.as_str(), "/usr/lib/systemd/systemd"]
            .iter()
            .find_map(|p| banner_point(root, p, v.major));
    }
    Some((v, path))
}

/// Finds `systemd MAJOR (MAJOR.POINT` in the systemd binary to learn the point release.
fn banner_point(root: &RootFs, path: &str, major: u32) -> Option<u32> {
    let data = root.read_file(path, 64 * 1024 * 1024).ok()??;
    let needle = format!("systemd {major} ({major}.");
    let pos = memfind(&data, needle.as_bytes())?;
    // `memfind` found the needle at `pos`, so the rest starts within `data`.
    let digits: String = data
        .get(pos + needle.len()..)?
        .iter()
        .take(6)
        .take_while(|c| c.is_ascii_digit())
        .map(|c| *c as char)
        .collect();
    digits.parse().ok()
}

fn memfind(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_versions() {
        assert_eq!(
            SystemdVersion::parse("257.13-1~deb13u1"),
            Some(SystemdVersion {
                major: 257,
                point: Some(13)
            })
        );
        assert_eq!(SystemdVersion::parse("v252").unwrap().major, 252);
        assert_eq!(SystemdVersion::parse("5"), None);
        assert_eq!(SystemdVersion::parse("abc"), None);
        assert!(SystemdVersion::parse("257").unwrap().honours_id_like());
        assert!(!SystemdVersion::parse("256").unwrap().honours_id_like());
        assert!(!SystemdVersion::parse("257.0").unwrap().honours_id_like());
    }
}
