//! GPT Discoverable Disk Images (DDIs): sniffing, partition table parsing, and choosing the partition
//! systemd would mount for an extension.
//!
//! * **Our own GPT parser.** `gptman` (the crate we evaluated) is fine for trusted disks but not for
//!   hostile images: it pre-allocates from the untrusted entry count, multiplies untrusted LBAs without
//!   overflow checks, `assert!`s that the entry size is 128 and `unwrap()`s in its alignment guess (a
//!   used entry at LBA 0 panics). Since a DDI is attacker-supplied, we parse the ~100 bytes of header and
//!   the entry array ourselves with hard caps, verify both CRC32s, and try 512- then 4096-byte sectors
//!   like `gptman::GPT::find_from`. gptman is still used by the tests as a cross-check.
//! * **Our own partition-type table.** GPT crates do not know systemd's Discoverable Partitions
//!   Specification types (usr, verity, verity-sig). [`DPS_TYPES`] was generated from systemd 257's
//!   own table (`systemd-id128 show`) and agrees with UAPI.2 for x86-64 and arm64.
//! * **Choice as systemd-sysext makes it** (`dissect_image()` with `DISSECT_IMAGE_GENERIC_ROOT` and
//!   `DISSECT_IMAGE_USR_NO_ROOT`): the root partition for the architecture (else for its secondary
//!   architecture, x86 under x86-64 and arm under arm64); else the usr partition likewise; else exactly
//!   one generic Linux data partition — several are refused, like systemd's `-ENOTUNIQ`. Partitions
//!   with the no-auto flag (bit 63) are ignored. Among several root (or usr) partitions of one type,
//!   systemd picks the highest version in the label; we do the same with a simplified version compare.
//!   Only squashfs and erofs are read inside; ext4, btrfs, xfs, vfat, f2fs are reported as unsupported.
//!
//! Not done here: the backup GPT header (libblkid falls back to it when the primary is corrupt),
//! verity verification (see the verity work; we only list the paired partitions).
//!
//! Split by concern: `dps` is the partition-type table (data), `gpt` parses the header and entry
//! array (pure, bounded), `choose` picks the partition as systemd-sysext would, and `open` sniffs
//! the file system inside and opens a reader. This module holds the resulting [`Ddi`] and the
//! limits shared by all of them.

mod choose;
mod dps;
mod gpt;
mod open;

pub use dps::{Designator, PartitionRole, DPS_TYPES};
pub use gpt::{crc32, guid_to_string, has_gpt_signature};
pub use open::open_any;

use std::fmt;
use std::sync::Arc;

use crate::fsimage::FsError;
use crate::readat::{ReadAt, Window};
use choose::choose;
use gpt::parse_gpt_at;

/// Most partition entries we accept (systemd images have 128).
pub const MAX_PARTITION_ENTRIES: u32 = 16384;
/// Largest partition entry we accept (the spec uses 128 × 2ⁿ).
pub const MAX_ENTRY_SIZE: u32 = 4096;
/// Largest partition entry array we read.
pub const MAX_ENTRY_ARRAY: u64 = 4 * 1024 * 1024;

/// GPT type of generic Linux data partitions.
pub const LINUX_GENERIC: &str = "0fc63daf-8483-4772-8e79-3d69d8477de4";
/// GPT type of EFI System Partitions.
pub const ESP: &str = "c12a7328-f81f-11d2-ba4b-00a0c93ec93b";
/// Partition attribute bit 63: do not auto-mount.
pub const FLAG_NO_AUTO: u64 = 1 << 63;
/// Partition attribute bit 60: read-only.
pub const FLAG_READ_ONLY: u64 = 1 << 60;
/// Partition attribute bit 59: grow file system.
pub const FLAG_GROWFS: u64 = 1 << 59;

/// One used GPT partition entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Partition {
    /// 1-based entry number (as in `/dev/sda<N>`).
    pub index: u32,
    /// Type GUID, canonical lowercase.
    pub type_guid: String,
    /// Partition GUID, canonical lowercase.
    pub uuid: String,
    /// Partition name (UTF-16 decoded, up to the first NUL).
    pub label: String,
    /// Byte offset of the first sector.
    pub first_byte: u64,
    /// Size in bytes.
    pub size_bytes: u64,
    /// Attribute bits.
    pub flags: u64,
    /// Role from our DPS table.
    pub role: PartitionRole,
}

impl Partition {
    /// Whether the partition lies wholly inside an image of `image_size` bytes.
    pub fn fits(&self, image_size: u64) -> bool {
        self.first_byte
            .checked_add(self.size_bytes)
            .is_some_and(|end| end <= image_size)
    }
}

/// Partition layout of a DDI, and what systemd would use of it.
#[derive(Clone)]
pub struct Ddi {
    /// Logical sector size the GPT was found with (512 or 4096).
    pub sector_size: u64,
    /// Disk GUID, canonical lowercase.
    pub disk_guid: String,
    /// Used partition entries in table order.
    pub partitions: Vec<Partition>,
    /// Entry number of the partition systemd would mount, if any.
    pub chosen: Option<u32>,
    /// Entry number of the verity partition paired with the chosen one.
    pub verity: Option<u32>,
    /// Entry number of the verity signature partition paired with the chosen one.
    pub verity_sig: Option<u32>,
    src: Arc<dyn ReadAt>,
}

impl fmt::Debug for Ddi {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Ddi")
            .field("sector_size", &self.sector_size)
            .field("disk_guid", &self.disk_guid)
            .field("partitions", &self.partitions)
            .field("chosen", &self.chosen)
            .field("verity", &self.verity)
            .field("verity_sig", &self.verity_sig)
            .finish()
    }
}

impl Ddi {
    /// The partition with entry number `index`.
    pub fn partition(&self, index: u32) -> Option<&Partition> {
        self.partitions.iter().find(|p| p.index == index)
    }
    /// The partition systemd would mount.
    pub fn chosen_partition(&self) -> Option<&Partition> {
        self.chosen.and_then(|i| self.partition(i))
    }
    /// The verity partition paired with the chosen one.
    pub fn verity_partition(&self) -> Option<&Partition> {
        self.verity.and_then(|i| self.partition(i))
    }
    /// The verity signature partition paired with the chosen one.
    pub fn verity_sig_partition(&self) -> Option<&Partition> {
        self.verity_sig.and_then(|i| self.partition(i))
    }
    /// A [`ReadAt`] over partition `index` (clamped to the image).
    pub fn partition_reader(&self, index: u32) -> Option<Window> {
        self.partition(index)
            .map(|p| Window::new(self.src.clone(), p.first_byte, p.size_bytes))
    }
}

/// Reads the whole content of partition `index`, failing with `TooLarge` over `max` bytes (e.g. the
/// verity signature partition, which systemd refuses above 4 MiB).
pub fn read_partition(ddi: &Ddi, index: u32, max: u64) -> Result<Vec<u8>, FsError> {
    let p = ddi
        .partition(index)
        .ok_or_else(|| FsError::NotFound(format!("partition {index}")))?;
    if p.size_bytes > max {
        return Err(FsError::TooLarge {
            what: format!("partition {index}"),
            limit: max,
        });
    }
    if !p.fits(ddi.src.size()) {
        return Err(malformed(format!(
            "partition {index} extends beyond the end of the image"
        )));
    }
    let len = usize::try_from(p.size_bytes).map_err(|_| malformed("partition too large"))?;
    let mut buf = vec![0u8; len];
    ddi.src.read_exact_at(p.first_byte, &mut buf)?;
    Ok(buf)
}

fn malformed(reason: impl Into<String>) -> FsError {
    FsError::Malformed {
        format: "GPT",
        reason: reason.into(),
    }
}

/// Parses the primary GPT of `src` (sector size auto-detected) and chooses the partition systemd
/// would mount for an extension on `arch`.
pub fn parse_ddi(src: Arc<dyn ReadAt>, arch: &str) -> Result<Ddi, FsError> {
    let mut first_err = None;
    for ss in [512u64, 4096] {
        match parse_gpt_at(&*src, ss) {
            Ok(Some((disk_guid, partitions))) => {
                let mut ddi = Ddi {
                    sector_size: ss,
                    disk_guid,
                    partitions,
                    chosen: None,
                    verity: None,
                    verity_sig: None,
                    src,
                };
                choose(&mut ddi, arch)?;
                return Ok(ddi);
            }
            Ok(None) => {}
            Err(e) => {
                if first_err.is_none() {
                    first_err = Some(e);
                }
            }
        }
    }
    Err(first_err.unwrap_or(FsError::UnknownFormat))
}
