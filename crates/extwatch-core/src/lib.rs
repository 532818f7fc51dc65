//! extwatch's engine: reads an audited root (live `/` or an offline copy) without writing to it,
//! reproduces systemd's discovery, matching and merge-state rules for the root's systemd version, and
//! turns what it sees into findings.
//!
//! Layers: [`rootfs`] (read-only, in-root path resolution) → [`discover`] (what systemd would find) →
//! [`analyze`] (open each image, read its release, judge it) → [`merged`] (what is merged now) →
//! [`checks`] (findings) → [`render`] (table/JSON).

pub(crate) mod host;
pub(crate) mod inventory;
pub(crate) mod time;
pub mod changes;
pub mod checks;
pub mod checks_content;
pub mod content;
pub mod files;
pub mod overlay;
pub(crate) mod provenance;
pub mod render;

use std::path::{Path, PathBuf};

use extwatch_formats::mountinfo::parse_mountinfo_table;
use extwatch_formats::osrelease::parse_os_release;
use extwatch_model::{Host, ImageClass, Report, SCHEMA};

pub use crate::host::version::SystemdVersion;
pub use crate::host::rootfs::{open_operator_file, RootFs};
pub use crate::time::rfc3339;
pub use crate::host::arch::{architecture_name, native_architecture};

/// Errors that stop an audit (everything else is a finding or a check error).
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    /// The root cannot be opened.
    #[error("cannot open root {path}: {source}")]
    Root {
        /// The root given.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The mount table given cannot be read or parsed.
    #[error("cannot use mount table {path}: {reason}")]
    Mountinfo {
        /// The file given.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// The operator's trust anchors cannot be loaded.
    #[error("cannot load --trust anchors: {0}")]
    Trust(String),
    /// An unknown architecture name.
    #[error("unknown architecture '{0}' (use systemd's names, e.g. x86-64, arm64)")]
    Architecture(String),
}

/// What to audit and how.
#[derive(Debug, Clone)]
pub struct Options {
    /// The root directory (`/` for the live host).
    pub root: PathBuf,
    /// Force a systemd version instead of detecting it.
    pub systemd_version: Option<SystemdVersion>,
    /// Mount table to read; `None` means `/proc/self/mountinfo`.
    pub mountinfo: Option<PathBuf>,
    /// Architecture name (systemd spelling); `None` = the machine extwatch runs on.
    pub architecture: Option<String>,
    /// Run the checks (audit) or only take the inventory.
    pub checks: bool,
    /// The operator's trust anchors (`--trust`), a directory or file on the auditing machine.
    pub trust: Option<PathBuf>,
    /// Recompute every image's verity hash tree.
    pub deep: bool,
    /// Initrd rules: `None` = the root has `/etc/initrd-release` (how the booted system decides).
    pub initrd: Option<bool>,
    /// Compute what each extension changes (content checks); implied by `checks`.
    pub content: bool,
    /// Hash every file of the base and merged views (for `--baseline`).
    pub hash_all: bool,
}

/// Takes the inventory (and, with `checks`, the findings) of a root.
pub fn audit(opts: &Options) -> Result<(Report, Vec<String>), AuditError> {
    audit_full(opts).map(|(r, w, _)| (r, w))
}

/// [`audit`], also returning the content analysis (merged views) when it was made.
pub fn audit_full(
    opts: &Options,
) -> Result<(Report, Vec<String>, Option<changes::Analysis>), AuditError> {
    let root = RootFs::open(&opts.root).map_err(|source| AuditError::Root {
        path: opts.root.clone(),
        source,
    })?;
    let mut warnings = Vec::new();
    let (version, version_source) = match opts.systemd_version {
        Some(v) => (v, "option".to_string()),
        None => match host::version::detect(&root) {
            Some((v, p)) => (v, format!("detected:{p}")),
            None => (SystemdVersion::DEFAULT, "default".to_string()),
        },
    };
    let arch = match &opts.architecture {
        Some(a) => {
            host::arch::architecture_name(a).ok_or_else(|| AuditError::Architecture(a.clone()))?
        }
        None => host::arch::native_architecture(),
    };
    let initrd = opts
        .initrd
        .unwrap_or_else(|| root.lstat("/etc/initrd-release").ok().flatten().is_some());
    let (os_release, os_release_error) = host_os_release(&root, &mut warnings);
    if let Some(e) = &os_release_error {
        warnings.push(format!("host os-release: {e}"));
    }
    let host_rel = inventory::release::HostRelease {
        os_release: os_release.clone(),
        scope: if initrd { "initrd" } else { "system" },
        arch,
        root_display: root.display_path().display().to_string(),
    };
    // One set of per-run budgets (release bytes, bytes hashed, evidence wall clock) for all images.
    let budget = host::budget::RunBudget::default();

    let mi_path = opts
        .mountinfo
        .clone()
        .unwrap_or_else(|| PathBuf::from("/proc/self/mountinfo"));
    let mounts = match std::fs::read(&mi_path) {
        Ok(d) => {
            let t = parse_mountinfo_table(&d).map_err(|e| AuditError::Mountinfo {
                path: mi_path.clone(),
                reason: e.to_string(),
            })?;
            // A malformed line is skipped with a warning, never the whole table (issue 8 case 9).
            for e in &t.skipped {
                warnings.push(format!("{}: skipped {e}", mi_path.display()));
            }
            Some(t.mounts)
        }
        Err(e) if opts.mountinfo.is_some() => {
            return Err(AuditError::Mountinfo {
                path: mi_path,
                reason: e.to_string(),
            })
        }
        Err(e) => {
            warnings.push(format!("no mount table ({}: {e})", mi_path.display()));
            None
        }
    };

    let dopts = inventory::discover::DiscoverOptions {
        version,
        initrd,
        arch,
    };
    let (found, special, w) = inventory::discover::discover(&root, &dopts);
    warnings.extend(w);
    let trust = provenance::evaluate::TrustCtx {
        host: provenance::trust::load_host(&root),
        operator: match &opts.trust {
            Some(p) => Some(provenance::trust::load_operator(p).map_err(AuditError::Trust)?),
            None => None,
        },
        deep: opts.deep,
        threads: std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1),
    };
    let mut images = analyze_all(&root, &found, &host_rel, version, &trust, &budget);

    let (hierarchies, w) = inventory::merged::hierarchies(&root, mounts.as_deref(), version);
    warnings.extend(w);
    for h in hierarchies.iter().filter(|h| h.merged) {
        for n in &h.extensions {
            if let Some((img, _)) = images.iter_mut().find(|(i, _)| {
                i.class == h.class && &i.name == n && i.searched && i.masked_by.is_none()
            }) {
                img.merged = true;
                img.merged_into.push(h.hierarchy.clone());
            }
        }
    }
    let mutable_dirs: Vec<String> = if version.major >= 256 {
        ["usr", "opt", "etc"]
            .iter()
            .map(|h| format!("/var/lib/extensions.mutable/{h}"))
            .filter(|p| root.lstat(p).ok().flatten().is_some())
            .collect()
    } else {
        vec![]
    };
    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    let content = (opts.checks || opts.content).then(|| {
        let classes: Vec<(ImageClass, &'static [&'static str])> =
            [ImageClass::Sysext, ImageClass::Confext]
                .into_iter()
                .map(|c| (c, host::paths::hierarchies(c, version)))
                .filter(|(_, h)| !h.is_empty())
                .collect();
        changes::analyze(
            &root,
            &images,
            &hierarchies,
            &classes,
            arch,
            &files::WalkLimits::default(),
            threads,
            opts.hash_all,
            &budget,
        )
    });
    let (findings, checks) = if opts.checks {
        let policies: Vec<inventory::policy::Effective> = [ImageClass::Sysext, ImageClass::Confext]
            .into_iter()
            .filter(|c| *c == ImageClass::Sysext || version.major >= 254)
            .map(|c| inventory::policy::effective(&root, c, version))
            .collect();
        checks::run(&checks::Inputs {
            images: &images,
            hierarchies: &hierarchies,
            mutable_dirs: &mutable_dirs,
            have_mounts: mounts.is_some(),
            policies: &policies,
            host_trust: &trust.host,
            version,
            content: content.as_ref(),
            special: &special,
        })
    } else {
        (vec![], vec![])
    };
    let report = Report {
        schema: SCHEMA.into(),
        host: Host {
            root: root.display_path().display().to_string(),
            systemd_version: version.to_string(),
            systemd_version_source: version_source,
            os_release,
            os_release_error,
            architecture: arch.into(),
            initrd,
            mountinfo: mounts.as_ref().map(|_| mi_path.display().to_string()),
        },
        images: images.drain(..).map(|(i, _)| i).collect(),
        hierarchies,
        findings,
        checks,
    };
    Ok((report, warnings, content))
}

/// The root's os-release as systemd's `open_os_release()` finds it: `/etc/os-release`, and
/// `/usr/lib/os-release` only when the first does not exist. A regular file that exists but cannot
/// be used (over systemd's `READ_FULL_BYTES_MAX`, unreadable, unparsable) is an error with the
/// reason, never a silent `null` and never a fall-through to the other file (issue 8). A FIFO,
/// socket or device there is never opened (systemd would block on it); it is skipped with a
/// warning, as before, and the next file is used.
fn host_os_release(
    root: &RootFs,
    warnings: &mut Vec<String>,
) -> (
    Option<std::collections::BTreeMap<String, String>>,
    Option<String>,
) {
    for p in ["/etc/os-release", "/usr/lib/os-release"] {
        if let Ok(Some(st)) = root.stat(p) {
            if rustix::fs::FileType::from_raw_mode(st.st_mode) != rustix::fs::FileType::RegularFile
            {
                warnings.push(format!(
                    "host os-release: {p} is not a regular file; skipped"
                ));
                continue;
            }
        }
        match root.read_file(p, extwatch_formats::osrelease::MAX_RELEASE_SIZE as u64) {
            Ok(None) => continue,
            Ok(Some(d)) => {
                return match parse_os_release(&d) {
                    Ok(m) => (Some(m), None),
                    Err(e) => (None, Some(format!("{p}: {e}"))),
                }
            }
            Err(e) => return (None, Some(format!("{p}: {e}"))),
        }
    }
    (None, None)
}

/// Analyses images on up to `available_parallelism` threads (hashing dominates), keeping order.
fn analyze_all(
    root: &RootFs,
    found: &[inventory::discover::Found],
    host: &inventory::release::HostRelease,
    v: SystemdVersion,
    trust: &provenance::evaluate::TrustCtx,
    budget: &host::budget::RunBudget,
) -> Vec<(extwatch_model::Image, inventory::image::Extra)> {
    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .clamp(1, 8)
        .min(found.len().max(1));
    let next = std::sync::atomic::AtomicUsize::new(0);
    let slots: Vec<std::sync::Mutex<Option<(extwatch_model::Image, inventory::image::Extra)>>> =
        found.iter().map(|_| std::sync::Mutex::new(None)).collect();
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let Some(f) = found.get(i) else { break };
                let r = inventory::image::analyze_image(root, f, host, v, trust, budget);
                if let Ok(mut slot) = slots[i].lock() {
                    *slot = Some(r);
                }
            });
        }
    });
    slots
        .into_iter()
        .filter_map(|m| m.into_inner().ok().flatten())
        .collect()
}

/// Convenience for callers that hold a path.
pub fn options_for(root: &Path) -> Options {
    Options {
        root: root.to_path_buf(),
        systemd_version: None,
        mountinfo: None,
        architecture: None,
        checks: true,
        trust: None,
        deep: false,
        initrd: None,
        content: true,
        hash_all: false,
    }
}
