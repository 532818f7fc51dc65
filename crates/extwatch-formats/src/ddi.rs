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

use std::cmp::Ordering;
use std::fmt;
use std::sync::Arc;

use crate::erofs::{ErofsReader, EROFS_MAGIC};
use crate::fsimage::{FsError, FsReader, OpenedImage, RawFormat};
use crate::readat::{ReadAt, Window};
use crate::squashfs::SquashfsReader;

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

/// What a Discoverable Partitions Specification type is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Designator {
    /// Root file system.
    Root,
    /// `/usr` file system.
    Usr,
    /// dm-verity hash data of the root partition.
    RootVerity,
    /// dm-verity hash data of the usr partition.
    UsrVerity,
    /// Signature (JSON + PKCS#7) of the root partition's verity root hash.
    RootVeritySig,
    /// Signature of the usr partition's verity root hash.
    UsrVeritySig,
}

/// Discoverable Partitions Specification types: (type GUID, systemd architecture, designator).
/// Generated from systemd 257's `systemd-id128 show`.
pub const DPS_TYPES: &[(&str, &str, Designator)] = &[
    (
        "69dad710-2ce4-4e3c-b16c-21a1d49abed3",
        "arm",
        Designator::Root,
    ),
    (
        "7386cdf2-203c-47a9-a498-f2ecce45a2d6",
        "arm",
        Designator::RootVerity,
    ),
    (
        "42b0455f-eb11-491d-98d3-56145ba9d037",
        "arm",
        Designator::RootVeritySig,
    ),
    (
        "7d0359a3-02b3-4f0a-865c-654403e70625",
        "arm",
        Designator::Usr,
    ),
    (
        "c215d751-7bcd-4649-be90-6627490a4c05",
        "arm",
        Designator::UsrVerity,
    ),
    (
        "d7ff812f-37d1-4902-a810-d76ba57b975a",
        "arm",
        Designator::UsrVeritySig,
    ),
    (
        "b921b045-1df0-41c3-af44-4c6f280d3fae",
        "arm64",
        Designator::Root,
    ),
    (
        "df3300ce-d69f-4c92-978c-9bfb0f38d820",
        "arm64",
        Designator::RootVerity,
    ),
    (
        "6db69de6-29f4-4758-a7a5-962190f00ce3",
        "arm64",
        Designator::RootVeritySig,
    ),
    (
        "b0e01050-ee5f-4390-949a-9101b17104e9",
        "arm64",
        Designator::Usr,
    ),
    (
        "6e11a4e7-fbca-4ded-b9e9-e1a512bb664e",
        "arm64",
        Designator::UsrVerity,
    ),
    (
        "c23ce4ff-44bd-4b00-b2d4-b41b3419e02a",
        "arm64",
        Designator::UsrVeritySig,
    ),
    (
        "77055800-792c-4f94-b39a-98c91b762bb6",
        "loongarch64",
        Designator::Root,
    ),
    (
        "f3393b22-e9af-4613-a948-9d3bfbd0c535",
        "loongarch64",
        Designator::RootVerity,
    ),
    (
        "5afb67eb-ecc8-4f85-ae8e-ac1e7c50e7d0",
        "loongarch64",
        Designator::RootVeritySig,
    ),
    (
        "e611c702-575c-4cbe-9a46-434fa0bf7e3f",
        "loongarch64",
        Designator::Usr,
    ),
    (
        "f46b2c26-59ae-48f0-9106-c50ed47f673d",
        "loongarch64",
        Designator::UsrVerity,
    ),
    (
        "b024f315-d330-444c-8461-44bbde524e99",
        "loongarch64",
        Designator::UsrVeritySig,
    ),
    (
        "c31c45e6-3f39-412e-80fb-4809c4980599",
        "ppc64-le",
        Designator::Root,
    ),
    (
        "906bd944-4589-4aae-a4e4-dd983917446a",
        "ppc64-le",
        Designator::RootVerity,
    ),
    (
        "d4a236e7-e873-4c07-bf1d-bf6cf7f1c3c6",
        "ppc64-le",
        Designator::RootVeritySig,
    ),
    (
        "15bb03af-77e7-4d4a-b12b-c0d084f7491c",
        "ppc64-le",
        Designator::Usr,
    ),
    (
        "ee2b9983-21e8-4153-86d9-b6901a54d1ce",
        "ppc64-le",
        Designator::UsrVerity,
    ),
    (
        "c8bfbd1e-268e-4521-8bba-bf314c399557",
        "ppc64-le",
        Designator::UsrVeritySig,
    ),
    (
        "72ec70a6-cf74-40e6-bd49-4bda08e8f224",
        "riscv64",
        Designator::Root,
    ),
    (
        "b6ed5582-440b-4209-b8da-5ff7c419ea3d",
        "riscv64",
        Designator::RootVerity,
    ),
    (
        "efe0f087-ea8d-4469-821a-4c2a96a8386a",
        "riscv64",
        Designator::RootVeritySig,
    ),
    (
        "beaec34b-8442-439b-a40b-984381ed097d",
        "riscv64",
        Designator::Usr,
    ),
    (
        "8f1056be-9b05-47c4-81d6-be53128e5b54",
        "riscv64",
        Designator::UsrVerity,
    ),
    (
        "d2f9000a-7a18-453f-b5cd-4d32f77a7b32",
        "riscv64",
        Designator::UsrVeritySig,
    ),
    (
        "5eead9a9-fe09-4a1e-a1d7-520d00531306",
        "s390x",
        Designator::Root,
    ),
    (
        "b325bfbe-c7be-4ab8-8357-139e652d2f6b",
        "s390x",
        Designator::RootVerity,
    ),
    (
        "c80187a5-73a3-491a-901a-017c3fa953e9",
        "s390x",
        Designator::RootVeritySig,
    ),
    (
        "8a4f5770-50aa-4ed3-874a-99b710db6fea",
        "s390x",
        Designator::Usr,
    ),
    (
        "31741cc4-1a2a-4111-a581-e00b447d2d06",
        "s390x",
        Designator::UsrVerity,
    ),
    (
        "3f324816-667b-46ae-86ee-9b0c0c6c11b4",
        "s390x",
        Designator::UsrVeritySig,
    ),
    (
        "44479540-f297-41b2-9af7-d131d5f0458a",
        "x86",
        Designator::Root,
    ),
    (
        "d13c5d3b-b5d1-422a-b29f-9454fdc89d76",
        "x86",
        Designator::RootVerity,
    ),
    (
        "5996fc05-109c-48de-808b-23fa0830b676",
        "x86",
        Designator::RootVeritySig,
    ),
    (
        "75250d76-8cc6-458e-bd66-bd47cc81a812",
        "x86",
        Designator::Usr,
    ),
    (
        "8f461b0d-14ee-4e81-9aa9-049b6fb97abd",
        "x86",
        Designator::UsrVerity,
    ),
    (
        "974a71c0-de41-43c3-be5d-5c5ccd1ad2c0",
        "x86",
        Designator::UsrVeritySig,
    ),
    (
        "4f68bce3-e8cd-4db1-96e7-fbcaf984b709",
        "x86-64",
        Designator::Root,
    ),
    (
        "2c7357ed-ebd2-46d9-aec1-23d437ec2bf5",
        "x86-64",
        Designator::RootVerity,
    ),
    (
        "41092b05-9fc8-4523-994f-2def0408b176",
        "x86-64",
        Designator::RootVeritySig,
    ),
    (
        "8484680c-9521-48c6-9c11-b0720656f69e",
        "x86-64",
        Designator::Usr,
    ),
    (
        "77ff5f63-e7b6-4633-acf4-1565b864c0e6",
        "x86-64",
        Designator::UsrVerity,
    ),
    (
        "e7bb33fb-06cf-4e81-8273-e543b413e2e2",
        "x86-64",
        Designator::UsrVeritySig,
    ),
];

/// Role of a partition according to our DPS table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PartitionRole {
    /// A DPS type for an architecture (`x86-64`, `arm64`, ...).
    Dps {
        /// Root, usr, verity or verity signature.
        designator: Designator,
        /// systemd architecture name.
        arch: &'static str,
    },
    /// Generic Linux data (0fc63daf-…).
    LinuxGeneric,
    /// EFI System Partition.
    Esp,
    /// Any other type.
    Other,
}

impl PartitionRole {
    /// Classifies a canonical lowercase type GUID.
    pub fn from_type_guid(guid: &str) -> PartitionRole {
        if guid == LINUX_GENERIC {
            return PartitionRole::LinuxGeneric;
        }
        if guid == ESP {
            return PartitionRole::Esp;
        }
        DPS_TYPES
            .iter()
            .find(|(g, _, _)| *g == guid)
            .map(|&(_, arch, designator)| PartitionRole::Dps { designator, arch })
            .unwrap_or(PartitionRole::Other)
    }
}

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

/// Canonical lowercase string of an on-disk (mixed-endian) GUID.
pub fn guid_to_string(b: &[u8; 16]) -> String {
    format!(
        "{:02x}{:02x}{:02x}{:02x}-{:02x}{:02x}-{:02x}{:02x}-{:02x}{:02x}-{:02x}{:02x}{:02x}{:02x}{:02x}{:02x}",
        b[3], b[2], b[1], b[0], b[5], b[4], b[7], b[6], b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]
    )
}

/// CRC-32 (IEEE 802.3, reflected), as used by GPT.
pub fn crc32(data: &[u8]) -> u32 {
    let mut crc = 0xffff_ffffu32;
    for &byte in data {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            let mask = (crc & 1).wrapping_neg();
            crc = (crc >> 1) ^ (0xedb8_8320 & mask);
        }
    }
    !crc
}

fn le32(b: &[u8], at: usize) -> u32 {
    b.get(at..at + 4)
        .and_then(|s| s.try_into().ok())
        .map(u32::from_le_bytes)
        .unwrap_or(0)
}
fn le64(b: &[u8], at: usize) -> u64 {
    b.get(at..at + 8)
        .and_then(|s| s.try_into().ok())
        .map(u64::from_le_bytes)
        .unwrap_or(0)
}
fn guid_at(b: &[u8], at: usize) -> [u8; 16] {
    b.get(at..at + 16)
        .and_then(|s| s.try_into().ok())
        .unwrap_or([0u8; 16])
}

/// Whether `src` has a GPT header signature at LBA 1 for 512- or 4096-byte sectors.
pub fn has_gpt_signature(src: &dyn ReadAt) -> bool {
    [512u64, 4096].iter().any(|&ss| {
        let mut sig = [0u8; 8];
        src.read_exact_at(ss, &mut sig).is_ok() && &sig == b"EFI PART"
    })
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

type Gpt = (String, Vec<Partition>);

fn parse_gpt_at(src: &dyn ReadAt, ss: u64) -> Result<Option<Gpt>, FsError> {
    let mut hdr = vec![0u8; ss as usize];
    if src.read_exact_at(ss, &mut hdr).is_err() {
        return Ok(None);
    }
    if hdr.get(0..8) != Some(b"EFI PART".as_slice()) {
        return Ok(None);
    }
    if le32(&hdr, 8) != 0x0001_0000 {
        return Err(malformed("unsupported GPT revision"));
    }
    let hsize = le32(&hdr, 12) as usize;
    if hsize < 92 || hsize > hdr.len() {
        return Err(malformed(format!("bad GPT header size {hsize}")));
    }
    let want = le32(&hdr, 16);
    let mut h = hdr.get(..hsize).unwrap_or_default().to_vec();
    if let Some(c) = h.get_mut(16..20) {
        c.fill(0);
    }
    if crc32(&h) != want {
        return Err(malformed("GPT header checksum mismatch"));
    }
    if le64(&hdr, 24) != 1 {
        return Err(malformed("GPT header is not at LBA 1"));
    }
    let disk_guid = guid_to_string(&guid_at(&hdr, 56));
    let entries_lba = le64(&hdr, 72);
    let count = le32(&hdr, 80);
    let esize = le32(&hdr, 84);
    let array_crc = le32(&hdr, 88);
    if count > MAX_PARTITION_ENTRIES {
        return Err(malformed(format!(
            "{count} partition entries (more than {MAX_PARTITION_ENTRIES})"
        )));
    }
    if !(128..=MAX_ENTRY_SIZE).contains(&esize) || !esize.is_multiple_of(8) {
        return Err(malformed(format!("bad partition entry size {esize}")));
    }
    let array_len = u64::from(count) * u64::from(esize);
    if array_len > MAX_ENTRY_ARRAY {
        return Err(malformed("partition entry array too large"));
    }
    let array_at = entries_lba
        .checked_mul(ss)
        .filter(|&a| a.checked_add(array_len).is_some_and(|e| e <= src.size()))
        .ok_or_else(|| malformed("partition entry array beyond the end of the image"))?;
    let mut array = vec![0u8; array_len as usize];
    src.read_exact_at(array_at, &mut array)?;
    if crc32(&array) != array_crc {
        return Err(malformed("partition entry array checksum mismatch"));
    }
    let mut partitions = Vec::new();
    for (i, e) in array.chunks_exact(esize as usize).enumerate() {
        let tg = guid_at(e, 0);
        if tg == [0u8; 16] {
            continue;
        }
        let index = u32::try_from(i + 1).unwrap_or(u32::MAX);
        let first = le64(e, 32);
        let last = le64(e, 40);
        if last < first {
            return Err(malformed(format!(
                "partition {index} ends before it starts"
            )));
        }
        let first_byte = first
            .checked_mul(ss)
            .ok_or_else(|| malformed(format!("partition {index} offset overflows")))?;
        let size_bytes = (last - first)
            .checked_add(1)
            .and_then(|n| n.checked_mul(ss))
            .ok_or_else(|| malformed(format!("partition {index} size overflows")))?;
        let units: Vec<u16> = e
            .get(56..128)
            .unwrap_or_default()
            .chunks_exact(2)
            .map(|c| u16::from_le_bytes([c[0], c[1]]))
            .take_while(|&u| u != 0)
            .collect();
        let type_guid = guid_to_string(&tg);
        let role = PartitionRole::from_type_guid(&type_guid);
        partitions.push(Partition {
            index,
            type_guid,
            uuid: guid_to_string(&guid_at(e, 16)),
            label: String::from_utf16_lossy(&units),
            first_byte,
            size_bytes,
            flags: le64(e, 48),
            role,
        });
    }
    Ok(Some((disk_guid, partitions)))
}

/// Simplified `strverscmp_improved()`: digit runs compare numerically, everything else bytewise.
fn version_cmp(a: &str, b: &str) -> Ordering {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let (mut i, mut j) = (0, 0);
    while i < a.len() && j < b.len() {
        let (ca, cb) = (a[i], b[j]);
        if ca.is_ascii_digit() && cb.is_ascii_digit() {
            let si = i;
            while i < a.len() && a[i].is_ascii_digit() {
                i += 1;
            }
            let sj = j;
            while j < b.len() && b[j].is_ascii_digit() {
                j += 1;
            }
            let na = a[si..i].iter().skip_while(|&&c| c == b'0').count();
            let nb = b[sj..j].iter().skip_while(|&&c| c == b'0').count();
            let ord = na.cmp(&nb).then_with(|| a[i - na..i].cmp(&b[j - nb..j]));
            if ord != Ordering::Equal {
                return ord;
            }
        } else {
            if ca != cb {
                return ca.cmp(&cb);
            }
            i += 1;
            j += 1;
        }
    }
    (a.len() - i).cmp(&(b.len() - j))
}

fn canonical_arch(arch: &str) -> &str {
    match arch {
        "x86_64" | "amd64" => "x86-64",
        "aarch64" => "arm64",
        "ppc64le" => "ppc64-le",
        "i386" | "i486" | "i586" | "i686" => "x86",
        other => other,
    }
}

fn secondary_arch(arch: &str) -> Option<&'static str> {
    match arch {
        "x86-64" => Some("x86"),
        "arm64" => Some("arm"),
        _ => None,
    }
}

fn find_dps<'a>(ddi: &'a Ddi, d: Designator, arch: &str) -> Option<&'a Partition> {
    let mut best: Option<&Partition> = None;
    for p in &ddi.partitions {
        if p.flags & FLAG_NO_AUTO != 0 {
            continue;
        }
        match p.role {
            PartitionRole::Dps {
                designator,
                arch: a,
            } if designator == d && a == arch => {}
            _ => continue,
        }
        best = match best {
            Some(b) if version_cmp(&p.label, &b.label) != Ordering::Greater => Some(b),
            _ => Some(p),
        };
    }
    best
}

fn choose(ddi: &mut Ddi, arch: &str) -> Result<(), FsError> {
    let arch = canonical_arch(arch);
    let mut arches = vec![arch];
    arches.extend(secondary_arch(arch));
    for (data, verity, sig) in [
        (
            Designator::Root,
            Designator::RootVerity,
            Designator::RootVeritySig,
        ),
        (
            Designator::Usr,
            Designator::UsrVerity,
            Designator::UsrVeritySig,
        ),
    ] {
        for a in &arches {
            if let Some(p) = find_dps(ddi, data, a) {
                let chosen = p.index;
                let v = find_dps(ddi, verity, a).map(|p| p.index);
                let s = find_dps(ddi, sig, a).map(|p| p.index);
                ddi.chosen = Some(chosen);
                ddi.verity = v;
                ddi.verity_sig = s;
                return Ok(());
            }
        }
    }
    let generic: Vec<u32> = ddi
        .partitions
        .iter()
        .filter(|p| p.role == PartitionRole::LinuxGeneric && p.flags & FLAG_NO_AUTO == 0)
        .map(|p| p.index)
        .collect();
    match generic.as_slice() {
        [one] => {
            ddi.chosen = Some(*one);
            Ok(())
        }
        [] => Err(FsError::NoUsablePartition(format!(
            "no root or usr partition for {arch} and no generic Linux data partition"
        ))),
        many => Err(FsError::NoUsablePartition(format!(
            "{} generic Linux data partitions ({}) and no root/usr partition for {arch}: \
             ambiguous, systemd refuses this with ENOTUNIQ",
            many.len(),
            many.iter()
                .map(|i| i.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ))),
    }
}

/// What file system a byte source holds, by magic number.
fn sniff_fs(src: &dyn ReadAt) -> Option<&'static str> {
    let at = |off: u64, len: usize| {
        let mut b = vec![0u8; len];
        src.read_exact_at(off, &mut b).ok().map(|_| b)
    };
    if at(0, 4).as_deref() == Some(b"hsqs".as_slice()) {
        return Some("squashfs");
    }
    if at(1024, 4).as_deref() == Some(EROFS_MAGIC.to_le_bytes().as_slice()) {
        return Some("erofs");
    }
    if at(1080, 2).as_deref() == Some([0x53, 0xef].as_slice()) {
        return Some("ext4");
    }
    if at(65600, 8).as_deref() == Some(b"_BHRfS_M".as_slice()) {
        return Some("btrfs");
    }
    if at(0, 4).as_deref() == Some(b"XFSB".as_slice()) {
        return Some("xfs");
    }
    if at(1024, 4).as_deref() == Some(0xF2F5_2010u32.to_le_bytes().as_slice()) {
        return Some("f2fs");
    }
    if at(510, 2).as_deref() == Some([0x55, 0xaa].as_slice()) {
        if let Some(b) = at(54, 8) {
            if b.starts_with(b"FAT") {
                return Some("vfat");
            }
        }
        if let Some(b) = at(82, 8) {
            if b.starts_with(b"FAT32") {
                return Some("vfat");
            }
        }
    }
    None
}

/// A file-system type name and a reader for it.
type OpenedFs = (&'static str, Box<dyn FsReader>);

fn open_fs(src: Arc<dyn ReadAt>) -> Result<Option<OpenedFs>, FsError> {
    match sniff_fs(&*src) {
        Some("squashfs") => Ok(Some(("squashfs", Box::new(SquashfsReader::open(src)?)))),
        Some("erofs") => Ok(Some(("erofs", Box::new(ErofsReader::open(src)?)))),
        _ => Ok(None),
    }
}

/// Opens any raw image: naked squashfs, naked erofs, or a GPT DDI.
pub fn open_any(src: Arc<dyn ReadAt>, arch: &str) -> Result<OpenedImage, FsError> {
    if let Some((fstype, fs)) = open_fs(src.clone())? {
        let format = if fstype == "squashfs" {
            RawFormat::Squashfs
        } else {
            RawFormat::Erofs
        };
        return Ok(OpenedImage {
            format,
            fs,
            ddi: None,
            fstype,
        });
    }
    if !has_gpt_signature(&*src) {
        return Err(FsError::UnknownFormat);
    }
    let ddi = parse_ddi(src.clone(), arch)?;
    let part = ddi
        .chosen_partition()
        .ok_or_else(|| FsError::NoUsablePartition("no partition chosen".into()))?
        .clone();
    if !part.fits(src.size()) {
        return Err(malformed(format!(
            "partition {} ({}..+{}) extends beyond the end of the image ({} bytes)",
            part.index,
            part.first_byte,
            part.size_bytes,
            src.size()
        )));
    }
    let win: Arc<dyn ReadAt> = Arc::new(Window::new(src, part.first_byte, part.size_bytes));
    match open_fs(win.clone())? {
        Some((fstype, fs)) => Ok(OpenedImage {
            format: RawFormat::Ddi,
            fs,
            ddi: Some(ddi),
            fstype,
        }),
        None => {
            let what = sniff_fs(&*win).unwrap_or("an unrecognised file system");
            Err(FsError::Malformed {
                format: "DDI",
                reason: format!(
                    "unsupported filesystem: partition {} holds {what}; only squashfs and erofs are read",
                    part.index
                ),
            })
        }
    }
}
