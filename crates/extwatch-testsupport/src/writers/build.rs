//! Running one writer variant: an image (or a DDI around one) from a built tree.

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use super::{Host, Recipe, TreePaths, Variant};
use crate::runner::trixie_exec;

/// An error unless the tool `argv` succeeded and wrote `out`: the command line, status and output.
fn check_built(argv: &[String], o: &std::process::Output, out: &Path) -> io::Result<()> {
    if o.status.success() && out.exists() {
        return Ok(());
    }
    Err(io::Error::other(format!(
        "{} failed ({}): {}{}",
        argv.join(" "),
        o.status,
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )))
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
            check_built(&argv, &o, out)?;
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
            let mut argv = crate::fixtures::repart_argv(&defs, &tree.src);
            argv.push(out.to_string_lossy().into_owned());
            let o = trixie_exec(trixie, &[work], &argv)?;
            check_built(&argv, &o, out)?;
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
