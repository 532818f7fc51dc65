//! Structure-aware fuzzing of extwatch's own squashfs reader.
//!
//! The first input byte picks the mode:
//! * `0`: the rest is a raw image (seeds: real `mksquashfs` images of every compressor, from
//!   `seed.sh`), opened as it is;
//! * otherwise the rest drives `arbitrary`: a tree is built with the test-support writer
//!   (directories, files, long symlinks, hard links, directory cycles and shared subtrees, bogus
//!   inode references, hostile names, gzip or plain directory blocks, an oversized metadata block),
//!   then a few bytes of the image are patched, so every field of a *valid* image gets mutated.
//!
//! Either way the image is opened and walked iteratively with every `FsReader` method
//! (`walk::walk`: stat, read_dir, read_file / read_file_chunks, read_link, xattrs, with caps).
#![no_main]

mod walk;

use std::sync::Arc;

use extwatch_formats::squashfs::SquashfsReader;
use extwatch_formats::ReadAt;
use extwatch_testsupport::sqfs_writer::{Node, Sqfs};
use libfuzzer_sys::arbitrary::{self, Arbitrary, Unstructured};
use libfuzzer_sys::fuzz_target;

#[derive(Arbitrary, Debug)]
enum Name {
    Plain(u8),
    Bytes(Vec<u8>),
    Long(u8, u16),
    Slash,
    Dot,
    DotDot,
    Nul,
}

impl Name {
    fn bytes(&self) -> Vec<u8> {
        match self {
            Name::Plain(c) => vec![b'a' + c % 26],
            Name::Bytes(b) => b.iter().take(300).copied().collect(),
            Name::Long(c, n) => vec![b'a' + c % 26; usize::from(*n % 300) + 1],
            Name::Slash => b"/".to_vec(),
            Name::Dot => b".".to_vec(),
            Name::DotDot => b"..".to_vec(),
            Name::Nul => b"a\0b".to_vec(),
        }
    }
}

#[derive(Arbitrary, Debug)]
enum Op {
    Dir { parent: u16, name: Name },
    File { parent: u16, name: Name, len: u16, fill: u8 },
    Symlink { parent: u16, name: Name, len: u16 },
    Link { parent: u16, name: Name, target: u16 },
    BadRef { parent: u16, name: Name, target: u16, bad: u64 },
    Nest { depth: u16 },
}

#[derive(Arbitrary, Debug)]
struct Spec {
    ops: Vec<Op>,
    gzip: bool,
    oversize: Option<u16>,
    patches: Vec<(u32, u8)>,
}

fn build(spec: &Spec) -> Vec<u8> {
    let mut s = Sqfs::new();
    s.gzip_dirs = spec.gzip;
    s.oversize_dir_block = spec.oversize.map(|n| usize::from(n) % 32_768);
    let pick = |s: &Sqfs, i: u16| usize::from(i) % s.nodes.len();
    for op in spec.ops.iter().take(40) {
        match op {
            Op::Dir { parent, name } => {
                let p = pick(&s, *parent);
                s.dir(p, &name.bytes());
            }
            Op::File { parent, name, len, fill } => {
                let p = pick(&s, *parent);
                s.add(p, &name.bytes(), Node::File(vec![*fill; usize::from(*len % 9_000)]));
            }
            Op::Symlink { parent, name, len } => {
                let p = pick(&s, *parent);
                s.add(p, &name.bytes(), Node::Symlink(vec![b'x'; usize::from(*len % 5000)]));
            }
            Op::Link { parent, name, target } => {
                let (p, t) = (pick(&s, *parent), pick(&s, *target));
                s.link(p, &name.bytes(), t);
            }
            Op::BadRef { parent, name, target, bad } => {
                let (p, t) = (pick(&s, *parent), pick(&s, *target));
                s.bad_link(p, &name.bytes(), t, *bad);
            }
            Op::Nest { depth } => {
                let mut d = s.nodes.len() - 1;
                if !matches!(s.nodes.get(d), Some(Node::Dir(_))) {
                    d = 0;
                }
                for _ in 0..(depth % 80) {
                    d = s.dir(d, b"n");
                }
            }
        }
    }
    let mut img = s.build();
    for &(at, v) in spec.patches.iter().take(16) {
        let len = img.len();
        if let Some(b) = img.get_mut(at as usize % len) {
            *b = v;
        }
    }
    img
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let img = if mode == 0 {
        rest.to_vec()
    } else {
        let Ok(spec) = Spec::arbitrary_take_rest(Unstructured::new(rest)) else {
            return;
        };
        build(&spec)
    };
    let src: Arc<dyn ReadAt> = Arc::new(img);
    if let Ok(fs) = SquashfsReader::open(src) {
        walk::walk(&fs);
    }
});
