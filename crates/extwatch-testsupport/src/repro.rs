//! Reproducible fixtures: the same image bytes, tree metadata and build times on every run, so that
//! golden files can compare extwatch's output byte for byte instead of normalising it.
//!
//! What varies between two builds of the same content, and how it is fixed here:
//!
//! * **modes**: files written by the test inherit the umask. [`fix_tree`] sets directories to 0755
//!   and files to 0755 (any execute bit set) or 0644, keeping setuid/setgid/sticky bits.
//! * **mtimes**: every entry of the staged tree (symlinks themselves included) gets `epoch`
//!   (`touch -h -d @EPOCH`).
//! * **build times and UUIDs**: [`argv`] adds `mksquashfs -all-time/-mkfs-time`, `mkfs.erofs -T EPOCH -U UUID` (erofs-utils otherwise picks a
//!   random filesystem UUID) and `systemd-repart --seed=UUID` (partition UUIDs, verity salt and the
//!   UUIDs repart passes to mkfs are derived from the seed instead of the machine id or a random one;
//!   repart runs under `SOURCE_DATE_EPOCH=EPOCH`, which it and the mkfs it runs honour).
//!
//! What this cannot fix is left to the caller's normaliser: a signing key made fresh for the run
//! (its certificate and signatures).

use std::fs;
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The UUID given to `mkfs.erofs -U` and `systemd-repart --seed`.
pub const FIXED_UUID: &str = "5f2c9d0e-7a41-4b6e-9c3d-2e8f1a6b4c70";

/// Sets modes and mtimes of `dir` and everything below it (see the module doc).
pub fn fix_tree(dir: &Path, epoch: u64) -> io::Result<()> {
    // An explicit stack: the trees are the test's own, but depth never costs stack.
    let mut stack: Vec<PathBuf> = vec![dir.to_path_buf()];
    while let Some(p) = stack.pop() {
        let md = fs::symlink_metadata(&p)?;
        let ft = md.file_type();
        if ft.is_symlink() {
            continue;
        }
        let special = md.permissions().mode() & 0o7000;
        let mode = if ft.is_dir() {
            for e in fs::read_dir(&p)? {
                stack.push(e?.path());
            }
            0o755
        } else if md.permissions().mode() & 0o111 != 0 {
            0o755
        } else {
            0o644
        };
        fs::set_permissions(&p, fs::Permissions::from_mode(special | mode))?;
    }
    let mut c = Command::new("find");
    c.arg(dir)
        .args(["-exec", "touch", "-h", "-d"])
        .arg(format!("@{epoch}"))
        .args(["{}", "+"]);
    crate::status_ok(
        &mut c,
        format_args!("setting mtimes under {}", dir.display()),
    )
}

/// Sets the mtime of one path (not following a symlink) to `epoch`.
pub fn touch(path: &Path, epoch: u64) -> io::Result<()> {
    let mut c = Command::new("touch");
    c.args(["-h", "-d"]).arg(format!("@{epoch}")).arg(path);
    crate::status_ok(&mut c, format_args!("touch {}", path.display()))
}

/// A build command line (`mksquashfs …`, `mkfs.erofs …`, `systemd-repart …`) made reproducible with
/// the tool's own options for fixed times and UUIDs; systemd-repart (which runs mkfs itself) also
/// under `env SOURCE_DATE_EPOCH=EPOCH`. (mksquashfs refuses the variable together with its options.)
pub fn argv(mut argv: Vec<String>, epoch: u64) -> Vec<String> {
    let e = epoch.to_string();
    match argv.first().map(String::as_str) {
        Some("mksquashfs") => {
            argv.extend(["-all-time".into(), e.clone(), "-mkfs-time".into(), e]);
            argv
        }
        Some("mkfs.erofs") => {
            // Options go before the output and source operands.
            argv.insert(1, format!("-T{e}"));
            argv.insert(2, format!("-U{FIXED_UUID}"));
            argv
        }
        Some("systemd-repart") => {
            argv.insert(1, format!("--seed={FIXED_UUID}"));
            let mut v = vec!["env".to_string(), format!("SOURCE_DATE_EPOCH={e}")];
            v.extend(argv);
            v
        }
        _ => argv,
    }
}
