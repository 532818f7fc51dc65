//! The inventory room: what systemd would find and what is merged now — discovery per systemd
//! version ([`discover`]), each image opened and judged ([`image`], with its extension-release in
//! [`release`]), the merge state of each hierarchy ([`merged`]) and the image policy in force
//! ([`policy`]). Nothing here decides whether anything is bad; that is the checks' job.

pub(crate) mod discover;
pub(crate) mod image;
pub(crate) mod merged;
pub(crate) mod policy;
pub(crate) mod release;
