//! The inside of an image, whatever it is: a directory in the audited root (read through [`RootFs`],
//! rooted at the image so its symlinks stay inside it) or a file system parsed from a raw image.

use extwatch_formats::{Entry, EntryKind, FsError, FsReader};

use super::walk::lossy;

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

/// Why something inside an image cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum ContentError {
    /// Reading a directory image failed.
    #[error(transparent)]
    Io(#[from] std::io::Error),
    /// Reading a parsed file system failed.
    #[error(transparent)]
    Fs(#[from] FsError),
    /// The path is not a regular file.
    #[error("{0} is not a regular file")]
    NotRegular(String),
    /// More than [`MAX_HOPS`] symlinks on the way.
    #[error("too many levels of symbolic links at {0}")]
    SymlinkLoop(String),
}

fn fs_err(e: FsError) -> ContentError {
    ContentError::Fs(e)
}

impl Content {
    /// Reads a regular file (following symlinks inside the image); `Ok(None)` if absent.
    pub fn read_file(&self, p: &str, max: u64) -> Result<Option<Vec<u8>>, ContentError> {
        match self {
            Content::Dir(r) => r.read_file(p, max).map_err(ContentError::Io),
            Content::Fs(fs) => {
                let Some(p) = chase(fs.as_ref(), p)? else {
                    return Ok(None);
                };
                match fs.stat(p.as_bytes()).map_err(fs_err)? {
                    Some(e) if e.kind == EntryKind::File => {
                        fs.read_file(p.as_bytes(), max).map(Some).map_err(fs_err)
                    }
                    Some(_) => Err(ContentError::NotRegular(p)),
                    None => Ok(None),
                }
            }
        }
    }

    /// Size of `p` (after following symlinks inside the image), from its inode, without reading
    /// it; `Ok(None)` if absent. Lets a caller charge a budget before the bytes are in memory.
    pub fn file_size(&self, p: &str) -> Result<Option<u64>, ContentError> {
        match self {
            Content::Dir(r) => r
                .stat(p)
                .map(|s| s.map(|s| u64::try_from(s.st_size).unwrap_or(0)))
                .map_err(ContentError::Io),
            Content::Fs(fs) => {
                let Some(p) = chase(fs.as_ref(), p)? else {
                    return Ok(None);
                };
                Ok(fs.stat(p.as_bytes()).map_err(fs_err)?.map(|e| e.size))
            }
        }
    }

    /// True when `p` exists (after following symlinks inside the image).
    pub fn exists(&self, p: &str) -> Result<bool, ContentError> {
        match self {
            Content::Dir(r) => r.stat(p).map(|s| s.is_some()).map_err(ContentError::Io),
            Content::Fs(fs) => Ok(chase(fs.as_ref(), p)?.is_some()),
        }
    }

    /// Names in a directory with "is a regular file (not following symlinks)"; empty if absent.
    pub fn list(&self, dir: &str) -> Result<Vec<(String, bool)>, ContentError> {
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
                Err(e) => Err(ContentError::Io(e)),
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
                Err(e) => Err(ContentError::Fs(e)),
            },
        }
    }

    /// One xattr of an entry (following symlinks in directory images).
    pub fn xattr(&self, p: &str, name: &str) -> Result<Option<Vec<u8>>, ContentError> {
        match self {
            Content::Dir(r) => r.xattr(p, name).map_err(ContentError::Io),
            Content::Fs(fs) => fs.xattr(p.as_bytes(), name.as_bytes()).map_err(fs_err),
        }
    }
}

/// Resolves symlinks inside a parsed file system, with the image as root. `Ok(None)` when a component
/// does not exist.
fn chase(fs: &dyn FsReader, path: &str) -> Result<Option<String>, ContentError> {
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
                return Err(ContentError::SymlinkLoop(cur));
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

/// The [`Content`] of an opened raw image as an extension sees it: for a DDI whose chosen partition
/// is a `/usr` partition, its file system appears under `/usr` (as systemd mounts it), see
/// `UnderUsr`; otherwise the file system as is.
pub fn content_of(img: extwatch_formats::OpenedImage) -> Content {
    use extwatch_formats::ddi::{Designator, PartitionRole};
    let usr = img
        .ddi
        .as_ref()
        .and_then(|d| d.chosen_partition())
        .is_some_and(|p| {
            matches!(
                p.role,
                PartitionRole::Dps {
                    designator: Designator::Usr,
                    ..
                }
            )
        });
    if usr {
        Content::Fs(Box::new(UnderUsr(img.fs)))
    } else {
        Content::Fs(img.fs)
    }
}

/// A `/usr` partition's file system placed under `/usr` of a synthetic root directory (mode 0755,
/// owned by root, no xattrs), so paths are the ones the extension provides. `systemd-dissect --mtree`
/// lists the same entries; its `./` line describes its own mount point instead of a synthetic root.
pub struct UnderUsr(pub Box<dyn FsReader>);

impl UnderUsr {
    /// `Some(inner path)` for `/usr` and below, `None` for the synthetic root, `Err` elsewhere.
    fn map(path: &[u8]) -> Result<Option<Vec<u8>>, extwatch_formats::FsError> {
        let mut parts = path
            .split(|&b| b == b'/')
            .filter(|c| !c.is_empty() && *c != b".");
        match parts.next() {
            None => Ok(None),
            Some(b"usr") => {
                let mut p = Vec::with_capacity(path.len());
                for c in parts {
                    p.push(b'/');
                    p.extend_from_slice(c);
                }
                if p.is_empty() {
                    p.push(b'/');
                }
                Ok(Some(p))
            }
            Some(_) => Err(extwatch_formats::FsError::NotFound(lossy(path))),
        }
    }

    fn root(&self) -> Result<Entry, extwatch_formats::FsError> {
        let usr = self
            .0
            .stat(b"/")?
            .ok_or_else(|| extwatch_formats::FsError::NotFound("/usr".into()))?;
        Ok(Entry {
            kind: EntryKind::Dir,
            mode: 0o755,
            uid: 0,
            gid: 0,
            size: 0,
            mtime: usr.mtime,
            rdev: 0,
            content_id: None,
        })
    }
}

impl FsReader for UnderUsr {
    fn stat(&self, path: &[u8]) -> Result<Option<Entry>, extwatch_formats::FsError> {
        match Self::map(path) {
            Ok(Some(p)) => self.0.stat(&p),
            Ok(None) => self.root().map(Some),
            Err(_) => Ok(None),
        }
    }
    fn read_dir(&self, path: &[u8]) -> Result<Vec<(Vec<u8>, Entry)>, extwatch_formats::FsError> {
        match Self::map(path)? {
            Some(p) => self.0.read_dir(&p),
            None => {
                let usr = self
                    .0
                    .stat(b"/")?
                    .ok_or_else(|| extwatch_formats::FsError::NotFound("/usr".into()))?;
                Ok(vec![(b"usr".to_vec(), usr)])
            }
        }
    }
    fn read_file_chunks(
        &self,
        path: &[u8],
        sink: &mut dyn FnMut(&[u8]) -> Result<(), extwatch_formats::FsError>,
    ) -> Result<u64, extwatch_formats::FsError> {
        match Self::map(path)? {
            Some(p) => self.0.read_file_chunks(&p, sink),
            None => Err(extwatch_formats::FsError::WrongType(
                "/ is a directory".into(),
            )),
        }
    }
    fn read_link(&self, path: &[u8]) -> Result<Vec<u8>, extwatch_formats::FsError> {
        match Self::map(path)? {
            Some(p) => self.0.read_link(&p),
            None => Err(extwatch_formats::FsError::WrongType(
                "/ is a directory".into(),
            )),
        }
    }
    fn xattrs(
        &self,
        path: &[u8],
    ) -> Result<extwatch_formats::fsimage::Xattrs, extwatch_formats::FsError> {
        match Self::map(path)? {
            Some(p) => self.0.xattrs(&p),
            None => Ok(Vec::new()),
        }
    }
}
