//! `extwatch files IMAGE`: every entry of an image (directory, squashfs, erofs or DDI) without
//! mounting it, as a table, as JSON (`FilesReport` in the model), or byte-for-byte as
//! `systemd-dissect --mtree` prints it. Reading is `extwatch_core::files`, printing is
//! `extwatch_render`; this opens the image and hands the entries from one to the other.

use std::io::Write;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{bail, Context, Result};
use extwatch::cli::{FilesArgs, FilesFormat};
use extwatch_core::files::{self, Content, EntryKind, FileEntry, WalkLimits};
use extwatch_core::RootFs;
use extwatch_model::{FileType, ImageFormat};

/// Opens the image: a directory as a [`RootFs`], anything else only when it is a regular file
/// (never a FIFO or a device node: those are refused without being opened). With `root`, `path` is
/// resolved inside it through the root handle.
fn open(
    path: &std::path::Path,
    root: Option<&std::path::Path>,
    arch: &str,
) -> Result<(Content, ImageFormat), String> {
    let file = match root {
        Some(root) => {
            let r = RootFs::open(root).map_err(|e| format!("cannot open --root: {e}"))?;
            let p = path
                .to_str()
                .ok_or("with --root, the image path must be UTF-8")?;
            let st = r
                .stat(p)
                .map_err(|e| e.to_string())?
                .ok_or_else(|| format!("no such file inside {}", r.display_path().display()))?;
            // S_IFMT / S_IFDIR.
            if st.st_mode & 0o170000 == 0o040000 {
                let d = r.subroot(p).map_err(|e| e.to_string())?;
                return Ok((Content::Dir(d), ImageFormat::Directory));
            }
            r.open_file(p).map_err(|e| e.to_string())?
        }
        None => match extwatch_core::open_operator_file(path) {
            Ok(f) => f,
            Err(e) => {
                // A directory is not a regular file; everything else stays refused.
                let is_dir = std::fs::metadata(path).is_ok_and(|m| m.is_dir());
                if !is_dir {
                    return Err(e.to_string());
                }
                let r = RootFs::open(path).map_err(|e| e.to_string())?;
                return Ok((Content::Dir(r), ImageFormat::Directory));
            }
        },
    };
    let src: Arc<dyn extwatch_core::files::ReadAt> = Arc::new(file);
    let img = extwatch_core::files::open_image(src, arch).map_err(|e| e.to_string())?;
    let fmt = match img.format {
        extwatch_core::files::RawFormat::Squashfs => ImageFormat::Squashfs,
        extwatch_core::files::RawFormat::Erofs => ImageFormat::Erofs,
        extwatch_core::files::RawFormat::Ddi => ImageFormat::Ddi,
    };
    Ok((files::content_of(img), fmt))
}

/// Runs `extwatch files`.
pub fn run(args: &FilesArgs) -> Result<ExitCode> {
    let arch = match &args.architecture {
        Some(a) => extwatch_core::architecture_name(a).with_context(|| {
            format!("unknown architecture '{a}' (use systemd's names, e.g. x86-64, arm64)")
        })?,
        None => extwatch_core::native_architecture(),
    };
    let shown = args.image.display().to_string();
    let (content, format) = open(&args.image, args.root.as_deref(), arch)
        .map_err(|e| anyhow::anyhow!("cannot read image {shown}: {e}"))?;
    let limits = WalkLimits::default();
    let mut entries = files::walk(&content, &limits).map_err(|e| {
        anyhow::anyhow!(
            "cannot list image {shown}: {}",
            extwatch_core::error_chain(&e)
        )
    })?;
    if args.hash || args.format == FilesFormat::Mtree {
        let threads = args.threads.unwrap_or_else(|| {
            std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1)
        });
        files::hash_files_limited(
            &content,
            &mut entries,
            threads,
            limits.max_total_bytes_hashed,
        )
        .map_err(|e| {
            anyhow::anyhow!(
                "cannot hash files of {shown}: {}",
                extwatch_core::error_chain(&e)
            )
        })?;
    }
    drop(content);
    let out = std::io::stdout().lock();
    let mut out = std::io::BufWriter::with_capacity(1 << 16, out);
    // Converted one entry at a time as they are printed: never two copies of the listing.
    let entries = entries.into_iter().map(to_model);
    let r = match args.format {
        FilesFormat::Mtree => extwatch_render::mtree::write(&mut out, entries),
        FilesFormat::Json => extwatch_render::files::write_json(&mut out, &shown, format, entries),
        FilesFormat::Table => extwatch_render::text::write_files(&mut out, entries, args.hash),
    };
    match r.and_then(|_| out.flush()) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {}
        Err(e) => bail!("writing to stdout: {e}"),
    }
    Ok(ExitCode::SUCCESS)
}

/// The model's form of an entry, for the renderer (which does not know the image readers).
fn to_model(e: FileEntry) -> extwatch_model::FileEntry {
    let file_type = match e.kind {
        EntryKind::File => FileType::File,
        EntryKind::Dir => FileType::Dir,
        EntryKind::Symlink => FileType::Symlink,
        EntryKind::CharDevice => FileType::Char,
        EntryKind::BlockDevice => FileType::Block,
        EntryKind::Fifo => FileType::Fifo,
        EntryKind::Socket => FileType::Socket,
    };
    extwatch_model::FileEntry {
        path: e.path,
        file_type,
        mode: e.mode,
        uid: e.uid,
        gid: e.gid,
        size: e.size,
        mtime: e.mtime,
        device: matches!(file_type, FileType::Char | FileType::Block)
            .then(|| files::major_minor(e.rdev)),
        link_target: e.link_target,
        capability: e.capability,
        selinux: e.selinux,
        opaque: e.opaque,
        whiteout: e.whiteout,
        sha256: e.sha256,
    }
}
