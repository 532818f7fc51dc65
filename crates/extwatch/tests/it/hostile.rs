//! Hostile offline roots, end to end through the CLI: thousands of junk images, symlink loops and
//! escapes, FIFOs and sockets where images are expected, control characters and invalid UTF-8 in
//! names, a 65 MiB extension-release, truncated squashfs/erofs images, and a read-only root that must
//! come out of an audit bit-for-bit unchanged.
//!
//! Every run is bounded by a wall-clock limit (a hang fails the test instead of blocking CI), must end
//! with exit 0 or 1 (never 2, never a signal), must not print a panic, and must print valid JSON.
//! Fixtures are built at test time with mksquashfs, mkfs.erofs and sfdisk (`scripts/setup.sh --test`).

use extwatch_testsupport::cli;
use extwatch_testsupport::rng::XorShift;
use extwatch_testsupport::roots::{link, mkfs_erofs, mksquashfs, run_ok, sysext_tree, tool, write};
use std::collections::{BTreeMap, BTreeSet};
use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::fs::{symlink, MetadataExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use extwatch_model::{Image, ImageClass, ImageFormat, Report};
use extwatch_testsupport::reports::{self, ReportExt};
use serde_json::Value;

// ---------------------------------------------------------------------------------------------
// Running extwatch with a time limit.

struct Out {
    code: i32,
    stdout: Vec<u8>,
    stderr: String,
    elapsed: Duration,
}

/// Runs `extwatch ARGS`, killing it and failing the test after `limit`. Fails on a signal, on exit
/// code 2 (or anything but 0/1) and on a panic message.
fn extwatch(args: &[OsString], limit: Duration) -> Out {
    let r = cli::run_0_or_1(
        Path::new(env!("CARGO_BIN_EXE_extwatch")),
        args,
        limit,
        false,
    );
    let code = r.status.code().unwrap_or(-1);
    Out {
        code,
        stdout: r.stdout,
        stderr: r.stderr,
        elapsed: r.elapsed,
    }
}

/// `extwatch audit --root ROOT --format json` with a fixed systemd version and an empty mount table.
fn audit(root: &Path, version: &str, limit: Duration) -> (Out, Report) {
    let args = cli::offline_args("audit", root, "json", version, Path::new("/dev/null"));
    let out = extwatch(&args, limit);
    let v = reports::report(&out.stdout, &out.stderr);
    (out, v)
}

fn image<'a>(v: &'a Report, path: &str) -> &'a Image {
    v.image(path)
}

fn paths(v: &Report) -> BTreeSet<String> {
    v.images.iter().map(|i| i.path.clone()).collect()
}

fn names(v: &Report) -> BTreeSet<String> {
    v.images.iter().map(|i| i.name.clone()).collect()
}

/// The format as the JSON spells it (`squashfs`, `unknown`, ...).
fn format_name(i: &Image) -> String {
    serde_json::to_value(i.format)
        .ok()
        .and_then(|f| f.as_str().map(str::to_string))
        .unwrap_or_default()
}

/// The `ID=` of an image's release, when it has one.
fn release_id(i: &Image) -> Option<&str> {
    i.release.as_ref()?.get("ID").map(String::as_str)
}

/// Finding ids per evidence path (subjects are image names, which can repeat across directories).
fn findings_by_path(v: &Report) -> BTreeMap<String, BTreeSet<String>> {
    let mut m: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for f in &v.findings {
        if let Some(p) = f.evidence["path"].as_str() {
            m.entry(p.to_string()).or_default().insert(f.id.clone());
        }
    }
    m
}

fn has_finding(v: &Report, path: &str, id: &str) -> bool {
    v.has_finding(path, id)
}

// ---------------------------------------------------------------------------------------------
// Building roots and images (the shared helpers are in extwatch_testsupport::roots).

fn base_root() -> tempfile::TempDir {
    extwatch_testsupport::roots::base_root("extwatch-hostile")
}

/// [`base_root`] with an empty `/var/lib/extensions`, returned as well.
fn extensions_root() -> (tempfile::TempDir, PathBuf) {
    let t = base_root();
    let vle = t.path().join("var/lib/extensions");
    std::fs::create_dir_all(&vle).unwrap();
    (t, vle)
}

/// A GPT disk image holding `fs` in one partition of type `type_guid`, built with sfdisk.
fn make_ddi(fs: &Path, out: &Path, type_guid: &str) {
    let fs_len = std::fs::metadata(fs).unwrap().len();
    let sectors = fs_len.div_ceil(512);
    let first = 2048u64;
    let total = (first + sectors + 2048) * 512;
    let f = std::fs::File::create(out).unwrap();
    f.set_len(total).unwrap();
    drop(f);
    let mut c = tool("sfdisk");
    c.args(["--quiet", "--no-reread", "--no-tell-kernel"])
        .arg(out)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let mut child = c.spawn().unwrap();
    let script = format!("label: gpt\nstart={first}, size={sectors}, type={type_guid}, name=usr\n");
    std::io::Write::write_all(&mut child.stdin.take().unwrap(), script.as_bytes()).unwrap();
    let o = child.wait_with_output().unwrap();
    assert!(
        o.status.success(),
        "sfdisk: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    let data = std::fs::read(fs).unwrap();
    let img = std::fs::OpenOptions::new().write(true).open(out).unwrap();
    std::os::unix::fs::FileExt::write_all_at(&img, &data, first * 512).unwrap();
}

const USR_X86_64: &str = "8484680c-9521-48c6-9c11-b0720656f69e";

fn sha256_file(p: &Path) -> String {
    let out = Command::new("sha256sum").arg(p).output().unwrap();
    assert!(out.status.success());
    String::from_utf8(out.stdout).unwrap()[..64].to_string()
}

fn mkfifo(p: &Path) {
    let mut c = tool("mkfifo");
    c.arg(p);
    run_ok(c);
}

/// squashfs `bytes_used` (superblock offset 40): the image proper, before mksquashfs's padding.
fn squashfs_bytes_used(img: &[u8]) -> usize {
    u64::from_le_bytes(img[40..48].try_into().unwrap()) as usize
}

const LIMIT: Duration = Duration::from_secs(60);

// ---------------------------------------------------------------------------------------------
// Tests.

/// 10,000 `.raw` files of junk and truncated squashfs: every one is reported, each as malformed.
#[test]
fn ten_thousand_junk_and_truncated_images() {
    let (t, dir) = extensions_root();
    let r = t.path();

    let src = tempfile::tempdir().unwrap();
    sysext_tree(&src.path().join("tree"), "real", "ID=_any\n");
    let sq = src.path().join("real.raw");
    mksquashfs(&src.path().join("tree"), &sq, "gzip");
    let sq = std::fs::read(&sq).unwrap();
    let used = squashfs_bytes_used(&sq);

    const N: usize = 10_000;
    let mut rng = XorShift(0x9e37_79b9_7f4a_7c15);
    let mut sizes = BTreeMap::new();
    for i in 0..N {
        let data: Vec<u8> = match i % 10 {
            0 => Vec::new(),
            1 => {
                let n = 1 + (rng.next_u64() % 64) as usize;
                rng.bytes(n)
            }
            2 => rng.bytes(4096),
            // squashfs magic, then junk.
            3 => [&b"hsqs"[..], &rng.bytes(300)].concat(),
            // erofs magic at 1024, then junk.
            4 => [
                &[0u8; 1024][..],
                &0xE0F5_E1E2u32.to_le_bytes(),
                &rng.bytes(1024),
            ]
            .concat(),
            // A GPT signature at LBA 1, then junk (CRCs wrong).
            5 => [&[0u8; 512][..], b"EFI PART", &rng.bytes(600)].concat(),
            // A real squashfs cut before its end.
            6 | 7 => sq[..1 + (rng.next_u64() as usize) % (used - 1)].to_vec(),
            // os-release text, not an image.
            8 => b"ID=_any\nSYSEXT_LEVEL=1\n".to_vec(),
            _ => vec![0xff; 8192],
        };
        sizes.insert(format!("/var/lib/extensions/junk-{i:05}.raw"), data.len());
        std::fs::write(dir.join(format!("junk-{i:05}.raw")), data).unwrap();
    }

    let (out, v) = audit(r, "257", Duration::from_secs(300));
    eprintln!("audit of {N} junk images took {:?}", out.elapsed);
    assert_eq!(out.code, 1, "extension-malformed is high: exit 1");
    let imgs = &v.images;
    assert_eq!(imgs.len(), N, "every .raw file is an image");
    let by_path = findings_by_path(&v);
    for img in imgs {
        let path = img.path.as_str();
        assert_eq!(img.class, ImageClass::Sysext, "{path}");
        assert!(img.searched, "{path}");
        assert_eq!(img.search_dir, "/var/lib/extensions", "{path}");
        let idx: usize = path[25..30].parse().unwrap();
        if !matches!(idx % 10, 6 | 7) {
            assert_eq!(
                img.format,
                ImageFormat::Unknown,
                "{path}: nothing here is readable"
            );
        }
        assert_eq!(img.release, None, "{path}");
        assert!(!img.compatible.ok, "{path}");
        assert_eq!(img.size, Some(sizes[path] as u64), "{path}");
        assert_eq!(img.sha256.as_deref().map(str::len), Some(64), "{path}");
        assert!(!img.errors.is_empty(), "{path}: junk without an error");
        assert!(
            by_path
                .get(path)
                .is_some_and(|ids| ids.contains("extension-malformed")),
            "{path}: no extension-malformed finding"
        );
    }
    let malformed = v.findings("extension-malformed").len();
    assert_eq!(malformed, N);
}

/// Symlink loops, symlinks out of the root (relative and absolute, via /proc magic links) and
/// symlinks to directories: everything resolves inside the root, loops are skipped like systemd does.
#[test]
fn symlinks_loop_or_escape_but_stay_inside_the_root() {
    let t = base_root();
    let r = t.path();
    let passwd = "root:x:0:0:in-root copy:/root:/bin/sh\n";
    write(&r.join("etc/passwd"), passwd);
    let outside = tempfile::tempdir().unwrap();
    let secret = outside.path().join("secret.raw");
    write(&secret, "host file outside the audited root\n");

    let vle = r.join("var/lib/extensions");
    let ee = r.join("etc/extensions");
    let re = r.join("run/extensions");
    for d in [&vle, &ee, &re] {
        std::fs::create_dir_all(d).unwrap();
    }
    symlink("b.raw", vle.join("a.raw")).unwrap();
    symlink("a.raw", vle.join("b.raw")).unwrap();
    symlink("self.raw", vle.join("self.raw")).unwrap();
    symlink("../../../../etc/passwd", ee.join("x.raw")).unwrap();
    symlink("/proc/self/root/etc/passwd", ee.join("y.raw")).unwrap();
    symlink("/etc/passwd", re.join("z.raw")).unwrap();
    symlink(&secret, ee.join("abs.raw")).unwrap();
    let dotdots = "../".repeat(40);
    symlink(
        format!(
            "{dotdots}{}",
            secret.display().to_string().trim_start_matches('/')
        ),
        ee.join("rel.raw"),
    )
    .unwrap();
    symlink("../../../../../..", vle.join("up")).unwrap();
    symlink("/usr/lib", ee.join("libdir")).unwrap();
    symlink("/proc/self/cwd", ee.join("cwd")).unwrap();
    // One plain image so the run has a known-good reference.
    sysext_tree(&vle.join("good"), "good", "ID=debian\nVERSION_ID=13\n");

    let (_, v) = audit(r, "257", LIMIT);
    let got = paths(&v);
    let want: BTreeSet<String> = [
        "/etc/extensions/x.raw",
        "/run/extensions/z.raw",
        "/var/lib/extensions/up",
        "/etc/extensions/libdir",
        "/var/lib/extensions/good",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    assert_eq!(
        got, want,
        "loops, dangling in-root targets and escapes are not images"
    );

    let in_root_sha = sha256_file(&r.join("etc/passwd"));
    for p in ["/etc/extensions/x.raw", "/run/extensions/z.raw"] {
        let i = image(&v, p);
        assert_eq!(i.resolved_path.as_deref(), Some("/etc/passwd"), "{p}");
        assert_eq!(
            i.sha256.as_deref(),
            Some(in_root_sha.as_str()),
            "{p}: must hash the root's /etc/passwd, not the host's"
        );
        assert_eq!(i.size, Some(passwd.len() as u64), "{p}");
        assert!(has_finding(&v, p, "extension-malformed"), "{p}");
    }
    let up = image(&v, "/var/lib/extensions/up");
    assert_eq!(up.resolved_path.as_deref(), Some("/"));
    assert_eq!(up.format, ImageFormat::Directory);
    assert_eq!(
        image(&v, "/etc/extensions/libdir").resolved_path.as_deref(),
        Some("/usr/lib")
    );
    assert!(image(&v, "/var/lib/extensions/good").compatible.ok);
    // Nothing in the report names a host path outside the root.
    let text = String::from_utf8_lossy(&serde_json::to_vec(&v.images).unwrap()).into_owned();
    assert!(!text.contains(&*outside.path().to_string_lossy()));

    // The booted host follows symlinks (inside the root) whatever the version; `systemd-sysext
    // --root=` skips them, so every image reached through one is marked.
    let (_, v252) = audit(r, "252", LIMIT);
    assert_eq!(paths(&v252), got);
    for p in [
        "/etc/extensions/x.raw",
        "/run/extensions/z.raw",
        "/var/lib/extensions/up",
    ] {
        assert!(image(&v252, p).symlink, "{p}");
    }
    assert!(!image(&v252, "/var/lib/extensions/good").symlink);
}

/// FIFOs, a socket and a character device named like images, a FIFO as an image's release file and
/// as the root's /etc/os-release: nothing blocks, none is an image, the FIFO release is malformed.
#[test]
fn fifos_sockets_and_devices_never_block() {
    let (t, vle) = extensions_root();
    let r = t.path();
    mkfifo(&vle.join("fifo.raw"));
    symlink("fifo.raw", vle.join("fifo-link.raw")).unwrap();
    let _sock = std::os::unix::net::UnixListener::bind(vle.join("sock.raw")).unwrap();
    // /dev/zero as an "image": endless when read. Needs CAP_MKNOD; skipped silently without it.
    let zero = Command::new("mknod")
        .arg(vle.join("zero.raw"))
        .args(["c", "1", "5"])
        .status()
        .is_ok_and(|s| s.success());
    // A directory image whose release file is a FIFO.
    let fd = vle.join("fifodir");
    std::fs::create_dir_all(fd.join("usr/lib/extension-release.d")).unwrap();
    mkfifo(&fd.join("usr/lib/extension-release.d/extension-release.fifodir"));
    // The root's own os-release is a FIFO; /usr/lib/os-release is the fallback.
    std::fs::remove_file(r.join("etc/os-release")).unwrap();
    mkfifo(&r.join("etc/os-release"));
    write(&r.join("usr/lib/os-release"), "ID=debian\nVERSION_ID=13\n");
    sysext_tree(&vle.join("ok"), "ok", "ID=debian\nVERSION_ID=13\n");

    let (out, v) = audit(r, "257", Duration::from_secs(30));
    assert!(out.elapsed < Duration::from_secs(30));
    assert_eq!(
        paths(&v),
        [
            "/var/lib/extensions/fifodir".to_string(),
            "/var/lib/extensions/ok".to_string()
        ]
        .into(),
        "FIFOs, sockets and devices are not images (zero.raw created: {zero})"
    );
    assert_eq!(
        v.host
            .os_release
            .as_ref()
            .and_then(|o| o.get("ID"))
            .map(String::as_str),
        Some("debian")
    );
    let ok = image(&v, "/var/lib/extensions/ok");
    assert!(ok.compatible.ok);
    let fifo = image(&v, "/var/lib/extensions/fifodir");
    assert_eq!(fifo.release, None);
    assert!(!fifo.compatible.ok);
    assert!(
        has_finding(&v, "/var/lib/extensions/fifodir", "extension-malformed"),
        "a FIFO release file is an error, not a missing release: {:?}",
        fifo.errors
    );
}

/// Names with newlines, tabs, escape sequences and invalid UTF-8: the output stays valid JSON, names
/// round-trip exactly, and the table output carries no raw terminal escape.
#[test]
fn hostile_names_keep_output_well_formed() {
    let (t, vle) = extensions_root();
    let r = t.path();
    let weird = ["nl\nx", "tab\ty", "esc\x1b[2Jclear", "quote\"back\\slash"];
    for n in weird {
        sysext_tree(&vle.join(n), n, "ID=_any\n");
        write(&vle.join(format!("{n}-raw.raw")), b"junk");
    }
    let bad = OsString::from_vec(b"bad\xffutf8".to_vec());
    sysext_tree(&vle.join(&bad), "bad", "ID=_any\n");
    let bad_raw = OsString::from_vec(b"bad\xfe.raw".to_vec());
    write(&vle.join(&bad_raw), b"junk");
    sysext_tree(&vle.join("good"), "good", "ID=_any\n");

    let (_, v) = audit(r, "257", LIMIT);
    let got = names(&v);
    assert!(got.contains("good"));
    assert_eq!(
        release_id(image(&v, "/var/lib/extensions/good")),
        Some("_any")
    );
    // Invalid UTF-8 names are never images (systemd: image_name_is_valid() → utf8_is_valid()).
    assert!(got
        .iter()
        .all(|n| !n.contains('\u{fffd}') && !n.starts_with("bad")));
    // Whatever is reported must be the exact name, not a mangled one.
    for n in &got {
        if n != "good" {
            assert!(
                weird.iter().any(|w| n == w || *n == format!("{w}-raw")),
                "mangled name {n:?}"
            );
        }
    }
}

/// The table goes to terminals: no raw ESC (or other C0 control) from an image name or a symlink
/// target may reach it, or a planted name can rewrite what the operator sees.
#[test]
fn table_output_carries_no_terminal_escapes() {
    let (t, vle) = extensions_root();
    let r = t.path();
    sysext_tree(&vle.join("esc\x1b[2Jclear"), "esc\x1b[2Jclear", "ID=_any\n");
    write(&vle.join("target\x1b]0;title\x07.img"), b"junk");
    symlink("target\x1b]0;title\x07.img", vle.join("ok.raw")).unwrap();
    sysext_tree(&vle.join("good"), "good", "ID=_any\n");
    let args: Vec<OsString> = [
        "audit",
        "--root",
        r.to_str().unwrap(),
        "--format",
        "table",
        "--systemd-version",
        "257",
        "--mountinfo",
        "/dev/null",
    ]
    .iter()
    .map(OsString::from)
    .collect();
    let out = extwatch(&args, LIMIT);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("good"), "{text}");
    assert!(
        !out.stdout.iter().any(|&b| b == 0x1b || b == 0x07),
        "raw ESC/BEL in table output (terminal escape injection):\n{text:?}"
    );
}

/// systemd skips names with control characters (`image_name_is_valid()` → `string_has_cc()`;
/// checked with systemd 252's `systemd-sysext list --root`): extwatch must not report them.
#[test]
fn control_character_names_are_not_images() {
    let (t, vle) = extensions_root();
    let r = t.path();
    for n in ["nl\nx", "tab\ty", "esc\x1bx"] {
        sysext_tree(&vle.join(n), n, "ID=_any\n");
        write(&vle.join(format!("{n}.raw")), b"junk");
    }
    sysext_tree(&vle.join("good"), "good", "ID=_any\n");
    let (_, v) = audit(r, "257", LIMIT);
    assert_eq!(names(&v), ["good".to_string()].into());
}

/// A 65 MiB extension-release (a valid `ID=_any` followed by padding) — past systemd's own
/// `READ_FULL_BYTES_MAX` (64 MiB) — in a directory image and in a squashfs image: read with a bound,
/// reported as malformed, never trusted.
#[test]
fn ten_megabyte_release_file_is_bounded() {
    let (t, vle) = extensions_root();
    let r = t.path();
    let mut big = b"ID=_any\n".to_vec();
    while big.len() < 65 * 1024 * 1024 {
        big.extend_from_slice(b"# padding padding padding padding padding padding padding pad\n");
    }
    write(
        &vle.join("bigdir/usr/lib/extension-release.d/extension-release.bigdir"),
        &big,
    );
    let src = tempfile::tempdir().unwrap();
    write(
        &src.path()
            .join("usr/lib/extension-release.d/extension-release.bigsq"),
        &big,
    );
    mksquashfs(src.path(), &vle.join("bigsq.raw"), "zstd");

    let (out, v) = audit(r, "257", LIMIT);
    assert_eq!(out.code, 1);
    for p in [
        "/var/lib/extensions/bigdir",
        "/var/lib/extensions/bigsq.raw",
    ] {
        let i = image(&v, p);
        assert_eq!(i.release, None, "{p}: oversized release trusted");
        assert!(!i.compatible.ok, "{p}");
        let errs = i.errors.join("\n");
        assert!(
            errs.contains("larger than") || errs.contains("exceeds") || errs.contains("limit"),
            "{p}: the error should say the file is too large: {errs}"
        );
        assert!(has_finding(&v, p, "extension-malformed"), "{p}");
    }
    assert_eq!(
        image(&v, "/var/lib/extensions/bigsq.raw").format,
        ImageFormat::Squashfs
    );
}

/// A directory extension replacing the base's /usr/bin/ls with a 4 TiB sparse file: the audit
/// reports the shadowing (with the base's hash) without reading terabytes — evidence hashing stops
/// at 1 GiB per file — and stays within the time limit.
#[test]
fn terabyte_sparse_file_shadowing_the_base_is_not_hashed() {
    let t = base_root();
    let r = t.path();
    write(&r.join("usr/bin/ls"), "base ls\n");
    let img = r.join("var/lib/extensions/huge");
    sysext_tree(&img, "huge", "ID=debian\nVERSION_ID=13\n");
    std::fs::File::create(img.join("usr/bin/ls"))
        .unwrap()
        .set_len(4 << 40)
        .unwrap();
    let (_, v) = audit(r, "257", LIMIT);
    let f = v
        .findings
        .iter()
        .find(|f| f.id == "extension-shadows-base" && f.evidence["path"] == "/usr/bin/ls")
        .unwrap_or_else(|| panic!("no shadows-base finding: {:#?}", v.findings));
    assert_eq!(f.subject, "huge");
    assert_eq!(f.evidence["image_sha256"], Value::Null, "{f:#?}");
    assert_eq!(
        f.evidence["below_sha256"],
        sha256_file(&r.join("usr/bin/ls")),
        "{f:#?}"
    );
    assert_eq!(f.evidence["same_content"], false);

    // `--baseline` hashes every file, but not a terabyte: files over MAX_IMAGE_HASH, on the image
    // side and in the base (here a 1 TiB sparse /usr/bin/big), are listed with a null hash.
    std::fs::File::create(r.join("usr/bin/big"))
        .unwrap()
        .set_len(1 << 40)
        .unwrap();
    let baseline = t.path().join("baseline.json");
    let mut args: Vec<OsString> = vec!["audit".into(), "--root".into(), r.into()];
    args.extend(
        [
            "--format",
            "json",
            "--systemd-version",
            "257",
            "--mountinfo",
            "/dev/null",
        ]
        .map(OsString::from),
    );
    args.extend(["--baseline".into(), baseline.clone().into()]);
    extwatch(&args, LIMIT);
    let b: Value = serde_json::from_slice(&std::fs::read(&baseline).unwrap()).unwrap();
    let usr = b["hierarchies"]
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["hierarchy"] == "/usr")
        .unwrap_or_else(|| panic!("no /usr in the baseline: {b:#}"));
    let entry = |side: &str, path: &str| {
        usr[side]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["path"] == path)
            .unwrap_or_else(|| panic!("{path} not in {side}"))
            .clone()
    };
    assert_eq!(entry("base", "/usr/bin/big")["sha256"], Value::Null);
    assert_eq!(entry("base", "/usr/bin/big")["size"], 1u64 << 40);
    assert_eq!(entry("merged_view", "/usr/bin/ls")["sha256"], Value::Null);
    assert_eq!(entry("merged_view", "/usr/bin/ls")["size"], 4u64 << 40);
    assert_eq!(
        entry("base", "/usr/bin/ls")["sha256"],
        sha256_file(&r.join("usr/bin/ls"))
    );
}

/// squashfs (gzip, xz) and erofs (plain, lz4) images cut at many offsets: each is either reported
/// malformed or, when the cut only removed padding, read correctly — never a wrong release.
#[test]
fn truncated_squashfs_and_erofs_images() {
    let (t, vle) = extensions_root();
    let r = t.path();
    let src = tempfile::tempdir().unwrap();
    let mut expect: Vec<(String, &str, usize, usize)> = Vec::new(); // (path, format, cut, must-fail-below)
    for (fmt, variant) in [
        ("squashfs", "gzip"),
        ("squashfs", "xz"),
        ("erofs", "plain"),
        ("erofs", "lz4"),
    ] {
        // Build once to learn the size, then per cut with the matching release name.
        let probe_tree = src.path().join(format!("probe-{fmt}-{variant}"));
        sysext_tree(&probe_tree, "probe", "ID=_any\n");
        write(&probe_tree.join("usr/share/filler"), "x".repeat(20000));
        let probe = src.path().join(format!("probe-{fmt}-{variant}.img"));
        let build = |tree: &Path, out: &Path| match (fmt, variant) {
            ("squashfs", c) => mksquashfs(tree, out, c),
            (_, "plain") => mkfs_erofs(tree, out, &[]),
            _ => mkfs_erofs(tree, out, &["-zlz4"]),
        };
        build(&probe_tree, &probe);
        let len = std::fs::metadata(&probe).unwrap().len() as usize;
        let probe_used = if fmt == "squashfs" {
            squashfs_bytes_used(&std::fs::read(&probe).unwrap())
        } else {
            len
        };
        let mut cuts: BTreeSet<usize> =
            [0, 1, 4, 64, 95, 96, 512, 1024, 1100, 1152, 2048, 4096].into();
        cuts.extend([
            len / 3,
            len / 2,
            len * 2 / 3,
            len.saturating_sub(4096),
            len - 1,
            len,
            probe_used / 2,
            probe_used.saturating_sub(100),
            probe_used - 1,
        ]);
        cuts.retain(|&c| c <= len);
        for cut in cuts {
            let name = format!("{fmt}-{variant}-{cut}");
            let tree = src.path().join(&name);
            sysext_tree(&tree, &name, "ID=_any\n");
            write(&tree.join("usr/share/filler"), "x".repeat(20000));
            let full = src.path().join(format!("{name}.img"));
            build(&tree, &full);
            let data = std::fs::read(&full).unwrap();
            let cut = cut.min(data.len());
            std::fs::write(vle.join(format!("{name}.raw")), &data[..cut]).unwrap();
            // Below this the image cannot be used: the Linux squashfs driver refuses to mount a
            // device shorter than the superblock's bytes_used; an erofs image shorter than its
            // superblock's block count is truncated too.
            let must_fail = if fmt == "squashfs" {
                if cut < 96 {
                    96
                } else {
                    squashfs_bytes_used(&data)
                }
            } else {
                let sb = &data[1024..1024 + 40];
                let blocks = u32::from_le_bytes([sb[36], sb[37], sb[38], sb[39]]) as usize;
                blocks << sb[12]
            };
            expect.push((
                format!("/var/lib/extensions/{name}.raw"),
                fmt,
                cut,
                if cut == data.len() { 0 } else { must_fail },
            ));
        }
    }

    let (_, v) = audit(r, "257", LIMIT);
    assert_eq!(v.images.len(), expect.len());
    let mut readable_truncated = Vec::new();
    for (path, fmt, cut, must_fail) in &expect {
        let i = image(&v, path);
        let errors = !i.errors.is_empty();
        assert_eq!(
            errors,
            has_finding(&v, path, "extension-malformed"),
            "{path}: errors and finding disagree"
        );
        if *must_fail == 0 {
            assert!(!errors, "{path}: intact image has errors: {:?}", i.errors);
            assert_eq!(format_name(i), *fmt, "{path}");
            assert_eq!(release_id(i), Some("_any"), "{path}");
            assert!(i.compatible.ok, "{path}");
        } else if cut < must_fail {
            assert!(errors, "{path}: cut at {cut} (< {must_fail}) yet no error");
            assert_eq!(i.release, None, "{path}");
            if *cut < 96 {
                assert_eq!(i.format, ImageFormat::Unknown, "{path}");
            }
        } else if errors {
            assert_eq!(i.release, None, "{path}: malformed yet a release");
        } else {
            // Parsed despite the cut: then it must have read the right release.
            assert_eq!(release_id(i), Some("_any"), "{path}: wrong release");
            readable_truncated.push((path.clone(), *cut));
        }
    }
    eprintln!("truncated images still read without error: {readable_truncated:?}");
}

/// Symlink and directory loops inside directory and squashfs images, and release-file symlinks that
/// point out of the image: chased inside the image, bounded, never resolved against the host root.
#[test]
fn loops_and_escapes_inside_images() {
    let (t, vle) = extensions_root();
    let r = t.path();
    // Directory images.
    let loopy = vle.join("loopy");
    sysext_tree(&loopy, "loopy", "ID=_any\n");
    symlink(".", loopy.join("usr/lib/self")).unwrap();
    symlink("..", loopy.join("usr/lib/up")).unwrap();
    symlink("b", loopy.join("usr/lib/a")).unwrap();
    symlink("a", loopy.join("usr/lib/b")).unwrap();
    symlink("/", loopy.join("usr/bin/root")).unwrap();
    symlink(
        "../extension-release.d",
        loopy.join("usr/lib/extension-release.d/again"),
    )
    .unwrap();
    link(
        &vle.join("relloop/usr/lib/extension-release.d"),
        "extension-release.d",
    );
    link(
        &vle.join("selfrel/usr/lib/extension-release.d/extension-release.selfrel"),
        "extension-release.selfrel",
    );
    // The root has /etc/os-release (ID=debian, compatible); a release symlink that escaped the image
    // would make these compatible.
    link(
        &vle.join("escape/usr/lib/extension-release.d/extension-release.escape"),
        "../../../../../../../../etc/os-release",
    );
    link(
        &vle.join("absescape/usr/lib/extension-release.d/extension-release.absescape"),
        "/etc/os-release",
    );

    // The same inside squashfs images.
    let src = tempfile::tempdir().unwrap();
    let sqloop = src.path().join("sqloop");
    sysext_tree(&sqloop, "sqloop", "ID=_any\n");
    symlink(".", sqloop.join("usr/lib/self")).unwrap();
    symlink("b", sqloop.join("usr/lib/a")).unwrap();
    symlink("a", sqloop.join("usr/lib/b")).unwrap();
    symlink("/usr", sqloop.join("usr/bin/usr")).unwrap();
    mksquashfs(&sqloop, &vle.join("sqloop.raw"), "gzip");
    link(
        &src.path()
            .join("sqself/usr/lib/extension-release.d/extension-release.sqself"),
        "extension-release.sqself",
    );
    mksquashfs(&src.path().join("sqself"), &vle.join("sqself.raw"), "gzip");
    link(
        &src.path().join("sqdirloop/usr/lib/extension-release.d"),
        "extension-release.d/../extension-release.d",
    );
    mksquashfs(
        &src.path().join("sqdirloop"),
        &vle.join("sqdirloop.raw"),
        "xz",
    );
    link(
        &src.path()
            .join("sqescape/usr/lib/extension-release.d/extension-release.sqescape"),
        "../../../../../../etc/os-release",
    );
    mksquashfs(
        &src.path().join("sqescape"),
        &vle.join("sqescape.raw"),
        "lz4",
    );
    let erloop = src.path().join("erloop");
    sysext_tree(&erloop, "erloop", "ID=_any\n");
    symlink("..", erloop.join("usr/lib/up")).unwrap();
    symlink("erloop-b", erloop.join("usr/lib/erloop-a")).unwrap();
    symlink("erloop-a", erloop.join("usr/lib/erloop-b")).unwrap();
    mkfs_erofs(&erloop, &vle.join("erloop.raw"), &[]);

    let (_, v) = audit(r, "257", LIMIT);
    assert_eq!(v.images.len(), 10);
    for p in ["loopy", "sqloop.raw", "erloop.raw"] {
        let p = format!("/var/lib/extensions/{p}");
        let i = image(&v, &p);
        assert_eq!(
            release_id(i),
            Some("_any"),
            "{p}: loops elsewhere must not matter"
        );
        assert!(i.compatible.ok, "{p}");
        assert!(has_finding(&v, &p, "extension-release-any"), "{p}");
    }
    for p in [
        "relloop",
        "selfrel",
        "escape",
        "absescape",
        "sqself.raw",
        "sqdirloop.raw",
        "sqescape.raw",
    ] {
        let p = format!("/var/lib/extensions/{p}");
        let i = image(&v, &p);
        assert_eq!(
            i.release, None,
            "{p}: release resolved outside the image or through a loop"
        );
        assert!(!i.compatible.ok, "{p}");
        assert!(
            has_finding(&v, &p, "extension-malformed")
                || has_finding(&v, &p, "extension-missing-release"),
            "{p}: neither malformed nor missing-release: {:?}",
            findings_by_path(&v).get(&p)
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Read-only guarantee.

#[derive(Debug, PartialEq, Eq)]
struct Node {
    kind: u32,
    mode: u32,
    uid: u32,
    gid: u32,
    ino: u64,
    nlink: u64,
    size: u64,
    mtime: (i64, i64),
    ctime: (i64, i64),
    link: Option<PathBuf>,
    sha256: Option<String>,
}

/// Every entry under `root` (not following symlinks): metadata incl. ctime (any chmod, chown,
/// xattr write, rename or content write changes it), symlink targets, content hashes.
fn snapshot(root: &Path) -> BTreeMap<PathBuf, Node> {
    let mut out = BTreeMap::new();
    let mut files = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(p) = stack.pop() {
        let md = std::fs::symlink_metadata(&p).unwrap();
        let ft = md.file_type();
        if ft.is_dir() {
            for e in std::fs::read_dir(&p).unwrap() {
                stack.push(e.unwrap().path());
            }
        }
        if ft.is_file() {
            files.push(p.clone());
        }
        out.insert(
            p.clone(),
            Node {
                kind: md.mode() & 0o170000,
                mode: md.mode() & 0o7777,
                uid: md.uid(),
                gid: md.gid(),
                ino: md.ino(),
                nlink: md.nlink(),
                size: md.size(),
                mtime: (md.mtime(), md.mtime_nsec()),
                ctime: (md.ctime(), md.ctime_nsec()),
                link: ft.is_symlink().then(|| std::fs::read_link(&p).unwrap()),
                sha256: None,
            },
        );
    }
    for chunk in files.chunks(200) {
        let o = Command::new("sha256sum")
            .arg("-z")
            .arg("--")
            .args(chunk)
            .output()
            .unwrap();
        assert!(o.status.success());
        for rec in o.stdout.split(|b| *b == 0).filter(|r| !r.is_empty()) {
            let (hash, path) = rec.split_at(64);
            let path = PathBuf::from(OsStr::from_bytes(&path[2..]));
            out.get_mut(&path).unwrap().sha256 = Some(String::from_utf8_lossy(hash).into());
        }
    }
    out
}

fn assert_unchanged(before: &BTreeMap<PathBuf, Node>, after: &BTreeMap<PathBuf, Node>) {
    let b: BTreeSet<_> = before.keys().collect();
    let a: BTreeSet<_> = after.keys().collect();
    assert_eq!(b, a, "entries created or removed in the audited root");
    for (p, n) in before {
        assert_eq!(n, &after[p], "{} changed", p.display());
    }
}

/// The root: directory, squashfs, erofs and DDI images, side-cars, xattrs, symlinks, a FIFO.
fn rich_root(r: &Path) {
    let src = tempfile::tempdir().unwrap();
    let vle = r.join("var/lib/extensions");
    sysext_tree(&vle.join("dirimg"), "dirimg", "ID=debian\nVERSION_ID=13\n");
    for (name, comp) in [("sqgz", "gzip"), ("sqzst", "zstd")] {
        let tree = src.path().join(name);
        sysext_tree(&tree, name, "ID=_any\n");
        mksquashfs(&tree, &vle.join(format!("{name}.raw")), comp);
    }
    let tree = src.path().join("er");
    sysext_tree(&tree, "er", "ID=debian\n");
    std::fs::create_dir_all(r.join("etc/extensions")).unwrap();
    mkfs_erofs(&tree, &r.join("etc/extensions/er.raw"), &["-zlz4"]);
    let tree = src.path().join("ddi");
    sysext_tree(&tree, "ddi", "ID=_any\n");
    let fs = src.path().join("ddi.squashfs");
    // A usr partition holds what is mounted at /usr: the tree's usr/ content.
    mksquashfs(&tree.join("usr"), &fs, "xz");
    make_ddi(&fs, &vle.join("ddi.raw"), USR_X86_64);
    write(&vle.join("sqgz.roothash"), "ab".repeat(32));
    write(&vle.join("junk.raw"), b"\0junk");
    let _ = Command::new("setfattr")
        .args(["-n", "user.extension-release.strict", "-v", "0"])
        .arg(vle.join("dirimg/usr/lib/extension-release.d/extension-release.dirimg"))
        .status();
    symlink("sqgz.raw", vle.join("alias.raw")).unwrap();
    symlink("../../../etc/passwd", vle.join("out.raw")).unwrap();
    mkfifo(&vle.join("fifo.raw"));
    let cfe = r.join("etc/confexts/conf");
    write(
        &cfe.join("etc/extension-release.d/extension-release.conf"),
        "ID=debian\nCONFEXT_LEVEL=1\n",
    );
    write(
        &cfe.join("etc/ssh/sshd_config.d/x.conf"),
        "PermitRootLogin yes\n",
    );
}

/// An audit writes nothing: a root with every kind of image, made read-only with `chmod -R a-w`,
/// is bit-for-bit unchanged (content, mode, owner, mtime, ctime, inode, link count, entry set); and
/// the report from a read-only bind mount (`unshare -m`, when permitted) equals the writable one.
#[test]
fn audit_never_modifies_the_root() {
    let t = base_root();
    let r = t.path();
    rich_root(r);
    run_ok({
        let mut c = Command::new("chmod");
        c.args(["-R", "a-w"]).arg(r);
        c
    });
    let before = snapshot(r);
    assert!(before.len() > 30, "root too small: {}", before.len());

    let (_, v) = audit(r, "257", LIMIT);
    let after = snapshot(r);
    assert_unchanged(&before, &after);
    // The audit did read everything: the images are all there with their formats.
    let fmt = |p: &str| format_name(image(&v, p));
    assert_eq!(fmt("/var/lib/extensions/dirimg"), "directory");
    assert_eq!(fmt("/var/lib/extensions/sqgz.raw"), "squashfs");
    assert_eq!(fmt("/var/lib/extensions/sqzst.raw"), "squashfs");
    assert_eq!(fmt("/etc/extensions/er.raw"), "erofs");
    assert_eq!(fmt("/var/lib/extensions/ddi.raw"), "ddi");
    assert_eq!(fmt("/var/lib/extensions/junk.raw"), "unknown");
    assert_eq!(
        serde_json::to_value(image(&v, "/var/lib/extensions/sqgz.raw").verity.source).unwrap(),
        "sidecar"
    );
    assert_eq!(
        release_id(image(&v, "/var/lib/extensions/ddi.raw")),
        Some("_any")
    );
    assert_eq!(image(&v, "/etc/confexts/conf").class, ImageClass::Confext);

    // Same audit through a read-only bind mount of the root, if this machine lets us make one.
    let ro = Command::new("unshare")
        .args(["-m", "--propagation", "private", "sh", "-c"])
        .arg(
            r#"mount --bind "$1" "$1" && mount -o remount,bind,ro "$1" || exit 77
               shift; exec "$@""#,
        )
        .arg("sh")
        .arg(r)
        .arg(env!("CARGO_BIN_EXE_extwatch"))
        .args(cli::offline_args(
            "audit",
            r,
            "json",
            "257",
            Path::new("/dev/null"),
        ))
        .output()
        .unwrap();
    match ro.status.code() {
        Some(77) => eprintln!("read-only bind mount not permitted here; skipped that half"),
        Some(0) | Some(1) => {
            let v_ro = reports::report(&ro.stdout, &String::from_utf8_lossy(&ro.stderr));
            assert_eq!(
                v_ro.images, v.images,
                "a read-only root gives the same inventory"
            );
            assert_eq!(v_ro.findings, v.findings);
            assert_unchanged(&before, &snapshot(r));
        }
        other => panic!(
            "audit on a read-only bind mount exited {other:?}: {}",
            String::from_utf8_lossy(&ro.stderr)
        ),
    }
    // Let the tempdir be removed by non-root runs too.
    let _ = Command::new("chmod").args(["-R", "u+w"]).arg(r).status();
}
