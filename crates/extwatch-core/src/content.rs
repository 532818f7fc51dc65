//! The inside of an image, whatever it is: a directory in the audited root (read through [`RootFs`],
//! rooted at the image so its symlinks stay inside it) or a file system parsed from a raw image.

use extwatch_formats::{EntryKind, FsError, FsReader};

use crate::rootfs::RootFs;

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

/// A file system whose root is mounted at `/usr` (a DDI's usr partition): paths `/usr/…` map to the
/// partition's `/…`, `/` shows only `usr`, everything else does not exist.
pub struct UsrMounted(pub Box<dyn FsReader>);

impl UsrMounted {
    fn map<'a>(&self, p: &'a [u8]) -> Option<&'a [u8]> {
        if p == b"/usr" {
            Some(b"/")
        } else if p.starts_with(b"/usr/") {
            Some(&p[4..])
        } else {
            None
        }
    }
}

impl FsReader for UsrMounted {
    fn stat(&self, path: &[u8]) -> Result<Option<extwatch_formats::Entry>, FsError> {
        if path == b"/" || path.is_empty() {
            return self.0.stat(b"/");
        }
        match self.map(path) {
            Some(p) => self.0.stat(p),
            None => Ok(None),
        }
    }
    fn read_dir(&self, path: &[u8]) -> Result<Vec<(Vec<u8>, extwatch_formats::Entry)>, FsError> {
        if path == b"/" || path.is_empty() {
            let root = self
                .0
                .stat(b"/")?
                .ok_or_else(|| FsError::NotFound("/".into()))?;
            return Ok(vec![(b"usr".to_vec(), root)]);
        }
        match self.map(path) {
            Some(p) => self.0.read_dir(p),
            None => Err(FsError::NotFound(
                String::from_utf8_lossy(path).into_owned(),
            )),
        }
    }
    fn read_file(&self, path: &[u8], max: u64) -> Result<Vec<u8>, FsError> {
        match self.map(path) {
            Some(p) => self.0.read_file(p, max),
            None => Err(FsError::NotFound(
                String::from_utf8_lossy(path).into_owned(),
            )),
        }
    }
    fn read_file_chunks(
        &self,
        path: &[u8],
        sink: &mut dyn FnMut(&[u8]) -> Result<(), FsError>,
    ) -> Result<u64, FsError> {
        match self.map(path) {
            Some(p) => self.0.read_file_chunks(p, sink),
            None => Err(FsError::NotFound(
                String::from_utf8_lossy(path).into_owned(),
            )),
        }
    }
    fn read_link(&self, path: &[u8]) -> Result<Vec<u8>, FsError> {
        match self.map(path) {
            Some(p) => self.0.read_link(p),
            None => Err(FsError::NotFound(
                String::from_utf8_lossy(path).into_owned(),
            )),
        }
    }
    fn xattrs(&self, path: &[u8]) -> Result<extwatch_formats::fsimage::Xattrs, FsError> {
        match self.map(path) {
            Some(p) => self.0.xattrs(p),
            None if path == b"/" => self.0.xattrs(b"/"),
            None => Err(FsError::NotFound(
                String::from_utf8_lossy(path).into_owned(),
            )),
        }
    }
}

/// Wraps an opened image so its paths are those systemd mounts: a DDI whose usr partition is used
/// appears under `/usr`.
pub fn mounted(img: extwatch_formats::OpenedImage) -> Content {
    use extwatch_formats::ddi::{Designator, PartitionRole};
    let usr = matches!(
        img.ddi
            .as_ref()
            .and_then(|d| d.chosen_partition())
            .map(|p| &p.role),
        Some(PartitionRole::Dps {
            designator: Designator::Usr,
            ..
        })
    );
    if usr {
        Content::Fs(Box::new(UsrMounted(img.fs)))
    } else {
        Content::Fs(img.fs)
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
