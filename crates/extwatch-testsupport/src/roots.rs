//! Small offline roots and images for the CLI and hostile-input tests, built by hand (no systemd
//! tools): what the hostile suites each wrote again (`write`, `link`, `base_root`, `sysext_tree`)
//! and the host-tool runners they share (`tool`, `run_ok`, `mksquashfs`, `mkfs_erofs`).
//! Every helper panics on failure: these are test fixtures, and a failed fixture is a failed test.

use std::os::unix::fs::{symlink, FileTypeExt};
use std::path::Path;
use std::process::Command;

/// The name the `files` report gives a file type (`dir`, `file`, `symlink`, `char`, `block`, `fifo`,
/// `socket`), for comparing a tree on disk with what extwatch read.
pub fn type_name(ft: std::fs::FileType) -> &'static str {
    if ft.is_dir() {
        "dir"
    } else if ft.is_file() {
        "file"
    } else if ft.is_symlink() {
        "symlink"
    } else if ft.is_char_device() {
        "char"
    } else if ft.is_block_device() {
        "block"
    } else if ft.is_fifo() {
        "fifo"
    } else {
        "socket"
    }
}

/// Writes `data` at `p`, parents created.
pub fn write(p: &Path, data: impl AsRef<[u8]>) {
    if let Some(parent) = p.parent() {
        std::fs::create_dir_all(parent)
            .unwrap_or_else(|e| panic!("mkdir {}: {e}", parent.display()));
    }
    std::fs::write(p, data).unwrap_or_else(|e| panic!("write {}: {e}", p.display()));
}

/// A symlink at `at` (parents created) pointing to `target` (verbatim).
pub fn link(at: &Path, target: &str) {
    if let Some(parent) = at.parent() {
        std::fs::create_dir_all(parent)
            .unwrap_or_else(|e| panic!("mkdir {}: {e}", parent.display()));
    }
    symlink(target, at).unwrap_or_else(|e| panic!("symlink {}: {e}", at.display()));
}

/// A temporary Debian 13 root (`/etc/os-release`, `/usr/lib`), its directory named `PREFIX…`.
pub fn base_root(prefix: &str) -> tempfile::TempDir {
    let t = tempfile::Builder::new()
        .prefix(prefix)
        .tempdir()
        .expect("tempdir");
    write(
        &t.path().join("etc/os-release"),
        "ID=debian\nVERSION_ID=13\n",
    );
    std::fs::create_dir_all(t.path().join("usr/lib")).expect("usr/lib");
    t
}

/// A sysext directory tree: `usr/lib/extension-release.d/extension-release.NAME` and one binary
/// `usr/bin/NAME`.
pub fn sysext_tree(dir: &Path, name: &str, release: impl AsRef<[u8]>) {
    write(
        &dir.join(format!(
            "usr/lib/extension-release.d/extension-release.{name}"
        )),
        release,
    );
    write(&dir.join(format!("usr/bin/{name}")), "#!/bin/sh\n");
}

/// A host tool (`$PATH`, `/usr/sbin`, `/sbin`); panics naming `scripts/setup.sh --test` when absent.
pub fn tool(name: &str) -> Command {
    let found = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).any(|d| d.join(name).is_file()))
        .unwrap_or(false)
        || Path::new("/usr/sbin").join(name).is_file();
    assert!(
        found,
        "{name} is required to build fixtures: run scripts/setup.sh --test"
    );
    let mut c = Command::new(name);
    c.env(
        "PATH",
        format!(
            "{}:/usr/sbin:/sbin",
            std::env::var("PATH").unwrap_or_default()
        ),
    );
    c
}

/// Runs `c`; panics with its stderr when it fails.
pub fn run_ok(mut c: Command) {
    let out = c.output().unwrap_or_else(|e| panic!("{c:?}: {e}"));
    assert!(
        out.status.success(),
        "{c:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The host's `mksquashfs SRC OUT -comp COMP`.
pub fn mksquashfs(src: &Path, out: &Path, comp: &str) {
    let mut c = tool("mksquashfs");
    c.arg(src)
        .arg(out)
        .args(["-noappend", "-quiet", "-no-progress", "-comp", comp]);
    run_ok(c);
}

/// The host's `mkfs.erofs --quiet EXTRA… OUT SRC`.
pub fn mkfs_erofs(src: &Path, out: &Path, extra: &[&str]) {
    let mut c = tool("mkfs.erofs");
    c.arg("--quiet").args(extra).arg(out).arg(src);
    run_ok(c);
}
