//! Test support for extwatch: fixtures built with **real tools** and a runner for **real systemd**.
//!
//! Nothing here is shipped; it exists so that integration tests can prove that extwatch's verdicts equal
//! those of the systemd it models (docs/design.md §6, docs/systemd.md §11).
//!
//! # Pieces
//!
//! * [`Env`]: finds what the tests need: root privileges, a working `unshare -m`, the cached Debian
//!   trixie root with systemd 257 (`scripts/trixie-root.sh` builds it; path from `$EXTWATCH_TRIXIE`, default
//!   `/var/cache/extwatch/trixie`) and the host's own `/usr/bin/systemd-sysext` (252 on Debian 12).
//!   [`Env::detect_or_skip`] implements the CI rule: when `EXTWATCH_REQUIRE_SYSTEMD=1` is set, anything
//!   missing is a failure (panic); otherwise the caller gets `None` and a skip message on stderr.
//! * [`fixtures`]: [`fixtures::Image`] describes an extension image's content (extension-release files
//!   with or without the `user.extension-release.strict` xattr, an `/usr/lib/os-release`, plain files);
//!   [`fixtures::Fixtures::materialize`] writes it as a directory image or builds it with `mksquashfs`,
//!   `mkfs.erofs` (both from the trixie root, compressor chosen by the caller) or `systemd-repart` 257
//!   (a GPT DDI with a root-x86-64, usr-x86-64 or linux-generic partition). Built files are cached per
//!   content and copied, so many roots can share one image. [`fixtures::RootBuilder`] lays out a whole
//!   offline root: os-release, search directories, masking directories, symlinks, `.v/` directories.
//! * [`runner`]: runs `systemd-sysext`/`systemd-confext` against a root in a private mount namespace,
//!   following reference §11: `unshare -m --propagation private`; the trixie root bound onto itself with
//!   proc, `/dev`, read-only sysfs (so systemd does not wait for udev) and tmpfs `/run` and `/tmp`; the
//!   test root bound at the **same path** inside the chroot; each hierarchy (`ROOT/usr`, `ROOT/opt`,
//!   `ROOT/etc`) bound onto itself, made a shared peer and bound again inside the chroot so the overlay
//!   systemd mounts inside the chroot propagates to the host path exactly once. Then, with
//!   `SYSTEMD_LOG_LEVEL=debug`, `merge --root=ROOT` for each class, `list --json=short`,
//!   `status --json=short`, the marker files and `/proc/self/mountinfo` are captured, and finally a
//!   caller-given command (extwatch) runs **outside** the chroot but **inside** the namespace, so it sees
//!   the merged overlays exactly as systemd left them. The same runner drives the host's systemd 252
//!   (no chroot, tmpfs on the host's `/run` in the namespace); v252 has no confext.
//! * [`verdicts`]: turns those captures into per-class [`verdicts::ClassVerdicts`]: the images `list`
//!   shows (name, path, type), the names used by the merge ("Using extensions …"), the names merged
//!   (status, cross-checked with the marker file) and, for every listed image that was not used, the
//!   debug line in which systemd gave its reason ("Extension 'x' is for OS 'fedora', but deployed on top
//!   of 'debian'.").
//!
//! # Running
//!
//! ```text
//! sudo scripts/trixie-root.sh                      # once; cached
//! cargo test -p extwatch --test it conformance_systemd:: -- --nocapture
//! EXTWATCH_REQUIRE_SYSTEMD=1 cargo test ...        # CI: fail instead of skipping
//! ```
//!
//! # Text normalisation
//!
//! systemd is inconsistent about the final full stop of its reasons: "…is for API level '1.3', but
//! running on API level '1.4'" has none while the other messages do. [`verdicts::normalize_reason`]
//! therefore strips trailing `.` and whitespace on both sides before comparing; nothing else is changed.
#![forbid(unsafe_code)]
// This crate is test code (fixtures and runners used only by tests and fuzz seeds): a fixture that
// cannot be built should stop the test loudly, so unwrap, expect, panic and indexing are allowed
// here, unlike in the libraries the workspace lints guard.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

pub mod cli;
pub mod erofs_patch;
pub mod fixtures;
pub mod golden;
pub mod reports;
pub mod repro;
pub mod rng;
pub mod roots;
pub mod runner;
pub mod sqfs_writer;
pub mod verdicts;
pub mod writers;

use std::path::{Path, PathBuf};
use std::process::Command;

/// Default location of the cached trixie root.
pub const DEFAULT_TRIXIE: &str = "/var/cache/extwatch/trixie";

/// The host's own systemd-sysext (252 on Debian 12).
pub const HOST_SYSEXT: &str = "/usr/bin/systemd-sysext";

/// What the environment offers for running real systemd.
#[derive(Debug, Clone)]
pub struct Env {
    /// The trixie root holding systemd 257 (and repart, mksquashfs, mkfs.erofs).
    pub trixie: PathBuf,
    /// The host's systemd-sysext, when present.
    pub host_sysext: Option<PathBuf>,
    /// The host systemd-sysext's major version (parsed from `--version`).
    pub host_version: Option<u32>,
}

/// The trixie root path: `$EXTWATCH_TRIXIE` or [`DEFAULT_TRIXIE`].
pub fn trixie_path() -> PathBuf {
    std::env::var_os("EXTWATCH_TRIXIE")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(DEFAULT_TRIXIE))
}

/// True when `EXTWATCH_REQUIRE_SYSTEMD=1`: missing prerequisites fail instead of skipping.
pub fn systemd_required() -> bool {
    std::env::var("EXTWATCH_REQUIRE_SYSTEMD").is_ok_and(|v| v == "1")
}

impl Env {
    /// Checks the prerequisites; `Err` names the first one missing.
    pub fn detect() -> Result<Env, String> {
        let uid = Command::new("id")
            .arg("-u")
            .output()
            .map_err(|e| format!("cannot run id: {e}"))?;
        if String::from_utf8_lossy(&uid.stdout).trim() != "0" {
            return Err("not running as root (needs unshare -m, mount, loop devices)".into());
        }
        let trixie = trixie_path();
        for tool in [
            "usr/bin/systemd-sysext",
            "usr/bin/systemd-confext",
            "usr/bin/systemd-repart",
            "usr/bin/mksquashfs",
            "usr/bin/mkfs.erofs",
        ] {
            if !trixie.join(tool).exists() {
                return Err(format!(
                    "trixie root {} lacks {tool} (run scripts/trixie-root.sh)",
                    trixie.display()
                ));
            }
        }
        let st = Command::new("unshare")
            .args(["-m", "--propagation", "private", "true"])
            .status()
            .map_err(|e| format!("cannot run unshare: {e}"))?;
        if !st.success() {
            return Err(format!("unshare -m failed: {st}"));
        }
        for tool in ["setfattr", "chroot", "mount"] {
            if which(tool).is_none() {
                return Err(format!("{tool} not found on the host"));
            }
        }
        let host_sysext = Path::new(HOST_SYSEXT)
            .exists()
            .then(|| PathBuf::from(HOST_SYSEXT));
        let host_version = host_sysext.as_ref().and_then(|p| {
            let out = Command::new(p).arg("--version").output().ok()?;
            let text = String::from_utf8_lossy(&out.stdout).into_owned();
            text.split_whitespace().nth(1)?.parse().ok()
        });
        Ok(Env {
            trixie,
            host_sysext,
            host_version,
        })
    }

    /// [`Env::detect`] with the CI rule: panics when `EXTWATCH_REQUIRE_SYSTEMD=1` and something is
    /// missing, otherwise prints `"<test>: SKIPPED: <why>"` to stderr and returns `None`.
    pub fn detect_or_skip(test: &str) -> Option<Env> {
        match Env::detect() {
            Ok(env) => Some(env),
            Err(why) if systemd_required() => {
                panic!("{test}: EXTWATCH_REQUIRE_SYSTEMD=1 but real systemd is unavailable: {why}")
            }
            Err(why) => {
                eprintln!(
                    "{test}: SKIPPED: {why} (set EXTWATCH_REQUIRE_SYSTEMD=1 to make this a failure)"
                );
                None
            }
        }
    }
}

/// Finds an executable in `$PATH`.
pub fn which(tool: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(tool))
        .find(|p| p.is_file())
}

/// Quotes a string for `sh`.
pub fn shell_quote(s: &str) -> String {
    if !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"/._-+=:,@".contains(&b))
    {
        return s.to_string();
    }
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// Quotes a path for `sh` (paths here are UTF-8; test roots are made by us).
pub fn shell_quote_path(p: &Path) -> String {
    shell_quote(&p.to_string_lossy())
}

/// Runs `cmd` to completion; an error saying "`what` failed: STATUS" unless it exits 0.
pub(crate) fn status_ok(
    cmd: &mut std::process::Command,
    what: std::fmt::Arguments,
) -> std::io::Result<()> {
    let st = cmd.status()?;
    if !st.success() {
        return Err(std::io::Error::other(format!("{what} failed: {st}")));
    }
    Ok(())
}
