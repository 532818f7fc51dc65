//! The content room: what is inside the images and the hierarchies, file by file — an image's
//! inside whatever it is ([`source::Content`]), a bounded walk of it ([`walk`]), file hashes
//! ([`hash`]), overlayfs semantics over the layers
//! ([`overlay`], reading the base beneath the overlay through `host::namespace`) and what each
//! extension changes ([`changes`]).

pub(crate) mod changes;
pub(crate) mod hash;
pub(crate) mod overlay;
pub(crate) mod source;
pub(crate) mod walk;

pub(crate) use hash::{hash_file, hash_files, hash_image, HashSkip};
pub(crate) use source::{content_of, Content};
#[cfg(test)]
pub(crate) use walk::test_entry;
pub(crate) use walk::{walk, walk_dir_metadata, FileEntry, WalkLimits};
