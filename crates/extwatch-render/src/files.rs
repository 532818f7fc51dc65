//! `extwatch files --format json`: the [`FilesReport`] of an image, streamed.
//!
//! A full `/usr` has 10⁵–10⁶ entries; building every [`FileRecord`] before printing would hold the
//! listing twice. [`write_json`] converts one entry at a time while serde writes the array, and
//! produces the same bytes as [`report`] printed by [`crate::json`] (a unit test holds them equal).

use std::borrow::Borrow;
use std::cell::Cell;
use std::io::Write;

use extwatch_model::{FileEntry, FileRecord, FileType, FilesReport, ImageFormat, SCHEMA};
use serde::ser::{Error as _, SerializeStruct};

fn lossy(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn hex_if_not_utf8(b: &[u8]) -> Option<String> {
    std::str::from_utf8(b).is_err().then(|| hex::encode(b))
}

/// The JSON record of one entry.
pub fn record(e: &FileEntry) -> FileRecord {
    FileRecord {
        path: lossy(&e.path),
        path_bytes_hex: hex_if_not_utf8(&e.path),
        file_type: e.file_type,
        mode: format!("{:04o}", e.mode & 0o7777),
        uid: e.uid,
        gid: e.gid,
        size: e.size,
        mtime: extwatch_model::time::rfc3339(e.mtime),
        device: match e.file_type {
            FileType::Char | FileType::Block => e.device.map(|(ma, mi)| format!("{ma}:{mi}")),
            _ => None,
        },
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

/// The whole report, every record built (for tests and small images; printing uses [`write_json`]).
pub fn report(image: &str, format: ImageFormat, entries: &[FileEntry]) -> FilesReport {
    FilesReport {
        schema: SCHEMA.into(),
        image: image.into(),
        format,
        entries: entries.iter().map(record).collect(),
    }
}

/// Serialises as [`FilesReport`] does, taking the entries from an iterator (once).
struct Stream<'a, I> {
    image: &'a str,
    format: ImageFormat,
    entries: Cell<Option<I>>,
}

struct Records<'a, I>(&'a Cell<Option<I>>);

impl<I, E> serde::Serialize for Records<'_, I>
where
    I: Iterator<Item = E>,
    E: Borrow<FileEntry>,
{
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let entries = self
            .0
            .take()
            .ok_or_else(|| S::Error::custom("the entries of a files report are streamed once"))?;
        s.collect_seq(entries.map(|e| record(e.borrow())))
    }
}

impl<I, E> serde::Serialize for Stream<'_, I>
where
    I: Iterator<Item = E>,
    E: Borrow<FileEntry>,
{
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        // Field names and order of `FilesReport`.
        let mut m = s.serialize_struct("FilesReport", 4)?;
        m.serialize_field("schema", SCHEMA)?;
        m.serialize_field("image", self.image)?;
        m.serialize_field("format", &self.format)?;
        m.serialize_field("entries", &Records(&self.entries))?;
        m.end()
    }
}

/// Writes the [`FilesReport`] of `entries` to `out` as [`crate::json::document`] would print it,
/// converting one entry at a time.
pub fn write_json<I, E>(
    out: &mut dyn Write,
    image: &str,
    format: ImageFormat,
    entries: I,
) -> std::io::Result<()>
where
    I: IntoIterator<Item = E>,
    E: Borrow<FileEntry>,
{
    let stream = Stream {
        image,
        format,
        entries: Cell::new(Some(entries.into_iter())),
    };
    crate::json::write_document(out, &stream)
}

/// A bare entry (mode 0644, root-owned, nothing else set) for unit tests.
#[cfg(test)]
pub(crate) fn test_entry(path: &str, file_type: FileType) -> FileEntry {
    FileEntry {
        path: path.as_bytes().to_vec(),
        file_type,
        mode: 0o644,
        uid: 0,
        gid: 0,
        size: 0,
        mtime: 0,
        device: None,
        link_target: None,
        capability: None,
        selinux: None,
        opaque: false,
        whiteout: false,
        sha256: None,
    }
}

/// Entries with every awkward field: non-UTF-8 names and targets, setuid, capabilities, a SELinux
/// label with its NUL, a whiteout device.
#[cfg(test)]
pub(crate) fn sample() -> Vec<FileEntry> {
    let base = FileEntry {
        mode: 0o755,
        mtime: 1_700_000_000,
        ..test_entry("/", FileType::Dir)
    };
    vec![
        base.clone(),
        FileEntry {
            path: b"/bin\xff\n".to_vec(),
            file_type: FileType::File,
            mode: 0o4755,
            size: 3,
            capability: Some(vec![1, 0, 0, 2]),
            selinux: Some(b"system_u:object_r:bin_t:s0\0".to_vec()),
            sha256: Some([7; 32]),
            ..base.clone()
        },
        FileEntry {
            path: b"/l".to_vec(),
            file_type: FileType::Symlink,
            link_target: Some(b"../\xfe".to_vec()),
            ..base.clone()
        },
        FileEntry {
            path: b"/wh".to_vec(),
            file_type: FileType::Char,
            device: Some((1, 3)),
            whiteout: true,
            ..base
        },
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streamed_json_equals_the_report_model() {
        let e = sample();
        let mut streamed = Vec::new();
        write_json(&mut streamed, "x.raw", ImageFormat::Squashfs, &e).unwrap();
        let model = report("x.raw", ImageFormat::Squashfs, &e);
        let streamed = String::from_utf8(streamed).unwrap();
        assert_eq!(streamed, crate::json::document(&model).unwrap());
        let back: FilesReport = serde_json::from_str(&streamed).unwrap();
        assert_eq!(back, model);
        let r = &back.entries;
        assert_eq!(r[1].path_bytes_hex.as_deref(), Some("2f62696eff0a"));
        assert_eq!(r[1].mode, "4755");
        assert_eq!(r[1].selinux.as_deref(), Some("system_u:object_r:bin_t:s0"));
        assert_eq!(r[2].target_bytes_hex.as_deref(), Some("2e2e2ffe"));
        assert_eq!(r[3].device.as_deref(), Some("1:3"));
        assert_eq!(r[0].mtime.as_deref(), Some("2023-11-14T22:13:20Z"));
    }
}
