//! Pure parsers for everything extwatch reads from an audited root or image.
//!
//! Nothing here touches the host: parsers take bytes (`parse_*`) or a [`ReadAt`] (positioned reads over
//! an image file or a partition of one). Every parser is bounded — sizes, counts, depth — and returns an
//! error instead of panicking on hostile input; each has a fuzz target under `fuzz/`.
//!
//! Image readers never mount: a hostile file system image is parsed in user space so the kernel's
//! file-system code is never exposed to it (docs/design.md §1, principle 1).
#![forbid(unsafe_code)]

pub mod ddi;
pub mod erofs;
mod erofs_cfg;
pub mod fsimage;
pub mod limits;
pub mod mountinfo;
pub mod osrelease;
pub mod readat;
pub mod squashfs;
pub mod verity;
pub mod veritysig;

pub use fsimage::{open_image, Entry, EntryKind, FsError, FsReader, OpenedImage, RawFormat};
pub use readat::{ReadAt, Window};
