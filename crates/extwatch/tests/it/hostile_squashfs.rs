//! Hostile squashfs images against the CLI (issue 8 cases 2, 3, 4, 12; issue 14's long symlink):
//! each image is built at test time — by `mksquashfs` where it will make the case, else by the
//! small writer in `extwatch_testsupport::sqfs_writer` — and `extwatch files` (and, for the deep
//! tree, `extwatch inventory --root`) must end with a clean result or a clear, non-empty error,
//! never a crash, a hang or unbounded memory. Peak memory is `ru_maxrss` of the child process.
//! Time limits are generous hang guards, not performance assertions.

use std::ffi::OsStr;
use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use extwatch_testsupport::cli;
use extwatch_testsupport::sqfs_writer::{Node, Sqfs};

/// Peak RSS these runs may reach (KiB): the images are at most a few MB, and the old reader
/// needed GBs for several of them.
const RSS_LIMIT_KIB: u64 = 128 * 1024;
/// The 200k-entry tree: extwatch's own entry list holds every full path (~1.2 KB each at 250
/// levels), ~220 MiB measured; the reader's part is a few MiB.
const RSS_LIMIT_200K_KIB: u64 = 512 * 1024;
/// Hang guard per run (debug builds on a loaded 2-core CI machine).
const HANG: Duration = Duration::from_secs(300);

struct Run {
    out: Output,
    rss: u64,
    stderr: String,
}

fn extwatch(args: &[&OsStr]) -> Run {
    extwatch_limited(args, RSS_LIMIT_KIB)
}

fn extwatch_limited(args: &[&OsStr], rss_limit: u64) -> Run {
    let r = cli::run_os(Path::new(env!("CARGO_BIN_EXE_extwatch")), args, HANG, true);
    let owned: Vec<_> = args.iter().map(|a| a.to_os_string()).collect();
    r.code_no_crash(&owned);
    let rss = r.peak_kib.expect("measured");
    assert!(
        rss < rss_limit,
        "extwatch {args:?}: peak RSS {rss} KiB over {rss_limit} KiB"
    );
    let out = Output {
        status: r.status,
        stdout: r.stdout,
        stderr: r.stderr.clone().into_bytes(),
    };
    Run {
        out,
        rss,
        stderr: r.stderr,
    }
}

/// `extwatch files IMAGE` on these bytes.
fn files(img: &[u8]) -> Run {
    files_limited(img, RSS_LIMIT_KIB)
}

fn files_limited(img: &[u8], rss_limit: u64) -> Run {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("img.raw");
    std::fs::write(&p, img).unwrap();
    extwatch_limited(&[OsStr::new("files"), p.as_os_str()], rss_limit)
}

/// Asserts a clean failure whose message contains `what` (and is not empty after the prefix).
fn refused(r: &Run, what: &str) {
    assert!(
        !r.out.status.success(),
        "accepted; stdout:\n{}",
        String::from_utf8_lossy(&r.out.stdout)
    );
    assert!(
        r.stderr.contains(what),
        "error does not mention {what:?}: {}",
        r.stderr
    );
    let tail = r.stderr.trim_end();
    assert!(!tail.ends_with(':'), "empty reason: {tail}");
}

fn lines(r: &Run) -> Vec<String> {
    String::from_utf8_lossy(&r.out.stdout)
        .lines()
        .map(str::to_owned)
        .collect()
}

/// A chain of `depth` nested directories named `d`, with a file at the bottom.
fn nested(depth: usize, name: &[u8]) -> Sqfs {
    let mut s = Sqfs::new();
    let mut d = 0;
    for _ in 0..depth {
        d = s.dir(d, name);
    }
    s.add(d, b"leaf", Node::File(b"bottom\n".to_vec()));
    s
}

#[test]
fn twenty_thousand_nested_directories_files_and_inventory() {
    let img = nested(20_000, b"d").build();
    // `files`: a clear depth error (the walk and the reader both cap depth), no stack overflow.
    let r = files(&img);
    assert!(
        r.stderr.contains("deeper than") || r.stderr.contains("directory depth"),
        "{}",
        r.stderr
    );
    refused(&r, "limit");
    eprintln!("20k nested: files peak RSS {} KiB", r.rss);

    // The same image in /var/lib/extensions of an offline root: the audit reports it, whole.
    let root = tempfile::tempdir().unwrap();
    let r0 = root.path();
    std::fs::create_dir_all(r0.join("etc")).unwrap();
    std::fs::write(r0.join("etc/os-release"), "ID=debian\nVERSION_ID=13\n").unwrap();
    std::fs::create_dir_all(r0.join("usr/lib")).unwrap();
    std::fs::create_dir_all(r0.join("var/lib/extensions")).unwrap();
    std::fs::write(r0.join("var/lib/extensions/deep.raw"), &img).unwrap();
    let r = extwatch(&[
        OsStr::new("inventory"),
        OsStr::new("--root"),
        r0.as_os_str(),
        OsStr::new("--format"),
        OsStr::new("json"),
        OsStr::new("--mountinfo"),
        OsStr::new("/dev/null"),
        OsStr::new("--systemd-version"),
        OsStr::new("257"),
    ]);
    let v: serde_json::Value = serde_json::from_slice(&r.out.stdout)
        .unwrap_or_else(|e| panic!("inventory JSON: {e}\n{}", r.stderr));
    let s = v.to_string();
    assert!(s.contains("/var/lib/extensions/deep.raw"), "{s}");
    eprintln!("20k nested: inventory peak RSS {} KiB", r.rss);
}

#[test]
fn deep_but_within_limits_is_read() {
    let r = files(&nested(250, b"d").build());
    assert!(r.out.status.success(), "{}", r.stderr);
    let l = lines(&r);
    assert_eq!(l.len(), 252, "root + 250 directories + leaf");
}

#[test]
fn very_long_paths_are_refused_clearly() {
    // 300 levels of 255-byte names: 76 KB paths, over the 64 KiB path limit.
    let r = files(&nested(300, &[b'n'; 255]).build());
    refused(&r, "limit");
    // 200 levels (51 KB paths) are fine.
    let r = files(&nested(200, &[b'n'; 255]).build());
    assert!(r.out.status.success(), "{}", r.stderr);
    assert_eq!(lines(&r).len(), 202);
}

#[test]
fn two_hundred_thousand_entries_in_250_levels() {
    let mut s = Sqfs::new();
    s.gzip_dirs = true;
    let mut d = 0;
    for level in 0..250 {
        d = s.dir(d, format!("d{level:03}").as_bytes());
        for i in 0..800 {
            s.add(d, format!("f{i:04}").as_bytes(), Node::File(Vec::new()));
        }
    }
    let img = s.build();
    let start = Instant::now();
    let r = files_limited(&img, RSS_LIMIT_200K_KIB);
    assert!(r.out.status.success(), "{}", r.stderr);
    assert_eq!(lines(&r).len(), 1 + 250 + 200_000);
    eprintln!(
        "200k in 250 levels: {:?}, peak RSS {} KiB",
        start.elapsed(),
        r.rss
    );
}

#[test]
fn metadata_expansion_is_bounded() {
    // A directory-table block that decompresses to 256 KiB: malformed (blocks hold at most 8 KiB).
    let mut s = Sqfs::new();
    s.add(0, b"a", Node::File(b"x".to_vec()));
    s.oversize_dir_block = Some(1 << 18);
    refused(&files(&s.build()), "more than 8192 bytes");

    // A directory of 60,000 entries with 255-byte names in gzip metadata: 15 MB of listing from a
    // small image, read in bounded memory.
    let mut s = Sqfs::new();
    s.gzip_dirs = true;
    let f = s.add(0, b"target", Node::File(b"t".to_vec()));
    let d = s.dir(0, b"big");
    for i in 0..60_000u32 {
        let mut name = vec![b'x'; 247];
        name.extend_from_slice(format!("{i:08}").as_bytes());
        s.link(d, &name, f);
    }
    let img = s.build();
    eprintln!("expansion image: {} bytes", img.len());
    let r = files(&img);
    assert!(r.out.status.success(), "{}", r.stderr);
    assert_eq!(lines(&r).len(), 60_003);
    eprintln!("expansion directory: peak RSS {} KiB", r.rss);
}

#[test]
fn hostile_names_are_refused() {
    for (name, what) in [
        (&b"/"[..], "contains '/'"),
        (b"..", "entry named"),
        (b".", "entry named"),
        // An empty name cannot be encoded (the format stores length − 1); the writer's attempt
        // leaves the listing one byte short, which is refused too.
        (b"", "directory entry runs past"),
        (b"a\0b", "contains NUL"),
        (b"x/../../etc", "contains '/'"),
    ] {
        let mut s = Sqfs::new();
        let d = s.dir(0, b"sub");
        s.add(d, b"inner", Node::File(b"i".to_vec()));
        s.link(0, name, d);
        let r = files(&s.build());
        refused(&r, what);
    }
}

#[test]
fn directory_cycles_and_shared_subtrees_are_refused() {
    // /a/loop is /a.
    let mut s = Sqfs::new();
    let a = s.dir(0, b"a");
    s.add(a, b"f", Node::File(b"f".to_vec()));
    s.link(a, b"loop", a);
    refused(&files(&s.build()), "directory");
    // /a/b/up is the root.
    let mut s = Sqfs::new();
    let a = s.dir(0, b"a");
    let b = s.dir(a, b"b");
    s.link(b, b"up", 0);
    refused(&files(&s.build()), "directory");
    // /x and /y are the same directory (exponential with nesting if followed).
    let mut s = Sqfs::new();
    let shared = s.dir(0, b"x");
    s.link(0, b"y", shared);
    refused(&files(&s.build()), "reachable by two paths");
}

#[test]
fn bad_inode_references_are_refused() {
    for (bad, what) in [
        (1u64 << 40, "outside the inode table"),
        (8192u64, "beyond"),
        (8000u64, "beyond"),
        (3u64, "inode"),
    ] {
        let mut s = Sqfs::new();
        let f = s.add(0, b"ok", Node::File(b"ok".to_vec()));
        s.bad_link(0, b"zbad", f, bad);
        let r = files(&s.build());
        refused(&r, what);
    }
}

#[test]
fn truncated_images_are_refused() {
    let mut s = Sqfs::new();
    for i in 0..200 {
        s.add(
            0,
            format!("f{i:03}").as_bytes(),
            Node::File(vec![b'z'; 5000]),
        );
    }
    let img = s.build();
    for cut in [10, 96, 200, img.len() / 2, img.len() - 4097] {
        let r = files(&img[..cut]);
        assert!(!r.out.status.success(), "cut at {cut} accepted");
        assert!(
            r.stderr.contains("cannot read image") && !r.stderr.trim_end().ends_with(':'),
            "cut at {cut}: {}",
            r.stderr
        );
    }
}

fn mksquashfs(tree: &Path, img: &Path, comp: &str) {
    let st = Command::new("mksquashfs")
        .arg(tree)
        .arg(img)
        .args(["-noappend", "-quiet", "-no-progress", "-comp", comp])
        .status()
        .expect("mksquashfs");
    assert!(st.success());
}

#[test]
fn long_symlink_targets_from_mksquashfs_are_read_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let tree = dir.path().join("tree");
    std::fs::create_dir_all(&tree).unwrap();
    // A 256-byte target and a 4095-byte one (PATH_MAX with its NUL; longer is refused by symlink(2)).
    let t256: String = (0..256).map(|i| (b'a' + (i % 26) as u8) as char).collect();
    let mut t4k = String::new();
    while t4k.len() < 4095 {
        t4k.push_str("seg/");
    }
    t4k.truncate(4095);
    std::os::unix::fs::symlink(&t256, tree.join("l256")).unwrap();
    std::os::unix::fs::symlink(&t4k, tree.join("l4095")).unwrap();
    std::fs::write(tree.join("file"), "x").unwrap();
    for comp in ["gzip", "zstd"] {
        let img = dir.path().join(format!("{comp}.raw"));
        mksquashfs(&tree, &img, comp);
        let r = extwatch(&[
            OsStr::new("files"),
            OsStr::new("--format"),
            OsStr::new("json"),
            img.as_os_str(),
        ]);
        assert!(r.out.status.success(), "{}", r.stderr);
        let v: serde_json::Value = serde_json::from_slice(&r.out.stdout).unwrap();
        let s = v.to_string();
        for t in [&t256, &t4k] {
            assert!(
                s.contains(&format!("\"{t}\"")),
                "{comp}: target of {} bytes missing",
                t.len()
            );
        }
    }
}

/// The writer makes images `unsquashfs` reads the same way: the hostile cases above differ from a
/// valid image only in what each test breaks.
#[test]
fn writer_images_are_valid_for_unsquashfs() {
    let mut s = Sqfs::new();
    s.gzip_dirs = true;
    let a = s.dir(0, b"a");
    let f = s.add(a, b"file", Node::File(vec![b'q'; 10_000]));
    s.link(0, b"hard", f);
    s.add(a, b"link", Node::Symlink(vec![b'T'; 300]));
    let mut d = a;
    for i in 0..40 {
        d = s.dir(d, format!("n{i}").as_bytes());
    }
    let dir = tempfile::tempdir().unwrap();
    let img = dir.path().join("w.raw");
    std::fs::write(&img, s.build()).unwrap();
    let u = Command::new("unsquashfs")
        .arg("-lls")
        .arg(&img)
        .output()
        .expect("unsquashfs");
    assert!(u.status.success(), "{}", String::from_utf8_lossy(&u.stderr));
    let listed = String::from_utf8_lossy(&u.stdout)
        .lines()
        .filter(|l| l.contains("squashfs-root"))
        .count();
    let r = extwatch(&[OsStr::new("files"), img.as_os_str()]);
    assert!(r.out.status.success(), "{}", r.stderr);
    assert_eq!(lines(&r).len(), listed, "same entries as unsquashfs");
    let x = Command::new("unsquashfs")
        .arg("-d")
        .arg(dir.path().join("x"))
        .arg(&img)
        .output()
        .expect("unsquashfs");
    assert!(x.status.success(), "{}", String::from_utf8_lossy(&x.stderr));
    assert_eq!(
        std::fs::read(dir.path().join("x/hard")).unwrap(),
        vec![b'q'; 10_000]
    );
    assert_eq!(
        std::fs::read_link(dir.path().join("x/a/link")).unwrap(),
        Path::new(&"T".repeat(300))
    );
}
