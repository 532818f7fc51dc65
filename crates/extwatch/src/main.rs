//! `extwatch`: which systemd extension images are on this host, which are merged, and what is wrong
//! with that. A thin shell over `extwatch-core`: parse arguments, run, render, map to exit codes
//! (0 clean, 1 findings at or above `--fail-on`, 2 usage or runtime error).

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::{Args, Parser, Subcommand, ValueEnum};
use extwatch_core::SystemdVersion;
use extwatch_model::Severity;

mod files;

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
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
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
    Files(files::FilesArgs),
}

#[derive(Args)]
struct Target {
    /// Audit this root directory (an extracted or mounted offline copy) instead of the live host.
    /// Paths inside it — symlinks included — are resolved inside it, never outside.
    #[arg(long, value_name = "DIR", default_value = "/")]
    root: PathBuf,
    /// Apply the rules of this systemd version (e.g. 252, 257, 257.13). Default: detected from the
    /// root's libsystemd-shared-NNN.so (and the point release from the banner in
    /// /usr/lib/systemd/systemd); 257 when nothing is found. Discovery paths, name derivation,
    /// symlink handling, ID_LIKE matching and merge markers all depend on it.
    #[arg(long, value_name = "N")]
    systemd_version: Option<String>,
    /// Read merged state from this mount table (a captured /proc/PID/mountinfo). Mounts under --root
    /// count as the root's own. Default: /proc/self/mountinfo.
    #[arg(long, value_name = "FILE")]
    mountinfo: Option<PathBuf>,
    /// Judge ARCHITECTURE= against this architecture (systemd's names: x86-64, arm64, ...) instead of
    /// the machine extwatch runs on.
    #[arg(long, value_name = "ARCH")]
    architecture: Option<String>,
    /// Output format: a table for people, JSON (schema extwatch/v1) for scripts.
    #[arg(long, value_enum, default_value = "table")]
    format: Format,
    /// Your own trusted signing certificates (a directory of .crt/.pem, or one file) on this machine.
    /// Signatures are judged against them; the host's verity.d (root-writable, so an attacker can add
    /// a certificate there) is judged separately and disagreement is a finding.
    #[arg(long, value_name = "DIR")]
    trust: Option<PathBuf>,
    /// Recompute every image's dm-verity hash tree and compare it with the declared root hash and the
    /// stored tree. This reads every data block of every image: seconds per GiB, which adds up on hosts
    /// with many or large images. Without it, signatures are still verified over the declared hash.
    #[arg(long)]
    deep: bool,
    /// Apply the initrd's rules (search directories /.extra/sysext etc., scope `initrd`): `auto` when
    /// the root has /etc/initrd-release, as the booted system decides. `no` mirrors
    /// `systemd-sysext --root=` up to v258, which asks whether the *running* system is an initrd.
    #[arg(long, value_enum, default_value = "auto")]
    initrd: Initrd,
    /// Print warnings (unreadable directories, missing mount table) to stderr.
    #[arg(long, short)]
    verbose: bool,
}

#[derive(Clone, Copy, ValueEnum)]
enum Format {
    Table,
    Json,
}

#[derive(Clone, Copy, ValueEnum)]
enum Initrd {
    Auto,
    Yes,
    No,
}

#[derive(Clone, Copy, ValueEnum)]
enum FailOn {
    None,
    Info,
    Low,
    Medium,
    High,
    Critical,
}

impl FailOn {
    fn threshold(self) -> Option<Severity> {
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

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("extwatch: error: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn width() -> u16 {
    std::env::var("COLUMNS")
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(100)
        .clamp(40, 400)
}

fn emit(s: &str) -> Result<()> {
    let mut out = std::io::stdout().lock();
    match out.write_all(s.as_bytes()).and_then(|_| out.flush()) {
        Ok(()) => Ok(()),
        // `extwatch ... | head` is normal; a closed pipe is not an error.
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        Err(e) => Err(e).context("writing to stdout"),
    }
}

fn run(cli: Cli) -> Result<ExitCode> {
    match cli.command {
        Command::Inventory(t) => {
            let (report, _) = report(&t, false, None)?;
            emit(&render(&report, t.format))?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Audit {
            target,
            fail_on,
            baseline,
        } => {
            let (report, _) = report(&target, true, baseline.as_deref())?;
            emit(&render(&report, target.format))?;
            let fail = fail_on
                .threshold()
                .is_some_and(|t| report.findings.iter().any(|f| f.severity >= t));
            Ok(if fail {
                ExitCode::from(1)
            } else {
                ExitCode::SUCCESS
            })
        }
        Command::Checks { list: _, format } => {
            let cat = extwatch_core::checks::CATALOGUE;
            match format {
                Format::Json => {
                    let v: Vec<_> = cat
                        .iter()
                        .map(|d| {
                            serde_json::json!({"id": d.id, "severity": d.severity,
                                "controls": d.controls, "description": d.summary})
                        })
                        .collect();
                    emit(&format!("{}\n", serde_json::to_string_pretty(&v)?))?;
                }
                Format::Table => {
                    let mut s = String::new();
                    for d in cat {
                        s.push_str(&format!(
                            "{:<28} {:<8} {:<16} {}\n",
                            d.id,
                            d.severity.as_str(),
                            d.controls.join(","),
                            d.summary
                        ));
                    }
                    emit(&s)?;
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Verify {
            images,
            trust,
            architecture,
            sha256,
            format,
        } => verify(
            &images,
            trust.as_deref(),
            architecture.as_deref(),
            sha256,
            format,
        ),
        Command::Schema => {
            emit(&extwatch_model::report_schema_json())?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Files(a) => files::run(&a),
    }
}

fn report(
    t: &Target,
    checks: bool,
    baseline: Option<&std::path::Path>,
) -> Result<(extwatch_model::Report, Vec<String>)> {
    let systemd_version = match &t.systemd_version {
        Some(s) => Some(
            SystemdVersion::parse(s)
                .with_context(|| format!("--systemd-version {s:?} is not a systemd version"))?,
        ),
        None => None,
    };
    let opts = extwatch_core::Options {
        root: t.root.clone(),
        systemd_version,
        mountinfo: t.mountinfo.clone(),
        architecture: t.architecture.clone(),
        checks,
        trust: t.trust.clone(),
        deep: t.deep,
        initrd: match t.initrd {
            Initrd::Auto => None,
            Initrd::Yes => Some(true),
            Initrd::No => Some(false),
        },
        content: checks,
        hash_all: baseline.is_some(),
    };
    let (report, diagnostics, analysis) = extwatch_core::audit_full(&opts)?;
    let warnings: Vec<String> = diagnostics.iter().map(ToString::to_string).collect();
    if let (Some(path), Some(a)) = (baseline, &analysis) {
        let b = a.to_baseline(&report.host.root, &report.hierarchies);
        let text = serde_json::to_string_pretty(&b)? + "\n";
        std::fs::write(path, text)
            .with_context(|| format!("writing --baseline {}", path.display()))?;
    }
    if t.verbose {
        for w in &warnings {
            eprintln!("extwatch: warning: {w}");
        }
    }
    Ok((report, warnings))
}

fn render(r: &extwatch_model::Report, f: Format) -> String {
    match f {
        Format::Json => extwatch_core::render::json(r),
        Format::Table => extwatch_core::render::text(r, width()),
    }
}

fn verify(
    images: &[PathBuf],
    trust: Option<&std::path::Path>,
    arch: Option<&str>,
    sha256: bool,
    format: Format,
) -> Result<ExitCode> {
    use extwatch_core::FileHash;
    use extwatch_core::TrustCtx;
    let file_hash = if sha256 {
        FileHash::Always
    } else {
        FileHash::IfNoVerity
    };
    let arch = match arch {
        Some(a) => extwatch_core::architecture_name(a)
            .with_context(|| format!("unknown architecture {a:?}"))?,
        None => extwatch_core::native_architecture(),
    };
    let ctx = TrustCtx {
        host: Default::default(),
        operator: match trust {
            Some(p) => Some(extwatch_core::load_operator_trust(p).context("loading --trust")?),
            None => None,
        },
        deep: true,
        threads: std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1),
    };
    let tty = std::io::stderr().is_terminal();
    let mut results = Vec::new();
    for img in images {
        let size = std::fs::metadata(img).map(|m| m.len()).unwrap_or(0);
        let bar = if tty && size > 64 * 1024 * 1024 {
            let b = indicatif::ProgressBar::new(size);
            b.set_message(img.display().to_string());
            b
        } else {
            indicatif::ProgressBar::hidden()
        };
        let r = extwatch_core::verify_image(img, &ctx, arch, file_hash, &|n| bar.set_position(n));
        bar.finish_and_clear();
        results.push(r);
    }
    let ok = results.iter().all(|r| r.ok);
    let report = extwatch_model::VerifyReport {
        schema: extwatch_model::SCHEMA.into(),
        images: results,
    };
    match format {
        Format::Json => emit(&format!("{}\n", serde_json::to_string_pretty(&report)?))?,
        Format::Table => emit(&extwatch_core::render::verify_text(&report))?,
    }
    Ok(if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
