//! Patching erofs images built by `mkfs.erofs` where no tool makes the hostile case (directory
//! cycles, dirents pointing elsewhere): find a directory block's dirent table by its names and
//! rewrite one entry's nid. Used by the erofs reader's tests (`extwatch-formats`) and the CLI's
//! (`extwatch`). On-disk format: `struct erofs_dirent` (nid le64, nameoff le16, file_type u8,
//! reserved u8: 12 bytes), the first entry's `nameoff` being the table size.

/// Size of one `erofs_dirent`.
const DIRENT: usize = 12;

/// Locates the dirent table of the directory block whose name area starts with `names` (e.g.
/// `...child`: the `.` and `..` entries, then the first child), returning the table's offset.
/// Panics unless `names` occurs exactly once and a table ends right before it.
pub fn dirent_table(img: &[u8], names: &[u8]) -> usize {
    let hits: Vec<usize> = img
        .windows(names.len())
        .enumerate()
        .filter(|(_, w)| *w == names)
        .map(|(i, _)| i)
        .collect();
    assert_eq!(
        hits.len(),
        1,
        "{:?} found {} times",
        String::from_utf8_lossy(names),
        hits.len()
    );
    let p = hits[0];
    // The first dirent's name offset is the table size: 12 bytes per entry.
    for n in 1..=p / DIRENT {
        let t = p - DIRENT * n;
        let off = usize::from(u16::from_le_bytes([img[t + 8], img[t + 9]]));
        if off == DIRENT * n {
            return t;
        }
    }
    panic!(
        "no dirent table before {:?}",
        String::from_utf8_lossy(names)
    );
}

/// The nid of entry `index` of the table at `table`.
pub fn nid_at(img: &[u8], table: usize, index: usize) -> u64 {
    let at = table + DIRENT * index;
    let mut b = [0u8; 8];
    b.copy_from_slice(&img[at..at + 8]);
    u64::from_le_bytes(b)
}

/// Sets the nid of entry `index` of the table at `table`.
pub fn set_nid(img: &mut [u8], table: usize, index: usize, nid: u64) {
    let at = table + DIRENT * index;
    img[at..at + 8].copy_from_slice(&nid.to_le_bytes());
}
