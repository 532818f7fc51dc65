//! `cargo xtask codegen [--check]` (alias in `.cargo/config.toml`): see the library's docs.

use std::process::ExitCode;

const USAGE: &str =
    "usage: cargo xtask codegen [--check]\n\n  codegen          write the man pages, \
shell completions, JSON Schemas and docs/checks.md\n  codegen --check  write nothing; exit 1 \
naming each stale file\n";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let check = match args
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .as_slice()
    {
        ["codegen"] => false,
        ["codegen", "--check"] => true,
        _ => {
            eprint!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    match codegen(check) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("xtask: error: {e}");
            ExitCode::from(2)
        }
    }
}

fn codegen(check: bool) -> std::io::Result<ExitCode> {
    let root = xtask::repo_root();
    let artefacts = xtask::artefacts()?;
    if check {
        let stale = xtask::stale(&root, &artefacts)?;
        for (path, why) in &stale {
            eprintln!("stale: {} ({why})", path.display());
        }
        if stale.is_empty() {
            eprintln!("{} generated files are current", artefacts.len());
            return Ok(ExitCode::SUCCESS);
        }
        eprintln!("run `cargo xtask codegen` and commit the result");
        return Ok(ExitCode::from(1));
    }
    let changed = xtask::write(&root, &artefacts)?;
    for (path, why) in &changed {
        match why {
            xtask::Staleness::Orphan => eprintln!("removed: {}", path.display()),
            _ => eprintln!("updated: {} (was {why})", path.display()),
        }
    }
    eprintln!(
        "{} generated files, {} updated",
        artefacts.len(),
        changed.len()
    );
    Ok(ExitCode::SUCCESS)
}
