//! Path resolution over erofs-rs: bounded caches of directory listings (by nid) and resolved
//! directory chains, and the cycle / second-place checks that keep a hostile directory graph from
//! being walked as a tree (see the parent module).

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;

use erofs_rs::types::Inode;

use super::{block_on, cycle, ef_err, malformed, show, ErofsReader};
use crate::fsimage::{limits, FsError};

/// One directory's children sorted by name: (name, nid, is a directory).
pub(super) type Kids = Arc<Vec<(Vec<u8>, u64, bool)>>;

/// Recent directory listings by directory nid, bounded in total entries.
#[derive(Default)]
pub(super) struct Listings {
    pub(super) by_nid: HashMap<u64, Kids>,
    pub(super) order: VecDeque<u64>,
    pub(super) entries: usize,
}

impl Listings {
    pub(super) fn get(&self, nid: u64) -> Option<Kids> {
        self.by_nid.get(&nid).cloned()
    }

    pub(super) fn put(&mut self, nid: u64, kids: Kids) {
        self.entries += kids.len();
        if let Some(old) = self.by_nid.insert(nid, kids) {
            self.entries -= old.len();
            self.order.retain(|&n| n != nid);
        }
        self.order.push_back(nid);
        while (self.entries > limits::DIR_CACHE_ENTRIES
            || self.order.len() > limits::DIR_CACHE_LISTINGS)
            && self.order.len() > 2
        {
            if let Some(old) = self.order.pop_front().and_then(|n| self.by_nid.remove(&n)) {
                self.entries -= old.len();
            }
        }
    }
}

pub(super) fn find(kids: &[(Vec<u8>, u64, bool)], name: &[u8]) -> Option<(u64, bool)> {
    kids.binary_search_by(|(n, _, _)| n.as_slice().cmp(name))
        .ok()
        .and_then(|i| kids.get(i))
        .map(|&(_, nid, dir)| (nid, dir))
}

/// A resolved directory path: `path` is `/a/b` (empty for the root), `ends[i]` is where component
/// `i` ends in it, `nids[0]` is the root and `nids[i + 1]` component `i`.
pub(super) struct Chain {
    pub(super) path: Vec<u8>,
    pub(super) ends: Vec<usize>,
    pub(super) nids: Vec<u64>,
}

impl Chain {
    pub(super) fn component(&self, i: usize) -> &[u8] {
        let start = match i.checked_sub(1) {
            None => 0,
            Some(j) => self.ends.get(j).copied().unwrap_or(0),
        };
        let end = self.ends.get(i).copied().unwrap_or(0);
        self.path.get(start + 1..end).unwrap_or_default()
    }

    /// How many leading components of `comps` this chain has resolved.
    pub(super) fn shared(&self, comps: &[&[u8]]) -> usize {
        (0..self.ends.len())
            .zip(comps)
            .take_while(|&(i, c)| self.component(i) == *c)
            .count()
    }

    /// The chain of its first `k` components (`None` if it has fewer).
    pub(super) fn prefix(&self, k: usize) -> Option<Chain> {
        let cut = match k.checked_sub(1) {
            None => 0,
            Some(j) => *self.ends.get(j)?,
        };
        Some(Chain {
            path: self.path.get(..cut)?.to_vec(),
            ends: self.ends.get(..k)?.to_vec(),
            nids: self.nids.get(..=k)?.to_vec(),
        })
    }

    pub(super) fn nid(&self) -> u64 {
        self.nids.last().copied().unwrap_or(0)
    }

    /// The path as erofs-rs wants it.
    pub(super) fn erofs_path(&self) -> &[u8] {
        if self.path.is_empty() {
            b"/"
        } else {
            &self.path
        }
    }
}

/// The path's components: `.` and empty ones dropped, `..` going up (never above the root).
pub(super) fn components(path: &[u8]) -> Result<Vec<&[u8]>, FsError> {
    if path.len() > limits::MAX_PATH_LEN {
        return Err(FsError::TooLarge {
            what: "erofs path length".into(),
            limit: limits::MAX_PATH_LEN as u64,
        });
    }
    crate::fsimage::lexical_components(path, limits::MAX_DEPTH).map_err(|limit| FsError::TooMany {
        what: "erofs directory depth".into(),
        limit: limit as u64,
    })
}
impl ErofsReader {
    /// Lists the directory `chain` resolves to (children only, with their inodes), sorted by name,
    /// and keeps the listing for lookups. Refuses a child directory that is one of its ancestors.
    pub(super) fn list(&self, chain: &Chain) -> Result<Vec<(Vec<u8>, Inode)>, FsError> {
        let mut walk = block_on(self.fs.read_dir(chain.erofs_path()))?.map_err(ef_err)?;
        let mut out = Vec::new();
        loop {
            let Some(next) = block_on(walk.next_entry())? else {
                break;
            };
            let e = next.map_err(ef_err)?;
            // `read_dir` is erofs-rs's walk with max_depth(1): it yields children only.
            if e.depth != 1 {
                continue;
            }
            if out.len() >= limits::MAX_DIR_ENTRIES {
                return Err(FsError::TooMany {
                    what: "directory entry count".into(),
                    limit: limits::MAX_DIR_ENTRIES as u64,
                });
            }
            out.push((e.dir_entry.file_name().to_vec(), e.inode));
        }
        out.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        let twice = out.windows(2).find_map(|w| match w {
            [a, b] if a.0 == b.0 => Some(&a.0),
            _ => None,
        });
        if let Some(name) = twice {
            return Err(malformed(format!(
                "{} holds two entries named {:?}",
                show(&chain.path),
                String::from_utf8_lossy(name)
            )));
        }
        let ancestors: HashSet<u64> = chain.nids.iter().copied().collect();
        if let Some((name, inode)) = out
            .iter()
            .find(|(_, i)| i.is_dir() && ancestors.contains(&i.id()))
        {
            return Err(cycle(&chain.path, name, inode.id()));
        }
        if let Ok(mut placed) = self.placed.lock() {
            for (i, (name, inode)) in out.iter().enumerate().filter(|(_, (_, i))| i.is_dir()) {
                let here = (chain.nid(), u32::try_from(i).unwrap_or(u32::MAX));
                let first = *placed.entry(inode.id()).or_insert(here);
                if first != here {
                    return Err(malformed(format!(
                        "directory {}/{} (nid {}) is also reachable by another path: \
                         directories cannot be hard-linked",
                        String::from_utf8_lossy(&chain.path),
                        String::from_utf8_lossy(name),
                        inode.id()
                    )));
                }
            }
        }
        let kids: Kids = Arc::new(
            out.iter()
                .map(|(n, i)| (n.clone(), i.id(), i.is_dir()))
                .collect(),
        );
        if let Ok(mut l) = self.listings.lock() {
            l.put(chain.nid(), kids);
        }
        Ok(out)
    }

    /// The children of the directory `chain` resolves to, from the cache or a fresh listing.
    pub(super) fn kids(&self, chain: &Chain) -> Result<Kids, FsError> {
        if let Some(k) = self.listings.lock().ok().and_then(|l| l.get(chain.nid())) {
            return Ok(k);
        }
        let listed = self.list(chain)?;
        Ok(Arc::new(
            listed
                .into_iter()
                .map(|(n, i)| {
                    let (id, dir) = (i.id(), i.is_dir());
                    (n, id, dir)
                })
                .collect(),
        ))
    }

    /// Resolves `comps` (all of which must be directories) to the nid of the root and of each, or
    /// `Ok(None)` when one is missing or not a directory. Iterative; starts from the longest
    /// resolved prefix kept in the path cache.
    pub(super) fn dir_chain(&self, comps: &[&[u8]]) -> Result<Option<Arc<Chain>>, FsError> {
        let best = self.chains.lock().ok().and_then(|c| {
            c.iter()
                .map(|ch| (ch.shared(comps), ch.clone()))
                .max_by_key(|(n, _)| *n)
        });
        let root = || Chain {
            path: Vec::new(),
            ends: Vec::new(),
            nids: vec![self.fs.super_block().root_inode_id()],
        };
        let (k, mut chain) = match best {
            Some((k, ch)) if k == comps.len() && ch.ends.len() == k => return Ok(Some(ch)),
            // `shared` is at most the chain's length, so the prefix exists; from the root otherwise.
            Some((k, ch)) => ch.prefix(k).map_or_else(|| (0, root()), |c| (k, c)),
            None => (0, root()),
        };
        let mut ancestors: HashSet<u64> = chain.nids.iter().copied().collect();
        for name in comps.get(k..).unwrap_or_default() {
            let kids = self.kids(&chain)?;
            let Some((nid, is_dir)) = find(&kids, name) else {
                return Ok(None);
            };
            if !is_dir {
                return Ok(None);
            }
            if !ancestors.insert(nid) {
                return Err(cycle(&chain.path, name, nid));
            }
            chain.path.push(b'/');
            chain.path.extend_from_slice(name);
            chain.ends.push(chain.path.len());
            chain.nids.push(nid);
        }
        let chain = Arc::new(chain);
        if let Ok(mut c) = self.chains.lock() {
            c.retain(|old| old.path != chain.path);
            c.push_back(chain.clone());
            while c.len() > limits::PATH_CACHE {
                c.pop_front();
            }
        }
        Ok(Some(chain))
    }

    /// The inode at `path`, `Ok(None)` when absent.
    pub(super) fn lookup(&self, path: &[u8]) -> Result<Option<Inode>, FsError> {
        let comps = components(path)?;
        let Some((name, parents)) = comps.split_last() else {
            return Ok(Some(self.inode(self.fs.super_block().root_inode_id())?));
        };
        let Some(chain) = self.dir_chain(parents)? else {
            return Ok(None);
        };
        let kids = self.kids(&chain)?;
        let Some((nid, is_dir)) = find(&kids, name) else {
            return Ok(None);
        };
        if is_dir && chain.nids.contains(&nid) {
            return Err(cycle(&chain.path, name, nid));
        }
        Ok(Some(self.inode(nid)?))
    }

    pub(super) fn must(&self, path: &[u8]) -> Result<Inode, FsError> {
        self.lookup(path)?
            .ok_or_else(|| FsError::NotFound(String::from_utf8_lossy(path).into_owned()))
    }

    /// The regular file at `path`.
    pub(super) fn file(&self, path: &[u8]) -> Result<Inode, FsError> {
        let inode = self.must(path)?;
        if inode.is_file() {
            Ok(inode)
        } else {
            Err(FsError::not_a(path, "regular file"))
        }
    }
}
