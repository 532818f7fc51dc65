//! One rich source tree, images of it made by many writers with many options, and read-only kernel
//! mounts of those images: the pieces of the reader-conformance suite (issue 14,
//! `crates/extwatch/tests/it/reader_conformance.rs`).
//!
//! # Why
//!
//! extwatch reads squashfs, erofs and DDIs without mounting them. The images it meets are made by
//! many build pipelines, not only by the one writer and default options the reader tests use, and a
//! valid image extwatch cannot read (or reads wrongly) is an image whose content it cannot audit.
//! So the suite builds one tree that holds every kind of entry and attribute a reader must get right
//! ([`build_rich_tree`]), images of it with every writer and option this machine has ([`variants`],
//! [`build_variant`]), and a referee: the kernel itself, mounting each image read-only in a private
//! mount namespace ([`KernelMount`]). Writers drop or change things legitimately (a tar cannot hold
//! a socket, `-no-xattrs` drops capabilities) and readers other than the kernel have bugs of their
//! own (`rdsquashfs` overflows on some 1 MiB-block images, `fsck.erofs` 1.8.6 truncates trailing holes
//! of chunk-based files), so the kernel's view is the truth wherever the kernel can mount the image.
//!
//! # Writers
//!
//! * `mksquashfs` of the host (squashfs-tools 4.5) with every compressor it lists, block sizes 4 KiB,
//!   128 KiB and 1 MiB, uncompressed (`-noI -noD -noF -noX`), `-no-fragments`,
//!   `-always-use-fragments`, `-no-xattrs`, and `-tar` (a pax tar of the tree on stdin); squashfs-tools
//!   4.6 of the trixie root for one image.
//! * squashfs-tools-ng `gensquashfs --pack-dir` and `tar2sqfs`, every compressor.
//! * erofs-utils 1.5 (`mkfs.erofs` of the host) and 1.8 (the trixie root, via
//!   [`crate::runner::trixie_exec`]) with lz4, lz4hc, lzma, deflate, zstd, `-E ztailpacking`,
//!   `-E fragments`, `-E all-fragments`, `-E dedupe`, big physical clusters (`-C`), chunk-based files
//!   (`--chunksize`), block sizes 1–4 KiB (`-b`) and `--tar=f`.
//! * DDIs: a GPT made by `sfdisk` with one root-x86-64 or usr-x86-64 partition holding one of the
//!   images above, and DDIs made by `systemd-repart` 257 from the tree (`Format=squashfs`/`erofs`;
//!   repart leaves device nodes, FIFOs and sockets out).
//!
//! # Tree kinds
//!
//! [`TreeKind::Full`] is the tree every variant should be made from. Two reduced copies exist
//! because of writer and reader limits, not to hide them: [`TreeKind::Names254`] for erofs-utils
//! 1.5, which cannot write a 255-byte name, and [`TreeKind::ShortLinks`] (no symlink targets of
//! 255 bytes or more) for the `*-short-links` control variants, which check everything else on
//! readers that refuse long symlink targets.
//!
//! # The kernel mount
//!
//! [`KernelMount::mount`] starts `unshare -m --propagation private sh -c 'mount -o ro,loop …; exec
//! sleep'`; the mount lives only in that process's namespace, and the test walks it through
//! `/proc/PID/root/MOUNTPOINT` (which resolves in that namespace). Dropping the [`KernelMount`] kills
//! the process (by its id), which tears the namespace, the mount and the loop device down.

use std::fs;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use crate::runner::trixie_exec;

/// What [`build_rich_tree`] could and could not put into the tree.
#[derive(Debug, Clone, Default)]
pub struct TreeInfo {
    /// Things the machine did not allow (e.g. `security.selinux` not settable), for the test's output.
    pub notes: Vec<String>,
    /// Number of entries written (directories included).
    pub entries: usize,
}

/// Deterministic pseudo-random bytes (xorshift64).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    /// `n` bytes that compress somewhat (16-letter alphabet with runs), like real files.
    fn data(&mut self, n: usize) -> Vec<u8> {
        let mut v = Vec::with_capacity(n);
        while v.len() < n {
            let r = self.next();
            let run = (r >> 60) as usize % 3 + 1;
            for _ in 0..run {
                if v.len() < n {
                    v.push(b'a' + (r % 16) as u8);
                }
            }
        }
        v
    }
}

fn run_ok(cmd: &mut Command) -> io::Result<()> {
    let o = cmd.output()?;
    if o.status.success() {
        return Ok(());
    }
    Err(io::Error::other(format!(
        "{cmd:?} failed ({}): {}{}",
        o.status,
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )))
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
    let mut rng = Rng(0x5eed_1234_abcd_0001);
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

/// The file system inside an image.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FsType {
    /// squashfs.
    Squashfs,
    /// erofs.
    Erofs,
}

impl FsType {
    /// The kernel's name.
    pub fn as_str(self) -> &'static str {
        match self {
            FsType::Squashfs => "squashfs",
            FsType::Erofs => "erofs",
        }
    }
}

/// Where a writer runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Host {
    /// This machine's tool.
    Host,
    /// The tool of the trixie root (squashfs-tools 4.6, erofs-utils 1.8), via chroot.
    Trixie,
}

/// How an image is made.
#[derive(Debug, Clone)]
pub enum Recipe {
    /// `argv` with `{src}`, `{tar}`, `{tar_plain}` and `{out}` replaced (see [`TreePaths`]).
    Tool {
        /// Where the tool runs.
        host: Host,
        /// Command line with placeholders.
        argv: Vec<String>,
        /// A placeholder (`{tar}`, `{tar_plain}`) whose file is fed on stdin.
        stdin: Option<&'static str>,
    },
    /// A GPT (made with sfdisk) with one partition of `part_type` holding the image of variant
    /// `inner` (which must come earlier in the list).
    Ddi {
        /// The wrapped variant's name.
        inner: String,
        /// GPT partition type UUID.
        part_type: &'static str,
        /// True for a `/usr` partition (extwatch shows its tree under `/usr`).
        usr: bool,
    },
    /// A DDI made by `systemd-repart` 257 (trixie root) from the tree: one root-x86-64 partition
    /// with `Format=` squashfs or erofs, `CopyFiles=/:/`, `Minimize=best` (repart runs the
    /// trixie mksquashfs / mkfs.erofs with its own options).
    Repart,
}

/// One writer variant.
#[derive(Debug, Clone)]
pub struct Variant {
    /// Short unique name (`mksquashfs-xz-1m`, `erofs18-lzma-fragments`, `ddi-root-squashfs`, …).
    pub name: String,
    /// The file system inside.
    pub fs: FsType,
    /// How it is made.
    pub recipe: Recipe,
    /// For an image the kernel cannot mount (squashfs lzma): the variant made the same way with
    /// another compressor, whose kernel view is the truth for this one too.
    pub proxy: Option<String>,
    /// The tree it is made from.
    pub tree: TreeKind,
}

/// root-x86-64 GPT partition type.
pub const ROOT_X86_64: &str = "4f68bce3-e8cd-4db1-96e7-fbcaf984b709";
/// usr-x86-64 GPT partition type.
pub const USR_X86_64: &str = "8484680c-9521-48c6-9c11-b0720656f69e";

fn tool(host: Host, argv: &[&str]) -> Recipe {
    Recipe::Tool {
        host,
        argv: argv.iter().map(|s| s.to_string()).collect(),
        stdin: None,
    }
}

fn tool_stdin(host: Host, argv: &[&str], stdin: &'static str) -> Recipe {
    Recipe::Tool {
        host,
        argv: argv.iter().map(|s| s.to_string()).collect(),
        stdin: Some(stdin),
    }
}

fn variant(name: &str, fs: FsType, recipe: Recipe) -> Variant {
    Variant {
        name: name.into(),
        fs,
        recipe,
        proxy: None,
        tree: TreeKind::Full,
    }
}

/// Compressors a squashfs-tools(-ng) binary lists in its help text (the names after a
/// "Compressors available" / "Available SquashFS block compressors" line, one per tab-indented line).
pub fn listed_compressors(program: &str, help_arg: &str) -> Vec<String> {
    let Ok(o) = Command::new(program).arg(help_arg).output() else {
        return Vec::new();
    };
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    let mut out = Vec::new();
    let mut on = false;
    for line in text.lines() {
        if line.contains("ompressors available") || line.contains("SquashFS block compressors") {
            on = true;
            continue;
        }
        if on {
            let t = line.trim();
            if t.is_empty() || !line.starts_with('\t') {
                if !out.is_empty() {
                    break;
                }
                continue;
            }
            if let Some(name) = t.split_whitespace().next() {
                if name.chars().all(|c| c.is_ascii_alphanumeric()) {
                    out.push(name.to_string());
                }
            }
        }
    }
    out
}

const MKSQ: [&str; 6] = [
    "mksquashfs",
    "{src}",
    "{out}",
    "-noappend",
    "-quiet",
    "-no-progress",
];

/// Every writer variant this suite builds. `ng` says whether squashfs-tools-ng is installed.
pub fn variants(ng: bool) -> Vec<Variant> {
    use FsType::{Erofs, Squashfs};
    use Host::{Host as H, Trixie as T};
    let mut v = Vec::new();
    let mks = |host: Host, extra: &[&str]| -> Recipe {
        let mut a = MKSQ.to_vec();
        a.extend_from_slice(extra);
        tool(host, &a)
    };
    let mut comps = listed_compressors("mksquashfs", "-help");
    if comps.is_empty() {
        comps = ["gzip", "lzo", "lz4", "xz", "zstd", "lzma"]
            .map(String::from)
            .to_vec();
    }
    for c in &comps {
        let mut x = variant(
            &format!("mksquashfs-{c}"),
            Squashfs,
            mks(H, &["-comp", c.as_str()]),
        );
        if c == "lzma" {
            x.proxy = Some("mksquashfs-gzip".into());
        }
        v.push(x);
    }
    for (name, extra) in [
        ("mksquashfs-gzip-4k", &["-b", "4K"][..]),
        ("mksquashfs-xz-1m", &["-comp", "xz", "-b", "1M"]),
        ("mksquashfs-uncompressed", &["-noI", "-noD", "-noF", "-noX"]),
        ("mksquashfs-no-fragments", &["-no-fragments"]),
        ("mksquashfs-always-fragments", &["-always-use-fragments"]),
        ("mksquashfs-tailends-4k", &["-tailends", "-b", "4K"]),
        ("mksquashfs-no-xattrs", &["-no-xattrs"]),
        ("mksquashfs-no-sparse-lz4", &["-no-sparse", "-comp", "lz4"]),
    ] {
        v.push(variant(name, Squashfs, mks(H, extra)));
    }
    let mks_tar = [
        "mksquashfs",
        "-",
        "{out}",
        "-tar",
        "-noappend",
        "-quiet",
        "-no-progress",
        "-comp",
        "zstd",
    ];
    v.push(variant(
        "mksquashfs-tar-zstd",
        Squashfs,
        tool_stdin(H, &mks_tar, "{tar_plain}"),
    ));
    v.push(variant(
        "mksquashfs46-xz",
        Squashfs,
        mks(T, &["-comp", "xz"]),
    ));
    let gen = |c: &str, extra: &[&str]| -> Recipe {
        let mut a = vec![
            "gensquashfs",
            "--pack-dir",
            "{src}",
            "--keep-xattr",
            "--keep-time",
            "--quiet",
            "--force",
            "-c",
            c,
        ];
        a.extend_from_slice(extra);
        a.push("{out}");
        tool(H, &a)
    };
    let t2s = |c: &str| -> Recipe {
        tool_stdin(
            H,
            &["tar2sqfs", "--quiet", "--force", "-c", c, "{out}"],
            "{tar}",
        )
    };
    if ng {
        let mut ng_comps = listed_compressors("tar2sqfs", "--help");
        if ng_comps.is_empty() {
            ng_comps = ["gzip", "lzma", "lzo", "xz", "lz4", "zstd"]
                .map(String::from)
                .to_vec();
        }
        for c in &ng_comps {
            let mut x = variant(&format!("gensquashfs-{c}"), Squashfs, gen(c, &[]));
            if c == "lzma" {
                x.proxy = Some("gensquashfs-gzip".into());
            }
            v.push(x);
            let mut x = variant(&format!("tar2sqfs-{c}"), Squashfs, t2s(c));
            if c == "lzma" {
                x.proxy = Some("tar2sqfs-gzip".into());
            }
            v.push(x);
        }
        v.push(variant(
            "gensquashfs-zstd-1m-no-tailpack",
            Squashfs,
            gen("zstd", &["-b", "1048576", "--no-tail-packing"]),
        ));
    }
    // Controls: the tree without the long symlinks, so that the rest of the tree is checked on
    // readers that refuse long symlink targets (one per writer, the odd block sizes included).
    let mut controls = vec![
        ("mksquashfs-gzip-short-links", mks(H, &[])),
        ("mksquashfs-gzip-1m-short-links", mks(H, &["-b", "1M"])),
        (
            "mksquashfs-lz4-4k-uncompressed-short-links",
            mks(
                H,
                &["-comp", "lz4", "-b", "4K", "-noI", "-noD", "-noF", "-noX"],
            ),
        ),
        (
            "mksquashfs-tar-zstd-short-links",
            tool_stdin(H, &mks_tar, "{tar_plain}"),
        ),
    ];
    if ng {
        controls.push(("gensquashfs-zstd-short-links", gen("zstd", &[])));
        controls.push(("tar2sqfs-xz-short-links", t2s("xz")));
    }
    for (name, recipe) in controls {
        let mut x = variant(name, Squashfs, recipe);
        x.tree = TreeKind::ShortLinks;
        v.push(x);
    }

    let erofs = |host: Host, extra: &[&str]| -> Recipe {
        let mut a = vec!["mkfs.erofs", "--quiet"];
        a.extend_from_slice(extra);
        a.push("{out}");
        a.push("{src}");
        tool(host, &a)
    };
    for (name, extra) in [
        ("erofs15-plain", &[][..]),
        ("erofs15-lz4", &["-zlz4"]),
        ("erofs15-lz4hc", &["-zlz4hc"]),
        ("erofs15-lz4hc-ztailpacking", &["-zlz4hc", "-Eztailpacking"]),
        ("erofs15-lz4-C65536", &["-zlz4", "-C65536"]),
        ("erofs15-chunk-4k", &["--chunksize=4096"]),
        ("erofs15-no-xattrs", &["-x-1"]),
    ] {
        let mut x = variant(name, Erofs, erofs(H, extra));
        x.tree = TreeKind::Names254;
        v.push(x);
    }
    for (name, extra) in [
        ("erofs18-plain", &[][..]),
        ("erofs18-lz4", &["-zlz4"]),
        ("erofs18-lz4hc", &["-zlz4hc"]),
        ("erofs18-lzma", &["-zlzma"]),
        ("erofs18-deflate", &["-zdeflate"]),
        ("erofs18-libdeflate", &["-zlibdeflate"]),
        ("erofs18-zstd", &["-zzstd"]),
        ("erofs18-lz4hc-ztailpacking", &["-zlz4hc", "-Eztailpacking"]),
        ("erofs18-lz4-fragments", &["-zlz4", "-Efragments"]),
        // The pair of issue 14: lzma with big clusters and tail packing, with and without fragments.
        (
            "erofs18-lzma-C64k-ztailpacking",
            &["-zlzma", "-C65536", "-Eztailpacking"],
        ),
        (
            "erofs18-lzma-fragments",
            &["-zlzma", "-C65536", "-Eztailpacking,fragments"],
        ),
        ("erofs18-zstd-all-fragments", &["-zzstd", "-Eall-fragments"]),
        ("erofs18-lz4hc-dedupe", &["-zlz4hc", "-Ededupe"]),
        ("erofs18-lz4hc-C65536", &["-zlz4hc", "-C65536"]),
        ("erofs18-lzma-C1m", &["-zlzma", "-C1048576"]),
        ("erofs18-chunk-4k", &["--chunksize=4096"]),
        ("erofs18-chunk-64k", &["--chunksize=65536"]),
        ("erofs18-b1024", &["-b1024"]),
        ("erofs18-b2048-lz4", &["-b2048", "-zlz4"]),
        (
            "erofs18-b1024-zstd-ztailpacking",
            &["-b1024", "-zzstd", "-Eztailpacking"],
        ),
        ("erofs18-no-xattrs", &["-x-1"]),
    ] {
        v.push(variant(name, Erofs, erofs(T, extra)));
    }
    // From the plain tar: erofs-utils 1.8 `--tar` stores GNU sparse (pax 1.0) members as
    // `GNUSparseFile.PID/NAME` with the encoded map as content (the kernel shows the same), so the
    // sparse tar would test nothing but that.
    v.push(variant(
        "erofs18-tar-lz4hc",
        Erofs,
        tool(
            T,
            &[
                "mkfs.erofs",
                "--quiet",
                "--tar=f",
                "-zlz4hc",
                "{out}",
                "{tar_plain}",
            ],
        ),
    ));

    for (name, inner, fs, part_type, usr) in [
        (
            "ddi-root-squashfs",
            "mksquashfs-zstd",
            Squashfs,
            ROOT_X86_64,
            false,
        ),
        (
            "ddi-root-squashfs-short-links",
            "mksquashfs-gzip-short-links",
            Squashfs,
            ROOT_X86_64,
            false,
        ),
        ("ddi-root-erofs", "erofs18-lz4hc", Erofs, ROOT_X86_64, false),
        (
            "ddi-usr-squashfs",
            "mksquashfs-xz",
            Squashfs,
            USR_X86_64,
            true,
        ),
        ("ddi-usr-erofs", "erofs18-zstd", Erofs, USR_X86_64, true),
    ] {
        let mut x = variant(
            name,
            fs,
            Recipe::Ddi {
                inner: inner.into(),
                part_type,
                usr,
            },
        );
        if name.ends_with("-short-links") {
            x.tree = TreeKind::ShortLinks;
        }
        v.push(x);
    }
    v.push(variant("ddi-repart-squashfs", Squashfs, Recipe::Repart));
    let mut x = variant("ddi-repart-squashfs-short-links", Squashfs, Recipe::Repart);
    x.tree = TreeKind::ShortLinks;
    v.push(x);
    v.push(variant("ddi-repart-erofs", Erofs, Recipe::Repart));
    v
}

/// Byte offset of the file system inside a DDI made by [`build_variant`].
pub const DDI_FS_OFFSET: u64 = 2048 * 512;

/// Builds `v` at `out` from `tree` (the paths of `v.tree`). `built` finds the image of an earlier
/// variant (for DDIs). `work` must contain the tree, its tars and `out` (it is bound into the chroot).
/// Returns the byte offset of the file system inside `out` (0 unless a DDI).
pub fn build_variant(
    v: &Variant,
    tree: &TreePaths,
    out: &Path,
    work: &Path,
    trixie: &Path,
    built: &dyn Fn(&str) -> Option<PathBuf>,
) -> io::Result<u64> {
    let _ = fs::remove_file(out);
    match &v.recipe {
        Recipe::Tool { host, argv, stdin } => {
            let fill = |a: &str| -> String {
                a.replace("{src}", &tree.src.to_string_lossy())
                    .replace("{tar_plain}", &tree.tar_plain.to_string_lossy())
                    .replace("{tar}", &tree.tar.to_string_lossy())
                    .replace("{out}", &out.to_string_lossy())
            };
            let argv: Vec<String> = argv.iter().map(|a| fill(a)).collect();
            let stdin = stdin.map(|s| PathBuf::from(fill(s)));
            let o = match host {
                Host::Host => {
                    let mut c = Command::new(&argv[0]);
                    c.args(&argv[1..]);
                    match &stdin {
                        Some(p) => c.stdin(fs::File::open(p)?),
                        None => c.stdin(Stdio::null()),
                    };
                    c.output()?
                }
                Host::Trixie => {
                    let mut argv = argv.clone();
                    if let Some(p) = &stdin {
                        let line = argv
                            .iter()
                            .map(|a| crate::shell_quote(a))
                            .collect::<Vec<_>>()
                            .join(" ");
                        argv = vec![
                            "sh".into(),
                            "-c".into(),
                            format!("{line} < {}", crate::shell_quote_path(p)),
                        ];
                    }
                    trixie_exec(trixie, &[work], &argv)?
                }
            };
            if !o.status.success() || !out.exists() {
                return Err(io::Error::other(format!(
                    "{} failed ({}): {}{}",
                    argv.join(" "),
                    o.status,
                    String::from_utf8_lossy(&o.stdout),
                    String::from_utf8_lossy(&o.stderr)
                )));
            }
            Ok(0)
        }
        Recipe::Repart => {
            let defs = out.with_extension("repart.d");
            let _ = fs::remove_dir_all(&defs);
            fs::create_dir_all(&defs)?;
            fs::write(
                defs.join("10-root.conf"),
                format!(
                    "[Partition]\nType=root-x86-64\nFormat={}\nCopyFiles=/:/\nMinimize=best\n",
                    v.fs.as_str()
                ),
            )?;
            let s = |p: &Path| p.to_string_lossy().into_owned();
            let argv: Vec<String> = vec![
                "systemd-repart".into(),
                "--empty=create".into(),
                "--size=auto".into(),
                "--dry-run=no".into(),
                "--offline=yes".into(),
                "--no-pager".into(),
                format!("--definitions={}", s(&defs)),
                format!("--copy-source={}", s(&tree.src)),
                s(out),
            ];
            let o = trixie_exec(trixie, &[work], &argv)?;
            if !o.status.success() || !out.exists() {
                return Err(io::Error::other(format!(
                    "{} failed ({}): {}{}",
                    argv.join(" "),
                    o.status,
                    String::from_utf8_lossy(&o.stdout),
                    String::from_utf8_lossy(&o.stderr)
                )));
            }
            first_partition_offset(out)
        }
        Recipe::Ddi {
            inner, part_type, ..
        } => {
            let img = built(inner).ok_or_else(|| {
                io::Error::other(format!("DDI {}: inner image {inner} was not built", v.name))
            })?;
            let len = fs::metadata(&img)?.len();
            let sectors = len.div_ceil(512).max(8);
            let total = DDI_FS_OFFSET + sectors * 512 + 2048 * 512;
            fs::File::create(out)?.set_len(total)?;
            let mut child = Command::new("sfdisk")
                .arg("-q")
                .arg(out)
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()?;
            if let Some(mut i) = child.stdin.take() {
                i.write_all(
                    format!(
                        "label: gpt\nstart=2048, size={sectors}, type={part_type}, name=\"{}\"\n",
                        v.name
                    )
                    .as_bytes(),
                )?;
            }
            let o = child.wait_with_output()?;
            if !o.status.success() {
                return Err(io::Error::other(format!(
                    "sfdisk failed: {}",
                    String::from_utf8_lossy(&o.stderr)
                )));
            }
            let data = fs::read(&img)?;
            use std::os::unix::fs::FileExt;
            fs::OpenOptions::new()
                .write(true)
                .open(out)?
                .write_all_at(&data, DDI_FS_OFFSET)?;
            Ok(DDI_FS_OFFSET)
        }
    }
}

/// Byte offset of the first partition of a GPT image, from `sfdisk --json`.
fn first_partition_offset(img: &Path) -> io::Result<u64> {
    let o = Command::new("sfdisk").arg("--json").arg(img).output()?;
    let v: serde_json::Value = serde_json::from_slice(&o.stdout)
        .map_err(|e| io::Error::other(format!("sfdisk --json {}: {e}", img.display())))?;
    let table = &v["partitiontable"];
    let sector = table["sectorsize"].as_u64().unwrap_or(512);
    table["partitions"][0]["start"]
        .as_u64()
        .map(|start| start * sector)
        .ok_or_else(|| io::Error::other(format!("{}: no partition in {v}", img.display())))
}

/// A read-only kernel mount of an image, alive in a private mount namespace for as long as this
/// value lives. Walk it through [`KernelMount::path`].
#[derive(Debug)]
pub struct KernelMount {
    child: Child,
    path: PathBuf,
}

impl KernelMount {
    /// Mounts `image` (the file system starting `offset` bytes in) read-only on `mountpoint` (created)
    /// inside a new private mount namespace. `Err` carries mount's message.
    pub fn mount(
        image: &Path,
        fs: FsType,
        offset: u64,
        mountpoint: &Path,
    ) -> io::Result<KernelMount> {
        fs::create_dir_all(mountpoint)?;
        let script = "mount -t \"$1\" -o \"ro,loop,offset=$2\" \"$3\" \"$4\" || exit 3\necho mounted\nexec sleep 3600\n";
        let mut child = Command::new("unshare")
            .args(["-m", "--propagation", "private", "sh", "-c", script, "sh"])
            .arg(fs.as_str())
            .arg(offset.to_string())
            .arg(image)
            .arg(mountpoint)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()?;
        let mut line = String::new();
        if let Some(out) = child.stdout.as_mut() {
            BufReader::new(out).read_line(&mut line)?;
        }
        if line.trim() != "mounted" {
            let _ = child.wait();
            let mut err = String::new();
            if let Some(e) = child.stderr.as_mut() {
                let _ = e.read_to_string(&mut err);
            }
            let err = err.trim();
            return Err(io::Error::other(if err.is_empty() {
                "mount failed without a message".to_string()
            } else {
                err.to_string()
            }));
        }
        let path = PathBuf::from(format!("/proc/{}/root", child.id()))
            .join(mountpoint.strip_prefix("/").unwrap_or(mountpoint));
        // The mount is visible there once `mounted` was printed; check it is a directory.
        let md = fs::metadata(&path)?;
        if !md.is_dir() {
            return Err(io::Error::other(format!(
                "{} is not a directory",
                path.display()
            )));
        }
        Ok(KernelMount { child, path })
    }

    /// The mounted tree as seen from this process.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for KernelMount {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
