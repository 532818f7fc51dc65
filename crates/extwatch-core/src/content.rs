//! The inside of an image, whatever it is: a directory in the audited root (read through [`RootFs`],
//! rooted at the image so its symlinks stay inside it) or a file system parsed from a raw image.

use extwatch_formats::{EntryKind, FsError, FsReader};

use crate::host::rootfs::RootFs;

/// Most symlinks followed inside an image for one lookup (systemd's CHASE_MAX is 32).
const MAX_HOPS: usize = 32;

/// Read access to an image's file system.
pub enum Content {
    /// A directory image.
    Dir(RootFs),
    /// A squashfs/erofs file system (possibly inside a DDI).
    Fs(Box<dyn FsReader>),
}

fn fs_err(e: FsError) -> String {
    e.to_string()
}

impl Content {
    /// Reads a regular file (following symlinks inside the image); `Ok(None)` if absent.
    pub fn read_file(&self, p: &str, max: u64) -> Result<Option<Vec<u8>>, String> {
        match self {
            Content::Dir(r) => r.read_file(p, max).map_err(|e| e.to_string()),
            Content::Fs(fs) => {
                let Some(p) = chase(fs.as_ref(), p)? else {
                    return Ok(None);
                };
                match fs.stat(p.as_bytes()).map_err(fs_err)? {
                    Some(e) if e.kind == EntryKind::File => {
                        fs.read_file(p.as_bytes(), max).map(Some).map_err(fs_err)
                    }
                    Some(_) => Err(format!("{p} is not a regular file")),
                    None => Ok(None),
                }
            }
        }
    }

    /// Size of `p` (after following symlinks inside the image), from its inode, without reading
    /// it; `Ok(None)` if absent. Lets a caller charge a budget before the bytes are in memory.
    pub fn file_size(&self, p: &str) -> Result<Option<u64>, String> {
        match self {
            Content::Dir(r) => r
                .stat(p)
                .map(|s| s.map(|s| u64::try_from(s.st_size).unwrap_or(0)))
                .map_err(|e| e.to_string()),
            Content::Fs(fs) => {
                let Some(p) = chase(fs.as_ref(), p)? else {
                    return Ok(None);
                };
                Ok(fs.stat(p.as_bytes()).map_err(fs_err)?.map(|e| e.size))
            }
        }
    }

    /// True when `p` exists (after following symlinks inside the image).
    pub fn exists(&self, p: &str) -> Result<bool, String> {
        match self {
            Content::Dir(r) => r.stat(p).map(|s| s.is_some()).map_err(|e| e.to_string()),
            Content::Fs(fs) => Ok(chase(fs.as_ref(), p)?.is_some()),
        }
    }

    /// Names in a directory with "is a regular file (not following symlinks)"; empty if absent.
    pub fn list(&self, dir: &str) -> Result<Vec<(String, bool)>, String> {
        match self {
            Content::Dir(r) => match r.read_dir(dir) {
                Ok(v) => Ok(v
                    .into_iter()
                    .map(|(n, ft)| {
                        let name = String::from_utf8_lossy(&n).into_owned();
                        let regular = match ft {
                            Some(ft) => ft == rustix::fs::FileType::RegularFile,
                            None => r
                                .lstat(&format!("{dir}/{name}"))
                                .ok()
                                .flatten()
                                .is_some_and(|s| {
                                    rustix::fs::FileType::from_raw_mode(s.st_mode)
                                        == rustix::fs::FileType::RegularFile
                                }),
                        };
                        (name, regular)
                    })
                    .collect()),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(vec![]),
                Err(e) if e.raw_os_error() == Some(20) => Ok(vec![]),
                Err(e) => Err(e.to_string()),
            },
            Content::Fs(fs) => match fs.read_dir(dir.as_bytes()) {
                Ok(v) => Ok(v
                    .into_iter()
                    .map(|(n, e)| {
                        (
                            String::from_utf8_lossy(&n).into_owned(),
                            e.kind == EntryKind::File,
                        )
                    })
                    .collect()),
                Err(FsError::NotFound(_)) | Err(FsError::WrongType(_)) => Ok(vec![]),
                Err(e) => Err(e.to_string()),
            },
        }
    }

    /// One xattr of an entry (following symlinks in directory images).
    pub fn xattr(&self, p: &str, name: &str) -> Result<Option<Vec<u8>>, String> {
        match self {
            Content::Dir(r) => r.xattr(p, name).map_err(|e| e.to_string()),
            Content::Fs(fs) => fs.xattr(p.as_bytes(), name.as_bytes()).map_err(fs_err),
        }
    }
}

/// Resolves symlinks inside a parsed file system, with the image as root. `Ok(None)` when a component
/// does not exist.
fn chase(fs: &dyn FsReader, path: &str) -> Result<Option<String>, String> {
    let mut todo: Vec<String> = path
        .split('/')
        .filter(|c| !c.is_empty())
        .rev()
        .map(str::to_string)
        .collect();
    let mut done: Vec<String> = Vec::new();
    let mut hops = 0;
    while let Some(c) = todo.pop() {
        if c == "." {
            continue;
        }
        if c == ".." {
            done.pop();
            continue;
        }
        done.push(c);
        let cur = format!("/{}", done.join("/"));
        let Some(e) = fs.stat(cur.as_bytes()).map_err(fs_err)? else {
            return Ok(None);
        };
        if e.kind == EntryKind::Symlink {
            hops += 1;
            if hops > MAX_HOPS {
                return Err(format!("too many levels of symbolic links at {cur}"));
            }
            let target = fs.read_link(cur.as_bytes()).map_err(fs_err)?;
            let target = String::from_utf8_lossy(&target).into_owned();
            done.pop();
            if target.starts_with('/') {
                done.clear();
            }
            for t in target.split('/').filter(|c| !c.is_empty()).rev() {
                todo.push(t.to_string());
            }
        }
    }
    Ok(Some(format!("/{}", done.join("/"))))
}
