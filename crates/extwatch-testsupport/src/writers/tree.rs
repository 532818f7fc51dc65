//! The rich source tree (every kind of entry and attribute a reader must get right) and its tars.

use std::fs;
use std::io;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;

use super::run_ok;
use crate::rng::XorShift;

/// What [`build_rich_tree`] could and could not put into the tree.
#[derive(Debug, Clone, Default)]
pub struct TreeInfo {
    /// Things the machine did not allow (e.g. `security.selinux` not settable), for the test's output.
    pub notes: Vec<String>,
    /// Number of entries written (directories included).
    pub entries: usize,
}

fn chmod(p: &Path, mode: u32) -> io::Result<()> {
    fs::set_permissions(p, fs::Permissions::from_mode(mode))
}

/// chown clears setuid/setgid, so ownership first and mode after.
fn own(p: &Path, uid: u32, gid: u32, mode: u32) -> io::Result<()> {
    std::os::unix::fs::lchown(p, Some(uid), Some(gid))?;
    chmod(p, mode)
}

fn write(p: &Path, data: &[u8], mode: u32) -> io::Result<()> {
    fs::write(p, data)?;
    chmod(p, mode)
}

fn bytes_path(dir: &Path, name: &[u8]) -> PathBuf {
    use std::os::unix::ffi::OsStrExt;
    dir.join(std::ffi::OsStr::from_bytes(name))
}

/// A symlink target of exactly `len` bytes made of path components (dangling).
fn long_target(len: usize) -> String {
    let mut s = String::with_capacity(len + 16);
    let mut i = 0u32;
    while s.len() < len {
        s.push_str(&format!("component-{i:04}/"));
        i += 1;
    }
    s.truncate(len);
    if s.ends_with('/') {
        s.pop();
        s.push('x');
    }
    s
}

/// The long symlink targets of the tree (all under `symlinks/long/`, so one writer option can leave
/// them out): 255, 256, 300, 1000 and 4095 bytes.
pub const LONG_SYMLINK_LENGTHS: [usize; 5] = [255, 256, 300, 1000, 4095];

/// Which version of the rich tree an image is made from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum TreeKind {
    /// Everything.
    Full,
    /// Without `symlinks/long/`: controls for readers that refuse long symlink targets, so the rest
    /// of the tree is still checked on them.
    ShortLinks,
    /// The longest names 254 bytes instead of 255: erofs-utils 1.5 fails on 255-byte names
    /// ("Could not format the device: No such file or directory"), an off-by-one of that writer.
    Names254,
}

impl TreeKind {
    /// All kinds.
    pub const ALL: [TreeKind; 3] = [TreeKind::Full, TreeKind::ShortLinks, TreeKind::Names254];

    /// Directory name of this tree.
    pub fn dir_name(self) -> &'static str {
        match self {
            TreeKind::Full => "tree",
            TreeKind::ShortLinks => "tree-short-links",
            TreeKind::Names254 => "tree-names-254",
        }
    }

    /// The tree holds `symlinks/long/`.
    pub fn long_symlinks(self) -> bool {
        self != TreeKind::ShortLinks
    }

    /// Length of the longest names.
    pub fn max_name(self) -> usize {
        if self == TreeKind::Names254 {
            254
        } else {
            255
        }
    }
}

/// A built tree and its tars.
#[derive(Debug, Clone)]
pub struct TreePaths {
    /// The directory.
    pub src: PathBuf,
    /// pax tar with xattrs and GNU sparse files.
    pub tar: PathBuf,
    /// pax tar with xattrs, without sparse encoding (mksquashfs `-tar` cannot read GNU sparse
    /// members: "Failed to read tar file …, the tarfile appears to be truncated or corrupted";
    /// erofs-utils 1.8 `--tar` keeps them as `GNUSparseFile.PID/NAME`).
    pub tar_plain: PathBuf,
}

/// Builds tree `kind` and its tars in `work`.
pub fn build_tree(work: &Path, kind: TreeKind) -> io::Result<(TreePaths, TreeInfo)> {
    let src = work.join(kind.dir_name());
    let info = build_rich_tree(&src, kind)?;
    let tar = work.join(format!("{}.tar", kind.dir_name()));
    let tar_plain = work.join(format!("{}-plain.tar", kind.dir_name()));
    make_tar(&src, &tar, true)?;
    make_tar(&src, &tar_plain, false)?;
    Ok((
        TreePaths {
            src,
            tar,
            tar_plain,
        },
        info,
    ))
}

/// Builds the rich tree `kind` under `root` (created; must not exist). Needs root (device nodes,
/// chown, setcap). Returns notes on what could not be set. The content is deterministic.
///
/// Layout: `bin/` (copies of host binaries, one with a file capability), `sizes/` (block-boundary
/// sizes), `sparse/` (holes and all-zero files), `modes/` (every mode bit on files and directories),
/// `owners/` (large uids/gids), `xattrs/` (user.* and security.selinux), `links/` (hard links),
/// `symlinks/` (short, dangling, non-UTF-8, and `long/` up to 4095 bytes), `names/` (255-byte,
/// non-UTF-8 and odd names), `deep/` (100 levels), `dev/` (char/block devices, FIFO, socket),
/// `bigdir/` (300 entries), `dup/` (identical files).
pub fn build_rich_tree(root: &Path, kind: TreeKind) -> io::Result<TreeInfo> {
    let mut info = TreeInfo::default();
    fs::create_dir_all(root)?;
    chmod(root, 0o755)?;
    let mut rng = XorShift(0x5eed_1234_abcd_0001);
    let d = |rel: &str| -> io::Result<PathBuf> {
        let p = root.join(rel);
        fs::create_dir_all(&p)?;
        chmod(&p, 0o755)?;
        Ok(p)
    };

    // Binaries, one carrying a file capability, one a capability with several sets.
    let bin = d("bin")?;
    let mut copied = 0;
    for b in ["ls", "cat", "env", "true", "gzip"] {
        let src = Path::new("/usr/bin").join(b);
        if src.is_file() && copied < 3 {
            fs::copy(&src, bin.join(b))?;
            chmod(&bin.join(b), 0o755)?;
            copied += 1;
        }
    }
    if copied == 0 {
        write(&bin.join("ls"), &rng.data(150_000), 0o755)?;
    }
    let ping = bin.join("ping-like");
    write(&ping, &rng.data(40_000), 0o755)?;
    run_ok(Command::new("setcap").arg("cap_net_raw+ep").arg(&ping))?;
    let admin = bin.join("admin-tool");
    write(&admin, &rng.data(5_000), 0o750)?;
    run_ok(
        Command::new("setcap")
            .arg("cap_sys_admin,cap_net_bind_service+eip")
            .arg(&admin),
    )?;
    let suid = bin.join("suid-root");
    write(&suid, b"#!/bin/sh\nid\n", 0o4755)?;

    // Block-boundary sizes.
    let sizes = d("sizes")?;
    for n in [
        0usize, 1, 4095, 4096, 4097, 65535, 65536, 65537, 131071, 131072, 131073, 1_048_575,
        1_048_576, 1_048_577,
    ] {
        write(&sizes.join(format!("size-{n}")), &rng.data(n), 0o644)?;
    }

    // Sparse and all-zero files.
    let sparse = d("sparse")?;
    {
        let f = fs::File::create(sparse.join("hole-data-hole"))?;
        use std::os::unix::fs::FileExt;
        f.write_all_at(&rng.data(8192), 1 << 20)?;
        f.set_len((2 << 20) + 8192)?;
        let f = fs::File::create(sparse.join("only-hole-1m"))?;
        f.set_len(1 << 20)?;
        let f = fs::File::create(sparse.join("hole-then-data"))?;
        f.write_all_at(&rng.data(5000), 256 << 10)?;
        let f = fs::File::create(sparse.join("data-then-hole"))?;
        f.write_all_at(&rng.data(70_000), 0)?;
        f.set_len(600_000)?;
    }
    for n in [4096usize, 131_072, 1_048_576] {
        write(&sparse.join(format!("zeros-{n}")), &vec![0u8; n], 0o644)?;
    }

    // Every mode bit, on files and on directories.
    let modes = d("modes")?;
    for bit in 0..12 {
        let m = 1u32 << bit;
        write(&modes.join(format!("bit-{m:04o}")), b"m\n", m)?;
    }
    for m in [0o0000u32, 0o7777, 0o6755, 0o2755, 0o1755, 0o0444] {
        write(&modes.join(format!("file-{m:04o}")), b"m\n", m)?;
    }
    for m in [0o1777u32, 0o2775, 0o0700, 0o0000, 0o7777, 0o0555] {
        let p = modes.join(format!("dir-{m:04o}"));
        fs::create_dir(&p)?;
        fs::write(p.join("inside"), b"i\n")?;
        chmod(&p, m)?;
    }

    // Large and odd owners.
    let owners = d("owners")?;
    for (name, uid, gid, mode) in [
        ("uid-4000000000", 4_000_000_000u32, 4_000_000_001u32, 0o644),
        ("uid-65534", 65534, 65534, 0o600),
        ("uid-65536", 65536, 70000, 0o640),
        ("uid-1000-setuid", 1000, 100, 0o4750),
        ("gid-setgid", 0, 4_294_967_294, 0o2711),
    ] {
        let p = owners.join(name);
        fs::write(&p, name.as_bytes())?;
        own(&p, uid, gid, mode)?;
    }
    let od = owners.join("dir-owned-3000000000");
    fs::create_dir(&od)?;
    fs::write(od.join("f"), b"f\n")?;
    own(&od, 3_000_000_000, 3_000_000_000, 0o750)?;
    symlink("uid-65534", owners.join("link-owned-4000000000"))?;
    std::os::unix::fs::lchown(
        owners.join("link-owned-4000000000"),
        Some(4_000_000_000),
        Some(4_000_000_000),
    )?;

    // xattrs: user.* (not part of the JSON, but they shape the images' xattr tables) and SELinux.
    let xa = d("xattrs")?;
    let xf = xa.join("user-xattrs");
    fs::write(&xf, b"x\n")?;
    crate::fixtures::set_xattr(&xf, "user.comment", "hello")?;
    crate::fixtures::set_xattr(&xf, "user.big", &"b".repeat(3000))?;
    crate::fixtures::set_xattr(&xa, "user.on-dir", "d")?;
    let mut selinux_ok = true;
    for (name, label) in [
        ("selinux-bin", "system_u:object_r:bin_t:s0"),
        ("selinux-etc", "system_u:object_r:etc_t:s0"),
    ] {
        let p = xa.join(name);
        fs::write(&p, name.as_bytes())?;
        if crate::fixtures::set_xattr(&p, "security.selinux", label).is_err() {
            selinux_ok = false;
        }
    }
    let both = xa.join("cap-and-user");
    fs::write(&both, b"c\n")?;
    run_ok(Command::new("setcap").arg("cap_chown+p").arg(&both))?;
    crate::fixtures::set_xattr(&both, "user.also", "1")?;
    if !selinux_ok {
        info.notes.push(
            "security.selinux is not settable here: the tree has no SELinux labels".to_string(),
        );
    }

    // Hard links (one of a file with a capability).
    let links = d("links")?;
    write(&links.join("a"), &rng.data(10_000), 0o644)?;
    fs::hard_link(links.join("a"), links.join("b"))?;
    fs::create_dir(links.join("sub"))?;
    fs::hard_link(links.join("a"), links.join("sub/c"))?;
    fs::hard_link(&ping, links.join("ping-link"))?;
    fs::hard_link(&suid, links.join("suid-link"))?;
    fs::write(links.join("empty"), b"")?;
    fs::hard_link(links.join("empty"), links.join("empty-link"))?;

    // Symlinks.
    let sl = d("symlinks")?;
    symlink("../sizes/size-1", sl.join("relative"))?;
    symlink("/usr/bin/nonexistent", sl.join("dangling-absolute"))?;
    symlink("missing", sl.join("dangling-relative"))?;
    symlink("../modes", sl.join("to-dir"))?;
    symlink("x", sl.join("one-byte"))?;
    symlink(
        bytes_path(Path::new(""), b"tgt-\xff\xfe"),
        sl.join("non-utf8-target"),
    )?;
    if kind.long_symlinks() {
        let long = d("symlinks/long")?;
        for n in LONG_SYMLINK_LENGTHS {
            symlink(long_target(n), long.join(format!("len-{n}")))?;
        }
    }

    // Names.
    let names = d("names")?;
    let max = kind.max_name();
    fs::write(names.join("n".repeat(max)), b"longest\n")?;
    let utf8 = format!("{}{}", "é".repeat(127), "x".repeat(max - 254));
    fs::write(names.join(utf8), b"utf8-longest\n")?;
    fs::create_dir(names.join("d".repeat(max)))?;
    fs::write(
        names.join("d".repeat(max)).join("f".repeat(max)),
        b"nested\n",
    )?;
    for raw in [
        &b"latin1-caf\xe9"[..],
        b"\xff\xfe",
        b"with\nnewline",
        b"sp ace",
        b"back\\slash",
        b"-dash",
        b".hidden",
        b"#hash",
        b"tab\there",
    ] {
        fs::write(bytes_path(&names, raw), raw)?;
    }
    let nd = bytes_path(&names, b"dir-\xc3\x28-invalid");
    fs::create_dir(&nd)?;
    fs::write(nd.join("inside"), b"in\n")?;

    // Deep nesting.
    let mut p = d("deep")?;
    for i in 0..100 {
        p = p.join(format!("level-{i:03}"));
        fs::create_dir(&p)?;
    }
    fs::write(p.join("bottom"), b"deep\n")?;

    // Device nodes, FIFO, socket.
    let dev = d("dev")?;
    for (name, kind, ma, mi) in [
        ("null", "c", 1u32, 3u32),
        ("loop0", "b", 7, 0),
        ("big-numbers", "c", 4095, 1_048_575),
        ("nvme-like", "b", 259, 70_000),
        ("whiteout-like", "c", 0, 0),
    ] {
        run_ok(
            Command::new("mknod")
                .arg(dev.join(name))
                .arg(kind)
                .arg(ma.to_string())
                .arg(mi.to_string()),
        )?;
    }
    run_ok(Command::new("mkfifo").arg(dev.join("fifo")))?;
    chmod(&dev.join("fifo"), 0o620)?;
    drop(std::os::unix::net::UnixListener::bind(dev.join("socket"))?);

    // A big directory (several directory blocks, index entries).
    let big = d("bigdir")?;
    for i in 0..300 {
        let name = format!("entry-{i:04}-{}", "z".repeat(i % 40));
        fs::write(big.join(name), format!("{i}\n").repeat(i % 7 + 1))?;
    }

    // Identical files (squashfs duplicate detection, erofs dedupe).
    let dup = d("dup")?;
    let same = rng.data(200_000);
    fs::write(dup.join("one"), &same)?;
    fs::write(dup.join("two"), &same)?;
    let mut half = same.clone();
    half.truncate(100_000);
    fs::write(dup.join("prefix"), &half)?;

    d("empty-dir")?;

    let out = Command::new("find").arg(root).output()?;
    info.entries = out.stdout.split(|&b| b == b'\n').count().saturating_sub(1);
    Ok(info)
}

/// Makes a pax tar of `src` at `tar` with xattrs (capabilities, SELinux labels), GNU sparse
/// members when `sparse`. Members are named without a leading `./` and the root directory has no
/// member (mksquashfs `-tar` refuses a `.` member). GNU tar skips the socket: a tar cannot hold one.
pub fn make_tar(src: &Path, tar: &Path, sparse: bool) -> io::Result<()> {
    let mut top: Vec<std::ffi::OsString> = fs::read_dir(src)?
        .map(|e| e.map(|e| e.file_name()))
        .collect::<io::Result<_>>()?;
    top.sort();
    let mut cmd = Command::new("tar");
    cmd.args([
        "--create",
        "--format=pax",
        "--xattrs",
        "--xattrs-include=*",
        "--numeric-owner",
    ]);
    if sparse {
        cmd.arg("--sparse");
    }
    let o = cmd
        .arg("--file")
        .arg(tar)
        .arg("-C")
        .arg(src)
        .arg("--")
        .args(&top)
        .output()?;
    // Exit status 1 = "some files differ/were skipped" (the socket); 2 = fatal.
    if o.status.code().is_some_and(|c| c <= 1) && tar.exists() {
        return Ok(());
    }
    Err(io::Error::other(format!(
        "tar failed ({}): {}",
        o.status,
        String::from_utf8_lossy(&o.stderr)
    )))
}
