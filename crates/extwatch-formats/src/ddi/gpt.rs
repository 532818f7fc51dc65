//! The primary GPT: header and entry array parsed with hard caps and both CRC32s checked (see the
//! parent module for why not `gptman`).

use super::{
    malformed, Partition, PartitionRole, MAX_ENTRY_ARRAY, MAX_ENTRY_SIZE, MAX_PARTITION_ENTRIES,
};
use crate::fsimage::FsError;
use crate::readat::ReadAt;

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

type Gpt = (String, Vec<Partition>);

pub(super) fn parse_gpt_at(src: &dyn ReadAt, ss: u64) -> Result<Option<Gpt>, FsError> {
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
            .map(|c| c.try_into().map_or(0, u16::from_le_bytes))
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
