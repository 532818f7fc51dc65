//! One rich source tree, images of it made by many writers with many options, and read-only kernel
//! mounts of those images: the pieces of the reader-conformance suite (issue 14,
//! `crates/extwatch/tests/it/reader_conformance.rs`).
//!
//! # Why
//!
//! extwatch reads squashfs, erofs and DDIs without mounting them. The images it meets are made by
//! many build pipelines, not only by the one writer and default options the reader tests use, and a
//! valid image extwatch cannot read (or reads wrongly) is an image whose content it cannot audit.
//! So the suite builds one tree that holds every kind of entry and attribute a reader must get right
//! ([`build_rich_tree`]), images of it with every writer and option this machine has ([`variants`],
//! [`build_variant`]), and a referee: the kernel itself, mounting each image read-only in a private
//! mount namespace ([`KernelMount`]). Writers drop or change things legitimately (a tar cannot hold
//! a socket, `-no-xattrs` drops capabilities) and readers other than the kernel have bugs of their
//! own (`rdsquashfs` overflows on some 1 MiB-block images, `fsck.erofs` 1.8.6 truncates trailing holes
//! of chunk-based files), so the kernel's view is the truth wherever the kernel can mount the image.
//!
//! # Writers
//!
//! * `mksquashfs` of the host (squashfs-tools 4.5) with every compressor it lists, block sizes 4 KiB,
//!   128 KiB and 1 MiB, uncompressed (`-noI -noD -noF -noX`), `-no-fragments`,
//!   `-always-use-fragments`, `-no-xattrs`, and `-tar` (a pax tar of the tree on stdin); squashfs-tools
//!   4.6 of the trixie root for one image.
//! * squashfs-tools-ng `gensquashfs --pack-dir` and `tar2sqfs`, every compressor.
//! * erofs-utils 1.5 (`mkfs.erofs` of the host) and 1.8 (the trixie root, via
//!   [`crate::runner::trixie_exec`]) with lz4, lz4hc, lzma, deflate, zstd, `-E ztailpacking`,
//!   `-E fragments`, `-E all-fragments`, `-E dedupe`, big physical clusters (`-C`), chunk-based files
//!   (`--chunksize`), block sizes 1–4 KiB (`-b`) and `--tar=f`.
//! * DDIs: a GPT made by `sfdisk` with one root-x86-64 or usr-x86-64 partition holding one of the
//!   images above, and DDIs made by `systemd-repart` 257 from the tree (`Format=squashfs`/`erofs`;
//!   repart leaves device nodes, FIFOs and sockets out).
//!
//! # Tree kinds
//!
//! [`TreeKind::Full`] is the tree every variant should be made from. Two reduced copies exist
//! because of writer and reader limits, not to hide them: [`TreeKind::Names254`] for erofs-utils
//! 1.5, which cannot write a 255-byte name, and [`TreeKind::ShortLinks`] (no symlink targets of
//! 255 bytes or more) for the `*-short-links` control variants, which check everything else on
//! readers that refuse long symlink targets.
//!
//! # The kernel mount
//!
//! [`KernelMount::mount`] starts `unshare -m --propagation private sh -c 'mount -o ro,loop …; exec
//! sleep'`; the mount lives only in that process's namespace, and the test walks it through
//! `/proc/PID/root/MOUNTPOINT` (which resolves in that namespace). Dropping the [`KernelMount`] kills
//! the process (by its id), which tears the namespace, the mount and the loop device down.
//!
//! # Layout
//!
//! `tree` builds the rich tree and its tars, `variants` lists the writer variants, `build` runs one
//! variant, `mount` is the kernel referee: one file per step of the suite.

mod build;
mod mount;
mod tree;
mod variants;

pub use build::{build_variant, DDI_FS_OFFSET};
pub use mount::KernelMount;
pub use tree::{
    build_rich_tree, build_tree, make_tar, TreeInfo, TreeKind, TreePaths, LONG_SYMLINK_LENGTHS,
};
pub use variants::{
    listed_compressors, variants, FsType, Host, Recipe, Variant, ROOT_X86_64, USR_X86_64,
};

use std::io;
use std::process::Command;

fn run_ok(cmd: &mut Command) -> io::Result<()> {
    let o = cmd.output()?;
    if o.status.success() {
        return Ok(());
    }
    Err(io::Error::other(format!(
        "{cmd:?} failed ({}): {}{}",
        o.status,
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )))
}
