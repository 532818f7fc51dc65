//! Benchmark helper: recompute a dm-verity tree (data file + hash file with superblock) and print the
//! root hash, elapsed seconds and throughput. Used by `scripts/bench-verity.sh`.
//!
//! `cargo run --release -p extwatch-formats --example verity -- DATA HASH [THREADS]`
// An example binary run by hand: its helpers may unwrap, expect, panic and index (clippy.toml allows that only
// inside #[test] functions; a failure here should stop loudly).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::fs::File;
use std::time::Instant;

use extwatch_formats::verity::{compute_tree, parse_superblock, SUPERBLOCK_SIZE};
use extwatch_formats::ReadAt;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 3 {
        eprintln!("usage: verity DATA HASH [THREADS]");
        std::process::exit(2);
    }
    let data = File::open(&args[1]).expect("open data");
    let hash = File::open(&args[2]).expect("open hash");
    let threads: usize = args.get(3).and_then(|t| t.parse().ok()).unwrap_or_else(|| {
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
    });
    let mut sb = [0u8; SUPERBLOCK_SIZE];
    hash.read_exact_at(0, &mut sb).expect("read superblock");
    let params = parse_superblock(&sb).expect("superblock");
    let t = Instant::now();
    let r = compute_tree(&params, &data, Some((&hash, 1)), threads, &|_| {}).expect("tree");
    let secs = t.elapsed().as_secs_f64();
    let mb = params.data_size() as f64 / 1e6;
    println!(
        "root {} threads {threads} seconds {secs:.3} MB/s {:.0} mismatched_blocks {}",
        r.root_hash,
        mb / secs,
        r.mismatched_count
    );
}
