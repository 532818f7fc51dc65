//! `extwatch files` on hostile erofs images, with the peak RSS of the child process measured by
//! `/usr/bin/time -f %M` (GNU time's wait4 rusage):
//!
//! * issue 8 case 5: two directories that are each other's child (one dirent nid rewritten in an
//!   image built by mkfs.erofs) — on main a 172 KB image cost 2 GB. Now a clear error naming the
//!   cycle, under 256 MiB, well within a generous hang guard.
//! * a directory holding itself, the same way.
//! * a directory reachable by two paths at every level (the second subdirectory's nid rewritten to
//!   the first's, 22 levels): no cycle, but 2^22 paths — an 8 KiB image took over 5 minutes and
//!   1.2 GB before the walk's entry cap. Now refused at once.
//!
//! Time bounds are hang guards, not performance assertions.

use extwatch_testsupport::cli;
use extwatch_testsupport::erofs_patch::{dirent_table, nid_at, set_nid};
use extwatch_testsupport::roots::write;
use std::ffi::OsString;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

fn mkfs(src: &Path, out: &Path) {
    let o = Command::new("mkfs.erofs")
        .args(["--quiet", "-T0"])
        .arg(out)
        .arg(src)
        .output()
        .expect("mkfs.erofs on the host (erofs-utils)");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

/// Runs `extwatch files --hash IMAGE` measured: (exit code, stdout+stderr, peak RSS KiB).
fn files_rss(image: &Path, limit: Duration) -> (i32, String, u64) {
    let args: Vec<OsString> = vec!["files".into(), "--hash".into(), image.into()];
    let r = cli::run(
        Path::new(env!("CARGO_BIN_EXE_extwatch")),
        &args,
        limit,
        true,
    );
    let code = r.code_no_crash(&args);
    let rss = r.peak_kib.expect("measured");
    eprintln!(
        "extwatch files --hash {}: exit {code}, {rss} KiB peak, {:?}",
        image.display(),
        r.elapsed
    );
    (
        code,
        format!("{}{}", String::from_utf8_lossy(&r.stdout), r.stderr),
        rss,
    )
}

const RSS_BOUND_KIB: u64 = 256 * 1024;

#[test]
fn erofs_directory_cycles_are_refused_in_bounded_memory() {
    let t = tempfile::tempdir().unwrap();
    let src = t.path().join("src");
    // Many entries per directory: each trip around an unchecked loop listed all of them again
    // with an ever longer path.
    for i in 0..2000 {
        write(&src.join(format!("cyc_a/file-{i:04}")), "");
        write(&src.join(format!("cyc_a/cyc_b/file-{i:04}")), "");
    }
    std::fs::create_dir_all(src.join("cyc_a/cyc_b/cyc_c")).unwrap();
    std::fs::create_dir_all(src.join("self_s/self_t")).unwrap();
    let img = t.path().join("cycle.erofs");
    mkfs(&src, &img);
    let clean = std::fs::read(&img).unwrap();
    eprintln!("image: {} KiB", clean.len() / 1024);

    let mut two = clean.clone();
    let a = dirent_table(&two, b"...cyc_b");
    let b = dirent_table(&two, b"...cyc_c");
    let a_nid = nid_at(&two, a, 0);
    set_nid(&mut two, b, 2, a_nid);
    let two_path = t.path().join("two.erofs");
    std::fs::write(&two_path, &two).unwrap();

    let mut me = clean.clone();
    let s = dirent_table(&me, b"...self_t");
    let s_nid = nid_at(&me, s, 0);
    set_nid(&mut me, s, 2, s_nid);
    let self_path = t.path().join("self.erofs");
    std::fs::write(&self_path, &me).unwrap();

    for p in [&two_path, &self_path] {
        let (code, text, rss) = files_rss(p, Duration::from_secs(120));
        assert!(
            text.contains("directory cycle"),
            "{}: no cycle error (exit {code}):\n{}",
            p.display(),
            text.lines().rev().take(5).collect::<Vec<_>>().join("\n")
        );
        assert!(!text.contains("panicked"), "{text}");
        assert!(
            rss < RSS_BOUND_KIB,
            "{}: peak RSS {rss} KiB over {RSS_BOUND_KIB} KiB",
            p.display()
        );
    }
    // The unpatched image reads cleanly.
    let (code, _, rss) = files_rss(&img, Duration::from_secs(120));
    assert_eq!(code, 0);
    assert!(rss < RSS_BOUND_KIB);
}

#[test]
fn erofs_directory_reachable_by_two_paths_is_refused_in_bounded_memory() {
    let t = tempfile::tempdir().unwrap();
    let src = t.path().join("src");
    let mut dir = src.clone();
    for i in 0..22 {
        std::fs::create_dir_all(dir.join(format!("b{i:02}"))).unwrap();
        dir = dir.join(format!("a{i:02}"));
        std::fs::create_dir_all(&dir).unwrap();
    }
    write(&dir.join("leaf"), "x");
    let img = t.path().join("dag.erofs");
    mkfs(&src, &img);
    let clean = std::fs::read(&img).unwrap();
    let mut dag = clean.clone();
    for i in 0..22 {
        // Entries `.`, `..`, `aNN`, `bNN`: `bNN` becomes a second name of `aNN`.
        let table = dirent_table(&dag, format!("...a{i:02}b{i:02}").as_bytes());
        let a = nid_at(&dag, table, 2);
        set_nid(&mut dag, table, 3, a);
    }
    let dag_path = t.path().join("dag-patched.erofs");
    std::fs::write(&dag_path, &dag).unwrap();
    let (code, text, rss) = files_rss(&dag_path, Duration::from_secs(120));
    assert!(
        text.contains("is also reachable by another path"),
        "no error for the directory graph (exit {code}):\n{}",
        text.lines().rev().take(5).collect::<Vec<_>>().join("\n")
    );
    assert!(
        rss < RSS_BOUND_KIB,
        "peak RSS {rss} KiB over {RSS_BOUND_KIB} KiB"
    );
    // The unpatched image reads cleanly, down to the leaf.
    let (code, text, _) = files_rss(&img, Duration::from_secs(120));
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("/a21/leaf"), "{text}");
}
