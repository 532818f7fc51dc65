//! Walks every entry of an image the way the audit does (stat + read_dir), for benchmarks and quick
//! checks: `cargo run --release -p extwatch-formats --example walk -- IMAGE [--arch A] [--xattrs]
//! [--read]`. Prints the number of entries (and errors) on stdout; exits 1 when the image cannot be
//! opened.
//!
//! `--xattrs` also reads every entry's xattrs, `--read` every regular file's content (capped at
//! 1 MiB), `--links` every symlink target.

use std::process::ExitCode;
use std::sync::Arc;

use extwatch_formats::{open_image, EntryKind, FsReader, ReadAt};

#[derive(Default)]
struct Counts {
    entries: u64,
    dirs: u64,
    files: u64,
    symlinks: u64,
    bytes: u64,
    xattrs: u64,
    errors: u64,
}

struct Opts {
    xattrs: bool,
    read: bool,
    links: bool,
}

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let mut image = None;
    let mut arch = String::from("x86-64");
    let mut opts = Opts {
        xattrs: false,
        read: false,
        links: false,
    };
    while let Some(a) = args.next() {
        match a.as_str() {
            "--arch" => arch = args.next().unwrap_or_default(),
            "--xattrs" => opts.xattrs = true,
            "--read" => opts.read = true,
            "--links" => opts.links = true,
            _ if image.is_none() => image = Some(a),
            _ => {
                eprintln!("usage: walk IMAGE [--arch A] [--xattrs] [--read] [--links]");
                return ExitCode::from(2);
            }
        }
    }
    let Some(image) = image else {
        eprintln!("usage: walk IMAGE [--arch A] [--xattrs] [--read] [--links]");
        return ExitCode::from(2);
    };
    let file = match std::fs::File::open(&image) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("{image}: {e}");
            return ExitCode::from(1);
        }
    };
    let src: Arc<dyn ReadAt> = Arc::new(file);
    let opened = match open_image(src, &arch) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("{image}: {e}");
            return ExitCode::from(1);
        }
    };
    let mut c = Counts::default();
    walk(opened.fs.as_ref(), &opts, &mut c);
    println!(
        "format={:?} fstype={} entries={} dirs={} files={} symlinks={} xattrs={} bytes={} errors={}",
        opened.format,
        opened.fstype,
        c.entries,
        c.dirs,
        c.files,
        c.symlinks,
        c.xattrs,
        c.bytes,
        c.errors
    );
    ExitCode::SUCCESS
}

/// Depth-first over an explicit stack (no recursion: hostile images can be deep). Every entry's
/// metadata comes from its directory listing (as `unsquashfs -lls` gets it); only the root is stat'ed.
fn walk(fs: &dyn FsReader, opts: &Opts, c: &mut Counts) {
    let root = match fs.stat(b"/") {
        Ok(Some(e)) => e,
        Ok(None) | Err(_) => {
            c.errors += 1;
            return;
        }
    };
    let mut stack: Vec<(Vec<u8>, extwatch_formats::Entry)> = vec![(b"/".to_vec(), root)];
    while let Some((path, entry)) = stack.pop() {
        c.entries += 1;
        if opts.xattrs {
            match fs.xattrs(&path) {
                Ok(x) => c.xattrs += x.len() as u64,
                Err(_) => c.errors += 1,
            }
        }
        match entry.kind {
            EntryKind::Dir => {
                c.dirs += 1;
                match fs.read_dir(&path) {
                    Ok(children) => {
                        for (name, e) in children {
                            let mut p = path.clone();
                            if !p.ends_with(b"/") {
                                p.push(b'/');
                            }
                            p.extend_from_slice(&name);
                            stack.push((p, e));
                        }
                    }
                    Err(_) => c.errors += 1,
                }
            }
            EntryKind::File => {
                c.files += 1;
                if opts.read {
                    match fs.read_file(&path, 1 << 20) {
                        Ok(d) => c.bytes += d.len() as u64,
                        Err(_) => c.errors += 1,
                    }
                }
            }
            EntryKind::Symlink => {
                c.symlinks += 1;
                if opts.links && fs.read_link(&path).is_err() {
                    c.errors += 1;
                }
            }
            _ => {}
        }
    }
}
