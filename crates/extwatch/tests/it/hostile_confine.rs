//! One confinement path (issue 8, case 1): nothing below an audited root is ever reached through a
//! host path, and nothing but regular files and directories is ever opened.
//!
//! Every escape is built twice — a symlink to an ABSOLUTE host path and one to a `../../..` path — at
//! each place a host-path re-open used to follow it on the auditing machine: a search directory,
//! `/usr` (the base of the merged view), `/etc` (the confext base), a directory inside a directory
//! image, and `/etc/verity.d`. Each points at a marker directory created OUTSIDE the root, holding a
//! uniquely named setuid file and a file with unique secret content. Inside the root, the same path
//! (what the link means when resolved inside the root) holds a decoy with other names and content.
//! `inventory`, `audit` (table, JSON, `--baseline FILE`, `-v`) and `files --root` must never mention
//! the marker's file name, its secret or the secret's SHA-256, and must report the in-root decoy.
//!
//! Device nodes (a 1:3 character device and a block device with the auditing machine's real disk
//! numbers) and FIFOs are planted in /var/lib/extensions, /etc/extensions, inside a directory image and
//! under /usr: the audit completes (a FIFO without a writer would block an open), reports them, and
//! never opens them — asserted with inotify `IN_OPEN` watches on every node, which fire for any open
//! but an `O_PATH` one (the watch itself is checked to fire first).
//!
//! `detach_overlays`: a hierarchy whose top mount is a tmpfs (or a tmpfs over a sysext overlay) makes
//! the base unreadable — an error, not the merged view passed off as the base; a real `sysext`
//! overlay is read beneath. These need `unshare -m` (root); they are skipped where it is not allowed.
//!
//! `EXTWATCH_TEST_BIN` runs another extwatch binary (e.g. an older build, to see these tests fail).

use extwatch_testsupport::cli;
use std::ffi::OsString;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use extwatch_model::{Finding, ImageFormat, Report};
use extwatch_testsupport::reports::{self, ReportExt};
use serde_json::Value;
use sha2::Digest;

/// Generous hang guard per run (debug builds on a loaded 2-core machine).
const LIMIT: Duration = Duration::from_secs(120);

fn bin() -> PathBuf {
    cli::bin(env!("CARGO_BIN_EXE_extwatch"))
}

struct Out {
    code: i32,
    stdout: String,
    stderr: String,
}

/// Runs extwatch with a wall-clock limit; fails on a hang, a signal or a panic. Any exit code is
/// returned (callers assert it).
fn run(args: &[OsString]) -> Out {
    let r = cli::run(&bin(), args, LIMIT, false);
    Out {
        code: r.code_no_crash(args),
        stdout: String::from_utf8_lossy(&r.stdout).into_owned(),
        stderr: r.stderr,
    }
}

fn os(v: &[&str]) -> Vec<OsString> {
    v.iter().map(OsString::from).collect()
}

/// Runs the commands an operator runs on a root, returning (everything printed or written, the JSON
/// audit report, the baseline).
fn every_command(root: &Path) -> (String, Report, Value) {
    let tmp = tempfile::tempdir().unwrap();
    let baseline = tmp.path().join("baseline.json");
    let r = root.as_os_str().to_owned();
    let mut all = String::new();
    let mut json = None;
    let mut base = Value::Null;
    for (cmd, fmt, with_baseline) in [
        ("inventory", "json", false),
        ("inventory", "table", false),
        ("audit", "table", false),
        ("audit", "json", false),
        ("audit", "json", true),
    ] {
        let mut args = vec![cmd.into(), "--root".into(), r.clone(), "-v".into()];
        args.extend(os(&["--format", fmt]));
        args.extend(os(&cli::OFFLINE_HOST));
        if cmd == "audit" {
            args.extend(os(&["--fail-on", "none"]));
        }
        if with_baseline {
            args.push("--baseline".into());
            args.push(baseline.clone().into());
        }
        let o = run(&args);
        assert_eq!(o.code, 0, "{args:?}: {}", o.stderr);
        all.push_str(&o.stdout);
        all.push_str(&o.stderr);
        if cmd == "audit" && fmt == "json" {
            json = Some(reports::report(o.stdout.as_bytes(), &o.stderr));
        }
        if with_baseline {
            let text = std::fs::read_to_string(&baseline).unwrap();
            all.push_str(&text);
            base = serde_json::from_str(&text).expect("baseline JSON");
        }
    }
    (all, json.expect("an audit --format json ran"), base)
}

fn sha(data: &[u8]) -> String {
    hex::encode(sha2::Sha256::digest(data))
}

fn write(p: &Path, data: &str, mode: u32) {
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, data).unwrap();
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// `os-release` of a Debian 13 in `dir` (an `etc` or `usr/lib`).
fn os_release(dir: &Path) {
    write(&dir.join("os-release"), "ID=debian\nVERSION_ID=13\n", 0o644);
}

/// The sysext release file of directory image `img` named `name`, matching any host.
fn ext_release(img: &Path, name: &str) {
    let rel = format!("usr/lib/extension-release.d/extension-release.{name}");
    write(&img.join(rel), "ID=_any\n", 0o644);
}

/// The confext release file of directory image `img` named `name`, matching any host.
fn conf_release(img: &Path, name: &str) {
    let rel = format!("etc/extension-release.d/extension-release.{name}");
    write(&img.join(rel), "ID=_any\n", 0o644);
}

/// A directory image `ext` in the root's /var/lib/extensions shipping `/usr/bin/tool` ("ext tool").
fn ext_with_tool(root: &Path) -> PathBuf {
    let ext = root.join("var/lib/extensions/ext");
    ext_release(&ext, "ext");
    write(&ext.join("usr/bin/tool"), "ext tool\n", 0o755);
    ext
}

/// A root with a Debian 13 `/etc/os-release` and `/usr/bin/tool` ("base tool").
fn base_root(prefix: &str) -> tempfile::TempDir {
    let t = temp_dir(prefix);
    os_release(&t.path().join("etc"));
    write(&t.path().join("usr/bin/tool"), "base tool\n", 0o755);
    t
}

fn temp_dir(prefix: &str) -> tempfile::TempDir {
    tempfile::Builder::new().prefix(prefix).tempdir().unwrap()
}

fn unique() -> String {
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("{}x{t:x}", std::process::id())
}

/// What is planted at one tree (the host marker outside the root, or the decoy inside it): the
/// shapes of a search directory with a directory image, a `/usr`, an `/etc` and a `verity.d`.
struct Plant {
    /// Unique file name (setuid in the bin directories, `.pem` in verity.d).
    name: String,
    /// Content of `usr/bin/tool`, the image's `usr/bin/tool` and `etc/pam.d/sshd`.
    tool: String,
}

impl Plant {
    fn write(&self, dir: &Path) {
        let img = dir.join("ext/img");
        ext_release(&img, "img");
        write(&img.join("usr/bin").join(&self.name), "#!/bin/sh\n", 0o4755);
        write(
            &img.join("usr/bin/tool"),
            &format!("image {}", self.tool),
            0o755,
        );
        write(&dir.join("usr/bin").join(&self.name), "#!/bin/sh\n", 0o4755);
        write(&dir.join("usr/bin/tool"), &self.tool, 0o755);
        os_release(&dir.join("usr/lib"));
        write(&dir.join("etc/pam.d/sshd"), &self.tool, 0o644);
        write(&dir.join("etc").join(&self.name), &self.tool, 0o4755);
        os_release(&dir.join("etc"));
        write(
            &dir.join("verity.d").join(format!("{}.pem", self.name)),
            "x\n",
            0o644,
        );
    }
}

/// The host-only marker (outside every root) and the in-root decoy's names.
struct Scene {
    _marker_dir: tempfile::TempDir,
    /// Absolute path of the marker directory on the auditing machine.
    marker: PathBuf,
    host: Plant,
    inroot: Plant,
}

impl Scene {
    fn new() -> Scene {
        let u = unique();
        let d = temp_dir("extwatch-hostonly-");
        let marker = std::fs::canonicalize(d.path()).unwrap();
        let host = Plant {
            name: format!("hostonly-suid-{u}"),
            tool: format!("host secret {u}\n"),
        };
        host.write(&marker);
        Scene {
            _marker_dir: d,
            marker,
            host,
            inroot: Plant {
                name: format!("inroot-{u}"),
                tool: format!("in-root decoy {u}\n"),
            },
        }
    }

    /// A link target for `sub` of the marker: absolute, or relative with enough `..` to climb from
    /// anywhere in the root to the host's `/` (inside the root, `..` stops at the root).
    fn target(&self, sub: &str, absolute: bool) -> String {
        let abs = self.marker.join(sub);
        if absolute {
            abs.display().to_string()
        } else {
            format!(
                "{}{}",
                "../".repeat(40),
                abs.display().to_string().trim_start_matches('/')
            )
        }
    }

    /// A root whose in-root resolution of the marker path holds the decoy.
    fn root(&self) -> tempfile::TempDir {
        let t = temp_dir("extwatch-confine-root");
        let r = t.path();
        self.inroot
            .write(&r.join(self.marker.strip_prefix("/").unwrap()));
        os_release(&r.join("etc"));
        std::fs::create_dir_all(r.join("usr/lib")).unwrap();
        std::fs::create_dir_all(r.join("var/lib")).unwrap();
        t
    }

    /// Runs `test` on a fresh root (see [`Scene::root`]) for each kind of link target: absolute, then
    /// relative.
    fn each_root(&self, mut test: impl FnMut(&Path, bool)) {
        for absolute in [true, false] {
            let t = self.root();
            test(t.path(), absolute);
        }
    }

    /// Nothing of the host marker in `text`: not its file name, not its secret, not the secret's
    /// SHA-256 (as plain file, as image file and as PAM file).
    fn assert_no_leak(&self, what: &str, text: &str) {
        for needle in [
            self.host.name.clone(),
            self.host.tool.trim_end().to_string(),
            sha(self.host.tool.as_bytes()),
            sha(format!("image {}", self.host.tool).as_bytes()),
        ] {
            assert!(
                !text.contains(&needle),
                "{what}: the auditing machine's {needle:?} leaked into the output:\n{}",
                text.chars().take(4000).collect::<String>()
            );
        }
    }
}

fn link(at: &Path, target: &str) {
    std::fs::create_dir_all(at.parent().unwrap()).unwrap();
    if at.symlink_metadata().is_ok() {
        if at.is_dir() && !at.symlink_metadata().unwrap().file_type().is_symlink() {
            std::fs::remove_dir_all(at).unwrap();
        } else {
            std::fs::remove_file(at).unwrap();
        }
    }
    symlink(target, at).unwrap();
}

/// Every entry under `dir` (symlinks not followed) with its metadata: type, mode, owner, size, inode,
/// mtime and ctime (any write, chmod, chown or xattr change moves ctime).
fn snapshot(dir: &Path) -> std::collections::BTreeMap<PathBuf, [i64; 9]> {
    use std::os::unix::fs::MetadataExt;
    let mut out = std::collections::BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(p) = stack.pop() {
        let md = std::fs::symlink_metadata(&p).unwrap();
        if md.file_type().is_dir() {
            for e in std::fs::read_dir(&p).unwrap() {
                stack.push(e.unwrap().path());
            }
        }
        out.insert(
            p,
            [
                i64::from(md.mode()),
                i64::from(md.uid()),
                i64::from(md.gid()),
                md.size() as i64,
                md.ino() as i64,
                md.mtime(),
                md.mtime_nsec(),
                md.ctime(),
                md.ctime_nsec(),
            ],
        );
    }
    out
}

fn findings<'a>(v: &'a Report, id: &str) -> Vec<&'a Finding> {
    v.findings(id)
}

/// A finding as compact JSON, for "does it mention this path/hash anywhere" checks.
fn json_text(f: &Finding) -> String {
    serde_json::to_string(f).expect("serialises")
}

/// A search directory that is a symlink: discovery, the directory image's walk, its evidence hashes
/// and `--baseline` all see the in-root decoy image; `files --root` too.
#[test]
fn symlinked_search_directory_stays_inside_the_root() {
    let s = Scene::new();
    s.each_root(|r, absolute| {
        link(&r.join("var/lib/extensions"), &s.target("ext", absolute));
        write(&r.join("usr/bin/tool"), "base tool\n", 0o755);
        let (before, host_before) = (snapshot(r), snapshot(&s.marker));
        let (all, v, b) = every_command(r);
        s.assert_no_leak(&format!("search dir (absolute: {absolute})"), &all);
        // Neither the root nor the auditing machine's marker was touched.
        assert_eq!(before, snapshot(r), "the audited root changed");
        assert_eq!(host_before, snapshot(&s.marker), "the host marker changed");
        let img = v
            .images
            .iter()
            .find(|i| i.name == "img")
            .unwrap_or_else(|| panic!("the in-root image is listed: {:#?}", v.images));
        assert_eq!(img.format, ImageFormat::Directory);
        // The image's setuid file is the decoy's.
        let suid = findings(&v, "extension-setuid");
        assert!(
            suid.iter().any(|f| json_text(f).contains(&s.inroot.name)),
            "in-root setuid file reported: {suid:?}"
        );
        // Evidence hashes: base side and image side, both in-root (the image side was null before the
        // layer paths were made image paths).
        let sh = findings(&v, "extension-shadows-base");
        let ev = sh
            .iter()
            .find(|f| json_text(f).contains("/usr/bin/tool"))
            .map(|f| json_text(f))
            .unwrap_or_else(|| panic!("img shadows /usr/bin/tool: {sh:?}"));
        assert!(ev.contains(&sha(b"base tool\n")), "{ev}");
        assert!(
            ev.contains(&sha(format!("image {}", s.inroot.tool).as_bytes())),
            "image_sha256 is the in-root image file's: {ev}"
        );
        assert!(b.to_string().contains(&s.inroot.name));
        // `files --root` resolves the image inside the root as well.
        let o = run(&[
            "files".into(),
            "--root".into(),
            r.into(),
            "/var/lib/extensions/img".into(),
            "--hash".into(),
        ]);
        assert_eq!(o.code, 0, "{}", o.stderr);
        s.assert_no_leak("files --root", &format!("{}{}", o.stdout, o.stderr));
        assert!(o.stdout.contains(&s.inroot.name), "{}", o.stdout);
    });
}

/// `/usr` and `/etc` (the bases of the merged views) are symlinks: the base walk, the below-side
/// evidence hashes and the baseline's base manifest are the in-root decoy's.
#[test]
fn symlinked_hierarchies_stay_inside_the_root() {
    let s = Scene::new();
    s.each_root(|r, absolute| {
        // The root's own os-release moves with /etc; the decoy has one.
        std::fs::remove_dir_all(r.join("usr")).unwrap();
        std::fs::remove_dir_all(r.join("etc")).unwrap();
        link(&r.join("usr"), &s.target("usr", absolute));
        link(&r.join("etc"), &s.target("etc", absolute));
        ext_with_tool(r);
        let conf = r.join("var/lib/confexts/conf");
        conf_release(&conf, "conf");
        write(&conf.join("etc/pam.d/sshd"), "conf pam\n", 0o644);
        let (all, v, b) = every_command(r);
        s.assert_no_leak(&format!("/usr and /etc (absolute: {absolute})"), &all);
        let sh = findings(&v, "extension-shadows-base");
        for (path, subject) in [("/usr/bin/tool", "ext"), ("/etc/pam.d/sshd", "conf")] {
            let ev = sh
                .iter()
                .find(|f| f.subject == subject && json_text(f).contains(path))
                .map(|f| json_text(f))
                .unwrap_or_else(|| panic!("{subject} shadows {path}: {sh:?}"));
            assert!(
                ev.contains(&sha(s.inroot.tool.as_bytes())),
                "below_sha256 of {path} is the in-root base's: {ev}"
            );
        }
        let base = b.to_string();
        assert!(
            base.contains(&format!("/usr/bin/{}", s.inroot.name)),
            "the baseline's base is the in-root /usr"
        );
        assert!(base.contains(&sha(s.inroot.tool.as_bytes())));
    });
}

/// A directory inside a directory image that is a symlink (absolute or `../..`): listed as a symlink,
/// never followed — by the audit, `--baseline`, `files --root` and `files DIR`.
#[test]
fn symlinked_directory_inside_a_directory_image_is_not_followed() {
    let s = Scene::new();
    s.each_root(|r, absolute| {
        let ext = r.join("var/lib/extensions/ext");
        ext_release(&ext, "ext");
        link(&ext.join("usr/bin"), &s.target("usr/bin", absolute));
        link(&ext.join("usr/share"), &s.target("usr", absolute));
        link(
            &ext.join("usr/lib/extension-release.d/x"),
            &s.target("etc", absolute),
        );
        let (all, v, b) = every_command(r);
        s.assert_no_leak(
            &format!("inside a directory image (absolute: {absolute})"),
            &all,
        );
        assert!(v.images.iter().any(|i| i.name == "ext"), "{:#?}", v.images);
        // The merged view holds the link itself.
        let bl = b.to_string();
        assert!(bl.contains("\"/usr/bin\""), "{bl}");
        for args in [
            vec![
                "files".into(),
                "--root".into(),
                r.as_os_str().to_owned(),
                "/var/lib/extensions/ext".into(),
            ],
            vec!["files".into(), ext.as_os_str().to_owned()],
        ] {
            for fmt in ["table", "json", "mtree"] {
                let mut a = args.clone();
                a.extend(os(&["--hash", "--format", fmt]));
                let o = run(&a);
                assert_eq!(o.code, 0, "{a:?}: {}", o.stderr);
                s.assert_no_leak(&format!("{a:?}"), &format!("{}{}", o.stdout, o.stderr));
                assert!(o.stdout.contains("usr/bin"), "{}", o.stdout);
            }
        }
    });
}

/// `/etc/verity.d` is a symlink: the host trust store read is the in-root decoy's (its ignored `.pem`
/// is reported; the marker's never is).
#[test]
fn symlinked_verity_d_stays_inside_the_root() {
    let s = Scene::new();
    s.each_root(|r, absolute| {
        link(&r.join("etc/verity.d"), &s.target("verity.d", absolute));
        let (all, v, _) = every_command(r);
        s.assert_no_leak(&format!("verity.d (absolute: {absolute})"), &all);
        let ign = findings(&v, "trust-store-ignored-files");
        assert!(
            ign.iter().any(|f| json_text(f).contains(&s.inroot.name)),
            "the in-root verity.d is read: {ign:?}"
        );
    });
}

// ---------------------------------------------------------------------------------------------
// Device nodes and FIFOs: reported, never opened.

fn mknod(p: &Path, kind: &str, major: u32, minor: u32) {
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    let st = Command::new("mknod")
        .arg(p)
        .args([kind, &major.to_string(), &minor.to_string()])
        .status()
        .unwrap();
    assert!(st.success(), "mknod {} (needs CAP_MKNOD)", p.display());
}

fn mkfifo(p: &Path) {
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    let st = Command::new("mkfifo").arg(p).status().unwrap();
    assert!(st.success(), "mkfifo {}", p.display());
}

/// A real disk of the auditing machine (major, minor), from /proc/partitions; sda's 8:0 otherwise.
fn host_disk() -> (u32, u32) {
    let t = std::fs::read_to_string("/proc/partitions").unwrap_or_default();
    t.lines()
        .skip(2)
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            let name = f.get(3)?;
            if name.starts_with("loop") || name.starts_with("ram") || name.starts_with("zram") {
                return None;
            }
            Some((f.first()?.parse().ok()?, f.get(1)?.parse().ok()?))
        })
        .next()
        .unwrap_or((8, 0))
}

/// inotify `IN_OPEN | IN_ACCESS` on each path; `opened()` lists those that were opened.
struct OpenWatch {
    fd: std::os::fd::OwnedFd,
    wds: Vec<(i32, PathBuf)>,
}

impl OpenWatch {
    fn new(paths: &[PathBuf]) -> OpenWatch {
        use rustix::fs::inotify;
        let fd = inotify::init(inotify::CreateFlags::NONBLOCK | inotify::CreateFlags::CLOEXEC)
            .expect("inotify_init");
        let wds = paths
            .iter()
            .map(|p| {
                let wd = inotify::add_watch(
                    &fd,
                    p.as_path(),
                    inotify::WatchFlags::OPEN
                        | inotify::WatchFlags::ACCESS
                        | inotify::WatchFlags::DONT_FOLLOW,
                )
                .unwrap_or_else(|e| panic!("inotify watch on {}: {e}", p.display()));
                (wd, p.clone())
            })
            .collect();
        OpenWatch { fd, wds }
    }

    fn opened(&self) -> Vec<PathBuf> {
        let mut buf = [std::mem::MaybeUninit::<u8>::uninit(); 8192];
        let mut r = rustix::fs::inotify::Reader::new(&self.fd, &mut buf);
        let mut out = Vec::new();
        while let Ok(ev) = r.next() {
            if let Some((_, p)) = self.wds.iter().find(|(wd, _)| *wd == ev.wd()) {
                out.push(p.clone());
            }
        }
        out
    }
}

#[test]
fn device_nodes_and_fifos_are_reported_never_opened() {
    let t = base_root("extwatch-confine-dev");
    let r = t.path();
    let (dmaj, dmin) = host_disk();
    let ext = ext_with_tool(r);
    // The image replaces a base FIFO with a regular file, and a base file with a FIFO.
    write(&ext.join("usr/bin/was-fifo"), "now a file\n", 0o755);
    let mut nodes: Vec<PathBuf> = Vec::new();
    for dir in [
        r.join("var/lib/extensions"),
        r.join("etc/extensions"),
        ext.join("usr/bin"),
        r.join("usr/bin"),
    ] {
        let null = dir.join("null.raw");
        let disk = dir.join("disk");
        let fifo = dir.join("fifo.raw");
        mknod(&null, "c", 1, 3);
        mknod(&disk, "b", dmaj, dmin);
        mkfifo(&fifo);
        nodes.extend([null, disk, fifo]);
    }
    let was_fifo = r.join("usr/bin/was-fifo");
    mkfifo(&was_fifo);
    let shadow_fifo = ext.join("usr/bin/tool2");
    write(&r.join("usr/bin/tool2"), "base tool2\n", 0o755);
    mkfifo(&shadow_fifo);
    symlink("fifo.raw", r.join("var/lib/extensions/fifo-link.raw")).unwrap();
    symlink("disk", r.join("var/lib/extensions/disk-link")).unwrap();
    nodes.extend([was_fifo, shadow_fifo]);

    let before = snapshot(r);
    let watch = OpenWatch::new(&nodes);
    // The watch sees an open (so an empty list below means something): a non-blocking read open of
    // a FIFO.
    {
        let p = &nodes[2];
        let f = rustix::fs::open(
            p.as_path(),
            rustix::fs::OFlags::RDONLY | rustix::fs::OFlags::NONBLOCK,
            rustix::fs::Mode::empty(),
        )
        .unwrap();
        drop(f);
        assert_eq!(watch.opened(), vec![p.clone()], "inotify reports opens");
    }

    let (all, v, b) = every_command(r);
    let ro = r.as_os_str().to_owned();
    let files_runs: Vec<Vec<OsString>> = vec![
        vec![
            "files".into(),
            "--root".into(),
            ro.clone(),
            "/var/lib/extensions/ext".into(),
            "--hash".into(),
        ],
        vec![
            "files".into(),
            ext.as_os_str().to_owned(),
            "--format".into(),
            "mtree".into(),
        ],
        vec![
            "files".into(),
            "--root".into(),
            ro.clone(),
            "/var/lib/extensions/fifo.raw".into(),
        ],
        vec![
            "files".into(),
            "--root".into(),
            ro.clone(),
            "/var/lib/extensions/disk".into(),
        ],
        vec!["files".into(), r.join("var/lib/extensions/fifo.raw").into()],
        vec!["files".into(), r.join("var/lib/extensions/null.raw").into()],
    ];
    let mut files_out = Vec::new();
    for a in &files_runs {
        files_out.push((a.clone(), run(a)));
    }
    // `verify` of a FIFO: refused at once (it used to block in open).
    let o = run(&[
        "verify".into(),
        r.join("var/lib/extensions/fifo.raw").into(),
    ]);
    assert_eq!(o.code, 1, "{}", o.stderr);
    assert!(o.stdout.contains("is a FIFO"), "{}", o.stdout);
    let opened = watch.opened();
    assert!(
        opened.is_empty(),
        "device nodes or FIFOs were opened: {opened:?}"
    );
    // Nothing in the root changed (type, mode, owner, size, inode, mtime, ctime of every entry).
    assert_eq!(before, snapshot(r), "the audited root changed");

    // Reported: the block device is an image that is not read, the others are warnings (-v).
    let disk_img = v.image("/var/lib/extensions/disk");
    assert_eq!(disk_img.format, ImageFormat::Block);
    let errs = disk_img.errors.join("\n");
    assert!(
        errs.contains(&format!("block device ({dmaj}:{dmin})")) && errs.contains("never opened"),
        "{errs}"
    );
    for p in ["/var/lib/extensions/fifo.raw", "/etc/extensions/fifo.raw"] {
        assert!(
            all.contains(&format!("{p}: is a FIFO")),
            "{p} reported: {all}"
        );
    }
    assert!(all.contains("/var/lib/extensions/null.raw: is a character device (1:3)"));
    // ... and findings of the audit.
    let special: Vec<(String, String)> = v
        .findings("special-file-in-search-path")
        .into_iter()
        .map(|f| {
            (
                f.evidence["path"].as_str().unwrap().to_string(),
                f.evidence["type"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    for (p, what) in [
        ("/var/lib/extensions/fifo.raw", "FIFO"),
        ("/etc/extensions/fifo.raw", "FIFO"),
        ("/var/lib/extensions/null.raw", "character device 1:3"),
    ] {
        assert!(
            special.contains(&(p.to_string(), what.to_string())),
            "{p} ({what}) in {special:?}"
        );
    }
    // Under /usr (the base) and inside the image (the merged view): listed with their types in the
    // baseline's manifests, unhashed.
    let entry = |manifest: &str, p: &str| -> Value {
        b["hierarchies"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|h| h[manifest].as_array().unwrap().iter())
            .find(|e| e["path"] == p)
            .cloned()
            .unwrap_or_else(|| panic!("{p} in the baseline's {manifest}"))
    };
    for manifest in ["base", "merged_view"] {
        for (p, kind) in [
            ("/usr/bin/null.raw", "char"),
            ("/usr/bin/disk", "block"),
            ("/usr/bin/fifo.raw", "fifo"),
        ] {
            let e = entry(manifest, p);
            assert_eq!(e["type"], kind, "{manifest} {p}: {e}");
            assert_eq!(e["sha256"], Value::Null, "{manifest} {p}: {e}");
        }
    }
    assert_eq!(entry("base", "/usr/bin/was-fifo")["type"], "fifo");
    assert_eq!(entry("merged_view", "/usr/bin/was-fifo")["type"], "file");
    assert_eq!(entry("merged_view", "/usr/bin/tool2")["type"], "fifo");
    // `files` of the image lists them; `files` of a FIFO or a device is a clear error, not a hang.
    let (_, listing) = &files_out[0];
    assert_eq!(listing.code, 0, "{}", listing.stderr);
    for n in ["null.raw", "disk", "fifo.raw"] {
        assert!(listing.stdout.contains(n), "{n} in {}", listing.stdout);
    }
    let (_, mtree) = &files_out[1];
    assert!(
        mtree.stdout.contains("./usr/bin/fifo.raw type=fifo"),
        "{}",
        mtree.stdout
    );
    let disk_line = mtree
        .stdout
        .lines()
        .find(|l| l.starts_with("./usr/bin/disk type=block"))
        .unwrap_or_else(|| panic!("{}", mtree.stdout));
    assert!(
        disk_line.ends_with(&format!("device=linux,{dmaj},{dmin}")),
        "{disk_line}"
    );
    for (a, o) in &files_out[2..] {
        assert_eq!(o.code, 2, "{a:?} refuses: {}", o.stderr);
        assert!(o.stderr.contains("never opened"), "{a:?}: {}", o.stderr);
    }
    // Content evidence: the FIFO shadowing /usr/bin/tool2 and the file over the base FIFO carry no
    // hash of a special file.
    let sh = findings(&v, "extension-shadows-base");
    assert!(
        sh.iter().any(|f| json_text(f).contains("/usr/bin/tool\"")
            && json_text(f).contains(&sha(b"ext tool\n"))),
        "{sh:?}"
    );
}

// ---------------------------------------------------------------------------------------------
// Reading beneath the overlay: only a sysext/confext overlay is detached.

/// Runs `script` (sh, `$R` = root, `$X` = extwatch) in a private mount namespace; `None` when this
/// machine does not allow one (exit 77).
fn in_namespace(root: &Path, script: &str) -> Option<Out> {
    let mut c = Command::new("unshare");
    c.args(["-m", "--propagation", "private", "sh", "-ec"])
        .arg(script)
        .env("R", root)
        .env("X", bin())
        .stdin(Stdio::null());
    let o = c.output().expect("unshare");
    match o.status.code() {
        Some(77) => None,
        Some(code) => Some(Out {
            code,
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        }),
        None => panic!("killed: {o:?}"),
    }
}

/// A root with a base /usr/bin/tool, a sysext image `ext` replacing it, and `$UP`, an upper layer
/// holding ext's files for a hand-made merged overlay.
fn merge_root() -> tempfile::TempDir {
    let t = base_root("extwatch-confine-merged");
    let r = t.path();
    write(&r.join("usr/lib/.keep"), "", 0o644);
    ext_with_tool(r);
    t
}

/// Mounts on `$R/usr` what `top` says, writes systemd's marker (dev = the top mount's) and audits
/// with the live mount table. Prints the report.
fn audit_merged(root: &Path, top: &str) -> Option<Out> {
    let script = format!(
        r#"mount -t tmpfs tmpfs /mnt 2>/dev/null || exit 77
mkdir -p /mnt/up/bin /mnt/up/.systemd-sysext /mnt/work
printf 'ext tool\n' > /mnt/up/bin/tool
{top}
mountpoint -d "$R/usr" > /mnt/up/.systemd-sysext/dev
printf 'ext\n' > /mnt/up/.systemd-sysext/extensions
[ -e "$R/usr/.systemd-sysext/dev" ] || cp -r /mnt/up/.systemd-sysext "$R/usr/" 2>/dev/null || true
exec "$X" audit --root "$R" --format json --systemd-version 257 --architecture x86-64 --fail-on none
"#
    );
    in_namespace(root, &script)
}

#[test]
fn base_beneath_a_sysext_overlay_is_read_and_anything_else_is_an_error() {
    let sysext = r#"mount -t overlay sysext -o "lowerdir=/mnt/up:$R/usr" "$R/usr" || exit 77"#;
    // 1. A real sysext overlay: the base is read beneath it.
    let t = merge_root();
    let Some(o) = audit_merged(t.path(), sysext) else {
        eprintln!("no private mount namespace / overlayfs here; skipped");
        return;
    };
    assert_eq!(o.code, 0, "{}", o.stderr);
    let v = reports::report(o.stdout.as_bytes(), &o.stderr);
    assert!(
        v.hierarchies.iter().any(|h| h.merged),
        "{:#?}",
        v.hierarchies
    );
    let sh = findings(&v, "extension-shadows-base");
    assert!(
        sh.iter()
            .any(|f| json_text(f).contains(&sha(b"base tool\n"))),
        "the base beneath the overlay is read: {sh:?} {:#?}",
        v.checks
    );

    // 2. A tmpfs where the overlay should be, and 3. a tmpfs stacked over the sysext overlay: the
    // base cannot be separated — an error naming the mount, never the merged view as the base.
    for top in [
        r#"mount -t tmpfs tmpfs "$R/usr"; mkdir -p "$R/usr/bin"; printf 'ext tool\n' > "$R/usr/bin/tool"
mkdir -p "$R/usr/.systemd-sysext""#
            .to_string(),
        format!(
            r#"{sysext}
mount -t tmpfs tmpfs "$R/usr"; mkdir -p "$R/usr/bin"; printf 'ext tool\n' > "$R/usr/bin/tool"
mkdir -p "$R/usr/.systemd-sysext""#
        ),
    ] {
        let t = merge_root();
        let top = top.replace(
            "mkdir -p \"$R/usr/.systemd-sysext\"",
            "mkdir -p \"$R/usr/.systemd-sysext\"; mountpoint -d \"$R/usr\" > \"$R/usr/.systemd-sysext/dev\"",
        );
        let o = audit_merged(t.path(), &top).expect("namespace worked above");
        assert_eq!(o.code, 0, "{}", o.stderr);
        let v = reports::report(o.stdout.as_bytes(), &o.stderr);
        assert!(v.hierarchies.iter().any(|h| h.merged), "{:#?}", v.hierarchies);
        let checks = serde_json::to_string(&v.checks).expect("serialises");
        assert!(
            checks.contains("not a sysext/confext overlay") && checks.contains("tmpfs"),
            "the base read fails with the reason: {checks}"
        );
        let sh = findings(&v, "extension-shadows-base");
        assert!(
            sh.is_empty(),
            "no shadow findings from the merged view taken as the base: {sh:?}"
        );
    }
}

/// Layer files are hashed by their path in the image (`/usr/bin/tool`), not the hierarchy-relative
/// one (`/bin/tool`): a file identical to the base's has `image_sha256` and `same_content: true`,
/// for a directory image and a squashfs alike.
#[test]
fn identical_layer_file_is_hashed_and_same_content() {
    let t = temp_dir("extwatch-confine-same");
    let r = t.path();
    os_release(&r.join("etc"));
    write(&r.join("usr/bin/tool"), "same\n", 0o755);
    write(&r.join("usr/bin/other"), "base other\n", 0o755);
    let ext = r.join("var/lib/extensions/dir");
    ext_release(&ext, "dir");
    write(&ext.join("usr/bin/tool"), "same\n", 0o755);
    let src = tempfile::tempdir().unwrap();
    let sq = src.path().join("sq");
    ext_release(&sq, "sq");
    write(&sq.join("usr/bin/other"), "changed\n", 0o755);
    let made = Command::new("mksquashfs")
        .arg(&sq)
        .arg(r.join("var/lib/extensions/sq.raw"))
        .args(["-noappend", "-quiet", "-no-progress"])
        .status()
        .is_ok_and(|s| s.success());
    let mut args = os(&["audit", "--root"]);
    args.push(r.into());
    args.extend(os(&["--format", "json", "--fail-on", "none"]));
    args.extend(os(&cli::OFFLINE_HOST));
    let o = run(&args);
    assert_eq!(o.code, 0, "{}", o.stderr);
    let v = reports::report(o.stdout.as_bytes(), &o.stderr);
    let ev = |subject: &str, path: &str| -> Value {
        findings(&v, "extension-shadows-base")
            .into_iter()
            .find(|f| f.subject == subject && json_text(f).contains(path))
            .unwrap_or_else(|| panic!("{subject} shadows {path}: {:#?}", v.findings))
            .evidence
            .clone()
    };
    let e = ev("dir", "/usr/bin/tool");
    assert_eq!(e["image_sha256"], sha(b"same\n"), "{e}");
    assert_eq!(e["below_sha256"], sha(b"same\n"), "{e}");
    assert_eq!(e["same_content"], true, "{e}");
    if made {
        let e = ev("sq", "/usr/bin/other");
        assert_eq!(e["image_sha256"], sha(b"changed\n"), "{e}");
        assert_eq!(e["below_sha256"], sha(b"base other\n"), "{e}");
        assert_eq!(e["same_content"], false, "{e}");
    } else {
        eprintln!("mksquashfs unavailable; squashfs half skipped");
    }
}
