//! `extwatch verify IMAGE...`: the deep check of single image files, no host needed — partitions,
//! file system, extension-release, verity recomputation, signature and signer.

use std::path::Path;
use std::sync::Arc;

use extwatch_formats::ddi::{Designator, PartitionRole};
use extwatch_formats::{open_image, RawFormat, ReadAt};
use extwatch_model::{ImageClass, ImageFormat, PartitionInfo, SignatureStatus, VerifiedImage};

use crate::host::version::SystemdVersion;
use crate::inventory::release::find_release;
use crate::provenance::evaluate::{self, TrustCtx};

fn role_name(r: &PartitionRole) -> String {
    match r {
        PartitionRole::Dps { designator, arch } => {
            let d = match designator {
                Designator::Root => "root",
                Designator::Usr => "usr",
                Designator::RootVerity => "root-verity",
                Designator::UsrVerity => "usr-verity",
                Designator::RootVeritySig => "root-verity-sig",
                Designator::UsrVeritySig => "usr-verity-sig",
            };
            format!("{d}-{arch}")
        }
        PartitionRole::LinuxGeneric => "linux-generic".into(),
        PartitionRole::Esp => "esp".into(),
        PartitionRole::Other => "other".into(),
    }
}

/// When [`verify_image`] computes the whole-file SHA-256.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileHash {
    /// Always, beside the verity recomputation (`verify --sha256`: to match a ticket or a
    /// download manifest by file hash).
    Always,
    /// Only when no verity hash tree was recomputed: then the file hash is the image's only
    /// identity. When the tree was recomputed, the verity root hash already identifies every byte
    /// of the file system, and the whole-file hash — one sequential SHA-256 stream, about 0.75 s
    /// per GiB on one core — would bound the wall time of the run (the tree uses every core).
    IfNoVerity,
}

/// Verifies one image file at `path` on the auditing machine (side-car files next to it are used).
pub fn verify_image(
    path: &Path,
    ctx: &TrustCtx,
    arch: &str,
    file_hash: FileHash,
    progress: &(dyn Fn(u64) + Sync),
) -> VerifiedImage {
    let (verity, signature) = evaluate::none();
    let file_name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut out = VerifiedImage {
        path: path.display().to_string(),
        format: ImageFormat::Unknown,
        fstype: None,
        size: None,
        sha256: None,
        partitions: vec![],
        name: image_name(&file_name),
        class: None,
        release: None,
        release_file: None,
        ships_os_release: false,
        verity,
        signature,
        errors: vec![],
        ok: false,
    };
    if path.is_dir() {
        out.format = ImageFormat::Directory;
        out.errors
            .push("directory images carry no verity or signature; use `extwatch files`".into());
        return out;
    }
    // Only a regular file is opened (never a FIFO, which would block, or a device node).
    let file = match crate::host::rootfs::open_operator_file(path) {
        Ok(f) => f,
        Err(e) => {
            out.errors.push(format!("cannot open: {e}"));
            return out;
        }
    };
    out.size = Some(file.size());
    // Over the identity-hash cap nothing is hashed (a sparse 1 TiB file would take 23 minutes);
    // the error says so.
    let cap = extwatch_formats::limits::MAX_IMAGE_HASH;
    let hash_src = if file.size() > cap {
        Err(std::io::Error::other(format!(
            "not hashed: {} bytes, over the {cap}-byte cap on image hashing (MAX_IMAGE_HASH)",
            file.size()
        )))
    } else {
        file.try_clone()
    };
    let record = |out: &mut VerifiedImage, h: std::io::Result<String>| match h {
        Ok(h) => out.sha256 = Some(h),
        Err(e) => out.errors.push(format!("cannot hash: {e}")),
    };
    match file_hash {
        // The whole-file SHA-256 is one sequential stream (one core); it runs beside the verity
        // recomputation, which uses the other cores, instead of before it.
        FileHash::Always => std::thread::scope(|s| {
            let hasher = s.spawn(|| crate::content::hash_file(&hash_src?));
            check_contents(&mut out, file, path, &file_name, ctx, arch, progress);
            match hasher.join() {
                Ok(h) => record(&mut out, h),
                Err(_) => out
                    .errors
                    .push("internal: the hashing thread panicked".into()),
            }
        }),
        FileHash::IfNoVerity => {
            check_contents(&mut out, file, path, &file_name, ctx, arch, progress);
            if out.verity.recomputed.is_none() {
                record(
                    &mut out,
                    hash_src.and_then(|f| crate::content::hash_file(&f)),
                );
            }
        }
    }
    out.ok = out.errors.is_empty()
        && out.verity.problems.is_empty()
        && out.verity.verified != Some(false)
        && !matches!(
            out.signature.status,
            SignatureStatus::Invalid | SignatureStatus::Untrusted
        );
    out
}

/// Everything [`verify_image`] learns from the opened image file but its whole-file hash.
fn check_contents(
    out: &mut VerifiedImage,
    file: std::fs::File,
    path: &Path,
    file_name: &str,
    ctx: &TrustCtx,
    arch: &str,
    progress: &(dyn Fn(u64) + Sync),
) {
    // Side-cars are looked up next to the image, through the same in-directory reader an audit uses.
    let side = match (path.parent(), path.file_name()) {
        (Some(dir), Some(name)) => {
            let dir = if dir.as_os_str().is_empty() {
                Path::new(".")
            } else {
                dir
            };
            crate::host::rootfs::RootFs::open(dir)
                .map(|r| {
                    crate::inventory::image::sidecars(
                        &r,
                        &format!("/{}", name.to_string_lossy()),
                        &file,
                    )
                })
                .unwrap_or_default()
        }
        _ => Default::default(),
    };
    let src: Arc<dyn ReadAt> = Arc::new(file);
    let img = match open_image(src.clone(), arch) {
        Ok(i) => i,
        Err(e) => {
            out.errors.push(format!("cannot read image: {e}"));
            return;
        }
    };
    out.format = match img.format {
        RawFormat::Squashfs => ImageFormat::Squashfs,
        RawFormat::Erofs => ImageFormat::Erofs,
        RawFormat::Ddi => ImageFormat::Ddi,
    };
    out.fstype = Some(img.fstype.to_string());
    if let Some(ddi) = &img.ddi {
        out.partitions = ddi
            .partitions
            .iter()
            .map(|p| PartitionInfo {
                number: p.index,
                role: role_name(&p.role),
                type_guid: p.type_guid.clone(),
                uuid: p.uuid.clone(),
                label: p.label.clone(),
                offset: p.first_byte,
                size: p.size_bytes,
                chosen: ddi.chosen == Some(p.index),
            })
            .collect();
    }
    let mut deep = ctx.clone();
    deep.deep = true;
    let input = side.into_input(src, img.ddi.as_ref());
    (out.verity, out.signature) = evaluate::evaluate(&input, &deep, progress);
    let content = crate::content::content_of(img);
    let v = SystemdVersion::DEFAULT;
    for class in [ImageClass::Sysext, ImageClass::Confext] {
        match find_release(&content, class, &out.name, file_name, v) {
            Ok(crate::inventory::release::Lookup::Found(r)) => {
                out.class = Some(class);
                out.release_file = Some(r.path);
                out.release = Some(r.pairs);
                break;
            }
            Ok(_) => {}
            Err(e) => out
                .errors
                .push(format!("release: {}", crate::error::chain(&e))),
        }
    }
    out.ships_os_release = content.exists("/usr/lib/os-release").unwrap_or(false);
}

/// The image name systemd (≥256) derives from a file name.
fn image_name(file_name: &str) -> String {
    let s = file_name;
    let s = s
        .strip_suffix(".sysext.raw")
        .or_else(|| s.strip_suffix(".confext.raw"))
        .or_else(|| s.strip_suffix(".raw"))
        .unwrap_or(s);
    s.to_string()
}
