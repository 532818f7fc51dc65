//! Trust anchors for verity signatures.
//!
//! Two sets, judged separately (reference systemd.md §5.4):
//!
//! * **the host's**: what systemd's userspace fallback would use — `*.crt` files in `verity.d` under
//!   `/etc`, `/run`, `/usr/local/lib`, `/usr/lib` (first same-named file wins, `CONF_FILES_FILTER_MASKED`;
//!   a file masked by a `/dev/null` symlink or an empty file is skipped). Every other file there is
//!   ignored by systemd — including `.pem` — and is reported. These directories are root-writable, so an
//!   attacker can add his own certificate;
//! * **the operator's** (`--trust DIR`, on the auditing machine, never under `--root`): `.crt` and `.pem`
//!   files holding the certificates the operator actually trusts. When given, it decides `valid`, and a
//!   signature the host accepts but the operator does not is a finding.

use std::path::Path;

use extwatch_formats::pkcs7::{parse_cert_pem, TrustedCert};

use crate::rootfs::RootFs;

/// The `verity.d` directories systemd reads, highest precedence first.
pub const VERITY_DIRS: [&str; 4] = [
    "/etc/verity.d",
    "/run/verity.d",
    "/usr/local/lib/verity.d",
    "/usr/lib/verity.d",
];

/// The host's trust store as systemd sees it.
#[derive(Debug, Default, Clone)]
pub struct HostTrust {
    /// Certificates systemd would load.
    pub certs: Vec<TrustedCert>,
    /// Files systemd ignores, with why.
    pub ignored: Vec<(String, String)>,
    /// Which of the directories exist.
    pub dirs_present: Vec<String>,
}

/// Reads the host's `verity.d` directories inside the root.
pub fn load_host(root: &RootFs) -> HostTrust {
    let mut t = HostTrust::default();
    let mut seen: Vec<String> = Vec::new();
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
            if seen.contains(&name) {
                t.ignored
                    .push((path, format!("masked by a higher-precedence {name}")));
                continue;
            }
            seen.push(name.clone());
            // A symlink to /dev/null masks; chase inside the root tells us what it points to.
            if root
                .resolve(&path)
                .map(|p| p == "/dev/null")
                .unwrap_or(false)
            {
                continue;
            }
            match root.read_file(&path, 1024 * 1024) {
                Ok(Some(d)) if d.is_empty() => {}
                Ok(Some(d)) => match parse_cert_pem(&d) {
                    Ok(cert) => t.certs.push(TrustedCert { source: path, cert }),
                    Err(e) => t.ignored.push((path, e)),
                },
                Ok(None) => {}
                Err(e) => t.ignored.push((path, e.to_string())),
            }
        }
    }
    t
}

/// Loads the operator's anchors from a directory (or a single file) on the auditing machine.
pub fn load_operator(path: &Path) -> Result<Vec<TrustedCert>, String> {
    let files: Vec<std::path::PathBuf> = if path.is_dir() {
        let mut v: Vec<_> = std::fs::read_dir(path)
            .map_err(|e| format!("{}: {e}", path.display()))?
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
        let d = std::fs::read(&f).map_err(|e| format!("{}: {e}", f.display()))?;
        let cert = parse_cert_pem(&d).map_err(|e| format!("{}: {e}", f.display()))?;
        out.push(TrustedCert {
            source: f.display().to_string(),
            cert,
        });
    }
    if out.is_empty() {
        return Err(format!(
            "{}: no .crt/.pem certificates found",
            path.display()
        ));
    }
    Ok(out)
}
