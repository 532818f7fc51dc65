//! Trust anchors for verity signatures.
//!
//! Two sets, judged separately (docs/systemd.md §5.4):
//!
//! * **the host's**: what systemd's userspace fallback would use — `*.crt` files in `verity.d` under
//!   `/etc`, `/run`, `/usr/local/lib`, `/usr/lib` (first same-named file wins, `CONF_FILES_FILTER_MASKED`;
//!   a file masked by a `/dev/null` symlink or an empty file is skipped). Every other file there is
//!   ignored by systemd — including `.pem` — and is reported. These directories are root-writable, so an
//!   attacker can add his own certificate;
//! * **the operator's** (`--trust DIR`, on the auditing machine, never under `--root`): `.crt` and `.pem`
//!   files holding the certificates the operator actually trusts. When given, it decides `valid`, and a
//!   signature the host accepts but the operator does not is a finding.

use std::collections::HashSet;
use std::io::Read;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use crate::provenance::pkcs7::{self, parse_cert_pem, CertError, TrustedCert};
use extwatch_formats::limits;

use crate::host::rootfs::RootFs;

/// The `verity.d` directories systemd reads, highest precedence first.
pub const VERITY_DIRS: [&str; 4] = [
    "/etc/verity.d",
    "/run/verity.d",
    "/usr/local/lib/verity.d",
    "/usr/lib/verity.d",
];

/// Most entries kept in [`HostTrust::skipped`]; past it only [`HostTrust::skipped_more`] counts.
pub const MAX_SKIPPED: usize = 256;

/// The host's trust store as systemd sees it.
#[derive(Debug, Default, Clone)]
pub struct HostTrust {
    /// Certificates systemd would load.
    pub certs: Vec<TrustedCert>,
    /// Files systemd ignores, with why.
    pub ignored: Vec<(String, String)>,
    /// Files systemd would load but extwatch did not read, with why (over the per-file or the
    /// per-run byte budget, [`limits::MAX_TRUST_STORE_TOTAL`]). At most [`MAX_SKIPPED`].
    pub skipped: Vec<(String, String)>,
    /// Skipped files beyond those listed.
    pub skipped_more: u64,
    /// `.crt` names that are further links (hard or symbolic) to a file already loaded: the same
    /// certificate, loaded once.
    pub aliases: u64,
    /// Which of the directories exist.
    pub dirs_present: Vec<String>,
}

impl HostTrust {
    fn skip(&mut self, path: String, why: String) {
        if self.skipped.len() < MAX_SKIPPED {
            self.skipped.push((path, why));
        } else {
            self.skipped_more += 1;
        }
    }
}

/// Reads the host's `verity.d` directories inside the root.
///
/// Bounded against a planted store (issue 8 case 10: 5,000 hard links to one 1 MiB `.crt` made the
/// old loop read 4.1 GB): each file (by `st_dev`, `st_ino` of the opened file, so hard and symbolic
/// links alike) is read and parsed once, each file is at most [`pkcs7::MAX_CERT_FILE`] bytes (checked
/// with `fstat` before reading), and all files together at most
/// [`limits::MAX_TRUST_STORE_TOTAL`]. What the budget leaves unread is listed in
/// [`HostTrust::skipped`] and becomes a finding; nothing is dropped silently.
pub fn load_host(root: &RootFs) -> HostTrust {
    load_host_with(root, limits::MAX_TRUST_STORE_TOTAL)
}

fn load_host_with(root: &RootFs, budget: u64) -> HostTrust {
    let mut t = HostTrust::default();
    let mut seen: HashSet<String> = HashSet::new();
    let mut inodes: HashSet<(u64, u64)> = HashSet::new();
    let mut total = 0u64;
    for dir in VERITY_DIRS {
        let Ok(entries) = root.read_dir(dir) else {
            continue;
        };
        t.dirs_present.push(dir.to_string());
        for (name, _) in entries {
            let name = String::from_utf8_lossy(&name).into_owned();
            let path = format!("{dir}/{name}");
            if !name.ends_with(".crt") {
                let why = if name.ends_with(".pem") {
                    "systemd loads only *.crt; this .pem certificate is never used"
                } else {
                    "systemd loads only *.crt"
                };
                t.ignored.push((path, why.to_string()));
                continue;
            }
            if !seen.insert(name.clone()) {
                t.ignored
                    .push((path, format!("masked by a higher-precedence {name}")));
                continue;
            }
            // A symlink to /dev/null masks; chase inside the root tells us what it points to.
            if root
                .resolve(&path)
                .map(|p| p == "/dev/null")
                .unwrap_or(false)
            {
                continue;
            }
            let f = match root.open_file(&path) {
                Ok(f) => f,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => {
                    t.ignored.push((path, e.to_string()));
                    continue;
                }
            };
            let st = match f.metadata() {
                Ok(m) => m,
                Err(e) => {
                    t.ignored.push((path, e.to_string()));
                    continue;
                }
            };
            if !inodes.insert((st.dev(), st.ino())) {
                t.aliases += 1;
                continue;
            }
            let size = st.len();
            if size > pkcs7::MAX_CERT_FILE as u64 {
                t.skip(
                    path,
                    format!(
                        "not read: {size} bytes, over the {} bytes a certificate file may have",
                        pkcs7::MAX_CERT_FILE
                    ),
                );
                continue;
            }
            if total.saturating_add(size) > budget {
                t.skip(
                    path,
                    format!(
                        "not read: the trust stores' byte budget ({budget} bytes, \
                         MAX_TRUST_STORE_TOTAL) is spent"
                    ),
                );
                continue;
            }
            let mut d = Vec::new();
            // `take` also bounds a file that grows after the fstat.
            let cap = pkcs7::MAX_CERT_FILE as u64 + 1;
            if let Err(e) = f.take(cap).read_to_end(&mut d) {
                t.ignored.push((path, e.to_string()));
                continue;
            }
            total = total.saturating_add(d.len() as u64);
            if d.is_empty() {
                continue;
            }
            match parse_cert_pem(&d) {
                Ok(cert) => t.certs.push(TrustedCert { source: path, cert }),
                Err(e) => t.ignored.push((path, crate::error::chain(&e))),
            }
        }
    }
    t
}

/// Why the operator's trust anchors (`--trust`) cannot be used. The cause is chained
/// (`{:#}` prints `PATH: cause`).
#[derive(Debug, thiserror::Error)]
pub enum TrustError {
    /// The directory or a file in it cannot be read.
    #[error("{}", path.display())]
    Read {
        /// The directory or file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A file is not a usable certificate.
    #[error("{}", path.display())]
    Cert {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: CertError,
    },
    /// No `.crt`/`.pem` file at all.
    #[error("{}: no .crt/.pem certificates found", path.display())]
    Empty {
        /// The directory given.
        path: PathBuf,
    },
}

/// Loads the operator's anchors from a directory (or a single file) on the auditing machine.
pub fn load_operator(path: &Path) -> Result<Vec<TrustedCert>, TrustError> {
    fn read(path: &Path) -> impl FnOnce(std::io::Error) -> TrustError + '_ {
        move |source| TrustError::Read {
            path: path.to_path_buf(),
            source,
        }
    }
    let files: Vec<PathBuf> = if path.is_dir() {
        let mut v: Vec<_> = std::fs::read_dir(path)
            .map_err(read(path))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| {
                p.extension()
                    .is_some_and(|x| x == "crt" || x == "pem" || x == "cer")
            })
            .collect();
        v.sort();
        v
    } else {
        vec![path.to_path_buf()]
    };
    let mut out = Vec::new();
    for f in files {
        let d = std::fs::read(&f).map_err(read(&f))?;
        let cert = parse_cert_pem(&d).map_err(|source| TrustError::Cert {
            path: f.clone(),
            source,
        })?;
        out.push(TrustedCert {
            source: f.display().to_string(),
            cert,
        });
    }
    if out.is_empty() {
        return Err(TrustError::Empty {
            path: path.to_path_buf(),
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn root_with_store() -> (tempfile::TempDir, std::path::PathBuf) {
        let t = tempfile::tempdir().unwrap();
        let d = t.path().join("etc/verity.d");
        std::fs::create_dir_all(&d).unwrap();
        (t, d)
    }

    /// 5,000 hard links and a symlink to one file: it is opened for each name but read once.
    #[test]
    fn hard_links_to_one_certificate_are_read_once() {
        let (t, d) = root_with_store();
        std::fs::write(d.join("a.crt"), vec![b'x'; 100_000]).unwrap();
        for i in 0..5000 {
            std::fs::hard_link(d.join("a.crt"), d.join(format!("l{i:04}.crt"))).unwrap();
        }
        std::os::unix::fs::symlink("a.crt", d.join("s.crt")).unwrap();
        let root = RootFs::open(t.path()).unwrap();
        let h = load_host(&root);
        assert_eq!(h.aliases, 5001);
        // The one read: not a certificate, ignored with the parser's reason.
        assert_eq!(h.ignored.len(), 1, "{:?}", h.ignored);
        assert!(h.certs.is_empty() && h.skipped.is_empty());
    }

    /// Distinct files past the byte budget are listed as skipped, with the reason, not read.
    #[test]
    fn byte_budget_skips_and_lists() {
        let (t, d) = root_with_store();
        for i in 0..10 {
            std::fs::write(d.join(format!("c{i}.crt")), vec![b'0' + i; 1000]).unwrap();
        }
        std::fs::write(d.join("big.crt"), vec![b'y'; pkcs7::MAX_CERT_FILE + 1]).unwrap();
        let root = RootFs::open(t.path()).unwrap();
        let h = load_host_with(&root, 3500);
        // big.crt sorts first: over the per-file cap; then c0..c2 fit in 3,500 bytes.
        assert_eq!(h.ignored.len(), 3, "{:?}", h.ignored);
        assert_eq!(h.skipped.len(), 8, "{:?}", h.skipped);
        assert!(h.skipped[0].0.ends_with("/big.crt") && h.skipped[0].1.contains("over the"));
        assert!(h.skipped[1].1.contains("MAX_TRUST_STORE_TOTAL"));
    }
}
