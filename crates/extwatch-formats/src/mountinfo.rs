//! `/proc/PID/mountinfo` parsing, with the kernel's octal escapes decoded.
//!
//! Hand-written rather than taken from `procfs`: that crate leaves `\040`-style escapes in place
//! (verified, see docs/crates.md job 5), cannot be pointed at a captured file from another
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
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
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

/// A parsed mount table: the mounts, and the lines that were skipped as malformed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MountTable {
    /// Every well-formed line, in table order.
    pub mounts: Vec<MountEntry>,
    /// Malformed lines that were skipped (each a [`MountinfoError::Malformed`]); the caller reports
    /// them as warnings.
    pub skipped: Vec<MountinfoError>,
}

/// Most skipped lines remembered (a table of junk reports its first lines, not a million).
pub const MAX_SKIPPED: usize = 64;

/// Parses a whole mountinfo file, strictly: any malformed line is an error. Empty lines are ignored.
pub fn parse_mountinfo(data: &[u8]) -> Result<Vec<MountEntry>, MountinfoError> {
    let t = parse_mountinfo_table(data)?;
    match t.skipped.into_iter().next() {
        Some(e) => Err(e),
        None => Ok(t.mounts),
    }
}

/// Parses a whole mountinfo file, skipping (and listing) malformed lines. One odd line — a FUSE
/// mount with an empty source was enough before this parser read fields by position — must not
/// throw away the rest of the table and with it the merge state of every hierarchy (issue 8 case 9).
/// Only the size and line-count caps, and a file in which no line parses, fail the whole table.
pub fn parse_mountinfo_table(data: &[u8]) -> Result<MountTable, MountinfoError> {
    if data.len() > MAX_MOUNTINFO_SIZE {
        return Err(MountinfoError::TooLarge(data.len()));
    }
    let mut t = MountTable::default();
    for (i, raw) in data.split(|c| *c == b'\n').enumerate() {
        if raw.iter().all(|c| c.is_ascii_whitespace()) {
            continue;
        }
        if t.mounts.len() >= MAX_MOUNTS {
            return Err(MountinfoError::TooMany);
        }
        let line = String::from_utf8_lossy(raw);
        match parse_line(&line) {
            Ok(e) => t.mounts.push(e),
            Err(reason) => {
                if t.skipped.len() < MAX_SKIPPED {
                    t.skipped.push(MountinfoError::Malformed {
                        line: i + 1,
                        reason,
                    });
                }
            }
        }
    }
    // Not one line parsed: this is not a mount table (a wrong file, or garbage), so it is an
    // error rather than an empty table that would read as "nothing is mounted".
    if t.mounts.is_empty() {
        if let Some(e) = t.skipped.first() {
            return Err(e.clone());
        }
    }
    Ok(t)
}

/// One line. Fields are separated by single spaces and the kernel escapes spaces inside them, so
/// the line is split on every space: an empty field is a real empty value, not extra padding. The
/// kernel prints an empty mount source (`seq_puts(m, r->mnt_devname ? : "none")` is not used by
/// every file system; FUSE and some network file systems leave it empty) as nothing between two
/// spaces, so `- fuse  rw` is a valid line with source `""`.
fn parse_line(line: &str) -> Result<MountEntry, &'static str> {
    let line = line.strip_suffix('\r').unwrap_or(line);
    let fields: Vec<&str> = line.split(' ').collect();
    let sep = fields
        .iter()
        .position(|f| *f == "-")
        .ok_or("missing separator")?;
    let (head, tail) = fields.split_at(sep);
    let tail = tail.get(1..).unwrap_or_default();
    if head.iter().any(|f| f.is_empty()) {
        return Err("empty field before the separator");
    }
    let mut it = head.iter();
    let mut next = |what: &'static str| it.next().copied().ok_or(what);
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
    let optional = it.map(|f| f.to_string()).collect();
    // After the separator: exactly fstype, source (may be empty), super options. Later kernels may
    // add fields; ignore extra ones rather than reject the table.
    let [fstype, source, super_options, ..] = tail else {
        return Err("missing fields after the separator");
    };
    if fstype.is_empty() {
        return Err("empty fstype");
    }
    Ok(MountEntry {
        mount_id,
        parent_id,
        major,
        minor,
        root,
        mount_point,
        mount_options,
        optional,
        fstype: unescape(fstype),
        source: unescape(source),
        super_options: super_options.to_string(),
    })
}

/// Decodes the kernel's `\ooo` octal escapes; anything else is kept verbatim.
pub fn unescape(s: &str) -> String {
    let mut rest = s.as_bytes();
    let mut out = Vec::with_capacity(rest.len());
    while let Some((&c, tail)) = rest.split_first() {
        if let (b'\\', [d1 @ b'0'..=b'7', d2 @ b'0'..=b'7', d3 @ b'0'..=b'7', after @ ..]) =
            (c, tail)
        {
            let v =
                (u32::from(d1 - b'0') << 6) | (u32::from(d2 - b'0') << 3) | u32::from(d3 - b'0');
            if let Ok(byte) = u8::try_from(v) {
                out.push(byte);
                rest = after;
                continue;
            }
        }
        out.push(c);
        rest = tail;
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

    #[test]
    fn empty_source_is_valid_and_bad_lines_are_skipped() {
        let table = format!(
            "{SYSEXT}36 35 0:30 / /run/user/1000/doc rw,nosuid - fuse.portal  rw,user_id=1000\n\
             garbage line\n\
             40 35 0:31 / /mnt rw - tmpfs tmpfs rw\n"
        );
        let t = parse_mountinfo_table(table.as_bytes()).unwrap();
        assert_eq!(t.mounts.len(), 3, "{t:?}");
        assert_eq!(t.mounts[1].source, "");
        assert_eq!(t.mounts[1].fstype, "fuse.portal");
        assert_eq!(t.mounts[1].super_options, "rw,user_id=1000");
        assert_eq!(t.mounts[2].mount_point, "/mnt");
        assert_eq!(
            t.skipped,
            vec![MountinfoError::Malformed {
                line: 3,
                reason: "missing separator"
            }]
        );
        // The strict parser accepts the empty source and rejects only the junk line.
        assert!(parse_mountinfo(table.as_bytes()).is_err());
        let ok = table.replace("garbage line\n", "");
        assert_eq!(parse_mountinfo(ok.as_bytes()).unwrap().len(), 3);
        // Nothing but junk is not a mount table.
        assert!(parse_mountinfo_table(b"garbage line\nmore\n").is_err());
    }
}
