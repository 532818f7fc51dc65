//! GPT / Discoverable Disk Image parsing. The GPT parser checks both CRC32s, so random mutations
//! would almost never get past the header; this target first *repairs* the CRCs of any GPT header it
//! finds (512- and 4096-byte sectors), so the fuzzer explores the partition logic, the systemd-style
//! partition choice and the file system inside the chosen partition.
#![no_main]

mod walk;

use std::sync::Arc;

use extwatch_formats::ddi::{crc32, parse_ddi, read_partition};
use extwatch_formats::{open_image, ReadAt};
use libfuzzer_sys::fuzz_target;

fn le32(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().unwrap())
}
fn le64(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().unwrap())
}

/// Rewrites the entry-array CRC and header CRC of a GPT header at LBA 1 for `sector` bytes.
fn fix_gpt_crcs(img: &mut [u8], sector: usize) {
    let h = sector;
    if img.len() < h + 92 || &img[h..h + 8] != b"EFI PART" {
        return;
    }
    let hdr_size = le32(img, h + 12) as usize;
    let entries_lba = le64(img, h + 72);
    let count = u64::from(le32(img, h + 80));
    let esize = u64::from(le32(img, h + 84));
    if let (Some(start), Some(len)) = (
        entries_lba.checked_mul(sector as u64),
        count.checked_mul(esize),
    ) {
        if let Some(end) = start.checked_add(len) {
            if end <= img.len() as u64 {
                let c = crc32(&img[start as usize..end as usize]);
                img[h + 88..h + 92].copy_from_slice(&c.to_le_bytes());
            }
        }
    }
    if (92..=sector).contains(&hdr_size) && img.len() >= h + hdr_size {
        img[h + 16..h + 20].fill(0);
        let c = crc32(&img[h..h + hdr_size]);
        img[h + 16..h + 20].copy_from_slice(&c.to_le_bytes());
    }
}

fuzz_target!(|data: &[u8]| {
    let mut img = data.to_vec();
    fix_gpt_crcs(&mut img, 512);
    fix_gpt_crcs(&mut img, 4096);
    let size = img.len() as u64;
    let src: Arc<dyn ReadAt> = Arc::new(img);

    for arch in ["x86-64", "arm64", "riscv64", ""] {
        let Ok(ddi) = parse_ddi(src.clone(), arch) else {
            continue;
        };
        assert!(ddi.sector_size == 512 || ddi.sector_size == 4096);
        for p in &ddi.partitions {
            let _ = p.fits(size);
            if let Some(w) = ddi.partition_reader(p.index) {
                assert!(w.size() <= size, "partition window larger than the image");
            }
            if let Ok(bytes) = read_partition(&ddi, p.index, 64 * 1024) {
                assert!(bytes.len() as u64 <= 64 * 1024);
                assert_eq!(bytes.len() as u64, p.size_bytes);
            }
        }
        // Whatever systemd would pick must exist in the table.
        if let Some(i) = ddi.chosen {
            assert!(
                ddi.partition(i).is_some(),
                "chosen partition {i} not in the table"
            );
        }
        if let Some(i) = ddi.verity {
            assert!(
                ddi.partition(i).is_some(),
                "verity partition {i} not in the table"
            );
        }
        if let Some(i) = ddi.verity_sig {
            assert!(
                ddi.partition(i).is_some(),
                "verity-sig partition {i} not in the table"
            );
        }
    }
    if let Ok(img) = open_image(src, "x86-64") {
        walk::walk(img.fs.as_ref());
    }
});
