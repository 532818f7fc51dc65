//! Directories: decoding one directory's listing from its header runs, the bounded cache of recent
//! listings, and resolving paths component by component without recursion (see the parent module).

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

use super::*;

/// [`Child::xattr`] before [`FsReader::read_dir`] decoded the child's inode.
pub(super) const XATTR_UNKNOWN: u32 = u32::MAX - 1;

/// One child in a directory listing.
#[derive(Debug)]
pub(super) struct Child {
    pub(super) name: Box<[u8]>,
    pub(super) inode: u64,
    pub(super) kind: u16,
    /// The xattr index of the child's inode once `read_dir` has decoded (and type-checked) it,
    /// so a walk's `xattrs(path)` after `read_dir` needs no second decode.
    pub(super) xattr: AtomicU32,
}

/// The chain of directory inode references from the root to a directory (for cycle detection).
pub(super) struct Chain {
    pub(super) dir: u64,
    pub(super) parent: Option<Arc<Chain>>,
}

impl Chain {
    pub(super) fn contains(self: &Arc<Chain>, r: u64) -> bool {
        let mut c = Some(self);
        while let Some(n) = c {
            if n.dir == r {
                return true;
            }
            c = n.parent.as_ref();
        }
        false
    }
}

/// A directory's children (on-disk order) with a by-name index.
pub(super) struct Listing {
    pub(super) children: Vec<Child>,
    /// Indices into `children`, sorted by name.
    pub(super) sorted: Vec<u32>,
    pub(super) chain: Arc<Chain>,
    pub(super) depth: usize,
    pub(super) bytes: usize,
}

impl Listing {
    pub(super) fn find(&self, name: &[u8]) -> Option<&Child> {
        let i = self
            .sorted
            .binary_search_by(|&i| {
                self.children
                    .get(i as usize)
                    .map(|c| &c.name[..])
                    .unwrap_or_default()
                    .cmp(name)
            })
            .ok()?;
        self.children.get(*self.sorted.get(i)? as usize)
    }
}

/// FNV-1a: the caches hash short keys (offsets, paths) on every lookup, and their keys come from
/// the image only through bounded, checked structures, so SipHash's flooding resistance buys
/// nothing here (a flood costs at most the cache's size per lookup).
#[derive(Clone, Copy)]
pub(crate) struct Fnv(u64);

impl Default for Fnv {
    fn default() -> Self {
        Fnv(0xcbf2_9ce4_8422_2325)
    }
}

impl std::hash::Hasher for Fnv {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 ^ u64::from(b)).wrapping_mul(0x100_0000_01b3);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = (self.0 ^ n).wrapping_mul(0x100_0000_01b3);
        self.0 ^= self.0 >> 29;
    }
}

pub(crate) type FastMap<K, V> = HashMap<K, V, std::hash::BuildHasherDefault<Fnv>>;

#[derive(Default)]
pub(super) struct DirCache {
    pub(super) map: FastMap<Vec<u8>, Arc<Listing>>,
    pub(super) order: VecDeque<Vec<u8>>,
    pub(super) bytes: usize,
}

impl DirCache {
    pub(super) fn insert(&mut self, path: Vec<u8>, l: Arc<Listing>) {
        if self.map.contains_key(&path) {
            return;
        }
        while !self.order.is_empty()
            && (self.map.len() >= DIR_CACHE || self.bytes + l.bytes > DIR_CACHE_BYTES)
        {
            if let Some(old) = self.order.pop_front() {
                if let Some(o) = self.map.remove(&old) {
                    self.bytes -= o.bytes;
                }
            }
        }
        self.bytes += l.bytes;
        self.order.push_back(path.clone());
        self.map.insert(path, l);
    }
}

impl SquashfsReader {
    /// Reads the listing of the directory inode `dir` (whose ancestors are `parent`).
    pub(super) fn list(
        &self,
        dir: u64,
        parent: Option<&Arc<Chain>>,
        depth: usize,
    ) -> Result<Listing, FsError> {
        let ino = self.inode(dir)?;
        let InodeBody::Dir {
            block,
            offset,
            size,
            ..
        } = ino.body
        else {
            return Err(malformed(format!("inode {dir:#x} is not a directory")));
        };
        let chain = Arc::new(Chain {
            dir,
            parent: parent.cloned(),
        });
        let mut l = Listing {
            children: Vec::new(),
            sorted: Vec::new(),
            chain,
            depth,
            bytes: 0,
        };
        if size < 3 {
            return Err(malformed(format!(
                "directory {} of size {size}",
                ino.header.number
            )));
        }
        let mut left = u64::from(size) - 3;
        if left == 0 {
            return Ok(l);
        }
        if usize::from(offset) >= disk::METADATA_SIZE {
            return Err(malformed("directory offset beyond a metadata block"));
        }
        let at = self
            .sb
            .dir_table
            .checked_add(u64::from(block))
            .filter(|&a| a < self.sb.bytes_used)
            .ok_or_else(|| malformed("directory listing outside the directory table"))?;
        let mut cur = self
            .meta
            .cursor(at, usize::from(offset), self.sb.bytes_used)?;
        let inode_table_len = self.sb.dir_table - self.sb.inode_table;
        let mut name = [0u8; disk::MAX_NAME];
        while left > 0 {
            if left < (disk::DIR_HEADER_SIZE + disk::DIR_ENTRY_SIZE + 1) as u64 {
                return Err(malformed("directory listing ends inside a header"));
            }
            let hb: [u8; disk::DIR_HEADER_SIZE] = cur.array()?;
            left -= disk::DIR_HEADER_SIZE as u64;
            let hdr = disk::parse_dir_header(&hb)?;
            if u64::from(hdr.start) >= inode_table_len {
                return Err(malformed(format!(
                    "directory header points at inode block {} outside the inode table",
                    hdr.start
                )));
            }
            for _ in 0..hdr.count {
                let eb: [u8; disk::DIR_ENTRY_SIZE] = cur.array()?;
                let e = disk::parse_dir_entry(&eb)?;
                let need = (disk::DIR_ENTRY_SIZE + e.name_len) as u64;
                if need > left {
                    return Err(malformed("directory entry runs past the directory's size"));
                }
                left -= need;
                let nm = name.get_mut(..e.name_len).unwrap_or_default();
                cur.read(nm)?;
                disk::check_name(nm)?;
                let number = i64::from(hdr.inode_number) + i64::from(e.delta);
                if number < 1 || number > i64::from(self.sb.inode_count) {
                    return Err(malformed(format!(
                        "directory entry {:?} names inode number {number}",
                        String::from_utf8_lossy(nm)
                    )));
                }
                if l.children.len() >= limits::MAX_DIR_ENTRIES {
                    return Err(FsError::TooMany {
                        what: "directory entry count".into(),
                        limit: limits::MAX_DIR_ENTRIES as u64,
                    });
                }
                l.bytes += e.name_len + 32;
                l.children.push(Child {
                    name: nm.to_vec().into_boxed_slice(),
                    inode: (u64::from(hdr.start) << 16) | u64::from(e.offset),
                    kind: e.kind,
                    xattr: AtomicU32::new(XATTR_UNKNOWN),
                });
                if left == 0 {
                    break;
                }
            }
        }
        let mut sorted: Vec<u32> = (0..l.children.len() as u32).collect();
        let name_of = |i: &u32| {
            l.children
                .get(*i as usize)
                .map(|c| &c.name[..])
                .unwrap_or_default()
        };
        sorted.sort_unstable_by(|a, b| name_of(a).cmp(name_of(b)));
        let twice = sorted.windows(2).find_map(|w| match w {
            [a, b] if name_of(a) == name_of(b) => Some(name_of(a)),
            _ => None,
        });
        if let Some(name) = twice {
            return Err(malformed(format!(
                "directory {} holds two entries named {:?}",
                ino.header.number,
                String::from_utf8_lossy(name)
            )));
        }
        l.sorted = sorted;
        // Place every child directory in the tree once: a child that is an ancestor, or that
        // another directory (or this one, twice) already holds, makes the tree a graph.
        let mut placed = self
            .placed
            .lock()
            .map_err(|_| malformed("directory index poisoned"))?;
        for (i, c) in l.children.iter().enumerate() {
            if c.kind != 1 {
                continue;
            }
            if l.chain.contains(c.inode) {
                return Err(malformed(format!(
                    "directory cycle: {:?} in directory {} is one of its own ancestors",
                    String::from_utf8_lossy(&c.name),
                    ino.header.number
                )));
            }
            if placed.len() >= limits::MAX_ENTRIES {
                return Err(FsError::TooMany {
                    what: "directory count".into(),
                    limit: limits::MAX_ENTRIES as u64,
                });
            }
            let here = (dir, i as u32);
            match placed.entry(c.inode) {
                std::collections::hash_map::Entry::Vacant(v) => {
                    v.insert(here);
                }
                std::collections::hash_map::Entry::Occupied(o) if *o.get() == here => {}
                std::collections::hash_map::Entry::Occupied(_) => {
                    return Err(malformed(format!(
                        "directory {:?} (inode reference {:#x}) is reachable by two paths \
                         (a directory cycle or a shared subtree)",
                        String::from_utf8_lossy(&c.name),
                        c.inode
                    )));
                }
            }
        }
        Ok(l)
    }

    /// The listing of the directory at normalised path `p` (which must be a directory).
    pub(super) fn listing(&self, p: &[u8]) -> Result<Arc<Listing>, FsError> {
        if p.len() > limits::MAX_PATH_LEN {
            return Err(FsError::TooLarge {
                what: format!("path {}…", lossy(p.get(..64).unwrap_or_default())),
                limit: limits::MAX_PATH_LEN as u64,
            });
        }
        // The root is the empty prefix; every other directory is `/a/b` (normalised).
        let p = if p == b"/" { &b""[..] } else { p };
        // Find the deepest cached ancestor (in a pre-order walk: the directory or its parent).
        let mut upto = p.len();
        let mut found: Option<Arc<Listing>> = None;
        if let Ok(c) = self.dirs.lock() {
            loop {
                let key = p.get(..upto).unwrap_or_default();
                if let Some(l) = c.map.get(key) {
                    found = Some(l.clone());
                    break;
                }
                if upto == 0 {
                    break;
                }
                upto = p
                    .get(..upto)
                    .and_then(|s| s.iter().rposition(|&b| b == b'/'))
                    .unwrap_or(0);
            }
        }
        let mut cur = match found {
            Some(l) => l,
            None => {
                upto = 0;
                let l = Arc::new(self.list(self.sb.root_inode, None, 0)?);
                if let Ok(mut c) = self.dirs.lock() {
                    c.insert(Vec::new(), l.clone());
                }
                l
            }
        };
        // Walk the remaining components forward.
        while upto < p.len() {
            let rest = p.get(upto + 1..).unwrap_or_default();
            let end = rest
                .iter()
                .position(|&b| b == b'/')
                .map_or(p.len(), |i| upto + 1 + i);
            let name = p.get(upto + 1..end).unwrap_or_default();
            let child = cur
                .find(name)
                .ok_or_else(|| FsError::NotFound(lossy(p.get(..end).unwrap_or_default())))?;
            if child.kind != 1 {
                return Err(FsError::WrongType(format!(
                    "{} is not a directory",
                    lossy(p.get(..end).unwrap_or_default())
                )));
            }
            let depth = cur.depth + 1;
            if depth > limits::MAX_DEPTH {
                return Err(FsError::TooMany {
                    what: format!(
                        "directory depth at {}…",
                        lossy(p.get(..64).unwrap_or_default())
                    ),
                    limit: limits::MAX_DEPTH as u64,
                });
            }
            let l = Arc::new(self.list(child.inode, Some(&cur.chain), depth)?);
            if let Ok(mut c) = self.dirs.lock() {
                c.insert(p.get(..end).unwrap_or_default().to_vec(), l.clone());
            }
            cur = l;
            upto = end;
        }
        Ok(cur)
    }

    /// The inode reference of `path`, the type its directory entry records and the xattr index
    /// if already known ([`XATTR_UNKNOWN`] if not); `None` if absent.
    pub(super) fn lookup(&self, path: &[u8]) -> Result<Option<(u64, u16, u32)>, FsError> {
        let owned;
        let p = if is_normal(path) {
            path
        } else {
            owned = normalize(path);
            &owned[..]
        };
        if p == b"/" {
            return Ok(Some((self.sb.root_inode, 1, XATTR_UNKNOWN)));
        }
        let cut = p.iter().rposition(|&b| b == b'/').unwrap_or(0);
        let (dir, name) = (
            p.get(..cut).unwrap_or_default(),
            p.get(cut + 1..).unwrap_or_default(),
        );
        let l = match self.listing(dir) {
            Ok(l) => l,
            Err(FsError::NotFound(_)) | Err(FsError::WrongType(_)) => return Ok(None),
            Err(e) => return Err(e),
        };
        Ok(l.find(name)
            .map(|c| (c.inode, c.kind, c.xattr.load(Ordering::Relaxed))))
    }

    /// The decoded inode at `path`, checked against its directory entry's type.
    pub(super) fn at(&self, path: &[u8]) -> Result<Inode<'_>, FsError> {
        self.find(path)?
            .ok_or_else(|| FsError::NotFound(lossy(path)))
    }

    /// [`SquashfsReader::at`], `None` when nothing is at `path`.
    pub(super) fn find(&self, path: &[u8]) -> Result<Option<Inode<'_>>, FsError> {
        let Some((r, kind, _)) = self.lookup(path)? else {
            return Ok(None);
        };
        let ino = self.inode(r)?;
        if disk::basic_kind(ino.header.kind) != kind {
            return Err(malformed(format!(
                "{}: directory entry of type {kind} names an inode of type {}",
                lossy(path),
                ino.header.kind
            )));
        }
        Ok(Some(ino))
    }
}
