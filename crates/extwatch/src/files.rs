//! `extwatch files IMAGE`: every entry of an image (directory, squashfs, erofs or DDI) without
//! mounting it, as a table, as JSON (`FilesReport` in the model), or byte-for-byte as
//! `systemd-dissect --mtree` prints it. The work is in `extwatch_core::files`; this is argument
//! handling and output.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{bail, Context, Result};
use extwatch_core::files::{self, Content, EntryKind, FileEntry, WalkLimits};
use extwatch_core::RootFs;
use extwatch_model::ImageFormat;

/// Output formats of `extwatch files`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum FilesFormat {
    /// One line per entry, fitting 100 columns.
    Table,
    /// The `FilesReport` JSON object.
    Json,
    /// Exactly what `systemd-dissect --mtree IMAGE` prints (systemd 257).
    Mtree,
}

/// Arguments of `extwatch files`.
#[derive(clap::Args, Debug)]
pub struct FilesArgs {
    /// The image: a directory, or a squashfs, erofs or DDI (.raw) file.
    #[arg(value_name = "IMAGE")]
    pub image: PathBuf,
    /// Compute the SHA-256 of every regular file (in parallel, streaming).
    #[arg(long)]
    pub hash: bool,
    /// Output format (`mtree` matches `systemd-dissect --mtree`, which always hashes).
    #[arg(long, value_enum, default_value = "table")]
    pub format: FilesFormat,
    /// Architecture used to pick the DDI partition (systemd's names, e.g. x86-64, arm64).
    #[arg(long, value_name = "ARCH")]
    pub architecture: Option<String>,
    /// Resolve IMAGE inside this root directory (an offline root), symlinks included, as an audit
    /// with `--root` does: e.g. `--root /mnt/disk /var/lib/extensions/foo.raw`.
    #[arg(long, value_name = "DIR")]
    pub root: Option<PathBuf>,
    /// Hashing threads (default: available CPUs).
    #[arg(long, value_name = "N")]
    pub threads: Option<usize>,
}

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
    let r = match args.format {
        FilesFormat::Mtree => files::write_mtree(&entries, &mut out),
        FilesFormat::Json => {
            let report = files::ReportStream {
                image: &shown,
                format,
                entries: &entries,
            };
            serde_json::to_writer_pretty(&mut out, &report)
                .map_err(std::io::Error::other)
                .and_then(|_| out.write_all(b"\n"))
        }
        FilesFormat::Table => table(&mut out, &entries, args.hash),
    };
    match r.and_then(|_| out.flush()) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {}
        Err(e) => bail!("writing to stdout: {e}"),
    }
    Ok(ExitCode::SUCCESS)
}

/// `ls -l`-like text: control and non-UTF-8 bytes escaped as `\xNN`, paths shortened from the left so
/// every line fits 100 columns.
///
/// Written straight into `out` with one reused line buffer: on a full `/usr` (130k entries) the
/// per-field `format!` calls of a naive version cost more than reading the image.
fn table(out: &mut impl Write, entries: &[FileEntry], hash: bool) -> std::io::Result<()> {
    const WIDTH: usize = 100;
    let mut line = String::with_capacity(256);
    let mut name = String::with_capacity(256);
    let mut last_time: Option<(i64, String)> = None;
    for e in entries {
        use std::fmt::Write as _;
        let t = match e.kind {
            EntryKind::File => '-',
            EntryKind::Dir => 'd',
            EntryKind::Symlink => 'l',
            EntryKind::CharDevice => 'c',
            EntryKind::BlockDevice => 'b',
            EntryKind::Fifo => 'p',
            EntryKind::Socket => 's',
        };
        line.clear();
        push_perms(&mut line, t, e.mode);
        let _ = write!(line, " {:>5} {:>5} ", e.uid, e.gid);
        if matches!(e.kind, EntryKind::CharDevice | EntryKind::BlockDevice) {
            let (ma, mi) = files::major_minor(e.rdev);
            let _ = write!(line, "{:>11}", format!("{ma},{mi}"));
        } else {
            let _ = write!(line, "{:>11}", e.size);
        }
        line.push(' ');
        if hash {
            match &e.sha256 {
                Some(h) => line.push_str(&hex12(h)),
                None => line.push_str("------------"),
            }
        } else {
            let cached = matches!(&last_time, Some((m, _)) if *m == e.mtime);
            if !cached {
                let s = extwatch_core::rfc3339(e.mtime)
                    .map(|s| s.get(..16).unwrap_or(&s).replace('T', " "))
                    .unwrap_or_else(|| "?".repeat(16));
                last_time = Some((e.mtime, s));
            }
            if let Some((_, s)) = &last_time {
                line.push_str(s);
            }
        }
        line.push(' ');
        let head_chars = line.chars().count();
        name.clear();
        push_shown(&mut name, &e.path);
        if let Some(t) = &e.link_target {
            name.push_str(" -> ");
            push_shown(&mut name, t);
        }
        let room = WIDTH.saturating_sub(head_chars);
        let n = if name.is_ascii() {
            name.len()
        } else {
            name.chars().count()
        };
        if n > room && room > 1 {
            line.push('…');
            line.extend(name.chars().skip(n - (room - 1)));
        } else {
            line.push_str(&name);
        }
        line.push('\n');
        out.write_all(line.as_bytes())?;
    }
    Ok(())
}

fn hex12(h: &[u8; 32]) -> String {
    h.iter().take(6).map(|b| format!("{b:02x}")).collect()
}

fn push_perms(s: &mut String, t: char, mode: u32) {
    s.push(t);
    let bits = [
        (0o400, 'r'),
        (0o200, 'w'),
        (0o100, 'x'),
        (0o040, 'r'),
        (0o020, 'w'),
        (0o010, 'x'),
        (0o004, 'r'),
        (0o002, 'w'),
        (0o001, 'x'),
    ];
    for (i, (b, c)) in bits.iter().enumerate() {
        let set = mode & b != 0;
        let special = match i {
            2 => mode & 0o4000 != 0,
            5 => mode & 0o2000 != 0,
            8 => mode & 0o1000 != 0,
            _ => false,
        };
        s.push(match (set, special, i) {
            (true, true, 8) => 't',
            (false, true, 8) => 'T',
            (true, true, _) => 's',
            (false, true, _) => 'S',
            (true, false, _) => *c,
            (false, false, _) => '-',
        });
    }
}

/// Lossy UTF-8 with control characters and backslash as `\xNN`, appended to `s`.
fn push_shown(s: &mut String, b: &[u8]) {
    use std::fmt::Write as _;
    // Fast path: printable ASCII without backslashes is shown as it is.
    if b.iter().all(|&c| (0x20..0x7f).contains(&c) && c != b'\\') {
        if let Ok(t) = std::str::from_utf8(b) {
            s.push_str(t);
            return;
        }
    }
    for chunk in b.utf8_chunks() {
        for c in chunk.valid().chars() {
            if c.is_control() || c == '\\' {
                let _ = write!(s, "\\x{:02x}", c as u32);
            } else {
                s.push(c);
            }
        }
        for &x in chunk.invalid() {
            let _ = write!(s, "\\x{x:02x}");
        }
    }
}
