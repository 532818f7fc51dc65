//! `extwatch`: which systemd extension images are on this host, which are merged, and what is wrong
//! with that. A thin shell: parse arguments (the grammar is `extwatch::cli`), run `extwatch-core`,
//! print with `extwatch-render`, map to exit codes (0 clean, 1 findings at or above `--fail-on`, 2
//! usage or runtime error).

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::Parser;
use extwatch::cli::{Cli, Command, Format, Initrd, Target};
use extwatch_core::checks::Selection;
use extwatch_core::SystemdVersion;
use extwatch_render::{json, text};

mod diagnostics;
mod files;

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
            let report = report(&t, false, None, Selection::all())?;
            emit(&render(&report, t.format)?)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Audit {
            target,
            fail_on,
            baseline,
            only,
            skip,
        } => {
            let select = Selection::new(&only, &skip)?;
            let report = report(&target, true, baseline.as_deref(), select)?;
            emit(&render(&report, target.format)?)?;
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
            let list = extwatch_model::CheckList::catalogue();
            emit(&match format {
                Format::Json => json::document(&list)?,
                Format::Table => text::checks(&list),
            })?;
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
    select: Selection,
) -> Result<extwatch_model::Report> {
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
        content: baseline.is_some(),
        hash_all: baseline.is_some(),
        select,
    };
    let (report, diagnostics, analysis) = extwatch_core::audit_full(&opts)?;
    if let (Some(path), Some(a)) = (baseline, &analysis) {
        let b = a.to_baseline(&report.host.root, &report.hierarchies);
        std::fs::write(path, json::document(&b)?)
            .with_context(|| format!("writing --baseline {}", path.display()))?;
    }
    if t.verbose {
        diagnostics::print_to_stderr();
        for d in &diagnostics {
            d.emit();
        }
    }
    Ok(report)
}

fn render(r: &extwatch_model::Report, f: Format) -> Result<String> {
    Ok(match f {
        Format::Json => json::document(r)?,
        Format::Table => text::report(r, width()),
    })
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
        Format::Json => emit(&json::document(&report)?)?,
        Format::Table => emit(&text::verify(&report))?,
    }
    Ok(if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
