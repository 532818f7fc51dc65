//! Opening a raw image of any kind: sniffing the file system by magic number, and for a DDI the
//! chosen partition's file system.

use std::sync::Arc;

use super::{has_gpt_signature, malformed, parse_ddi};
use crate::erofs::{ErofsReader, EROFS_MAGIC};
use crate::fsimage::{FsError, FsReader, OpenedImage, RawFormat};
use crate::readat::{ReadAt, Window};
use crate::squashfs::SquashfsReader;

/// What file system a byte source holds, by magic number.
fn sniff_fs(src: &dyn ReadAt) -> Option<&'static str> {
    let at = |off: u64, len: usize| {
        let mut b = vec![0u8; len];
        src.read_exact_at(off, &mut b).ok().map(|_| b)
    };
    if at(0, 4).as_deref() == Some(b"hsqs".as_slice()) {
        return Some("squashfs");
    }
    if at(1024, 4).as_deref() == Some(EROFS_MAGIC.to_le_bytes().as_slice()) {
        return Some("erofs");
    }
    if at(1080, 2).as_deref() == Some([0x53, 0xef].as_slice()) {
        return Some("ext4");
    }
    if at(65600, 8).as_deref() == Some(b"_BHRfS_M".as_slice()) {
        return Some("btrfs");
    }
    if at(0, 4).as_deref() == Some(b"XFSB".as_slice()) {
        return Some("xfs");
    }
    if at(1024, 4).as_deref() == Some(0xF2F5_2010u32.to_le_bytes().as_slice()) {
        return Some("f2fs");
    }
    if at(510, 2).as_deref() == Some([0x55, 0xaa].as_slice()) {
        if let Some(b) = at(54, 8) {
            if b.starts_with(b"FAT") {
                return Some("vfat");
            }
        }
        if let Some(b) = at(82, 8) {
            if b.starts_with(b"FAT32") {
                return Some("vfat");
            }
        }
    }
    None
}

/// A file-system type name and a reader for it.
type OpenedFs = (&'static str, Box<dyn FsReader>);

fn open_fs(src: Arc<dyn ReadAt>) -> Result<Option<OpenedFs>, FsError> {
    match sniff_fs(&*src) {
        Some("squashfs") => Ok(Some(("squashfs", Box::new(SquashfsReader::open(src)?)))),
        Some("erofs") => Ok(Some(("erofs", Box::new(ErofsReader::open(src)?)))),
        _ => Ok(None),
    }
}

/// Opens any raw image: naked squashfs, naked erofs, or a GPT DDI.
pub fn open_any(src: Arc<dyn ReadAt>, arch: &str) -> Result<OpenedImage, FsError> {
    if let Some((fstype, fs)) = open_fs(src.clone())? {
        let format = if fstype == "squashfs" {
            RawFormat::Squashfs
        } else {
            RawFormat::Erofs
        };
        return Ok(OpenedImage {
            format,
            fs,
            ddi: None,
            fstype,
        });
    }
    if !has_gpt_signature(&*src) {
        return Err(FsError::UnknownFormat);
    }
    let ddi = parse_ddi(src.clone(), arch)?;
    let part = ddi
        .chosen_partition()
        .ok_or_else(|| FsError::NoUsablePartition("no partition chosen".into()))?
        .clone();
    if !part.fits(src.size()) {
        return Err(malformed(format!(
            "partition {} ({}..+{}) extends beyond the end of the image ({} bytes)",
            part.index,
            part.first_byte,
            part.size_bytes,
            src.size()
        )));
    }
    let win: Arc<dyn ReadAt> = Arc::new(Window::new(src, part.first_byte, part.size_bytes));
    match open_fs(win.clone())? {
        Some((fstype, fs)) => Ok(OpenedImage {
            format: RawFormat::Ddi,
            fs,
            ddi: Some(ddi),
            fstype,
        }),
        None => {
            let what = sniff_fs(&*win).unwrap_or("an unrecognised file system");
            Err(FsError::Malformed {
                format: "DDI",
                reason: format!(
                    "unsupported filesystem: partition {} holds {what}; only squashfs and erofs are read",
                    part.index
                ),
            })
        }
    }
}
