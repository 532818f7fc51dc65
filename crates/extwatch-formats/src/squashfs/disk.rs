//! squashfs 4.0 on-disk structures and pure parsers over bytes (no I/O).
//!
//! Format reference: the kernel's `fs/squashfs/squashfs_fs.h` and the community specification
//! <https://dr-emann.github.io/squashfs/>. All integers are little-endian.
//!
//! * **Superblock** (96 bytes at offset 0): magic `hsqs`, inode count, block size (4 KiB–1 MiB,
//!   power of two, `block_log` its log2), fragment count, compressor id, flags, id count, version
//!   4.0, root inode reference, bytes used, and the start of the id, xattr, inode, directory,
//!   fragment and export tables.
//! * **Metadata blocks**: a u16 header (bit 15: stored uncompressed; low 15 bits: stored length,
//!   at most 8 KiB) then the payload, at most 8 KiB once decompressed. The inode and directory
//!   tables are runs of such blocks; an **inode reference** is `(block start relative to the
//!   inode table) << 16 | offset inside the decompressed block`.
//! * **Inodes**: a 16-byte header (type, mode, uid index, gid index, mtime, inode number) then a
//!   type-specific body (see [`InodeBody`]); file inodes end in their data-block size list,
//!   symlinks in their target, extended directories in a directory index.
//! * **Directory listings**: runs of a 12-byte header (count − 1, inode block, base inode number)
//!   followed by count entries (u16 offset in the inode block, i16 inode number delta, u16 basic
//!   type, u16 name length − 1, name). A directory's `file_size` is the listing size + 3.
//! * **Data block sizes**: bit 24 set means stored uncompressed, low 24 bits the stored size, 0 a
//!   sparse block of zeros. Fragment table entries (16 bytes): start, size (same encoding), unused.

/// Largest decompressed metadata block.
pub const METADATA_SIZE: usize = 8192;
/// Superblock size.
pub const SUPERBLOCK_SIZE: usize = 96;
/// "Not present" marker for table pointers.
pub const NOT_SET: u64 = u64::MAX;
/// Inode field value meaning "no xattrs".
pub const NO_XATTR: u32 = u32::MAX;
/// `frag_index` of a file without a fragment.
pub const NO_FRAGMENT: u32 = u32::MAX;
/// Longest name a directory entry can hold (`name_size` + 1 with `name_size` < 256).
pub const MAX_NAME: usize = 256;
/// Most entries after one directory header (the kernel's `SQUASHFS_DIR_COUNT`).
pub const DIR_COUNT: u32 = 256;
/// Bit marking an uncompressed data block or fragment.
pub const DATA_UNCOMPRESSED: u32 = 1 << 24;

pub(crate) fn le16(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes(
        b.get(at..at.checked_add(2)?)?.try_into().ok()?,
    ))
}
pub(crate) fn le32(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(
        b.get(at..at.checked_add(4)?)?.try_into().ok()?,
    ))
}
pub(crate) fn le64(b: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_le_bytes(
        b.get(at..at.checked_add(8)?)?.try_into().ok()?,
    ))
}

/// The squashfs 4.0 superblock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Superblock {
    /// Number of inodes.
    pub inode_count: u32,
    /// Data block size.
    pub block_size: u32,
    /// Number of fragment table entries.
    pub frag_count: u32,
    /// Compressor id.
    pub compressor: u16,
    /// Flags.
    pub flags: u16,
    /// Entries in the id table.
    pub id_count: u16,
    /// Root directory inode reference.
    pub root_inode: u64,
    /// Bytes of the image in use.
    pub bytes_used: u64,
    /// Id table index.
    pub id_table: u64,
    /// Xattr id table ([`NOT_SET`] if none).
    pub xattr_table: u64,
    /// Inode table start.
    pub inode_table: u64,
    /// Directory table start.
    pub dir_table: u64,
    /// Fragment table index ([`NOT_SET`] if none).
    pub frag_table: u64,
}

/// Why a squashfs on-disk structure is malformed. The messages are the `reason` of the
/// [`FsError::Malformed`](crate::FsError::Malformed) the reader reports, so they stay short.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DiskError {
    /// Fewer bytes than a superblock.
    #[error("image shorter than a superblock")]
    ShortSuperblock,
    /// No `hsqs` magic.
    #[error("bad magic")]
    BadMagic,
    /// Not squashfs 4.0.
    #[error("unsupported version {major}.{minor}")]
    Version {
        /// Major version.
        major: u16,
        /// Minor version.
        minor: u16,
    },
    /// Block size not a power of two in 4 KiB–1 MiB, or disagreeing with `block_log`.
    #[error("invalid block size {0}")]
    BlockSize(u32),
    /// A compressor id this reader does not know.
    #[error("unknown compressor id {0}")]
    Compressor(u16),
    /// The inode and directory tables are not in order inside the image.
    #[error("inode/directory tables out of order or out of range")]
    TableOrder,
    /// No uid/gid entries.
    #[error("empty id table")]
    EmptyIdTable,
    /// No inodes.
    #[error("no inodes")]
    NoInodes,
    /// An inode or directory reference whose offset is outside a metadata block.
    #[error("reference offset {0} beyond an 8 KiB metadata block")]
    RefOffset(usize),
    /// An inode or directory reference whose block start is out of range.
    #[error("reference block {0} out of range")]
    RefBlock(u64),
    /// A structure cut short.
    #[error("truncated {0}")]
    Truncated(&'static str),
    /// An inode body cut short.
    #[error("truncated inode of type {0}")]
    TruncatedInode(u16),
    /// An inode type outside 1–14.
    #[error("unknown inode type {0}")]
    InodeType(u16),
    /// A directory header claiming more than 256 entries.
    #[error("directory header counts {0} entries (at most 256)")]
    DirCount(u64),
    /// A directory entry type outside 1–7.
    #[error("directory entry of unknown type {0}")]
    EntryType(u16),
    /// A directory entry name longer than 256 bytes.
    #[error("directory entry name of {0} bytes")]
    NameLength(usize),
    /// A directory entry whose inode offset is outside a metadata block.
    #[error("directory entry inode offset {0} beyond its block")]
    EntryOffset(u16),
    /// An empty name.
    #[error("empty entry name")]
    EmptyName,
    /// A name `.` or `..` (shown escaped).
    #[error("entry named \"{0}\"")]
    DotName(String),
    /// A name holding `/` (shown escaped).
    #[error("entry name \"{0}\" contains '/'")]
    SlashInName(String),
    /// A name holding NUL (shown escaped).
    #[error("entry name \"{0}\" contains NUL")]
    NulInName(String),
    /// A metadata block header with length 0 or over 8 KiB.
    #[error("bad metadata block length {0}")]
    MetaLength(usize),
}

/// Parses and checks the superblock: magic, version 4.0, block size, table order.
pub fn parse_superblock(b: &[u8]) -> Result<Superblock, DiskError> {
    if b.len() < SUPERBLOCK_SIZE {
        return Err(DiskError::ShortSuperblock);
    }
    if b.get(0..4) != Some(b"hsqs") {
        return Err(DiskError::BadMagic);
    }
    let g16 = |at| le16(b, at).unwrap_or(0);
    let g32 = |at| le32(b, at).unwrap_or(0);
    let g64 = |at| le64(b, at).unwrap_or(0);
    let (major, minor) = (g16(28), g16(30));
    if (major, minor) != (4, 0) {
        return Err(DiskError::Version { major, minor });
    }
    let sb = Superblock {
        inode_count: g32(4),
        block_size: g32(12),
        frag_count: g32(16),
        compressor: g16(20),
        flags: g16(24),
        id_count: g16(26),
        root_inode: g64(32),
        bytes_used: g64(40),
        id_table: g64(48),
        xattr_table: g64(56),
        inode_table: g64(64),
        dir_table: g64(72),
        frag_table: g64(80),
    };
    let block_log = g16(22);
    if !(4096..=1 << 20).contains(&sb.block_size)
        || !sb.block_size.is_power_of_two()
        || u32::from(block_log) != sb.block_size.trailing_zeros()
    {
        return Err(DiskError::BlockSize(sb.block_size));
    }
    if !super::compress::supported(sb.compressor) {
        return Err(DiskError::Compressor(sb.compressor));
    }
    if sb.inode_table < SUPERBLOCK_SIZE as u64
        || sb.inode_table >= sb.dir_table
        || sb.dir_table >= sb.bytes_used
    {
        return Err(DiskError::TableOrder);
    }
    if sb.id_count == 0 {
        return Err(DiskError::EmptyIdTable);
    }
    if sb.inode_count == 0 {
        return Err(DiskError::NoInodes);
    }
    Ok(sb)
}

/// Splits an inode or directory reference into (metadata block start relative to its table,
/// offset inside the decompressed block), checking the offset is inside a block.
pub fn split_ref(r: u64) -> Result<(u64, usize), DiskError> {
    let block = r >> 16;
    let off = (r & 0xffff) as usize;
    if off >= METADATA_SIZE {
        return Err(DiskError::RefOffset(off));
    }
    if block >= 1 << 32 {
        return Err(DiskError::RefBlock(block));
    }
    Ok((block, off))
}

/// The 16-byte header every inode starts with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InodeHeader {
    /// Inode type 1–14.
    pub kind: u16,
    /// Permission bits (with setuid/setgid/sticky).
    pub mode: u16,
    /// Index of the owner in the id table.
    pub uid_idx: u16,
    /// Index of the group in the id table.
    pub gid_idx: u16,
    /// Modification time.
    pub mtime: u32,
    /// Inode number.
    pub number: u32,
}

/// Size of [`InodeHeader`].
pub const INODE_HEADER_SIZE: usize = 16;

/// Parses an inode header.
pub fn parse_inode_header(b: &[u8]) -> Result<InodeHeader, DiskError> {
    let bad = || DiskError::Truncated("inode header");
    let h = InodeHeader {
        kind: le16(b, 0).ok_or_else(bad)?,
        mode: le16(b, 2).ok_or_else(bad)?,
        uid_idx: le16(b, 4).ok_or_else(bad)?,
        gid_idx: le16(b, 6).ok_or_else(bad)?,
        mtime: le32(b, 8).ok_or_else(bad)?,
        number: le32(b, 12).ok_or_else(bad)?,
    };
    if !(1..=14).contains(&h.kind) {
        return Err(DiskError::InodeType(h.kind));
    }
    Ok(h)
}

/// Bytes of the fixed part of an inode body after the header, by inode type.
pub fn body_size(kind: u16) -> usize {
    match kind {
        1 => 16,
        2 => 16,
        3 => 8,
        4 | 5 => 8,
        6 | 7 => 4,
        8 => 24,
        9 => 40,
        10 => 8,
        11 | 12 => 12,
        13 | 14 => 8,
        _ => 0,
    }
}

/// The fixed part of an inode body; variable tails (block list, symlink target, directory index)
/// follow it in the inode table and are read separately.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InodeBody {
    /// Basic (1) or extended (8) directory.
    Dir {
        /// Listing start, relative to the directory table.
        block: u32,
        /// Offset in the decompressed block.
        offset: u16,
        /// Listing size + 3.
        size: u32,
        /// Directory index entries following an extended inode.
        index_count: u16,
        /// Xattr index.
        xattr: u32,
        /// Inode number of the parent.
        parent: u32,
    },
    /// Basic (2) or extended (9) regular file.
    File {
        /// Absolute offset of the first data block.
        start: u64,
        /// File size.
        size: u64,
        /// Fragment index or [`NO_FRAGMENT`].
        frag: u32,
        /// Offset of the tail in the fragment block.
        frag_offset: u32,
        /// Xattr index.
        xattr: u32,
    },
    /// Basic (3) or extended (10) symlink; the target and, for 10, the xattr index follow.
    Symlink {
        /// Target length.
        target_size: u32,
    },
    /// Block (4/11) or character (5/12) device.
    Dev {
        /// Character device?
        chr: bool,
        /// Device number (Linux `new_encode_dev`).
        rdev: u32,
        /// Xattr index.
        xattr: u32,
    },
    /// FIFO (6/13) or socket (7/14).
    Ipc {
        /// Socket?
        socket: bool,
        /// Xattr index.
        xattr: u32,
    },
}

/// Parses the fixed body of an inode of type `kind` (`b` is [`body_size`] bytes).
pub fn parse_inode_body(kind: u16, b: &[u8]) -> Result<InodeBody, DiskError> {
    let bad = || DiskError::TruncatedInode(kind);
    let r16 = |at| le16(b, at).ok_or_else(bad);
    let r32 = |at| le32(b, at).ok_or_else(bad);
    let r64 = |at| le64(b, at).ok_or_else(bad);
    Ok(match kind {
        1 => InodeBody::Dir {
            block: r32(0)?,
            size: u32::from(r16(8)?),
            offset: r16(10)?,
            parent: r32(12)?,
            index_count: 0,
            xattr: NO_XATTR,
        },
        8 => InodeBody::Dir {
            size: r32(4)?,
            block: r32(8)?,
            parent: r32(12)?,
            index_count: r16(16)?,
            offset: r16(18)?,
            xattr: r32(20)?,
        },
        2 => InodeBody::File {
            start: u64::from(r32(0)?),
            frag: r32(4)?,
            frag_offset: r32(8)?,
            size: u64::from(r32(12)?),
            xattr: NO_XATTR,
        },
        9 => InodeBody::File {
            start: r64(0)?,
            size: r64(8)?,
            frag: r32(28)?,
            frag_offset: r32(32)?,
            xattr: r32(36)?,
        },
        3 | 10 => InodeBody::Symlink {
            target_size: r32(4)?,
        },
        4 | 5 => InodeBody::Dev {
            chr: kind == 5,
            rdev: r32(4)?,
            xattr: NO_XATTR,
        },
        11 | 12 => InodeBody::Dev {
            chr: kind == 12,
            rdev: r32(4)?,
            xattr: r32(8)?,
        },
        6 | 7 => InodeBody::Ipc {
            socket: kind == 7,
            xattr: NO_XATTR,
        },
        13 | 14 => InodeBody::Ipc {
            socket: kind == 14,
            xattr: r32(4)?,
        },
        other => return Err(DiskError::InodeType(other)),
    })
}

/// The basic type (1–7) of an inode type, as directory entries record it.
pub fn basic_kind(kind: u16) -> u16 {
    if kind > 7 {
        kind - 7
    } else {
        kind
    }
}

/// Number of entries in a file's data-block list.
pub fn block_count(size: u64, frag: u32, block_size: u32) -> u64 {
    let bs = u64::from(block_size);
    if frag == NO_FRAGMENT {
        size.div_ceil(bs)
    } else {
        size / bs
    }
}

/// A directory listing header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DirHeader {
    /// Entries following (1–256).
    pub count: u32,
    /// Inode block of the entries, relative to the inode table.
    pub start: u32,
    /// Base inode number.
    pub inode_number: u32,
}

/// Size of [`DirHeader`].
pub const DIR_HEADER_SIZE: usize = 12;
/// Size of a directory entry before its name.
pub const DIR_ENTRY_SIZE: usize = 8;

/// Parses a directory header.
pub fn parse_dir_header(b: &[u8]) -> Result<DirHeader, DiskError> {
    let bad = || DiskError::Truncated("directory header");
    let count = le32(b, 0).ok_or_else(bad)?;
    if count >= DIR_COUNT {
        return Err(DiskError::DirCount(u64::from(count) + 1));
    }
    Ok(DirHeader {
        count: count + 1,
        start: le32(b, 4).ok_or_else(bad)?,
        inode_number: le32(b, 8).ok_or_else(bad)?,
    })
}

/// A directory entry before its name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DirEntryHead {
    /// Offset of the inode in its block.
    pub offset: u16,
    /// Inode number delta from the header's base.
    pub delta: i16,
    /// Basic inode type 1–7.
    pub kind: u16,
    /// Name length (1–256).
    pub name_len: usize,
}

/// Parses the fixed part of a directory entry.
pub fn parse_dir_entry(b: &[u8]) -> Result<DirEntryHead, DiskError> {
    let bad = || DiskError::Truncated("directory entry");
    let e = DirEntryHead {
        offset: le16(b, 0).ok_or_else(bad)?,
        delta: le16(b, 2).ok_or_else(bad)? as i16,
        kind: le16(b, 4).ok_or_else(bad)?,
        name_len: usize::from(le16(b, 6).ok_or_else(bad)?) + 1,
    };
    if !(1..=7).contains(&e.kind) {
        return Err(DiskError::EntryType(e.kind));
    }
    if e.name_len > MAX_NAME {
        return Err(DiskError::NameLength(e.name_len));
    }
    if usize::from(e.offset) >= METADATA_SIZE {
        return Err(DiskError::EntryOffset(e.offset));
    }
    Ok(e)
}

/// Checks a name as `unsquashfs` does: not empty, not `.` or `..`, no `/` and no NUL.
pub fn check_name(name: &[u8]) -> Result<(), DiskError> {
    let show = || String::from_utf8_lossy(name).escape_debug().to_string();
    if name.is_empty() {
        return Err(DiskError::EmptyName);
    }
    if name == b"." || name == b".." {
        return Err(DiskError::DotName(show()));
    }
    if name.contains(&b'/') {
        return Err(DiskError::SlashInName(show()));
    }
    if name.contains(&0) {
        return Err(DiskError::NulInName(show()));
    }
    Ok(())
}

/// A data block or fragment size word: (stored bytes, stored uncompressed).
pub fn parse_block_size(w: u32) -> (u32, bool) {
    (w & (DATA_UNCOMPRESSED - 1), w & DATA_UNCOMPRESSED != 0)
}

/// A fragment table entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fragment {
    /// Absolute offset of the fragment block.
    pub start: u64,
    /// Stored size.
    pub size: u32,
    /// Stored uncompressed.
    pub uncompressed: bool,
}

/// Size of a fragment table entry.
pub const FRAGMENT_ENTRY_SIZE: usize = 16;

/// Parses a fragment table entry.
pub fn parse_fragment(b: &[u8]) -> Result<Fragment, DiskError> {
    let start = le64(b, 0).ok_or(DiskError::Truncated("fragment entry"))?;
    let (size, uncompressed) =
        parse_block_size(le32(b, 8).ok_or(DiskError::Truncated("fragment entry"))?);
    Ok(Fragment {
        start,
        size,
        uncompressed,
    })
}

/// A metadata block header: (stored length, stored uncompressed).
pub fn parse_meta_header(h: u16) -> Result<(usize, bool), DiskError> {
    let len = usize::from(h & 0x7fff);
    if len == 0 || len > METADATA_SIZE {
        return Err(DiskError::MetaLength(len));
    }
    Ok((len, h & 0x8000 != 0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_like_unsquashfs() {
        for bad in [&b""[..], b".", b"..", b"/", b"a/b", b"a\0"] {
            assert!(check_name(bad).is_err(), "{bad:?}");
        }
        for ok in [&b"a"[..], b"...", b".x", b"\xff\xfe"] {
            check_name(ok).unwrap();
        }
    }

    #[test]
    fn references() {
        assert_eq!(split_ref((5 << 16) | 17).unwrap(), (5, 17));
        assert!(split_ref(8192).is_err());
        assert_eq!(block_count(10_000, NO_FRAGMENT, 4096), 3);
        assert_eq!(block_count(10_000, 0, 4096), 2);
        assert_eq!(parse_block_size(DATA_UNCOMPRESSED | 77), (77, true));
        assert!(parse_dir_header(&[0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]).is_err());
        assert!(parse_dir_entry(&[0, 0, 0, 0, 8, 0, 0, 0]).is_err());
    }
}
