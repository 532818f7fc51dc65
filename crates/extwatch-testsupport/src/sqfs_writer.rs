//! A small squashfs 4.0 writer for the images `mksquashfs` refuses to make: arbitrary trees and
//! depths, hostile names (`/`, `..`, NUL, empty), directory cycles and shared subtrees, bogus inode
//! references, and metadata blocks that expand beyond 8 KiB.
//!
//! Layout (see `extwatch_formats::squashfs::disk`): superblock; file data as uncompressed 4 KiB
//! blocks (no fragments); the inode table as uncompressed metadata blocks (so every inode's
//! reference follows from the sizes of the inodes before it); the directory table, uncompressed or
//! gzip (zlib) metadata blocks; an id table holding uid/gid 0. Directories are extended inodes
//! (type 8, 32-bit listing size), files basic (type 2), symlinks basic (type 3).

use std::io::Write;

const BLOCK: usize = 4096;
const META: usize = 8192;
const NOT_SET: u64 = u64::MAX;

/// A node of the tree; nodes are addressed by their index in [`Sqfs::nodes`] (inode number − 1).
#[derive(Debug, Clone)]
pub enum Node {
    /// A directory and its entries, written in this order (callers sort, as mksquashfs does).
    Dir(Vec<Ent>),
    /// A regular file and its content.
    File(Vec<u8>),
    /// A symlink and its target.
    Symlink(Vec<u8>),
}

/// A directory entry.
#[derive(Debug, Clone)]
pub struct Ent {
    /// The name, written verbatim (may be hostile).
    pub name: Vec<u8>,
    /// The node it names.
    pub node: usize,
    /// Write this inode reference (`block << 16 | offset`) instead of the node's real one.
    pub bad_ref: Option<u64>,
}

/// An image under construction. Node 0 is the root directory.
#[derive(Debug, Clone)]
pub struct Sqfs {
    /// All nodes; `nodes[0]` is the root.
    pub nodes: Vec<Node>,
    /// Compress directory-table blocks with zlib (squashfs "gzip").
    pub gzip_dirs: bool,
    /// Make the first directory-table block a zlib stream that expands to this many bytes
    /// (a metadata block larger than the 8 KiB squashfs allows).
    pub oversize_dir_block: Option<usize>,
}

impl Default for Sqfs {
    fn default() -> Self {
        Self::new()
    }
}

impl Sqfs {
    /// An image with an empty root directory.
    pub fn new() -> Sqfs {
        Sqfs {
            nodes: vec![Node::Dir(Vec::new())],
            gzip_dirs: false,
            oversize_dir_block: None,
        }
    }

    /// Adds `node` as `name` in directory `parent`; returns its index.
    pub fn add(&mut self, parent: usize, name: &[u8], node: Node) -> usize {
        self.nodes.push(node);
        let i = self.nodes.len() - 1;
        self.link(parent, name, i);
        i
    }

    /// Adds a directory; returns its index.
    pub fn dir(&mut self, parent: usize, name: &[u8]) -> usize {
        self.add(parent, name, Node::Dir(Vec::new()))
    }

    /// Adds an entry `name` in `parent` naming the existing node `node` (a hard link, or for
    /// directories a cycle / shared subtree).
    pub fn link(&mut self, parent: usize, name: &[u8], node: usize) {
        if let Some(Node::Dir(ents)) = self.nodes.get_mut(parent) {
            ents.push(Ent {
                name: name.to_vec(),
                node,
                bad_ref: None,
            });
        }
    }

    /// Adds an entry whose inode reference is `bad_ref` (of basic type `node`'s).
    pub fn bad_link(&mut self, parent: usize, name: &[u8], node: usize, bad_ref: u64) {
        if let Some(Node::Dir(ents)) = self.nodes.get_mut(parent) {
            ents.push(Ent {
                name: name.to_vec(),
                node,
                bad_ref: Some(bad_ref),
            });
        }
    }

    fn kind(&self, i: usize) -> u16 {
        match self.nodes.get(i) {
            Some(Node::Dir(_)) => 1,
            Some(Node::File(_)) => 2,
            _ => 3,
        }
    }

    /// Serialises the image.
    pub fn build(&self) -> Vec<u8> {
        let n = self.nodes.len();
        let mut img = vec![0u8; 96];
        // File data, uncompressed blocks.
        let mut data_at = vec![0u64; n];
        for (i, node) in self.nodes.iter().enumerate() {
            if let Node::File(d) = node {
                data_at[i] = img.len() as u64;
                img.extend_from_slice(d);
            }
        }
        // Inode positions in the (uncompressed) inode stream.
        let size_of = |node: &Node| match node {
            Node::Dir(_) => 16 + 24,
            Node::File(d) => 16 + 16 + 4 * d.len().div_ceil(BLOCK),
            Node::Symlink(t) => 16 + 8 + t.len(),
        };
        let mut pos = vec![0usize; n];
        let mut p = 0;
        for (i, node) in self.nodes.iter().enumerate() {
            pos[i] = p;
            p += size_of(node);
        }
        let iref = |i: usize| -> u64 {
            let p = pos[i];
            (((p / META) * (META + 2)) as u64) << 16 | (p % META) as u64
        };
        // Parents (first directory naming each directory).
        let mut parent = vec![n as u32 + 1; n];
        for (i, node) in self.nodes.iter().enumerate() {
            if let Node::Dir(ents) = node {
                for e in ents.iter().rev() {
                    parent[e.node] = i as u32 + 1;
                }
            }
        }
        // Directory listings.
        let mut dirs = Vec::new();
        let mut listing = vec![(0usize, 0usize); n];
        for (i, node) in self.nodes.iter().enumerate() {
            let Node::Dir(ents) = node else { continue };
            let start = dirs.len();
            let mut k = 0;
            while k < ents.len() {
                let first = &ents[k];
                let r0 = first.bad_ref.unwrap_or_else(|| iref(first.node));
                let base = first.node as i64 + 1;
                let mut run = 1;
                while k + run < ents.len() && run < 256 {
                    let e = &ents[k + run];
                    let r = e.bad_ref.unwrap_or_else(|| iref(e.node));
                    let d = e.node as i64 + 1 - base;
                    if r >> 16 != r0 >> 16 || d < i16::MIN as i64 || d > i16::MAX as i64 {
                        break;
                    }
                    run += 1;
                }
                dirs.extend_from_slice(&(run as u32 - 1).to_le_bytes());
                dirs.extend_from_slice(&((r0 >> 16) as u32).to_le_bytes());
                dirs.extend_from_slice(&(base as u32).to_le_bytes());
                for e in &ents[k..k + run] {
                    let r = e.bad_ref.unwrap_or_else(|| iref(e.node));
                    dirs.extend_from_slice(&((r & 0xffff) as u16).to_le_bytes());
                    dirs.extend_from_slice(&((e.node as i64 + 1 - base) as i16).to_le_bytes());
                    dirs.extend_from_slice(&self.kind(e.node).to_le_bytes());
                    dirs.extend_from_slice(&(e.name.len().max(1) as u16 - 1).to_le_bytes());
                    dirs.extend_from_slice(&e.name);
                }
                k += run;
            }
            listing[i] = (start, dirs.len() - start);
        }
        // Directory table blocks.
        let mut dir_blocks = Vec::new();
        let mut block_start = Vec::new();
        for (bi, chunk) in dirs.chunks(META).enumerate() {
            block_start.push(dir_blocks.len());
            if bi == 0 {
                if let Some(big) = self.oversize_dir_block {
                    let mut data = chunk.to_vec();
                    data.resize(big.max(chunk.len()), 0);
                    let z = zlib(&data);
                    dir_blocks.extend_from_slice(&(z.len() as u16).to_le_bytes());
                    dir_blocks.extend_from_slice(&z);
                    continue;
                }
            }
            if self.gzip_dirs {
                let z = zlib(chunk);
                if z.len() < chunk.len() {
                    dir_blocks.extend_from_slice(&(z.len() as u16).to_le_bytes());
                    dir_blocks.extend_from_slice(&z);
                    continue;
                }
            }
            dir_blocks.extend_from_slice(&(chunk.len() as u16 | 0x8000).to_le_bytes());
            dir_blocks.extend_from_slice(chunk);
        }
        if dirs.is_empty() {
            block_start.push(0);
        }
        // The inode stream.
        let mut inodes = Vec::with_capacity(p);
        for (i, node) in self.nodes.iter().enumerate() {
            let (kind, mode): (u16, u16) = match node {
                Node::Dir(_) => (8, 0o755),
                Node::File(_) => (2, 0o644),
                Node::Symlink(_) => (3, 0o777),
            };
            for v in [kind, mode, 0, 0] {
                inodes.extend_from_slice(&v.to_le_bytes());
            }
            inodes.extend_from_slice(&0u32.to_le_bytes()); // mtime
            inodes.extend_from_slice(&(i as u32 + 1).to_le_bytes());
            match node {
                Node::Dir(ents) => {
                    let (start, len) = listing[i];
                    // An empty listing may start right after the last block: it points there.
                    let bs = block_start
                        .get(start / META)
                        .copied()
                        .unwrap_or(dir_blocks.len());
                    let off = start % META;
                    inodes.extend_from_slice(&(2 + ents.len() as u32).to_le_bytes()); // nlink
                    inodes.extend_from_slice(&(len as u32 + 3).to_le_bytes());
                    inodes.extend_from_slice(&(bs as u32).to_le_bytes());
                    inodes.extend_from_slice(&parent[i].to_le_bytes());
                    inodes.extend_from_slice(&0u16.to_le_bytes()); // index count
                    inodes.extend_from_slice(&(off as u16).to_le_bytes());
                    inodes.extend_from_slice(&u32::MAX.to_le_bytes()); // xattr
                }
                Node::File(d) => {
                    inodes.extend_from_slice(&(data_at[i] as u32).to_le_bytes());
                    inodes.extend_from_slice(&u32::MAX.to_le_bytes()); // no fragment
                    inodes.extend_from_slice(&0u32.to_le_bytes());
                    inodes.extend_from_slice(&(d.len() as u32).to_le_bytes());
                    for c in d.chunks(BLOCK) {
                        inodes.extend_from_slice(&(c.len() as u32 | 1 << 24).to_le_bytes());
                    }
                }
                Node::Symlink(t) => {
                    inodes.extend_from_slice(&1u32.to_le_bytes());
                    inodes.extend_from_slice(&(t.len() as u32).to_le_bytes());
                    inodes.extend_from_slice(t);
                }
            }
        }
        let inode_table = img.len() as u64;
        for chunk in inodes.chunks(META) {
            img.extend_from_slice(&(chunk.len() as u16 | 0x8000).to_le_bytes());
            img.extend_from_slice(chunk);
        }
        let dir_table = img.len() as u64;
        img.extend_from_slice(&dir_blocks);
        // Id table: one metadata block with uid/gid 0, then its pointer.
        let id_block = img.len() as u64;
        img.extend_from_slice(&(4u16 | 0x8000).to_le_bytes());
        img.extend_from_slice(&0u32.to_le_bytes());
        let id_table = img.len() as u64;
        img.extend_from_slice(&id_block.to_le_bytes());
        let bytes_used = img.len() as u64;
        img.resize(img.len().div_ceil(4096) * 4096, 0);
        // Superblock.
        let mut sb = Vec::with_capacity(96);
        sb.extend_from_slice(b"hsqs");
        sb.extend_from_slice(&(n as u32).to_le_bytes());
        sb.extend_from_slice(&0u32.to_le_bytes()); // mkfs time
        sb.extend_from_slice(&(BLOCK as u32).to_le_bytes());
        sb.extend_from_slice(&0u32.to_le_bytes()); // fragments
        sb.extend_from_slice(&1u16.to_le_bytes()); // gzip
        sb.extend_from_slice(&12u16.to_le_bytes()); // block log
        sb.extend_from_slice(&0u16.to_le_bytes()); // flags
        sb.extend_from_slice(&1u16.to_le_bytes()); // ids
        sb.extend_from_slice(&4u16.to_le_bytes());
        sb.extend_from_slice(&0u16.to_le_bytes());
        sb.extend_from_slice(&iref(0).to_le_bytes());
        sb.extend_from_slice(&bytes_used.to_le_bytes());
        sb.extend_from_slice(&id_table.to_le_bytes());
        sb.extend_from_slice(&NOT_SET.to_le_bytes()); // xattrs
        sb.extend_from_slice(&inode_table.to_le_bytes());
        sb.extend_from_slice(&dir_table.to_le_bytes());
        sb.extend_from_slice(&NOT_SET.to_le_bytes()); // fragment table
        sb.extend_from_slice(&NOT_SET.to_le_bytes()); // export table
        img[..96].copy_from_slice(&sb);
        img
    }
}

fn zlib(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(data).expect("in-memory write");
    e.finish().expect("in-memory write")
}
