//! An image's listing as `systemd-dissect --mtree` prints it and as the `files` JSON report
//! ([`extwatch_model::FilesReport`]), streamed so a large image is not held twice in memory.

use extwatch_formats::EntryKind;
use extwatch_model::{FileRecord, FileType, FilesReport, ImageFormat, SCHEMA};

use super::walk::lossy;
use crate::content::FileEntry;

/// systemd's `xescape(s, WHITESPACE COMMENTS GLOB_CHARS)`: `\xNN` for control bytes, bytes ≥ 0x7f,
/// backslash, whitespace, `#`, `;`, `*`, `?` and `[`.
pub fn mtree_escape(s: &[u8], out: &mut String) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    for &b in s {
        if !(b' '..0x7f).contains(&b) || b"\\ \t\n\r#;*?[".contains(&b) {
            out.push('\\');
            out.push('x');
            out.push(HEX[usize::from(b >> 4)] as char);
            out.push(HEX[usize::from(b & 0xf)] as char);
        } else {
            out.push(b as char);
        }
    }
}

/// Linux `major()` / `minor()` of a `makedev` device number.
pub fn major_minor(rdev: u64) -> (u64, u64) {
    let major = ((rdev >> 8) & 0xfff) | ((rdev >> 32) & !0xfff);
    let minor = (rdev & 0xff) | ((rdev >> 12) & !0xff);
    (major, minor)
}

/// The listing exactly as `systemd-dissect --mtree` (systemd 257) prints it for the same image
/// (`sha256sum=` only for files [`hash_files`] hashed).
pub fn render_mtree(entries: &[FileEntry]) -> String {
    let mut out = Vec::with_capacity(entries.len() * 64);
    // Writing to a Vec cannot fail, and every byte written is ASCII.
    let _ = write_mtree(entries, &mut out);
    String::from_utf8_lossy(&out).into_owned()
}

/// [`render_mtree`] line by line into `out`, so a million-entry listing is not held twice.
pub fn write_mtree(entries: &[FileEntry], out: &mut dyn std::io::Write) -> std::io::Result<()> {
    use std::fmt::Write;
    let mut s = String::with_capacity(256);
    for e in entries {
        s.clear();
        if e.path == b"/" {
            s.push('.');
        } else {
            let mut p = Vec::with_capacity(e.path.len() + 1);
            p.push(b'.');
            p.extend_from_slice(&e.path);
            mtree_escape(&p, &mut s);
        }
        let ty = match e.kind {
            EntryKind::Dir => "dir",
            EntryKind::File => "file",
            EntryKind::Symlink => "link",
            EntryKind::Fifo => "fifo",
            EntryKind::BlockDevice => "block",
            EntryKind::CharDevice => "char",
            EntryKind::Socket => "socket",
        };
        if e.kind == EntryKind::Dir {
            s.push('/');
        }
        let _ = write!(s, " type={ty}");
        if e.kind != EntryKind::Symlink {
            let _ = write!(s, " mode={:04o}", e.mode & 0o777);
        }
        let _ = write!(s, " uid={} gid={}", e.uid, e.gid);
        if e.kind == EntryKind::File {
            let _ = write!(s, " size={}", e.size);
            if let (true, Some(h)) = (e.size > 0, &e.sha256) {
                let _ = write!(s, " sha256sum={}", hex::encode(h));
            }
        }
        if let (EntryKind::Symlink, Some(t)) = (e.kind, &e.link_target) {
            s.push_str(" link=");
            mtree_escape(t, &mut s);
        }
        if matches!(e.kind, EntryKind::CharDevice | EntryKind::BlockDevice) {
            let (ma, mi) = major_minor(e.rdev);
            let _ = write!(s, " device=linux,{ma},{mi}");
        }
        s.push('\n');
        out.write_all(s.as_bytes())?;
    }
    Ok(())
}

fn hex_if_not_utf8(b: &[u8]) -> Option<String> {
    std::str::from_utf8(b).is_err().then(|| hex::encode(b))
}

/// The JSON model of one entry.
pub fn to_record(e: &FileEntry) -> FileRecord {
    FileRecord {
        path: lossy(&e.path),
        path_bytes_hex: hex_if_not_utf8(&e.path),
        file_type: match e.kind {
            EntryKind::File => FileType::File,
            EntryKind::Dir => FileType::Dir,
            EntryKind::Symlink => FileType::Symlink,
            EntryKind::CharDevice => FileType::Char,
            EntryKind::BlockDevice => FileType::Block,
            EntryKind::Fifo => FileType::Fifo,
            EntryKind::Socket => FileType::Socket,
        },
        mode: format!("{:04o}", e.mode & 0o7777),
        uid: e.uid,
        gid: e.gid,
        size: e.size,
        mtime: crate::time::rfc3339(e.mtime),
        device: matches!(e.kind, EntryKind::CharDevice | EntryKind::BlockDevice).then(|| {
            let (ma, mi) = major_minor(e.rdev);
            format!("{ma}:{mi}")
        }),
        target: e.link_target.as_deref().map(lossy),
        target_bytes_hex: e.link_target.as_deref().and_then(hex_if_not_utf8),
        capability: e.capability.as_deref().map(hex::encode),
        selinux: e.selinux.as_deref().map(|v| {
            let v = v.strip_suffix(b"\0").unwrap_or(v);
            lossy(v)
        }),
        opaque: e.opaque,
        whiteout: e.whiteout,
        sha256: e.sha256.map(hex::encode),
    }
}

/// Serialises exactly as [`to_report`]'s `FilesReport` does, converting one entry at a time instead
/// of building every record first (a million entries would otherwise be held twice).
pub struct ReportStream<'a> {
    /// The image path given.
    pub image: &'a str,
    /// Its container format.
    pub format: ImageFormat,
    /// Its entries.
    pub entries: &'a [FileEntry],
}

impl serde::Serialize for ReportStream<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        struct Records<'a>(&'a [FileEntry]);
        impl serde::Serialize for Records<'_> {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_seq(self.0.iter().map(to_record))
            }
        }
        let mut m = s.serialize_struct("FilesReport", 4)?;
        m.serialize_field("schema", SCHEMA)?;
        m.serialize_field("image", self.image)?;
        m.serialize_field("format", &self.format)?;
        m.serialize_field("entries", &Records(self.entries))?;
        m.end()
    }
}

/// The `--format json` report of an image's entries.
pub fn to_report(image: &str, format: ImageFormat, entries: &[FileEntry]) -> FilesReport {
    FilesReport {
        schema: SCHEMA.into(),
        image: image.into(),
        format,
        entries: entries.iter().map(to_record).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::content::test_entry;

    fn sample() -> Vec<FileEntry> {
        let base = FileEntry {
            mode: 0o755,
            mtime: 1_700_000_000,
            ..test_entry("/", EntryKind::Dir)
        };
        vec![
            base.clone(),
            FileEntry {
                path: b"/bin\xff\n".to_vec(),
                kind: EntryKind::File,
                mode: 0o4755,
                size: 3,
                capability: Some(vec![1, 0, 0, 2]),
                selinux: Some(b"system_u:object_r:bin_t:s0\0".to_vec()),
                sha256: Some([7; 32]),
                ..base.clone()
            },
            FileEntry {
                path: b"/l".to_vec(),
                kind: EntryKind::Symlink,
                link_target: Some(b"../\xfe".to_vec()),
                ..base.clone()
            },
            FileEntry {
                path: b"/wh".to_vec(),
                kind: EntryKind::CharDevice,
                rdev: 0x0103,
                whiteout: true,
                ..base
            },
        ]
    }

    #[test]
    fn streamed_json_equals_the_report_model() {
        let e = sample();
        let streamed = ReportStream {
            image: "x.raw",
            format: ImageFormat::Squashfs,
            entries: &e,
        };
        let model = to_report("x.raw", ImageFormat::Squashfs, &e);
        assert_eq!(
            serde_json::to_string_pretty(&streamed).unwrap(),
            serde_json::to_string_pretty(&model).unwrap()
        );
        let back: FilesReport =
            serde_json::from_str(&serde_json::to_string(&streamed).unwrap()).unwrap();
        assert_eq!(back, model);
    }

    #[test]
    fn streamed_mtree_equals_rendered() {
        let e = sample();
        let mut out = Vec::new();
        write_mtree(&e, &mut out).unwrap();
        assert_eq!(String::from_utf8(out).unwrap(), render_mtree(&e));
        assert!(render_mtree(&e)
            .contains("./bin\\xff\\x0a type=file mode=0755 uid=0 gid=0 size=3 sha256sum="));
    }

    #[test]
    fn escapes_like_systemd() {
        let mut s = String::new();
        mtree_escape(b"./a b\n\xff#;*?[\\x", &mut s);
        assert_eq!(s, "./a\\x20b\\x0a\\xff\\x23\\x3b\\x2a\\x3f\\x5b\\x5cx");
    }

    #[test]
    fn device_numbers() {
        assert_eq!(major_minor(0x0103), (1, 3));
        assert_eq!(
            major_minor((259u64 << 8) | 0x12 | (0x34500 << 12)),
            (259, 0x34512)
        );
    }
}
