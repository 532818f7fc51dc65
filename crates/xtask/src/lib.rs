//! `cargo xtask codegen`: every file in the repository that is derived from code, generated in one
//! place, so a committed copy can be checked against the code that produces it.
//!
//! | file | from |
//! |---|---|
//! | `docs/man/*.1` | the clap definitions (`extwatch::cli::command()`), by `clap_mangen` |
//! | `docs/completions/` | the same, by `clap_complete` (bash, zsh, fish) |
//! | `schema/*.schema.json` | the model types (`extwatch_model::schemas::SCHEMAS`) |
//! | `docs/checks.md` | the check catalogue (`extwatch_model::catalogue::CATALOGUE`) |
//!
//! `--check` generates everything in memory and names each file that is missing, differs or (in
//! the directories that hold only generated files) should no longer exist; a unit test runs it, so
//! `cargo test` fails when a committed copy is stale. The output is deterministic: no dates, no
//! host names, no terminal widths.

mod checks_md;

use std::path::{Path, PathBuf};

/// Directories whose every file is generated: a file there that codegen does not produce is stale.
pub const OWNED_DIRS: &[&str] = &["docs/man", "docs/completions"];

/// One generated file: its path relative to the repository root and its content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Artefact {
    /// Relative to the repository root.
    pub path: PathBuf,
    /// The exact bytes.
    pub content: Vec<u8>,
}

/// Why a committed file is stale.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Staleness {
    /// Codegen produces it, the repository lacks it.
    Missing,
    /// The committed copy differs from what codegen produces.
    Differs,
    /// It sits in a generated directory but codegen no longer produces it.
    Orphan,
}

impl std::fmt::Display for Staleness {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Staleness::Missing => "missing",
            Staleness::Differs => "out of date",
            Staleness::Orphan => "no longer generated",
        })
    }
}

/// The repository root (two levels above this crate).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Every generated file, in a stable order.
pub fn artefacts() -> std::io::Result<Vec<Artefact>> {
    let mut out = man_pages()?;
    out.extend(completions());
    for s in extwatch_model::schemas::SCHEMAS {
        out.push(Artefact {
            path: Path::new("schema").join(s.file),
            content: (s.generate)().into_bytes(),
        });
    }
    out.push(Artefact {
        path: PathBuf::from("docs/checks.md"),
        content: checks_md::render().into_bytes(),
    });
    Ok(out)
}

/// One man page per command and subcommand (`extwatch.1`, `extwatch-audit.1`, …), without a date
/// and with `extwatch VERSION` as the source on every page.
fn man_pages() -> std::io::Result<Vec<Artefact>> {
    fn walk(cmd: &clap::Command, source: &str, out: &mut Vec<Artefact>) -> std::io::Result<()> {
        for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
            walk(sub, source, out)?;
        }
        let man = clap_mangen::Man::new(cmd.clone()).date("").source(source);
        let mut content = Vec::new();
        man.render(&mut content)?;
        out.push(Artefact {
            path: Path::new("docs/man").join(man.get_filename()),
            content,
        });
        Ok(())
    }
    let mut cmd = extwatch::cli::command().disable_help_subcommand(true);
    cmd.build();
    let source = format!(
        "{} {}",
        cmd.get_name(),
        cmd.get_version().unwrap_or_default()
    );
    let mut out = Vec::new();
    walk(&cmd, &source, &mut out)?;
    out.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(out)
}

/// Shell completions for bash, zsh and fish, under the names each shell looks for.
fn completions() -> Vec<Artefact> {
    use clap_complete::Shell;
    [
        (Shell::Bash, "extwatch.bash"),
        (Shell::Zsh, "_extwatch"),
        (Shell::Fish, "extwatch.fish"),
    ]
    .into_iter()
    .map(|(shell, file)| {
        let mut content = Vec::new();
        clap_complete::generate(
            shell,
            &mut extwatch::cli::command(),
            "extwatch",
            &mut content,
        );
        Artefact {
            path: Path::new("docs/completions").join(file),
            content,
        }
    })
    .collect()
}

/// Every stale file under `root`, with why.
pub fn stale(root: &Path, artefacts: &[Artefact]) -> std::io::Result<Vec<(PathBuf, Staleness)>> {
    let mut out = Vec::new();
    for a in artefacts {
        match std::fs::read(root.join(&a.path)) {
            Ok(c) if c == a.content => {}
            Ok(_) => out.push((a.path.clone(), Staleness::Differs)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                out.push((a.path.clone(), Staleness::Missing))
            }
            Err(e) => return Err(with_path(e, &root.join(&a.path))),
        }
    }
    for p in orphans(root, artefacts)? {
        out.push((p, Staleness::Orphan));
    }
    Ok(out)
}

/// Files in [`OWNED_DIRS`] that no artefact claims.
fn orphans(root: &Path, artefacts: &[Artefact]) -> std::io::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for dir in OWNED_DIRS {
        let rd = match std::fs::read_dir(root.join(dir)) {
            Ok(rd) => rd,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(with_path(e, &root.join(dir))),
        };
        for entry in rd {
            let rel = Path::new(dir).join(entry?.file_name());
            if !artefacts.iter().any(|a| a.path == rel) {
                out.push(rel);
            }
        }
    }
    out.sort();
    Ok(out)
}

/// Writes every artefact that is missing or differs and removes orphans; returns what changed.
pub fn write(root: &Path, artefacts: &[Artefact]) -> std::io::Result<Vec<(PathBuf, Staleness)>> {
    let changed = stale(root, artefacts)?;
    for (rel, why) in &changed {
        let path = root.join(rel);
        if *why == Staleness::Orphan {
            std::fs::remove_file(&path).map_err(|e| with_path(e, &path))?;
            continue;
        }
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| with_path(e, dir))?;
        }
        let content = artefacts
            .iter()
            .find(|a| &a.path == rel)
            .map(|a| a.content.as_slice())
            .unwrap_or_default();
        std::fs::write(&path, content).map_err(|e| with_path(e, &path))?;
    }
    Ok(changed)
}

fn with_path(e: std::io::Error, p: &Path) -> std::io::Error {
    std::io::Error::new(e.kind(), format!("{}: {e}", p.display()))
}

#[cfg(test)]
mod tests;
