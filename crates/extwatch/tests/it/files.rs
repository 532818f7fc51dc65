//! `extwatch files`: content listing of any image without mounting it.
//!
//! * **Against systemd.** For a tree exercising every entry type, odd modes and owners, xattrs, hard
//!   links, a multi-block file and hostile names (space, `#;*?[`, backslash, newline, invalid UTF-8), the
//!   image is built as a directory, squashfs (gzip, xz, zstd, lz4, lzo), erofs (plain, lz4hc) and DDI
//!   (systemd-repart 257: squashfs and erofs root partitions with and without verity, usr partitions,
//!   a generic Linux partition), and `extwatch files --format mtree IMAGE` must equal
//!   `systemd-dissect --mtree IMAGE` of systemd 257 (trixie root) **byte for byte**. The one
//!   normalisation: for a DDI with only a `/usr` partition systemd's `./` line is its own mount point
//!   (mode 0777), where extwatch lists a synthetic 0755 root above `/usr`. systemd-dissect is not in the trixie root (Debian ships it in `systemd-container`,
//!   whose postinst fails without dbus), so the test downloads the `systemd-container` package of the
//!   root's exact systemd version with the root's apt and runs the extracted binary inside the root
//!   (cached in `/var/cache/extwatch/dissect-257`).
//! * **Against the tools.** Every entry's type, mode (incl. setuid), uid, gid, size, link target and
//!   SHA-256 from `extwatch files --hash --format json` equals what the source tree says
//!   (`symlink_metadata`, `readlink`, `sha256sum`), and for squashfs also what `unsquashfs` extracts.
//! * **Hostile images** (built with mksquashfs and mkfs.erofs at test time, on /dev/shm when present):
//!   1,000,000 tiny files as squashfs and erofs (~80 s to create and pack on the 2-core CI machine;
//!   listed with hashes in bounded memory —
//!   the entry caps that keep a larger tree from being indexed are tested in extwatch-formats'
//!   `entry_caps_refuse_before_indexing`), a 50-level-deep tree (and the
//!   depth limit), 2,000 hard links to one 1 GiB sparse file (2 TiB if each link were hashed), a 2 GiB sparse file (a decompression bomb: the image is
//!   a few KiB; listing stays fast, hashing streams with bounded RSS), a truncated image and garbage
//!   (exit 2, clear error).

use extwatch_testsupport::reports;
use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Instant;

use extwatch_testsupport::fixtures::{DdiVerity, Fixtures, Format, Image, PartType};
use extwatch_testsupport::runner::trixie_exec;
use extwatch_testsupport::Env;

fn extwatch(args: &[&OsStr]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_extwatch"))
        .args(args)
        .output()
        .expect("run extwatch")
}

fn files_out(img: &Path, extra: &[&str]) -> String {
    let mut a: Vec<&OsStr> = vec![OsStr::new("files"), img.as_os_str()];
    a.extend(extra.iter().map(OsStr::new));
    let o = extwatch(&a);
    assert!(
        o.status.success(),
        "extwatch files {} {extra:?} failed: {}",
        img.display(),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8(o.stdout).expect("output is UTF-8")
}

fn sh(script: &str) {
    let o = Command::new("sh").args(["-ec", script]).output().unwrap();
    assert!(
        o.status.success(),
        "{script}: {}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
}

fn scratch(name: &str) -> PathBuf {
    let d = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join("files-test")
        .join(name);
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// A fast scratch directory (tmpfs) for the big hostile trees, falling back to the target dir.
fn fast_scratch(name: &str) -> tempfile::TempDir {
    let shm = Path::new("/dev/shm");
    let b = tempfile::Builder::new().prefix(name).to_owned();
    if shm.is_dir() {
        if let Ok(d) = b.tempdir_in(shm) {
            return d;
        }
    }
    b.tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap()
}

/// The tree of the systemd comparison.
fn rich_tree(dir: &Path) {
    let d = dir.display();
    sh(&format!(
        r#"cd {d}
chmod 0755 .
mkdir -p usr/lib/extension-release.d usr/bin usr/share/odd 'usr/share/with space' etc/opaque
echo ID=_any > usr/lib/extension-release.d/extension-release.rich
printf 'hello\n' > usr/bin/hello
cp usr/bin/hello usr/bin/setuid && chmod 4755 usr/bin/setuid
cp usr/bin/hello usr/bin/setgid && chmod 2711 usr/bin/setgid
mkdir usr/share/sticky && chmod 1777 usr/share/sticky
: > usr/share/empty
printf 'secret' > usr/share/private && chmod 0600 usr/share/private && chown 1000:100 usr/share/private
chown -h 4242:4343 'usr/share/with space'
head -c 3000000 /dev/urandom > usr/share/big
head -c 300000 /dev/zero > usr/share/zeros
ln usr/bin/hello usr/bin/hello-hardlink
ln -s hello usr/bin/rel-link
ln -s /usr/bin/hello usr/bin/abs-link
ln -s '../x y*?[#;\' usr/bin/odd-link
ln -s dangling/nowhere usr/bin/dangling
mkfifo usr/share/fifo
mknod usr/share/chardev c 1 3
mknod usr/share/blockdev b 7 200
mknod usr/share/whiteout c 0 0
cp usr/bin/hello usr/bin/capable
setfattr -n security.capability -v 0x0100000200040000000000000000000000000000 usr/bin/capable
setfattr -n user.overlay.opaque -v y etc/opaque
printf 'a' > 'usr/share/odd/sp ace'
printf 'b' > 'usr/share/odd/#hash;semi'
printf 'c' > 'usr/share/odd/*star?q[br'
printf 'd' > 'usr/share/odd/back\slash'
printf 'e' > 'usr/share/odd/tab	tab'
printf 'f' > "$(printf 'usr/share/odd/new\nline')"
printf 'g' > "$(printf 'usr/share/odd/bad\377utf8')"
printf 'h' > 'usr/share/odd/ünïcödé'
printf 'i' > "$(printf 'usr/share/odd/\001ctl')"
"#
    ));
}

/// (type, mode, uid, gid, size, target, sha256) of every entry, by absolute path bytes.
type Facts = BTreeMap<Vec<u8>, (String, u32, u32, u32, u64, Option<Vec<u8>>, Option<String>)>;

/// The first word a command prints (the digest of `sha256sum`).
fn first_word(cmd: &mut Command) -> String {
    let o = cmd.output().unwrap();
    let out = String::from_utf8_lossy(&o.stdout);
    out.split_whitespace().next().unwrap().to_string()
}

/// `sha256sum` of `n` zero bytes.
fn zeros_sha256(n: u64) -> String {
    first_word(Command::new("sh").args(["-c", &format!("head -c {n} /dev/zero | sha256sum")]))
}

fn sha256sum(p: &Path) -> String {
    first_word(Command::new("sha256sum").stdin(std::fs::File::open(p).unwrap()))
}

/// Facts of a tree on disk, from `symlink_metadata`, `readlink` and `sha256sum`.
fn facts_of_tree(root: &Path) -> Facts {
    let mut out = Facts::new();
    let mut stack = vec![(root.to_path_buf(), b"/".to_vec())];
    while let Some((p, rel)) = stack.pop() {
        let md = std::fs::symlink_metadata(&p).unwrap();
        let ft = md.file_type();
        let ty = extwatch_testsupport::roots::type_name(ft);
        let size = if ft.is_file() || ft.is_symlink() {
            md.len()
        } else {
            0
        };
        let target = ft.is_symlink().then(|| {
            std::fs::read_link(&p)
                .unwrap()
                .as_os_str()
                .as_bytes()
                .to_vec()
        });
        let sha = ft.is_file().then(|| sha256sum(&p));
        out.insert(
            rel.clone(),
            (
                ty.to_string(),
                md.permissions().mode() & 0o7777,
                md.uid(),
                md.gid(),
                size,
                target,
                sha,
            ),
        );
        if ft.is_dir() {
            for e in std::fs::read_dir(&p).unwrap() {
                let e = e.unwrap();
                let mut r = if rel == b"/" { Vec::new() } else { rel.clone() };
                r.push(b'/');
                r.extend_from_slice(e.file_name().as_bytes());
                stack.push((e.path(), r));
            }
        }
    }
    out
}

/// Facts from `extwatch files --hash --format json`.
fn facts_of_json(json: &str) -> Facts {
    let v = reports::files_report(json.as_bytes(), "");
    assert_eq!(v.schema, "extwatch/v1");
    let mut out = Facts::new();
    for e in v.entries {
        let path = match &e.path_bytes_hex {
            Some(h) => {
                let b = hex_decode(h);
                assert!(std::str::from_utf8(&b).is_err(), "hex only for non-UTF-8");
                b
            }
            None => e.path.as_bytes().to_vec(),
        };
        let target = match &e.target_bytes_hex {
            Some(h) => Some(hex_decode(h)),
            None => e.target.as_ref().map(|s| s.as_bytes().to_vec()),
        };
        let mode = u32::from_str_radix(&e.mode, 8).unwrap();
        // The type as the JSON spells it ("file", "dir", ...), the facts' common currency.
        let ty = serde_json::to_value(e.file_type).unwrap();
        out.insert(
            path,
            (
                ty.as_str().unwrap().to_string(),
                mode,
                e.uid,
                e.gid,
                e.size,
                target,
                e.sha256,
            ),
        );
    }
    out
}

fn hex_decode(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

fn assert_facts_eq(what: &str, got: &Facts, want: &Facts) {
    for (k, w) in want {
        match got.get(k) {
            Some(g) => assert_eq!(g, w, "{what}: {:?} differs", String::from_utf8_lossy(k)),
            None => panic!("{what}: {:?} missing", String::from_utf8_lossy(k)),
        }
    }
    for k in got.keys() {
        assert!(
            want.contains_key(k),
            "{what}: extra entry {:?}",
            String::from_utf8_lossy(k)
        );
    }
}

/// The systemd-dissect 257 binary (inside the trixie root's file system), fetched once.
fn dissect_binary(env: &Env) -> (PathBuf, PathBuf) {
    extwatch_testsupport::runner::systemd_dissect(env)
}

fn dissect_mtree(env: &Env, img: &Path) -> String {
    let (bin, bind) = dissect_binary(env);
    let dir = img.parent().unwrap();
    let o = trixie_exec(
        &env.trixie,
        &[&bind, dir],
        &[
            bin.to_string_lossy().into_owned(),
            "--mtree".into(),
            img.to_string_lossy().into_owned(),
        ],
    )
    .unwrap();
    assert!(
        o.status.success(),
        "systemd-dissect --mtree {} failed: {}",
        img.display(),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn first_diff(a: &str, b: &str) -> String {
    for (i, (x, y)) in a.lines().zip(b.lines()).enumerate() {
        if x != y {
            return format!("line {}:\n extwatch: {x}\n systemd:  {y}", i + 1);
        }
    }
    format!("line counts {} vs {}", a.lines().count(), b.lines().count())
}

fn build(env: &Env, argv: &[String]) {
    let dirs: Vec<PathBuf> = argv
        .iter()
        .filter(|a| a.starts_with('/'))
        .filter_map(|a| Path::new(a).parent().map(Path::to_path_buf))
        .collect();
    let binds: Vec<&Path> = dirs.iter().map(PathBuf::as_path).collect();
    let o = trixie_exec(&env.trixie, &binds, argv).unwrap();
    assert!(
        o.status.success(),
        "{argv:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
}

#[test]
fn mtree_equals_systemd_dissect_and_facts_equal_the_tools() {
    let Some(env) = Env::detect_or_skip("files mtree vs systemd-dissect") else {
        return;
    };
    let work = scratch("rich");
    let src = work.join("src");
    std::fs::create_dir(&src).unwrap();
    rich_tree(&src);
    let want = facts_of_tree(&src);
    let s = |p: &Path| p.to_string_lossy().into_owned();

    let mut images: Vec<(String, PathBuf)> = vec![("directory".into(), src.clone())];
    for comp in ["gzip", "xz", "zstd", "lz4", "lzo"] {
        let out = work.join(format!("sq-{comp}.raw"));
        build(
            &env,
            &[
                "mksquashfs".into(),
                s(&src),
                s(&out),
                "-noappend".into(),
                "-quiet".into(),
                "-no-progress".into(),
                "-comp".into(),
                comp.into(),
            ],
        );
        images.push((format!("squashfs-{comp}"), out));
    }
    for comp in [None, Some("lz4hc")] {
        let out = work.join(format!("erofs-{}.raw", comp.unwrap_or("plain")));
        let mut argv = vec!["mkfs.erofs".to_string(), "--quiet".into()];
        if let Some(c) = comp {
            argv.push(format!("-z{c}"));
        }
        argv.push(s(&out));
        argv.push(s(&src));
        build(&env, &argv);
        images.push((format!("erofs-{}", comp.unwrap_or("plain")), out));
    }

    for (what, img) in &images {
        let ours = files_out(img, &["--format", "mtree"]);
        let theirs = dissect_mtree(&env, img);
        assert!(
            ours == theirs,
            "{what}: mtree differs from systemd-dissect: {}",
            first_diff(&ours, &theirs)
        );
        let got = facts_of_json(&files_out(img, &["--hash", "--format", "json"]));
        assert_facts_eq(what, &got, &want);
    }

    // What unsquashfs extracts agrees too (ownership, modes, devices, links, content).
    let ex = work.join("unsquashfs");
    let o = Command::new("unsquashfs")
        .arg("-q")
        .arg("-n")
        .arg("-d")
        .arg(&ex)
        .arg(work.join("sq-zstd.raw"))
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let got = facts_of_json(&files_out(
        &work.join("sq-zstd.raw"),
        &["--hash", "--format", "json"],
    ));
    assert_facts_eq("unsquashfs", &got, &facts_of_tree(&ex));

    // The JSON carries xattr-derived facts and exact bytes of non-UTF-8 names.
    let v = reports::files_report(
        files_out(&work.join("erofs-plain.raw"), &["--format", "json"]).as_bytes(),
        "",
    );
    let by_path = |p: &str| {
        v.entries
            .iter()
            .find(|e| e.path == p)
            .unwrap_or_else(|| panic!("{p} missing"))
    };
    assert_eq!(
        by_path("/usr/bin/capable").capability.as_deref(),
        Some("0100000200040000000000000000000000000000")
    );
    assert!(by_path("/etc/opaque").opaque);
    assert!(by_path("/usr/share/whiteout").whiteout);
    assert_eq!(by_path("/usr/bin/setuid").mode, "4755");
    assert_eq!(
        by_path("/usr/share/blockdev").device.as_deref(),
        Some("7:200")
    );
    let bad = by_path("/usr/share/odd/bad\u{fffd}utf8");
    assert_eq!(
        bad.path_bytes_hex.as_deref(),
        Some(hex_encode(b"/usr/share/odd/bad\xffutf8").as_str())
    );
}

fn hex_encode(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

#[test]
fn ddi_mtree_equals_systemd_dissect() {
    let Some(env) = Env::detect_or_skip("files DDI mtree vs systemd-dissect") else {
        return;
    };
    let work = scratch("ddi");
    let fx = Fixtures::new(&env.trixie, &work.join("cache")).unwrap();
    let img = Image::sysext()
        .release("ddi", "ID=_any\n")
        .file("usr/bin/tool", "#!/bin/sh\necho hi\n")
        .file("usr/share/doc/a b/README", "readme\n")
        .file("usr/lib/empty", "");
    for (part, erofs, verity) in [
        (PartType::RootX86_64, false, DdiVerity::None),
        (PartType::RootX86_64, true, DdiVerity::None),
        (PartType::RootX86_64, false, DdiVerity::Hash),
        (PartType::RootX86_64, true, DdiVerity::Hash),
        (PartType::UsrX86_64, false, DdiVerity::None),
        (PartType::UsrX86_64, true, DdiVerity::Hash),
        (PartType::LinuxGeneric, false, DdiVerity::None),
    ] {
        {
            let fmt = Format::Ddi {
                part,
                erofs,
                verity,
            };
            let path = fx.build(&img, fmt).unwrap();
            let ours = files_out(&path, &["--format", "mtree", "--architecture", "x86-64"]);
            let mut theirs = dissect_mtree(&env, &path);
            if part == PartType::UsrX86_64 {
                // Normalised: systemd lists its own mount point as `./` (0777) when the DDI has only
                // a /usr partition; extwatch lists a synthetic 0755 root. Everything else is compared.
                let (first, rest) = theirs.split_once('\n').unwrap();
                assert_eq!(first, "./ type=dir mode=0777 uid=0 gid=0");
                theirs = format!("./ type=dir mode=0755 uid=0 gid=0\n{rest}");
            }
            assert!(
                ours == theirs,
                "{fmt:?}: mtree differs: {}\n--- extwatch\n{ours}--- systemd\n{theirs}",
                first_diff(&ours, &theirs)
            );
            assert!(ours.contains("./usr/share/doc/a\\x20b/README type=file"));
        }
    }
}

/// Runs `extwatch files` under `/usr/bin/time -f %e %M`: (stdout, seconds, max RSS KiB).
fn timed(img: &Path, extra: &[&str]) -> (String, f64, u64) {
    let stderr_file = tempfile::NamedTempFile::new().unwrap();
    let mut cmd = if Path::new("/usr/bin/time").exists() {
        let mut c = Command::new("/usr/bin/time");
        c.arg("-o")
            .arg(stderr_file.path())
            .args(["-f", "%e %M"])
            .arg(env!("CARGO_BIN_EXE_extwatch"));
        c
    } else {
        Command::new(env!("CARGO_BIN_EXE_extwatch"))
    };
    let t = Instant::now();
    let o = cmd.arg("files").arg(img).args(extra).output().unwrap();
    let secs = t.elapsed().as_secs_f64();
    assert!(
        o.status.success(),
        "extwatch files {}: {}",
        img.display(),
        String::from_utf8_lossy(&o.stderr)
    );
    let rss = std::fs::read_to_string(stderr_file.path())
        .ok()
        .and_then(|s| s.split_whitespace().nth(1).and_then(|x| x.parse().ok()))
        .unwrap_or(0);
    (String::from_utf8(o.stdout).unwrap(), secs, rss)
}

fn mksquashfs(src: &Path, out: &Path, extra: &[&str]) {
    let o = Command::new("mksquashfs")
        .arg(src)
        .arg(out)
        .args(["-noappend", "-quiet", "-no-progress", "-all-root"])
        .args(extra)
        .output()
        .expect("mksquashfs on the host");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

fn have_mksquashfs() -> bool {
    if extwatch_testsupport::which("mksquashfs").is_some() {
        return true;
    }
    assert!(
        !extwatch_testsupport::systemd_required(),
        "mksquashfs missing on the host"
    );
    eprintln!("SKIPPED: mksquashfs missing on the host");
    false
}

#[test]
fn hostile_many_tiny_files() {
    if !have_mksquashfs() {
        return;
    }
    // 1,000,000 files in 1,000 directories.
    const DIRS: usize = 1000;
    const PER: usize = 1000;
    let t = fast_scratch("many");
    let src = t.path().join("src");
    for d in 0..DIRS {
        let dir = src.join(format!("d{d:03}"));
        std::fs::create_dir_all(&dir).unwrap();
        for i in 0..PER {
            std::fs::File::create(dir.join(format!("f{i:04}"))).unwrap();
        }
    }
    std::fs::write(src.join("d000/f0000"), b"x").unwrap();
    let img = t.path().join("many.raw");
    mksquashfs(&src, &img, &["-comp", "zstd"]);
    let ero = t.path().join("many.erofs");
    let o = Command::new("mkfs.erofs")
        .arg("--quiet")
        .arg(&ero)
        .arg(&src)
        .output()
        .expect("mkfs.erofs on the host");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    std::fs::remove_dir_all(&src).unwrap();
    for (what, image) in [("squashfs", &img), ("erofs", &ero)] {
        let (out, secs, rss) = timed(image, &["--format", "mtree"]);
        assert_eq!(out.lines().count(), 1 + DIRS + DIRS * PER, "{what}");
        assert!(out.contains(
            "./d000/f0000 type=file mode=0644 uid=0 gid=0 size=1 sha256sum=2d711642b726b04401627ca9fbac32f5c8530fb1903cc4db02258717921a4881\n"
        ), "{what}");
        // Both readers keep only recent directory listings (the old backhand-based squashfs reader
        // indexed the whole tree at ~300 bytes per entry, 344 MiB); the rest is extwatch's entry list.
        assert!(
            rss < 512 * 1024,
            "{what}: listing 1M entries peaked at {rss} KiB"
        );
        eprintln!("{what}, 1M tiny files: mtree with hashes in {secs:.2} s, {rss} KiB peak RSS");
    }
}

#[test]
fn hostile_deep_tree_and_depth_limit() {
    if !have_mksquashfs() {
        return;
    }
    let t = fast_scratch("deep");
    let mut p = t.path().join("src");
    for i in 0..50 {
        p = p.join(format!("l{i}"));
    }
    std::fs::create_dir_all(&p).unwrap();
    std::fs::write(p.join("leaf"), "leaf\n").unwrap();
    let img = t.path().join("deep.raw");
    mksquashfs(&t.path().join("src"), &img, &[]);
    let out = files_out(&img, &["--format", "mtree"]);
    assert_eq!(out.lines().count(), 52);
    let dir_out = files_out(&t.path().join("src"), &["--format", "mtree"]);
    assert_eq!(
        out, dir_out,
        "squashfs and directory listings of the same tree differ"
    );

    // The depth limit is a clear error, not a truncated listing.
    let c = extwatch_core::files::Content::Fs(
        extwatch_core::files::open_image(
            std::sync::Arc::new(std::fs::File::open(&img).unwrap()),
            "x86-64",
        )
        .unwrap()
        .fs,
    );
    // ... and so is the entry limit.
    let limits = extwatch_core::files::WalkLimits::default;
    for (lim, want) in [
        (
            extwatch_core::files::WalkLimits {
                max_depth: 20,
                ..limits()
            },
            "deeper than the limit of 20",
        ),
        (
            extwatch_core::files::WalkLimits {
                max_entries: 10,
                ..limits()
            },
            "more than the limit of 10 entries",
        ),
    ] {
        let e = extwatch_core::files::walk(&c, &lim)
            .unwrap_err()
            .to_string();
        assert!(e.contains(want), "{e}");
    }
}

/// A hard-link storm that is also a bomb: 2,000 links to one 1 GiB sparse file are 2 TiB of
/// content if every path is hashed; content stored once must be hashed once (squashfs and the same
/// tree as a directory image).
#[test]
fn hostile_hard_link_storm() {
    if !have_mksquashfs() {
        return;
    }
    const LINKS: usize = 2000;
    const SIZE: u64 = 1 << 30;
    let t = fast_scratch("links");
    let src = t.path().join("src");
    std::fs::create_dir_all(src.join("l")).unwrap();
    std::fs::File::create(src.join("target"))
        .unwrap()
        .set_len(SIZE)
        .unwrap();
    for i in 0..LINKS {
        std::fs::hard_link(src.join("target"), src.join(format!("l/{i:05}"))).unwrap();
    }
    let img = t.path().join("links.raw");
    mksquashfs(&src, &img, &[]);
    let want = zeros_sha256(SIZE);
    for (what, image) in [("squashfs", &img), ("directory", &src)] {
        let (out, secs, rss) = timed(image, &["--format", "mtree"]);
        let n = out
            .lines()
            .filter(|l| l.ends_with(&format!("size={SIZE} sha256sum={want}")))
            .count();
        assert_eq!(n, LINKS + 1, "{what}");
        // A hang guard, not a performance goal: hashing every link would read 2 TiB (an hour).
        assert!(secs < 120.0, "{what}: {secs:.2} s");
        assert!(rss < 256 * 1024, "{what}: {rss} KiB");
        eprintln!("{what}: {LINKS} links to a 1 GiB file hashed in {secs:.2} s, {rss} KiB");
    }
}

#[test]
fn hostile_decompression_bomb_streams() {
    if !have_mksquashfs() {
        return;
    }
    const SIZE: u64 = 2 << 30;
    let t = fast_scratch("bomb");
    let src = t.path().join("src");
    std::fs::create_dir_all(&src).unwrap();
    let f = std::fs::File::create(src.join("zeros")).unwrap();
    f.set_len(SIZE).unwrap();
    drop(f);
    let img = t.path().join("bomb.raw");
    mksquashfs(&src, &img, &["-comp", "xz"]);
    std::fs::remove_dir_all(&src).unwrap();
    let img_size = std::fs::metadata(&img).unwrap().len();
    assert!(img_size < 1 << 20, "image is {img_size} bytes");

    let (out, secs, rss) = timed(&img, &["--format", "json"]);
    assert!(out.contains(&format!("\"size\": {SIZE}")));
    // A hang guard: listing must not expand the 2 GiB file (that would take minutes), not a
    // performance goal.
    assert!(secs < 60.0, "listing a bomb took {secs:.2} s");
    assert!(rss < 64 * 1024, "listing a bomb peaked at {rss} KiB");

    let (out, secs, rss) = timed(&img, &["--format", "mtree"]);
    let expect = zeros_sha256(SIZE);
    assert!(out.contains(&format!("sha256sum={expect}")), "{out}");
    assert!(rss < 256 * 1024, "hashing a 2 GiB bomb peaked at {rss} KiB");
    eprintln!("2 GiB sparse file: hashed in {secs:.2} s, {rss} KiB peak RSS");
}

#[test]
fn unreadable_images_exit_2() {
    let t = fast_scratch("bad");
    let garbage = t.path().join("garbage.raw");
    std::fs::write(&garbage, vec![0x5au8; 8192]).unwrap();
    let o = extwatch(&[OsStr::new("files"), garbage.as_os_str()]);
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("cannot read image") && err.contains("not a squashfs, erofs"),
        "{err}"
    );

    let missing = t.path().join("missing.raw");
    let o = extwatch(&[OsStr::new("files"), missing.as_os_str()]);
    assert_eq!(o.status.code(), Some(2));

    if extwatch_testsupport::which("mksquashfs").is_none() {
        return;
    }
    let src = t.path().join("src");
    std::fs::create_dir_all(&src).unwrap();
    std::fs::write(src.join("f"), vec![7u8; 1 << 20]).unwrap();
    let img = t.path().join("ok.raw");
    mksquashfs(&src, &img, &["-noI", "-noD"]);
    let full = std::fs::read(&img).unwrap();
    // mksquashfs pads to 4 KiB: cut inside what the superblock says is used.
    let used = u64::from_le_bytes(full[40..48].try_into().unwrap()) as usize;
    for cut in [96usize, 4096, used / 2, used - 100, used - 1] {
        let p = t.path().join(format!("cut-{cut}.raw"));
        std::fs::write(&p, &full[..cut]).unwrap();
        let o = extwatch(&[
            OsStr::new("files"),
            p.as_os_str(),
            OsStr::new("--hash"),
            OsStr::new("--format"),
            OsStr::new("json"),
        ]);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "cut at {cut}: {err}");
        assert!(err.starts_with("extwatch: error: cannot"), "{err}");
    }
}

#[test]
fn table_fits_100_columns() {
    let t = fast_scratch("table");
    let src = t.path().join("src");
    let deep = src.join("a".repeat(60)).join("b".repeat(60));
    std::fs::create_dir_all(&deep).unwrap();
    std::fs::write(deep.join("c".repeat(80)), "x").unwrap();
    std::os::unix::fs::symlink("t".repeat(90), src.join("l")).unwrap();
    for hash in [false, true] {
        let extra: &[&str] = if hash { &["--hash"] } else { &[] };
        let out = files_out(&src, extra);
        assert_eq!(out.lines().count(), 5);
        for l in out.lines() {
            assert!(l.chars().count() <= 100, "{l}");
        }
    }
}
