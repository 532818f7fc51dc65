//! Turning a discovered entry into an [`Image`]: open it without mounting, read its release, judge it
//! as systemd would, and note what protects it (verity sources, signature presence, file hash).

use std::sync::Arc;

use extwatch_formats::{open_image, RawFormat, ReadAt};
use extwatch_model::{Compatibility, Image, ImageClass, ImageFormat};

use crate::content::Content;
use crate::content::{hash_image, HashSkip};
use crate::host::budget::RunBudget;
use crate::host::rootfs::{xattr_fd, RootFs};
use crate::host::version::SystemdVersion;
use crate::inventory::discover::{Found, Kind};
use crate::inventory::release::{find_release_budgeted, validate, HostRelease, Lookup};
use crate::provenance::evaluate::{self, TrustCtx};
use extwatch_model::time::rfc3339;

/// Facts about an image beyond the model that checks need.
#[derive(Debug, Clone, Default)]
pub struct Extra {
    /// Ships `/usr/lib/os-release` (sysext): systemd refuses to merge.
    pub ships_os_release: bool,
    /// A directory with no entries at all (a mask).
    pub empty_dir: bool,
    /// Why the directory is not searched.
    pub unsearched_reason: Option<String>,
    /// The entry is a symlink.
    pub symlink: bool,
}

/// Analyses one discovered entry.
pub fn analyze_image(
    root: &RootFs,
    f: &Found,
    host: &HostRelease,
    v: SystemdVersion,
    trust: &TrustCtx,
    budget: &RunBudget,
) -> (Image, Extra) {
    let mut errors = Vec::new();
    let mut extra = Extra {
        unsearched_reason: f.unsearched_reason.clone(),
        symlink: f.symlink,
        ..Extra::default()
    };
    let open = f.open_path();
    let file_name = open.rsplit('/').next().unwrap_or(open).to_string();
    let mut format = match f.kind {
        Kind::Directory => ImageFormat::Directory,
        Kind::Block => ImageFormat::Block,
        Kind::Raw => ImageFormat::Unknown,
    };
    let (mut verity, mut signature) = evaluate::none();
    let (mut sha256, mut size, mut mtime) = (None, None, None);
    let (mut allocated_size, mut not_hashed) = (None, None);

    let content = match f.kind {
        Kind::Directory => match root.subroot(open) {
            Ok(r) => {
                extra.empty_dir = r.read_dir("/").map(|e| e.is_empty()).unwrap_or(false);
                if let Ok(Some(st)) = root.stat(open) {
                    mtime = rfc3339(st.st_mtime);
                }
                Some(Content::Dir(r))
            }
            Err(e) => {
                errors.push(format!("cannot open directory image: {e}"));
                None
            }
        },
        Kind::Raw | Kind::Block => match root.open_file(open) {
            Ok(file) => {
                if let Ok(md) = file.metadata() {
                    use std::os::unix::fs::MetadataExt;
                    mtime = rfc3339(md.mtime());
                    if f.kind == Kind::Raw {
                        size = Some(md.len());
                        allocated_size = Some(md.blocks().saturating_mul(512));
                    }
                }
                if f.kind == Kind::Raw {
                    match hash_image(&file, size.unwrap_or(0), budget) {
                        Ok(h) => sha256 = Some(h),
                        Err(why @ (HashSkip::TooBig { .. } | HashSkip::Budget(_))) => {
                            not_hashed = Some(why.to_string())
                        }
                        Err(HashSkip::Io(e)) => {
                            not_hashed = Some(format!("read error: {e}"));
                            errors.push(format!("cannot hash image: {e}"));
                        }
                    }
                }
                let side = sidecars(root, open, &file);
                let src: Arc<dyn ReadAt> = Arc::new(file);
                match open_image(src.clone(), host.arch) {
                    Ok(img) => {
                        if f.kind == Kind::Raw {
                            format = match img.format {
                                RawFormat::Squashfs => ImageFormat::Squashfs,
                                RawFormat::Erofs => ImageFormat::Erofs,
                                RawFormat::Ddi => ImageFormat::Ddi,
                            };
                        }
                        let input = side.into_input(src, img.ddi.as_ref());
                        (verity, signature) = evaluate::evaluate(&input, trust, &|_| {});
                        Some(crate::content::content_of(img))
                    }
                    Err(e) => {
                        errors.push(format!("cannot read image: {e}"));
                        None
                    }
                }
            }
            Err(e) => {
                errors.push(format!("cannot open image: {e}"));
                None
            }
        },
    };

    let mut release = None;
    let mut release_file = None;
    // systemd's verdict when the lookup itself fails: for raw/block images the release is checked at
    // mount time and a failure aborts the whole merge; directory images are merely skipped.
    let mut lookup_failure: Option<&'static str> = None;
    if let Some(c) = &content {
        match find_release_budgeted(c, f.class, &f.name, &file_name, v, &budget.release) {
            Ok(Lookup::Found(r)) => {
                release_file = Some(r.path);
                release = Some(r.pairs);
            }
            Ok(Lookup::Absent) => lookup_failure = Some("No medium found"),
            Ok(Lookup::NotUnique(_)) => lookup_failure = Some("Name not unique on network"),
            Err(e) => errors.push(format!("cannot read release: {}", crate::error::chain(&e))),
        }
        if f.class == ImageClass::Sysext {
            match c.exists("/usr/lib/os-release") {
                Ok(b) => extra.ships_os_release = b,
                Err(e) => errors.push(format!("cannot check /usr/lib/os-release: {e}")),
            }
        }
    }
    let raw = f.kind != Kind::Directory;
    let portable = f.class == ImageClass::Portable;
    let (compatible, fails_merge) = if extra.ships_os_release && v.major <= 253 {
        (
            Err("Extension image contains /usr/lib/os-release file, which is not allowed (it may carry /etc/os-release), refusing.".to_string()),
            true,
        )
    } else if extra.ships_os_release && !raw {
        (
            Err(format!(
                "Failed to read metadata for image {}: No medium found",
                f.name
            )),
            true,
        )
    } else if extra.ships_os_release {
        (
            Err("Extension contains '/usr/lib/os-release', which is not allowed, refusing.".into()),
            false,
        )
    } else if let (true, false, Some(why), true) =
        (raw, portable, lookup_failure, content.is_some())
    {
        (
            Err(format!(
                "Failed to read metadata for image {}: {why}",
                f.name
            )),
            f.searched && f.masked_by.is_none(),
        )
    } else {
        (validate(&f.name, f.class, release.as_ref(), host, v), false)
    };
    // The verdict above saw the whole release; the report gets a bounded copy (issue 8 case 11).
    let (release, release_note) = match release {
        Some(r) => {
            let (r, note) = crate::inventory::release::for_report(r);
            (Some(r), note)
        }
        None => (None, None),
    };
    let image = Image {
        name: f.name.clone(),
        class: f.class,
        path: f.path.clone(),
        resolved_path: f.resolved.clone(),
        symlink: f.symlink,
        format,
        search_dir: f.search_dir.clone(),
        searched: f.searched,
        masked_by: f.masked_by.clone(),
        release,
        release_file,
        compatible: Compatibility {
            ok: compatible.is_ok(),
            reason: compatible.err(),
            fails_merge,
        },
        merged: false,
        merged_into: vec![],
        verity,
        signature,
        sha256,
        size,
        allocated_size,
        not_hashed,
        release_note,
        mtime,
        errors,
    };
    (image, extra)
}

/// Side-car integrity files next to a raw image (reference §5.3).
#[derive(Default)]
pub(crate) struct Sidecars {
    pub(crate) xattr_hash: Option<String>,
    pub(crate) hash: Option<String>,
    pub(crate) sig: Option<Vec<u8>>,
    pub(crate) tree: Option<Arc<dyn ReadAt>>,
}

impl Sidecars {
    /// The provenance input of image `src` (partition table `ddi`) with these side-cars.
    pub(crate) fn into_input(
        self,
        src: Arc<dyn ReadAt>,
        ddi: Option<&extwatch_formats::ddi::Ddi>,
    ) -> evaluate::Input<'_> {
        evaluate::Input {
            src,
            ddi,
            xattr_hash: self.xattr_hash,
            sidecar_hash: self.hash,
            sidecar_sig: self.sig,
            sidecar_tree: self.tree,
        }
    }
}

/// Reads `.roothash`/`.usrhash` (+ `.p7s`), `.verity` and `user.verity.roothash`/`usrhash`. The `.raw`
/// suffix is stripped before appending, so `foo.sysext.raw` has `foo.sysext.roothash`.
pub(crate) fn sidecars(root: &RootFs, path: &str, file: &std::fs::File) -> Sidecars {
    let stem = path.strip_suffix(".raw").unwrap_or(path);
    let mut s = Sidecars::default();
    for kind in ["roothash", "usrhash"] {
        if s.xattr_hash.is_none() {
            if let Ok(Some(v)) = xattr_fd(file, &format!("user.verity.{kind}")) {
                s.xattr_hash = parse_hex_hash(&v);
            }
        }
        if s.hash.is_none() {
            if let Ok(Some(v)) = root.read_file(&format!("{stem}.{kind}"), 4096) {
                s.hash = parse_hex_hash(&v);
            }
        }
        if s.sig.is_none() {
            if let Ok(Some(v)) = root.read_file(
                &format!("{stem}.{kind}.p7s"),
                crate::provenance::pkcs7::MAX_PKCS7 as u64,
            ) {
                if !v.is_empty() {
                    s.sig = Some(v);
                }
            }
        }
    }
    if let Ok(f) = root.open_file(&format!("{stem}.verity")) {
        s.tree = Some(Arc::new(f));
    }
    s
}

/// A root hash as systemd reads it: hex, whitespace-trimmed, at least 128 bits.
pub fn parse_hex_hash(v: &[u8]) -> Option<String> {
    let s = String::from_utf8_lossy(v);
    let s = s.trim().to_ascii_lowercase();
    (s.len() >= 32
        && s.len().is_multiple_of(2)
        && s.len() <= 128
        && s.bytes().all(|c| c.is_ascii_hexdigit()))
    .then_some(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_root_hashes() {
        let h = "a".repeat(64);
        assert_eq!(parse_hex_hash(format!("{h}\n").as_bytes()), Some(h));
        assert_eq!(parse_hex_hash(b"xyz"), None);
        assert_eq!(parse_hex_hash(b""), None);
    }
}
