//! The erofs reader against hostile and unusual images, built at test time by the real
//! `mkfs.erofs` (erofs-utils 1.5 on the host, 1.8 in the trixie root for lzma and fragments) and,
//! where no tool makes the case, patched by code afterwards:
//!
//! * directory cycles (two directories that are each other's child; a directory holding itself),
//!   made by rewriting one dirent nid: refused as malformed, quickly, instead of walked to the depth
//!   cap (issue 8 case 5: a 172 KB image cost 2 GB);
//! * a dirent pointing past the end of the image, and truncated images: clear errors, no panic;
//! * deep nesting (1,500 levels) and a directory of 30,000 entries: read completely, in time;
//! * lzma images with `-E fragments`, `-E all-fragments`, tail packing and big clusters: every
//!   file's bytes equal the source, and the time against the same tree without fragments is
//!   printed (issue 14: the shared fragment was decompressed again for every small file).
//!
//! Time bounds are generous hang guards, not performance assertions.
// Test code: its helpers may unwrap, expect, panic and index (clippy.toml allows that only
// inside #[test] functions; a failure here should stop loudly).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use extwatch_testsupport::erofs_patch::{dirent_table, nid_at, set_nid};
use extwatch_testsupport::roots::{mkfs_erofs, write};
use extwatch_testsupport::trixie_path;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use extwatch_formats::{open_image, EntryKind, FsError, FsReader, ReadAt};

fn load(path: &Path) -> Arc<dyn ReadAt> {
    Arc::new(std::fs::File::open(path).expect("open image"))
}

fn open(path: &Path) -> Result<Box<dyn FsReader>, FsError> {
    open_image(load(path), "x86-64").map(|o| o.fs)
}

/// Scratch space on /dev/shm when present (image builds are I/O heavy).
fn scratch() -> tempfile::TempDir {
    let shm = Path::new("/dev/shm");
    if shm.is_dir() {
        tempfile::tempdir_in(shm).expect("tempdir")
    } else {
        tempfile::tempdir().expect("tempdir")
    }
}

/// Host mkfs.erofs (erofs-utils 1.5), uncompressed unless `extra` says otherwise.
fn mkfs(src: &Path, out: &Path, extra: &[&str]) {
    let mut args = vec!["-T0"];
    args.extend_from_slice(extra);
    mkfs_erofs(src, out, &args);
}

/// erofs-utils 1.8's mkfs.erofs from the trixie root, run in a private mount namespace with `dir`
/// bound at the same path inside. `false` when there is no trixie root (the test then skips).
fn mkfs18(dir: &Path, src: &Path, out: &Path, extra: &[&str]) -> bool {
    let t = trixie_path();
    if !t.join("usr/bin/mkfs.erofs").exists() {
        return false;
    }
    let script = "set -e\nT=$1; D=$2; shift 2\nmount --bind \"$T\" \"$T\"\nmount -t proc proc \"$T/proc\"\nmkdir -p \"$T$D\"\nmount --bind \"$D\" \"$T$D\"\nexec chroot \"$T\" /usr/bin/mkfs.erofs \"$@\"\n";
    let o = Command::new("unshare")
        .args(["-m", "--propagation", "private", "sh", "-c", script, "sh"])
        .arg(&t)
        .arg(dir)
        .args(["--quiet", "-T0"])
        .args(extra)
        .arg(out)
        .arg(src)
        .output()
        .expect("unshare");
    assert!(
        o.status.success(),
        "trixie mkfs.erofs {extra:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    true
}

/// Every entry of `fs`, walked iteratively (depth-first) as the auditor does: (path, kind).
fn walk(fs: &dyn FsReader) -> Result<Vec<(Vec<u8>, EntryKind)>, FsError> {
    let mut out = Vec::new();
    let mut stack = vec![b"/".to_vec()];
    while let Some(dir) = stack.pop() {
        for (name, e) in fs.read_dir(&dir)? {
            let mut p = dir.clone();
            if p != b"/" {
                p.push(b'/');
            }
            p.extend_from_slice(&name);
            if e.kind == EntryKind::Dir {
                stack.push(p.clone());
            }
            out.push((p, e.kind));
        }
    }
    Ok(out)
}

/// (path, content) of every regular file.
type Files = Vec<(Vec<u8>, Vec<u8>)>;

/// Walks and reads every regular file; the error of the first failure.
fn read_all(fs: &dyn FsReader) -> Result<Files, FsError> {
    let mut files = Vec::new();
    for (p, kind) in walk(fs)? {
        if kind == EntryKind::File {
            let mut data = Vec::new();
            fs.read_file_chunks(&p, &mut |c| {
                data.extend_from_slice(c);
                Ok(())
            })?;
            files.push((p, data));
        }
    }
    Ok(files)
}

fn assert_cycle(result: Result<Vec<(Vec<u8>, EntryKind)>, FsError>, what: &str) {
    match result {
        Err(e @ FsError::Malformed { .. }) => {
            let msg = e.to_string();
            assert!(msg.contains("directory cycle"), "{what}: {msg}");
            eprintln!("{what}: {msg}");
        }
        other => panic!(
            "{what}: expected a cycle error, got {:?}",
            other.map(|v| v.len())
        ),
    }
}

/// `/cyc_a` holds `cyc_b` (and 300 files), which holds `cyc_c` (and 300 files); `cyc_c`'s dirent
/// is rewritten to point at `cyc_a`, so the two directories are each other's child.
#[test]
fn two_directories_that_are_each_others_child_are_refused() {
    let t = scratch();
    let src = t.path().join("src");
    for i in 0..300 {
        write(&src.join(format!("cyc_a/f{i}")), format!("a{i}"));
        write(&src.join(format!("cyc_a/cyc_b/g{i}")), format!("b{i}"));
    }
    std::fs::create_dir_all(src.join("cyc_a/cyc_b/cyc_c")).unwrap();
    let img = t.path().join("cycle.erofs");
    mkfs(&src, &img, &[]);
    let mut bytes = std::fs::read(&img).unwrap();
    let a = dirent_table(&bytes, b"...cyc_b");
    let b = dirent_table(&bytes, b"...cyc_c");
    let a_nid = nid_at(&bytes, a, 0);
    set_nid(&mut bytes, b, 2, a_nid);
    std::fs::write(&img, &bytes).unwrap();
    eprintln!("cycle image: {} bytes", bytes.len());

    let fs = open(&img).expect("the image itself opens");
    let start = Instant::now();
    assert_cycle(walk(&*fs), "two-directory cycle");
    // Listing the directory that holds the looping entry is the refusal, and so is any path
    // through the loop.
    assert!(fs.read_dir(b"/cyc_a/cyc_b").is_err());
    assert!(fs.stat(b"/cyc_a/cyc_b/cyc_c/cyc_b/f1").is_err());
    // The rest of the image stays readable.
    assert_eq!(fs.read_dir(b"/cyc_a").unwrap().len(), 301);
    assert!(start.elapsed() < Duration::from_secs(60), "hang guard");
}

/// `/self_s/self_t` rewritten to point at `/self_s`: a directory that holds itself.
#[test]
fn a_directory_holding_itself_is_refused() {
    let t = scratch();
    let src = t.path().join("src");
    std::fs::create_dir_all(src.join("self_s/self_t")).unwrap();
    write(&src.join("self_s/zz"), "file");
    let img = t.path().join("self.erofs");
    mkfs(&src, &img, &[]);
    let mut bytes = std::fs::read(&img).unwrap();
    let s = dirent_table(&bytes, b"...self_t");
    let s_nid = nid_at(&bytes, s, 0);
    set_nid(&mut bytes, s, 2, s_nid);
    std::fs::write(&img, &bytes).unwrap();
    let fs = open(&img).expect("opens");
    let start = Instant::now();
    assert_cycle(walk(&*fs), "self cycle");
    assert!(start.elapsed() < Duration::from_secs(60), "hang guard");
}

/// A dirent whose nid points far past the end of the image: an error naming the problem for that
/// entry, not a panic, and the siblings stay readable.
#[test]
fn a_dirent_pointing_outside_the_image_is_an_error() {
    let t = scratch();
    let src = t.path().join("src");
    write(&src.join("bad_dir/a_file"), "aaa");
    write(&src.join("bad_dir/b_file"), "bbb");
    let img = t.path().join("badnid.erofs");
    mkfs(&src, &img, &[]);
    let mut bytes = std::fs::read(&img).unwrap();
    let d = dirent_table(&bytes, b"...a_file");
    set_nid(&mut bytes, d, 2, 0x00ff_ffff_ffff);
    std::fs::write(&img, &bytes).unwrap();
    let fs = open(&img).expect("opens");
    let e = walk(&*fs).expect_err("walking into a bad nid");
    let msg = e.to_string();
    assert!(
        !msg.trim().is_empty() && msg.len() > 10,
        "unclear error: {msg:?}"
    );
    eprintln!("bad nid: {msg}");
    assert!(fs.stat(b"/bad_dir/a_file").is_err());
    // A nid that overflows the inode offset computation.
    set_nid(&mut bytes, d, 2, u64::MAX >> 1);
    std::fs::write(&img, &bytes).unwrap();
    let fs = open(&img).expect("opens");
    assert!(walk(&*fs).is_err());
}

/// Truncated copies of a valid image: refused up front (the superblock's block count does not fit)
/// or with an I/O error, never a panic.
#[test]
fn truncated_images_are_refused() {
    let t = scratch();
    let src = t.path().join("src");
    for i in 0..50 {
        write(
            &src.join(format!("d{}/f{i}", i % 5)),
            vec![b'x'; 3000 + i * 97],
        );
    }
    let img = t.path().join("full.erofs");
    mkfs(&src, &img, &["-zlz4hc"]);
    let bytes = std::fs::read(&img).unwrap();
    assert!(read_all(&*open(&img).unwrap()).is_ok());
    for cut in [1100, 4096, bytes.len() / 2, bytes.len() - 1] {
        let p = t.path().join(format!("cut{cut}.erofs"));
        std::fs::write(&p, &bytes[..cut]).unwrap();
        match open(&p) {
            Err(e) => {
                let msg = e.to_string();
                assert!(
                    msg.contains("truncated") || msg.contains("I/O"),
                    "cut {cut}: {msg}"
                );
            }
            Ok(fs) => panic!(
                "cut at {cut} of {} opened; walk: {:?}",
                bytes.len(),
                read_all(&*fs).map(|v| v.len())
            ),
        }
    }
}

/// 1,500 nested directories (the longest chain a 4 KiB `PATH_MAX` allows for 1-byte names is
/// ~2,000): every level listed, the leaf read.
#[test]
fn deep_nesting_is_read_completely() {
    const DEPTH: usize = 1500;
    let t = scratch();
    let src = t.path().join("src");
    let mut leaf = src.clone();
    for _ in 0..DEPTH {
        leaf.push("d");
    }
    std::fs::create_dir_all(&leaf).unwrap();
    std::fs::write(leaf.join("leaf"), "bottom\n").unwrap();
    let img = t.path().join("deep.erofs");
    mkfs(&src, &img, &[]);
    let fs = open(&img).unwrap();
    let start = Instant::now();
    let all = walk(&*fs).expect("walk");
    let elapsed = start.elapsed();
    eprintln!("deep: {} entries in {elapsed:?}", all.len());
    assert_eq!(all.len(), DEPTH + 1);
    let deepest = all.iter().map(|(p, _)| p.len()).max().unwrap();
    assert_eq!(deepest, 2 * DEPTH + "/leaf".len());
    let leaf_path = format!("{}/leaf", "/d".repeat(DEPTH));
    assert_eq!(
        fs.read_file(leaf_path.as_bytes(), 100).unwrap(),
        b"bottom\n"
    );
    assert!(elapsed < Duration::from_secs(300), "hang guard");
}

/// One directory of 30,000 entries: listed whole and in name order, each found by lookup.
#[test]
fn a_directory_with_many_entries() {
    const N: usize = 30_000;
    let t = scratch();
    let src = t.path().join("src");
    std::fs::create_dir_all(src.join("many")).unwrap();
    for i in 0..N {
        std::fs::File::create(src.join(format!("many/entry-{i:06}"))).unwrap();
    }
    let img = t.path().join("many.erofs");
    mkfs(&src, &img, &[]);
    let fs = open(&img).unwrap();
    let start = Instant::now();
    let list = fs.read_dir(b"/many").unwrap();
    assert_eq!(list.len(), N);
    assert!(list.windows(2).all(|w| w[0].0 < w[1].0));
    for i in (0..N).step_by(997) {
        let p = format!("/many/entry-{i:06}");
        assert_eq!(
            fs.stat(p.as_bytes()).unwrap().unwrap().kind,
            EntryKind::File
        );
    }
    assert!(fs.stat(b"/many/entry-999999").unwrap().is_none());
    let elapsed = start.elapsed();
    eprintln!("many: listed and looked up in {elapsed:?}");
    assert!(elapsed < Duration::from_secs(120), "hang guard");
}

/// Deterministic, moderately compressible text.
fn text(seed: u64, len: usize) -> Vec<u8> {
    const WORDS: &[&str] = &[
        "erofs",
        "fragment",
        "packed",
        "inode",
        "cluster",
        "lzma",
        "extension",
        "sysext",
        "usr",
        "lib",
        "systemd",
        "audit",
        "\n",
        "0123",
        "tail",
        "head",
    ];
    let mut x = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    let mut out = Vec::with_capacity(len + 16);
    while out.len() < len {
        x = x
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        out.extend_from_slice(WORDS[(x >> 60) as usize].as_bytes());
        out.push(b' ' + ((x >> 20) % 3) as u8);
    }
    out.truncate(len);
    out
}

/// The same tree as lzma images with and without fragments (erofs-utils 1.8): every file reads
/// back byte for byte, and the fragment images' read time against plain lzma is printed.
#[test]
fn lzma_fragment_images_read_correctly_and_in_time() {
    let t = scratch();
    let src = t.path().join("src");
    let mut expect = Vec::new();
    for i in 0..600u64 {
        let len =
            [0, 1, 100, 700, 2_000, 4_095, 4_096, 9_000][(i % 8) as usize] + (i as usize % 13);
        let p = format!("small/d{}/f{i}", i % 7);
        write(&src.join(&p), text(i, len));
        expect.push((format!("/{p}").into_bytes(), text(i, len)));
    }
    for (i, len) in [
        (1000u64, 70_000usize),
        (1001, 300_000),
        (1002, 1_300_000),
        (1003, 2_500_001),
    ] {
        let p = format!("big/f{i}");
        write(&src.join(&p), text(i, len));
        expect.push((format!("/{p}").into_bytes(), text(i, len)));
    }
    expect.sort();
    let variants: &[(&str, &[&str])] = &[
        ("lzma", &["-zlzma"]),
        ("lzma-fragments", &["-zlzma", "-Efragments"]),
        ("lzma-all-fragments", &["-zlzma", "-Eall-fragments"]),
        (
            "lzma-fragments-ztailpacking",
            &["-zlzma", "-Efragments,ztailpacking"],
        ),
        ("lzma-C64k", &["-zlzma", "-C65536", "-Eztailpacking"]),
        (
            "lzma-C64k-fragments",
            &["-zlzma", "-C65536", "-Efragments,ztailpacking"],
        ),
        (
            "lzma-C64k-all-fragments",
            &["-zlzma", "-C65536", "-Eall-fragments,ztailpacking"],
        ),
    ];
    let mut times = Vec::new();
    for (name, args) in variants {
        let img = t.path().join(format!("{name}.erofs"));
        if !mkfs18(t.path(), &src, &img, args) {
            eprintln!(
                "SKIP: no trixie root with erofs-utils 1.8 at {}",
                trixie_path().display()
            );
            return;
        }
        let fs = open(&img).unwrap_or_else(|e| panic!("{name}: {e}"));
        let start = Instant::now();
        let mut got = read_all(&*fs).unwrap_or_else(|e| panic!("{name}: {e}"));
        let elapsed = start.elapsed();
        got.sort();
        assert_eq!(got.len(), expect.len(), "{name}: file count");
        for ((gp, gd), (ep, ed)) in got.iter().zip(&expect) {
            assert_eq!(gp, ep, "{name}: paths");
            assert!(
                gd == ed,
                "{name}: {} differs from the source",
                String::from_utf8_lossy(gp)
            );
        }
        assert!(elapsed < Duration::from_secs(300), "{name}: hang guard");
        times.push((name, elapsed));
    }
    let base = |n: &str| {
        times
            .iter()
            .find(|(v, _)| **v == n)
            .map(|(_, d)| d.as_secs_f64())
    };
    for (name, d) in &times {
        let reference = if name.contains("C64k") {
            "lzma-C64k"
        } else {
            "lzma"
        };
        let ratio = d.as_secs_f64() / base(reference).unwrap_or(f64::NAN);
        eprintln!("{name}: {d:?} ({ratio:.2}x {reference})");
    }
}

/// Names rewritten in place inside a dirent block: `/` or NUL inside a name, and a second `..`
/// entry. The first two are refused (a `/` would move an entry elsewhere in the tree); the extra
/// dot entry is dropped as erofs-rs drops every `.`/`..` name (the kernel never looks such a name
/// up either), and nothing else moves.
#[test]
fn bad_names_are_refused_or_dropped() {
    let t = scratch();
    let src = t.path().join("src");
    for n in ["n_abc", "n_abd", "zz"] {
        write(&src.join("names").join(n), "content");
    }
    let img = t.path().join("names.erofs");
    mkfs(&src, &img, &[]);
    let clean = std::fs::read(&img).unwrap();
    let names_at = |img: &[u8], name: &[u8]| {
        let p = img.windows(name.len()).position(|w| w == name).unwrap();
        assert!(img[p + 1..].windows(name.len()).all(|w| w != name));
        p
    };
    for (what, from, to) in [
        ("slash", &b"n_abc"[..], &b"n/abc"[..]),
        ("nul", b"n_abc", b"n\0abc"),
    ] {
        let mut bytes = clean.clone();
        let p = names_at(&bytes, from);
        bytes[p..p + from.len()].copy_from_slice(to);
        let path = t.path().join(format!("{what}.erofs"));
        std::fs::write(&path, &bytes).unwrap();
        let fs = open(&path).unwrap();
        let e = fs.read_dir(b"/names").expect_err(what);
        eprintln!("{what}: {e}");
        assert!(e.to_string().contains("name"), "{what}: {e}");
    }
    // "zz" -> "..": out of order as well, so the block is refused.
    let mut bytes = clean.clone();
    let p = names_at(&bytes, b"n_abdzz");
    bytes[p + 5..p + 7].copy_from_slice(b"..");
    let path = t.path().join("dotdot.erofs");
    std::fs::write(&path, &bytes).unwrap();
    let fs = open(&path).unwrap();
    match fs.read_dir(b"/names") {
        Err(e) => eprintln!("extra ..: {e}"),
        Ok(list) => {
            let names: Vec<_> = list.into_iter().map(|(n, _)| n).collect();
            assert_eq!(names, vec![b"n_abc".to_vec(), b"n_abd".to_vec()]);
        }
    }
}
