//! Every writer variant of the suite: which tool, which options, which tree, which host.

use std::process::Command;

use super::TreeKind;

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
    /// `argv` with `{src}`, `{tar}`, `{tar_plain}` and `{out}` replaced (see [`TreePaths`](super::TreePaths)).
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
    tool_with_stdin(host, argv, None)
}

fn tool_stdin(host: Host, argv: &[&str], stdin: &'static str) -> Recipe {
    tool_with_stdin(host, argv, Some(stdin))
}

fn tool_with_stdin(host: Host, argv: &[&str], stdin: Option<&'static str>) -> Recipe {
    Recipe::Tool {
        host,
        argv: argv.iter().map(|s| s.to_string()).collect(),
        stdin,
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

/// The squashfs variant `PREFIX-C` for compressor `c`; lzma, which the kernel cannot mount, takes
/// its kernel view from `PREFIX-gzip`.
fn per_compressor(prefix: &str, c: &str, recipe: Recipe) -> Variant {
    let mut x = variant(&format!("{prefix}-{c}"), FsType::Squashfs, recipe);
    if c == "lzma" {
        x.proxy = Some(format!("{prefix}-gzip"));
    }
    x
}

/// [`listed_compressors`], or `fallback` when the binary lists none (or is missing).
fn compressors_or(program: &str, help_arg: &str, fallback: &[&str]) -> Vec<String> {
    let listed = listed_compressors(program, help_arg);
    if listed.is_empty() {
        fallback.iter().map(|c| c.to_string()).collect()
    } else {
        listed
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
    let comps = compressors_or(
        "mksquashfs",
        "-help",
        &["gzip", "lzo", "lz4", "xz", "zstd", "lzma"],
    );
    for c in &comps {
        v.push(per_compressor(
            "mksquashfs",
            c,
            mks(H, &["-comp", c.as_str()]),
        ));
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
        let ng_comps = compressors_or(
            "tar2sqfs",
            "--help",
            &["gzip", "lzma", "lzo", "xz", "lz4", "zstd"],
        );
        for c in &ng_comps {
            v.push(per_compressor("gensquashfs", c, gen(c, &[])));
            v.push(per_compressor("tar2sqfs", c, t2s(c)));
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
