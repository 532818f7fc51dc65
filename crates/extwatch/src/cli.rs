//! The command line of `extwatch`, as clap definitions in a library so that tools other than the
//! binary can read it: `cargo xtask codegen` writes the man pages and shell completions from
//! [`command`], and tests can parse argument lists without running anything.
//!
//! Only the grammar lives here (subcommands, flags, their help text and defaults); what each
//! subcommand does is the binary's `main.rs`.

use std::path::PathBuf;

use clap::{Args, CommandFactory, Parser, Subcommand, ValueEnum};
use extwatch_model::Severity;

/// The whole command line, as clap builds it (for man pages, completions and tests).
pub fn command() -> clap::Command {
    Cli::command()
}

#[derive(Parser)]
#[command(
    name = "extwatch",
    version,
    about = "Inventory and audit systemd sysext/confext/portable extension images",
    long_about = "Inventory and audit systemd sysext, confext and portable extension images on this \
host or an offline root: which exist, which are merged right now, and what is weak about that, as \
findings mapped to NIST SP 800-53 controls.\n\nextwatch never mounts, executes or writes: images are \
parsed in user space and every path is resolved inside the audited root.\n\nExit status: 0 clean (or \
nothing at or above --fail-on), 1 findings at or above --fail-on, 2 usage or runtime error."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Subcommand)]
pub enum Command {
    /// List every extension image, where it sits, whether systemd would use it, and what is merged.
    Inventory(Target),
    /// The main job: inventory plus every check, as findings with severities and 800-53 controls.
    ///
    /// The content checks compute the merged view of /usr, /opt and /etc: every path of every
    /// merged or mergeable image against the base. On a live host where systemd has merged
    /// extensions, /usr shows the union, so extwatch reads the base from beneath the overlay: one
    /// thread enters a private mount namespace and detaches the sysext/confext overlays there (the
    /// host's mounts are untouched). That needs CAP_SYS_ADMIN (run as root); without it the content
    /// checks report an error and the other checks still run. Replaced files are hashed on both
    /// sides for evidence, up to 1 GiB per file.
    Audit {
        #[command(flatten)]
        target: Target,
        /// Exit 1 when a finding has at least this severity ("none" never fails).
        #[arg(long, value_name = "SEVERITY", default_value = "high")]
        fail_on: FailOn,
        /// Also write the FIM blind-spot export to FILE: the base-only and the merged manifests of
        /// /usr, /opt and /etc, every merged entry tagged with the layer it comes from (schema
        /// extwatch/v1-baseline). Hashes every file of those trees, so it takes longer.
        #[arg(long, value_name = "FILE")]
        baseline: Option<PathBuf>,
        /// Run only these checks (ids as `extwatch checks` lists them; repeat the option or
        /// separate ids with commas). Checks not run are absent from the report.
        #[arg(long, value_name = "ID", value_delimiter = ',')]
        only: Vec<String>,
        /// Do not run these checks (repeatable, comma-separated); applied after --only.
        #[arg(long, value_name = "ID", value_delimiter = ',')]
        skip: Vec<String>,
    },
    /// Deep check of image files (no host needed): partitions, file system, extension-release,
    /// verity recomputation, signature and signer. Exit 1 on any integrity failure.
    Verify {
        /// Image files (.raw); side-car .roothash/.p7s/.verity files next to them are used.
        #[arg(required = true, value_name = "IMAGE")]
        images: Vec<PathBuf>,
        /// Trusted signing certificates: a directory of .crt/.pem files, or one file. Without it no
        /// signature can be `valid`; the signer is still named when it can be identified.
        #[arg(long, value_name = "DIR")]
        trust: Option<PathBuf>,
        /// Architecture used to pick DDI partitions (systemd's names).
        #[arg(long, value_name = "ARCH")]
        architecture: Option<String>,
        /// Always compute the SHA-256 of each whole image file (to match a ticket or a download
        /// manifest). By default it is computed only for images whose verity hash tree was not
        /// recomputed: a recomputed verity root hash already identifies the content, and the
        /// whole-file hash is one sequential stream that would bound the run's wall time.
        #[arg(long)]
        sha256: bool,
        /// Output format.
        #[arg(long, value_enum, default_value = "table")]
        format: Format,
    },
    /// Show the check catalogue: ids, default severities, controls.
    Checks {
        /// List the checks (the default; kept for scripts that pass it).
        #[arg(long)]
        list: bool,
        /// Output format.
        #[arg(long, value_enum, default_value = "table")]
        format: Format,
    },
    /// Print the JSON Schema of the report (`--format json` output).
    Schema,
    /// List every entry of one image (directory, squashfs, erofs or DDI) without mounting it:
    /// types, modes, owners, sizes, link targets, capabilities, SELinux labels, overlay whiteouts,
    /// optionally SHA-256 (`--hash`); `--format mtree` prints what `systemd-dissect --mtree` prints.
    Files(FilesArgs),
}

/// Where and how to audit (shared by `inventory` and `audit`).
#[derive(Args)]
pub struct Target {
    /// Audit this root directory (an extracted or mounted offline copy) instead of the live host.
    /// Paths inside it — symlinks included — are resolved inside it, never outside.
    #[arg(long, value_name = "DIR", default_value = "/")]
    pub root: PathBuf,
    /// Apply the rules of this systemd version (e.g. 252, 257, 257.13). Default: detected from the
    /// root's libsystemd-shared-NNN.so (and the point release from the banner in
    /// /usr/lib/systemd/systemd); 257 when nothing is found. Discovery paths, name derivation,
    /// symlink handling, ID_LIKE matching and merge markers all depend on it.
    #[arg(long, value_name = "N")]
    pub systemd_version: Option<String>,
    /// Read merged state from this mount table (a captured /proc/PID/mountinfo). Mounts under --root
    /// count as the root's own. Default: /proc/self/mountinfo.
    #[arg(long, value_name = "FILE")]
    pub mountinfo: Option<PathBuf>,
    /// Judge ARCHITECTURE= against this architecture (systemd's names: x86-64, arm64, ...) instead of
    /// the machine extwatch runs on.
    #[arg(long, value_name = "ARCH")]
    pub architecture: Option<String>,
    /// Output format: a table for people, JSON (schema extwatch/v1) for scripts.
    #[arg(long, value_enum, default_value = "table")]
    pub format: Format,
    /// Your own trusted signing certificates (a directory of .crt/.pem, or one file) on this machine.
    /// Signatures are judged against them; the host's verity.d (root-writable, so an attacker can add
    /// a certificate there) is judged separately and disagreement is a finding.
    #[arg(long, value_name = "DIR")]
    pub trust: Option<PathBuf>,
    /// Recompute every image's dm-verity hash tree and compare it with the declared root hash and the
    /// stored tree. This reads every data block of every image: seconds per GiB, which adds up on hosts
    /// with many or large images. Without it, signatures are still verified over the declared hash.
    #[arg(long)]
    pub deep: bool,
    /// Apply the initrd's rules (search directories /.extra/sysext etc., scope `initrd`): `auto` when
    /// the root has /etc/initrd-release, as the booted system decides. `no` mirrors
    /// `systemd-sysext --root=` up to v258, which asks whether the *running* system is an initrd.
    #[arg(long, value_enum, default_value = "auto")]
    pub initrd: Initrd,
    /// Print warnings (unreadable directories, missing mount table) to stderr.
    #[arg(long, short)]
    pub verbose: bool,
}

/// Output format of `inventory`, `audit`, `verify` and `checks`.
#[derive(Clone, Copy, ValueEnum)]
pub enum Format {
    Table,
    Json,
}

/// Whether the initrd's rules apply.
#[derive(Clone, Copy, ValueEnum)]
pub enum Initrd {
    Auto,
    Yes,
    No,
}

/// The severity threshold of `audit --fail-on`.
#[derive(Clone, Copy, ValueEnum)]
pub enum FailOn {
    None,
    Info,
    Low,
    Medium,
    High,
    Critical,
}

impl FailOn {
    /// The lowest severity that fails the run, `None` for `none`.
    pub fn threshold(self) -> Option<Severity> {
        match self {
            FailOn::None => None,
            FailOn::Info => Some(Severity::Info),
            FailOn::Low => Some(Severity::Low),
            FailOn::Medium => Some(Severity::Medium),
            FailOn::High => Some(Severity::High),
            FailOn::Critical => Some(Severity::Critical),
        }
    }
}

/// Output formats of `extwatch files`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum FilesFormat {
    /// One line per entry, fitting 100 columns.
    Table,
    /// The `FilesReport` JSON object.
    Json,
    /// Exactly what `systemd-dissect --mtree IMAGE` prints (systemd 257).
    Mtree,
}

/// Arguments of `extwatch files`.
#[derive(clap::Args, Debug)]
pub struct FilesArgs {
    /// The image: a directory, or a squashfs, erofs or DDI (.raw) file.
    #[arg(value_name = "IMAGE")]
    pub image: PathBuf,
    /// Compute the SHA-256 of every regular file (in parallel, streaming).
    #[arg(long)]
    pub hash: bool,
    /// Output format (`mtree` matches `systemd-dissect --mtree`, which always hashes).
    #[arg(long, value_enum, default_value = "table")]
    pub format: FilesFormat,
    /// Architecture used to pick the DDI partition (systemd's names, e.g. x86-64, arm64).
    #[arg(long, value_name = "ARCH")]
    pub architecture: Option<String>,
    /// Resolve IMAGE inside this root directory (an offline root), symlinks included, as an audit
    /// with `--root` does: e.g. `--root /mnt/disk /var/lib/extensions/foo.raw`.
    #[arg(long, value_name = "DIR")]
    pub root: Option<PathBuf>,
    /// Hashing threads (default: available CPUs).
    #[arg(long, value_name = "N")]
    pub threads: Option<usize>,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// clap's own consistency checks (unique flags, valid defaults, …) over the whole grammar.
    #[test]
    fn grammar_is_consistent() {
        command().debug_assert();
    }

    /// The library parses what the binary parses, without running anything.
    #[test]
    fn parses_without_running() {
        let cli = Cli::try_parse_from(["extwatch", "audit", "--root", "/r", "--fail-on", "medium"])
            .unwrap();
        match cli.command {
            Command::Audit {
                target, fail_on, ..
            } => {
                assert_eq!(target.root, PathBuf::from("/r"));
                assert_eq!(fail_on.threshold(), Some(Severity::Medium));
            }
            _ => panic!("not audit"),
        }
        assert!(Cli::try_parse_from(["extwatch", "files"]).is_err());
    }
}
