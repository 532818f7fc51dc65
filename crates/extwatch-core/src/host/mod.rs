//! The host room: everything about the machine or root being audited that is not an extension image —
//! the read-only root handle ([`rootfs::RootFs`], the only way the engine reaches a path inside the
//! audited root), the systemd version and what it implies (search paths, hierarchies, version
//! comparison), architecture names, the per-run budgets, and the one module that reads beneath an
//! overlay in a private mount namespace ([`namespace`], the only `unsafe` in the crate).

pub(crate) mod arch;
pub(crate) mod budget;
pub(crate) mod namespace;
pub(crate) mod paths;
pub(crate) mod rootfs;
pub(crate) mod vercmp;
pub(crate) mod version;
