//! The referee: a read-only kernel mount of an image in a private mount namespace.

use std::fs;
use std::io::{self, BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use super::FsType;

/// A read-only kernel mount of an image, alive in a private mount namespace for as long as this
/// value lives. Walk it through [`KernelMount::path`].
#[derive(Debug)]
pub struct KernelMount {
    child: Child,
    path: PathBuf,
}

impl KernelMount {
    /// Mounts `image` (the file system starting `offset` bytes in) read-only on `mountpoint` (created)
    /// inside a new private mount namespace. `Err` carries mount's message.
    pub fn mount(
        image: &Path,
        fs: FsType,
        offset: u64,
        mountpoint: &Path,
    ) -> io::Result<KernelMount> {
        fs::create_dir_all(mountpoint)?;
        let script = "mount -t \"$1\" -o \"ro,loop,offset=$2\" \"$3\" \"$4\" || exit 3\necho mounted\nexec sleep 3600\n";
        let mut child = Command::new("unshare")
            .args(["-m", "--propagation", "private", "sh", "-c", script, "sh"])
            .arg(fs.as_str())
            .arg(offset.to_string())
            .arg(image)
            .arg(mountpoint)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()?;
        let mut line = String::new();
        if let Some(out) = child.stdout.as_mut() {
            BufReader::new(out).read_line(&mut line)?;
        }
        if line.trim() != "mounted" {
            let _ = child.wait();
            let mut err = String::new();
            if let Some(e) = child.stderr.as_mut() {
                let _ = e.read_to_string(&mut err);
            }
            let err = err.trim();
            return Err(io::Error::other(if err.is_empty() {
                "mount failed without a message".to_string()
            } else {
                err.to_string()
            }));
        }
        let path = PathBuf::from(format!("/proc/{}/root", child.id()))
            .join(mountpoint.strip_prefix("/").unwrap_or(mountpoint));
        // The mount is visible there once `mounted` was printed; check it is a directory.
        let md = fs::metadata(&path)?;
        if !md.is_dir() {
            return Err(io::Error::other(format!(
                "{} is not a directory",
                path.display()
            )));
        }
        Ok(KernelMount { child, path })
    }

    /// The mounted tree as seen from this process.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for KernelMount {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
