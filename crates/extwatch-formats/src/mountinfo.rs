//! `/proc/PID/mountinfo` parsing, with the kernel's octal escapes decoded.
//!
//! Hand-written rather than taken from `procfs`: that crate leaves `\040`-style escapes in place
//! (verified, see shared/reference/crates.md job 5), cannot be pointed at a captured file from another
//! machine without its process plumbing, and the format is one line per mount.
//!
//! Format (proc(5)): `ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTS [OPTIONAL...] - FSTYPE SOURCE SUPEROPTS`.
//! The kernel escapes space, tab, newline and backslash in paths as `\ooo`.

/// Largest mount table accepted.
pub const MAX_MOUNTINFO_SIZE: usize = 64 * 1024 * 1024;
/// Most mounts kept.
pub const MAX_MOUNTS: usize = 1_000_000;

/// One mount.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountEntry {
    /// Mount ID.
    pub mount_id: u64,
    /// Parent mount ID.
    pub parent_id: u64,
    /// Device major.
    pub major: u32,
    /// Device minor.
    pub minor: u32,
    /// Root of the mount within its file system (unescaped).
    pub root: String,
    /// Mount point (unescaped).
    pub mount_point: String,
    /// Per-mount options (`ro`, `nodev`, ...).
    pub mount_options: Vec<String>,
    /// Optional fields (`shared:2`, `master:1`, ...).
    pub optional: Vec<String>,
    /// File-system type.
    pub fstype: String,
    /// Mount source (unescaped).
    pub source: String,
    /// Super-block options, raw (comma-separated; overlay paths inside are escaped by systemd too).
    pub super_options: String,
}

impl MountEntry {
    /// True when mounted read-only (per-mount `ro`).
    pub fn read_only(&self) -> bool {
        self.mount_options.iter().any(|o| o == "ro")
    }

    /// The value of a super-block option (`lowerdir`, `upperdir`, ...), octal escapes decoded. The
    /// kernel escapes commas inside values (`seq_show_option`), so raw commas separate options.
    pub fn super_option(&self, key: &str) -> Option<String> {
        self.super_options.split(',').find_map(|kv| {
            let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
            (k == key).then(|| unescape(v))
        })
    }
}

/// Why a mount table could not be parsed.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum MountinfoError {
    /// Too large.
    #[error("mount table is {0} bytes, over the limit")]
    TooLarge(usize),
    /// Too many lines.
    #[error("mount table has more than {MAX_MOUNTS} entries")]
    TooMany,
    /// A malformed line.
    #[error("mountinfo line {line}: {reason}")]
    Malformed {
        /// 1-based line number.
        line: usize,
        /// What is wrong.
        reason: &'static str,
    },
}

/// Parses a whole mountinfo file. Empty lines are ignored; any malformed line is an error (a
/// truncated or forged table must not be half-trusted).
pub fn parse_mountinfo(data: &[u8]) -> Result<Vec<MountEntry>, MountinfoError> {
    if data.len() > MAX_MOUNTINFO_SIZE {
        return Err(MountinfoError::TooLarge(data.len()));
    }
    let mut out = Vec::new();
    for (i, raw) in data.split(|c| *c == b'\n').enumerate() {
        if raw.iter().all(|c| c.is_ascii_whitespace()) {
            continue;
        }
        if out.len() >= MAX_MOUNTS {
            return Err(MountinfoError::TooMany);
        }
        let line = String::from_utf8_lossy(raw);
        out.push(
            parse_line(&line).map_err(|reason| MountinfoError::Malformed {
                line: i + 1,
                reason,
            })?,
        );
    }
    Ok(out)
}

fn parse_line(line: &str) -> Result<MountEntry, &'static str> {
    let mut it = line.split(' ').filter(|s| !s.is_empty());
    let mut next = |what: &'static str| it.next().ok_or(what);
    let mount_id = next("missing mount id")?
        .parse()
        .map_err(|_| "bad mount id")?;
    let parent_id = next("missing parent id")?
        .parse()
        .map_err(|_| "bad parent id")?;
    let (maj, min) = next("missing device")?
        .split_once(':')
        .ok_or("bad device")?;
    let major = maj.parse().map_err(|_| "bad major")?;
    let minor = min.parse().map_err(|_| "bad minor")?;
    let root = unescape(next("missing root")?);
    let mount_point = unescape(next("missing mount point")?);
    let mount_options = next("missing options")?
        .split(',')
        .map(str::to_string)
        .collect();
    let mut optional = Vec::new();
    loop {
        let f = next("missing separator")?;
        if f == "-" {
            break;
        }
        optional.push(f.to_string());
    }
    let fstype = unescape(next("missing fstype")?);
    let source = unescape(next("missing source")?);
    let super_options = next("missing super options")?.to_string();
    Ok(MountEntry {
        mount_id,
        parent_id,
        major,
        minor,
        root,
        mount_point,
        mount_options,
        optional,
        fstype,
        source,
        super_options,
    })
}

/// Decodes the kernel's `\ooo` octal escapes; anything else is kept verbatim.
pub fn unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\'
            && i + 3 < b.len()
            && b[i + 1..i + 4].iter().all(|c| (b'0'..=b'7').contains(c))
        {
            let v = (u32::from(b[i + 1] - b'0') << 6)
                | (u32::from(b[i + 2] - b'0') << 3)
                | u32::from(b[i + 3] - b'0');
            if let Ok(byte) = u8::try_from(v) {
                out.push(byte);
                i += 4;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Splits `s` on `sep` where it is not preceded by a backslash (systemd escapes `,` and `:` in overlay
/// layer paths with `shell_escape(path, ",:")`), then removes those backslash escapes.
pub fn split_unescaped(s: &str, sep: char) -> Vec<String> {
    let mut parts = Vec::new();
    let mut cur = String::new();
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            match chars.next() {
                Some(n) => {
                    cur.push('\\');
                    cur.push(n);
                }
                None => cur.push('\\'),
            }
        } else if c == sep {
            parts.push(std::mem::take(&mut cur));
        } else {
            cur.push(c);
        }
    }
    parts.push(cur);
    parts
}

/// Removes shell-style backslash escapes (`\,` → `,`, `\:` → `:`, `\\` → `\`).
pub fn shell_unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            if let Some(n) = chars.next() {
                out.push(n);
                continue;
            }
        }
        out.push(c);
    }
    out
}

/// The overlay `lowerdir=` layers, top first, unescaped.
pub fn overlay_lowerdirs(entry: &MountEntry) -> Vec<String> {
    // Kernels show `lowerdir=a:b:c`; newer ones may show repeated `lowerdir+=` options instead.
    let mut layers = Vec::new();
    for kv in entry.super_options.split(',') {
        if let Some(v) = kv.strip_prefix("lowerdir=") {
            let v = unescape(v);
            layers.extend(split_unescaped(&v, ':').iter().map(|p| shell_unescape(p)));
        } else if let Some(v) = kv.strip_prefix("lowerdir+=") {
            layers.push(unescape(v));
        }
    }
    layers
}

#[cfg(test)]
mod tests {
    use super::*;

    const SYSEXT: &str = "99 64 0:41 / /srv/root/usr ro,relatime shared:2 - overlay sysext ro,lowerdir=/run/systemd/sysext/meta/usr:/run/systemd/sysext/extensions/foo/usr:/srv/root/usr,redirect_dir=on\n";

    #[test]
    fn parses_a_sysext_overlay() {
        let m = parse_mountinfo(SYSEXT.as_bytes()).unwrap();
        assert_eq!(m.len(), 1);
        let e = &m[0];
        assert_eq!((e.mount_id, e.parent_id, e.major, e.minor), (99, 64, 0, 41));
        assert_eq!(e.mount_point, "/srv/root/usr");
        assert_eq!(e.fstype, "overlay");
        assert_eq!(e.source, "sysext");
        assert!(e.read_only());
        assert_eq!(e.optional, vec!["shared:2"]);
        assert_eq!(
            overlay_lowerdirs(e),
            vec![
                "/run/systemd/sysext/meta/usr",
                "/run/systemd/sysext/extensions/foo/usr",
                "/srv/root/usr"
            ]
        );
        assert_eq!(e.super_option("redirect_dir").as_deref(), Some("on"));
        assert_eq!(e.super_option("upperdir"), None);
    }

    #[test]
    fn unescapes_octal_and_shell_escapes() {
        assert_eq!(unescape("/mnt/with\\040space\\134x"), "/mnt/with space\\x");
        assert_eq!(unescape("trailing\\04"), "trailing\\04");
        assert_eq!(unescape("\\777"), "\\777");
        let e = parse_line(
            "1 0 0:1 / /r\\040x/usr ro - overlay sysext ro,lowerdir=/a\\134\\054b:/c\\134:d:/r\\040x/usr",
        )
        .unwrap();
        assert_eq!(e.mount_point, "/r x/usr");
        assert_eq!(overlay_lowerdirs(&e), vec!["/a,b", "/c:d", "/r x/usr"]);
    }

    #[test]
    fn rejects_malformed_lines() {
        for bad in [
            "x 0 0:1 / / rw - ext4 /dev/x rw",
            "1 0 01 / / rw - ext4 /dev/x rw",
            "1 0 0:1 / / rw ext4 /dev/x rw",
            "1 0 0:1 / / rw -",
        ] {
            assert!(parse_mountinfo(bad.as_bytes()).is_err(), "{bad}");
        }
        assert!(parse_mountinfo(b"\n\n").unwrap().is_empty());
    }
}
