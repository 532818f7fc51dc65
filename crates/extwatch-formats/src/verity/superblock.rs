//! The dm-verity superblock (`struct verity_sb` in cryptsetup `lib/verity/verity.c`) and the tree
//! geometry its parameters imply: pure functions over bytes, no I/O.

use super::{VerityError, MAX_LEVELS, SUPERBLOCK_SIZE};

/// Hash algorithm of the tree.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Algorithm {
    /// SHA-256 (what systemd-repart and veritysetup use by default).
    Sha256,
    /// SHA-512.
    Sha512,
}

impl Algorithm {
    pub(super) fn digest_size(self) -> usize {
        match self {
            Algorithm::Sha256 => 32,
            Algorithm::Sha512 => 64,
        }
    }
    /// The name as in the superblock.
    pub fn name(self) -> &'static str {
        match self {
            Algorithm::Sha256 => "sha256",
            Algorithm::Sha512 => "sha512",
        }
    }
}

/// Verity parameters (from a superblock, or given).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerityParams {
    /// 0 = Chrome OS (salt appended, no slot padding), 1 = normal.
    pub hash_type: u32,
    /// UUID from the superblock (lowercase, hyphenated).
    pub uuid: String,
    /// Tree hash.
    pub algorithm: Algorithm,
    /// Data block size.
    pub data_block_size: u32,
    /// Hash block size.
    pub hash_block_size: u32,
    /// Number of data blocks covered.
    pub data_blocks: u64,
    /// Salt.
    pub salt: Vec<u8>,
}

/// The `N` bytes at `at` (zeros past the end: callers have checked the length already).
fn array_at<const N: usize>(b: &[u8], at: usize) -> [u8; N] {
    at.checked_add(N)
        .and_then(|end| b.get(at..end))
        .and_then(|s| s.try_into().ok())
        .unwrap_or([0; N])
}

fn u32_at(b: &[u8], o: usize) -> u32 {
    u32::from_le_bytes(array_at(b, o))
}

/// Parses the 512-byte superblock at the start of a hash device.
pub fn parse_superblock(b: &[u8]) -> Result<VerityParams, VerityError> {
    if b.len() < SUPERBLOCK_SIZE || b.get(..8) != Some(b"verity\0\0".as_slice()) {
        return Err(VerityError::NoSuperblock);
    }
    let version = u32_at(b, 8);
    if version != 1 {
        return Err(VerityError::Invalid(format!("version {version}")));
    }
    let hash_type = u32_at(b, 12);
    if hash_type > 1 {
        return Err(VerityError::Invalid(format!("hash type {hash_type}")));
    }
    let u: [u8; 16] = array_at(b, 16);
    let uuid = format!(
        "{}-{}-{}-{}-{}",
        hex::encode(&u[0..4]),
        hex::encode(&u[4..6]),
        hex::encode(&u[6..8]),
        hex::encode(&u[8..10]),
        hex::encode(&u[10..16])
    );
    let alg_raw: [u8; 32] = array_at(b, 32);
    let alg_name = alg_raw.split(|c| *c == 0).next().unwrap_or_default();
    let alg = String::from_utf8_lossy(alg_name).to_ascii_lowercase();
    let algorithm = match alg.as_str() {
        "sha256" => Algorithm::Sha256,
        "sha512" => Algorithm::Sha512,
        _ => return Err(VerityError::Algorithm(alg)),
    };
    let data_block_size = u32_at(b, 64);
    let hash_block_size = u32_at(b, 68);
    let data_blocks = u64::from_le_bytes(array_at(b, 72));
    let salt_size = usize::from(u16::from_le_bytes(array_at(b, 80)));
    if salt_size > 256 {
        return Err(VerityError::Invalid(format!("salt size {salt_size}")));
    }
    // 88 + 256 is inside the 512 bytes checked above.
    let salt = b.get(88..88 + salt_size).unwrap_or_default().to_vec();
    let p = VerityParams {
        hash_type,
        uuid,
        algorithm,
        data_block_size,
        hash_block_size,
        data_blocks,
        salt,
    };
    p.check()?;
    Ok(p)
}

impl VerityParams {
    pub(super) fn check(&self) -> Result<(), VerityError> {
        for (what, s) in [
            ("data block size", self.data_block_size),
            ("hash block size", self.hash_block_size),
        ] {
            if !(512..=1 << 20).contains(&s) || !s.is_power_of_two() {
                return Err(VerityError::Invalid(format!("{what} {s}")));
            }
        }
        if (self.hash_block_size as usize) < self.slot() * 2 {
            return Err(VerityError::Invalid(
                "hash block smaller than two digests".into(),
            ));
        }
        if self.data_blocks == 0 {
            return Err(VerityError::Invalid("zero data blocks".into()));
        }
        Ok(())
    }

    pub(super) fn slot(&self) -> usize {
        let d = self.algorithm.digest_size();
        if self.hash_type == 0 {
            d
        } else {
            d.next_power_of_two()
        }
    }

    /// Bytes of data the tree covers.
    pub fn data_size(&self) -> u64 {
        self.data_blocks
            .saturating_mul(u64::from(self.data_block_size))
    }

    /// Per level (0 = leaves): (first hash block index on the hash device, number of blocks).
    /// `tree_start` is the block index where the tree begins (1 after a superblock).
    pub fn levels(&self, tree_start: u64) -> Result<Vec<(u64, u64)>, VerityError> {
        let per = (self.hash_block_size as usize / self.slot()) as u64;
        let bits = per.trailing_zeros();
        let n = self.data_blocks;
        let mut levels = 0usize;
        while (bits as usize * levels) < 64 && ((n - 1) >> (bits as usize * levels)) != 0 {
            levels += 1;
        }
        if levels > MAX_LEVELS {
            return Err(VerityError::Invalid(format!("{levels} tree levels")));
        }
        let mut out = vec![(0u64, 0u64); levels];
        let mut pos = tree_start;
        for (i, level) in out.iter_mut().enumerate().rev() {
            let shift = (i as u32 + 1) * bits;
            let s = if shift >= 64 {
                1
            } else {
                (n >> shift) + u64::from(n & ((1u64 << shift) - 1) != 0)
            };
            *level = (pos, s);
            pos = pos
                .checked_add(s)
                .ok_or_else(|| VerityError::Invalid("hash tree size overflows".into()))?;
        }
        Ok(out)
    }
}
