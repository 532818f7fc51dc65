//! Reading the host's own hierarchy from *beneath* the sysext/confext overlay stacked on it.
//!
//! On a merged host `/usr` shows the union, so the base layer is read on a dedicated thread that enters
//! a private mount namespace (`unshare(CLONE_NEWNS)`, that thread only), makes every mount in it
//! private and lazily detaches the sysext/confext overlays on the hierarchy: nothing changes for any
//! other process and nothing is written. That needs CAP_SYS_ADMIN; without it the caller reports an
//! error rather than passing the merged view off as the base.
//!
//! **Why this module allows `unsafe`:** it is the one place in extwatch that needs it. rustix exposes
//! `unshare` only as `unshare_unsafe`, because unsharing the file-descriptor table (`CLONE_FILES`) can
//! invalidate descriptors other threads hold. We unshare the mount namespace alone (plus the implied
//! `CLONE_FS`), so the fd table stays shared; the `SAFETY` comment at the call says so. Everything else
//! in the crate is `unsafe`-free, and the workspace lint keeps it that way.
#![allow(unsafe_code)]

use std::os::fd::OwnedFd;

use extwatch_formats::mountinfo::MountinfoError;
use rustix::io::Errno;

use crate::host::rootfs::RootFs;

/// Why the base beneath an overlay cannot be read. Causes are chained; [`crate::error::chain`] (or
/// `{:#}`) prints the line the content checks report.
#[derive(Debug, thiserror::Error)]
pub enum NamespaceError {
    /// `unshare(CLONE_NEWNS)` failed (no CAP_SYS_ADMIN).
    #[error(
        "cannot enter a private mount namespace to read beneath the overlay (needs CAP_SYS_ADMIN)"
    )]
    Unshare(#[source] Errno),
    /// Making the new namespace's mounts private failed.
    #[error("cannot make the private namespace private")]
    Private(#[source] Errno),
    /// The root cannot be re-opened inside the new namespace.
    #[error("cannot re-open the root in the private namespace")]
    Reopen(#[source] std::io::Error),
    /// The hierarchy cannot be opened through the root handle.
    #[error("{path}")]
    Open {
        /// The hierarchy as shown.
        path: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// `statx` of the hierarchy failed.
    #[error("{path}: statx")]
    Statx {
        /// The hierarchy as shown.
        path: String,
        /// Why.
        #[source]
        source: Errno,
    },
    /// The kernel does not report mount ids.
    #[error("{path}: the kernel does not report mount ids (statx STATX_MNT_ID, Linux 5.8)")]
    NoMountIds {
        /// The hierarchy as shown.
        path: String,
    },
    /// The kernel does not report whether a directory is a mount's root.
    #[error("{path}: the kernel does not report STATX_ATTR_MOUNT_ROOT")]
    NoMountRoot {
        /// The hierarchy as shown.
        path: String,
    },
    /// The namespace's mount table cannot be read.
    #[error(transparent)]
    MountTable(std::io::Error),
    /// The namespace's mount table cannot be parsed.
    #[error(transparent)]
    MountTableParse(MountinfoError),
    /// Detaching the overlay failed.
    #[error("cannot detach the overlay on {path}")]
    Detach {
        /// The hierarchy as shown.
        path: String,
        /// Why.
        #[source]
        source: Errno,
    },
    /// What is mounted on top is not a sysext/confext overlay.
    #[error(
        "{path} is {what}, not a sysext/confext overlay: the base beneath it cannot be \
         separated from what is mounted there"
    )]
    NotAnOverlay {
        /// The hierarchy as shown.
        path: String,
        /// What is there instead.
        what: String,
    },
    /// More than 64 overlays stacked.
    #[error("{path}: too many stacked overlays")]
    TooMany {
        /// The hierarchy as shown.
        path: String,
    },
    /// The reader thread panicked.
    #[error("base reader thread panicked")]
    Panicked,
}

/// Runs `f` on a root where `hier` shows the host's own hierarchy: `root` itself when nothing is
/// merged there, else — on a thread inside a private mount namespace with the sysext/confext overlays
/// detached — the same root re-opened in that namespace ([`RootFs::reopen`]: a descriptor opened
/// before `unshare` keeps seeing the old namespace's mounts). Paths below the root are only ever
/// resolved through the handle `f` receives.
pub fn beneath<T: Send, E: From<NamespaceError> + Send>(
    root: &RootFs,
    hier: &str,
    merged: bool,
    f: impl FnOnce(&RootFs) -> Result<T, E> + Send,
) -> Result<T, E> {
    if !merged {
        return f(root);
    }
    std::thread::scope(|s| {
        s.spawn(|| {
            enter_private_namespace()?;
            let fresh = root.reopen().map_err(NamespaceError::Reopen)?;
            detach_overlays(&fresh, hier)?;
            f(&fresh)
        })
        .join()
        .unwrap_or_else(|_| Err(NamespaceError::Panicked.into()))
    })
}

/// In the calling thread only: a private mount namespace whose mounts are private (nothing done
/// in it propagates back to the host).
fn enter_private_namespace() -> Result<(), NamespaceError> {
    use rustix::mount::{mount_change, MountPropagationFlags};
    use rustix::thread::{unshare_unsafe, UnshareFlags};
    // SAFETY: only the mount namespace is unshared, for this thread alone (the kernel also gives the
    // thread its own root/cwd, CLONE_FS); the file-descriptor table and everything else stays shared,
    // so no other thread can observe a changed fd table.
    unsafe { unshare_unsafe(UnshareFlags::NEWNS) }.map_err(NamespaceError::Unshare)?;
    mount_change(
        "/",
        MountPropagationFlags::PRIVATE | MountPropagationFlags::REC,
    )
    .map_err(NamespaceError::Private)
}

/// The mount `fd` (the hierarchy shown as `shown`) sits on: (is it that mount's root, mount id),
/// from `statx`.
fn mount_of(fd: &OwnedFd, shown: &str) -> Result<(bool, u64), NamespaceError> {
    use rustix::fs::{statx, AtFlags, StatxAttributes, StatxFlags};
    let path = || shown.to_string();
    let stx = statx(
        fd,
        "",
        AtFlags::EMPTY_PATH,
        StatxFlags::BASIC_STATS | StatxFlags::MNT_ID,
    )
    .map_err(|source| NamespaceError::Statx {
        path: path(),
        source,
    })?;
    if !StatxFlags::from_bits_retain(stx.stx_mask).contains(StatxFlags::MNT_ID) {
        return Err(NamespaceError::NoMountIds { path: path() });
    }
    let mask = StatxAttributes::MOUNT_ROOT;
    if !stx.stx_attributes_mask.contains(mask) {
        return Err(NamespaceError::NoMountRoot { path: path() });
    }
    Ok((stx.stx_attributes.contains(mask), stx.stx_mnt_id))
}

/// In the calling thread's (private) mount namespace: detaches the sysext/confext overlays stacked on
/// `hier` of `root` (a handle opened in this namespace). The hierarchy is found through the handle
/// and its top mount identified by mount id (`statx`), not by comparing path strings; the detach goes
/// through `/proc/self/fd/N` of that descriptor, so no host path is resolved. An error unless at least
/// one sysext/confext overlay was on top: otherwise "beneath" would silently be the merged view (or
/// whatever else is mounted there).
pub fn detach_overlays(root: &RootFs, hier: &str) -> Result<(), NamespaceError> {
    use rustix::mount::{unmount, UnmountFlags};
    let shown = root.display(hier);
    let mut detached = 0usize;
    for _ in 0..64 {
        let fd = root
            .open_path_dir(hier)
            .map_err(|source| NamespaceError::Open {
                path: shown.clone(),
                source,
            })?;
        let (is_root, mnt_id) = mount_of(&fd, &shown)?;
        let mounts =
            std::fs::read("/proc/thread-self/mountinfo").map_err(NamespaceError::MountTable)?;
        let mounts = extwatch_formats::mountinfo::parse_mountinfo(&mounts)
            .map_err(NamespaceError::MountTableParse)?;
        let top = mounts.iter().find(|m| m.mount_id == mnt_id);
        let what = match top {
            Some(m)
                if is_root
                    && m.fstype == "overlay"
                    && (m.source == "sysext" || m.source == "confext") =>
            {
                let p = format!(
                    "/proc/thread-self/fd/{}",
                    std::os::fd::AsRawFd::as_raw_fd(&fd)
                );
                unmount(p.as_str(), UnmountFlags::DETACH).map_err(|source| {
                    NamespaceError::Detach {
                        path: shown.clone(),
                        source,
                    }
                })?;
                detached += 1;
                continue;
            }
            _ if !is_root => "not a mount point".to_string(),
            Some(m) => format!("a {} mount from {:?}", m.fstype, m.source),
            None => format!("mount {mnt_id}, absent from the mount table"),
        };
        if detached > 0 {
            return Ok(());
        }
        return Err(NamespaceError::NotAnOverlay { path: shown, what });
    }
    Err(NamespaceError::TooMany { path: shown })
}
