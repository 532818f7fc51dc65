//! The audit as explicit stages, each a function over the previous stage's output, so a
//! long-running agent can re-run one of them (re-take the inventory after a merge, re-run the checks
//! after a policy change) without starting over:
//!
//! 1. [`probe`] the host: the root handle, systemd version, architecture, initrd or not, os-release,
//!    mount table;
//! 2. take the [`inventory`]: discover the images, load the trust anchors, analyse each image, read
//!    the merge state;
//! 3. gather the [`facts`] the checks judge: mutable directories, image policies, the content
//!    analysis (what each extension changes);
//! 4. run the [`checks`] and assemble the [`report`].
//!
//! [`audit`] and [`audit_full`] run all four for the CLI.

use std::collections::BTreeMap;
use std::path::PathBuf;

use extwatch_formats::mountinfo::{parse_mountinfo_table, MountEntry, MountinfoError};
use extwatch_formats::osrelease::parse_os_release;
use extwatch_model::{CheckRun, Finding, Hierarchy, Host, Image, ImageClass, Report, SCHEMA};

use crate::content::changes::{analyze_changes, Analysis};
use crate::content::WalkLimits;
use crate::diagnostic::{Area, Diagnostic};
use crate::host::budget::RunBudget;
use crate::host::rootfs::RootFs;
use crate::host::version::{self, SystemdVersion};
use crate::host::{arch, paths};
use crate::inventory::discover::{self, SpecialFile};
use crate::inventory::image::{analyze_image, Extra};
use crate::inventory::{merged, policy, release};
use crate::provenance::evaluate::TrustCtx;
use crate::provenance::trust::{self, TrustError};
use crate::Options;

/// Errors that stop an audit (everything else is a finding, a check error or a [`Diagnostic`]).
/// The source is chained, not repeated in the message: `{:#}` (anyhow) prints the whole chain.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    /// The root cannot be opened.
    #[error("cannot open root {}: {source}", path.display())]
    Root {
        /// The root given.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The mount table given cannot be read or parsed.
    #[error("cannot use mount table {}", path.display())]
    Mountinfo {
        /// The file given.
        path: PathBuf,
        /// Why.
        #[source]
        source: MountTableError,
    },
    /// The operator's trust anchors cannot be loaded.
    #[error("cannot load --trust anchors")]
    Trust(#[source] TrustError),
    /// An unknown architecture name.
    #[error("unknown architecture '{0}' (use systemd's names, e.g. x86-64, arm64)")]
    Architecture(String),
}

/// Why the mount table cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum MountTableError {
    /// Reading it failed.
    #[error(transparent)]
    Read(#[from] std::io::Error),
    /// It is not a mount table at all (too large, not text).
    #[error(transparent)]
    Parse(#[from] MountinfoError),
}

/// Stage 1: what the host is.
pub struct Probe {
    pub(crate) root: RootFs,
    pub(crate) version: SystemdVersion,
    pub(crate) version_source: String,
    pub(crate) arch: &'static str,
    pub(crate) initrd: bool,
    pub(crate) os_release: Option<BTreeMap<String, String>>,
    pub(crate) os_release_error: Option<String>,
    pub(crate) mountinfo: PathBuf,
    pub(crate) mounts: Option<Vec<MountEntry>>,
    /// What the probe noticed.
    pub diagnostics: Vec<Diagnostic>,
}

impl Probe {
    /// The systemd version whose rules apply.
    pub fn version(&self) -> SystemdVersion {
        self.version
    }
    /// The architecture (systemd's name).
    pub fn architecture(&self) -> &'static str {
        self.arch
    }
}

/// Stage 2: the images and the merge state.
pub struct Inventory {
    pub(crate) images: Vec<(Image, Extra)>,
    pub(crate) special: Vec<SpecialFile>,
    pub(crate) hierarchies: Vec<Hierarchy>,
    pub(crate) trust: TrustCtx,
    pub(crate) budget: RunBudget,
    /// What discovery and the merge state noticed.
    pub diagnostics: Vec<Diagnostic>,
}

impl Inventory {
    /// The images, in discovery order.
    pub fn images(&self) -> impl Iterator<Item = &Image> {
        self.images.iter().map(|(i, _)| i)
    }
    /// The hierarchies and what is merged on them.
    pub fn hierarchies(&self) -> &[Hierarchy] {
        &self.hierarchies
    }
}

/// Stage 3: what the checks judge beyond the inventory.
pub struct HostFacts {
    pub(crate) mutable_dirs: Vec<String>,
    pub(crate) policies: Vec<policy::Effective>,
    /// What each extension changes (the content analysis), when it was asked for.
    pub content: Option<Analysis>,
}

/// Stage 1: opens the root and reads what the host is. Stops on an unopenable root, an unknown
/// architecture or an unusable `--mountinfo`.
pub fn probe(opts: &Options) -> Result<Probe, AuditError> {
    let root = RootFs::open(&opts.root).map_err(|source| AuditError::Root {
        path: opts.root.clone(),
        source,
    })?;
    let mut diagnostics = Vec::new();
    let (version, version_source) = match opts.systemd_version {
        Some(v) => (v, "option".to_string()),
        None => match version::detect(&root) {
            Some((v, p)) => (v, format!("detected:{p}")),
            None => (SystemdVersion::DEFAULT, "default".to_string()),
        },
    };
    let arch = match &opts.architecture {
        Some(a) => arch::architecture_name(a).ok_or_else(|| AuditError::Architecture(a.clone()))?,
        None => arch::native_architecture(),
    };
    let initrd = opts
        .initrd
        .unwrap_or_else(|| root.lstat("/etc/initrd-release").ok().flatten().is_some());
    let (os_release, os_release_error) = host_os_release(&root, &mut diagnostics);
    if let Some(e) = &os_release_error {
        diagnostics.push(Diagnostic::new(
            Area::OsRelease,
            None,
            format!("host os-release: {e}"),
        ));
    }
    let mi_path = opts
        .mountinfo
        .clone()
        .unwrap_or_else(|| PathBuf::from("/proc/self/mountinfo"));
    let shown = Some(mi_path.display().to_string());
    let mounts = match std::fs::read(&mi_path) {
        Ok(d) => {
            let t = parse_mountinfo_table(&d).map_err(|e| AuditError::Mountinfo {
                path: mi_path.clone(),
                source: e.into(),
            })?;
            // A malformed line is skipped with a diagnostic, never the whole table (issue 8 case 9).
            for e in &t.skipped {
                diagnostics.push(Diagnostic::new(
                    Area::MountTable,
                    shown.clone(),
                    format!("{}: skipped {e}", mi_path.display()),
                ));
            }
            Some(t.mounts)
        }
        Err(e) if opts.mountinfo.is_some() => {
            return Err(AuditError::Mountinfo {
                path: mi_path,
                source: e.into(),
            })
        }
        Err(e) => {
            diagnostics.push(Diagnostic::new(
                Area::MountTable,
                shown,
                format!("no mount table ({}: {e})", mi_path.display()),
            ));
            None
        }
    };
    Ok(Probe {
        root,
        version,
        version_source,
        arch,
        initrd,
        os_release,
        os_release_error,
        mountinfo: mi_path,
        mounts,
        diagnostics,
    })
}

/// Stage 2: discovers the images, loads the trust anchors (the host's and `--trust`), analyses
/// every image and reads which are merged where. Stops only on unusable `--trust` anchors.
pub fn inventory(probe: &Probe, opts: &Options) -> Result<Inventory, AuditError> {
    let root = &probe.root;
    let host_rel = release::HostRelease {
        os_release: probe.os_release.clone(),
        scope: if probe.initrd { "initrd" } else { "system" },
        arch: probe.arch,
        root_display: root.display_path().display().to_string(),
    };
    // One set of per-run budgets (release bytes, bytes hashed, evidence wall clock) for all images.
    let budget = RunBudget::default();
    let dopts = discover::DiscoverOptions {
        version: probe.version,
        initrd: probe.initrd,
        arch: probe.arch,
    };
    let (found, special, mut diagnostics) = discover::discover(root, &dopts);
    let trust = TrustCtx {
        host: trust::load_host(root),
        operator: match &opts.trust {
            Some(p) => Some(trust::load_operator(p).map_err(AuditError::Trust)?),
            None => None,
        },
        deep: opts.deep,
        threads: threads(),
    };
    let mut images = analyze_all(root, &found, &host_rel, probe.version, &trust, &budget);
    let (hierarchies, w) = merged::hierarchies(root, probe.mounts.as_deref(), probe.version);
    diagnostics.extend(w);
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
    Ok(Inventory {
        images,
        special,
        hierarchies,
        trust,
        budget,
        diagnostics,
    })
}

/// Stage 3: the facts the checks need beyond the inventory. The content analysis (reading every
/// layer and the base beneath the overlay) is made when `opts.content`, or when `opts.checks` and a
/// selected check needs it.
pub fn facts(probe: &Probe, inv: &Inventory, opts: &Options) -> HostFacts {
    let root = &probe.root;
    let version = probe.version;
    let mutable_dirs: Vec<String> = if version.major >= 256 {
        ["usr", "opt", "etc"]
            .iter()
            .map(|h| format!("/var/lib/extensions.mutable/{h}"))
            .filter(|p| root.lstat(p).ok().flatten().is_some())
            .collect()
    } else {
        vec![]
    };
    // The content analysis is the slow part: made only when asked for (`--baseline`) or when a
    // selected check needs it.
    let need_content =
        opts.content || (opts.checks && opts.select.needs(crate::checks::Fact::Content));
    let content = need_content.then(|| {
        let classes: Vec<(ImageClass, &'static [&'static str])> =
            [ImageClass::Sysext, ImageClass::Confext]
                .into_iter()
                .map(|c| (c, paths::hierarchies(c, version)))
                .filter(|(_, h)| !h.is_empty())
                .collect();
        analyze_changes(
            root,
            &inv.images,
            &inv.hierarchies,
            &classes,
            probe.arch,
            &WalkLimits::default(),
            threads(),
            opts.hash_all,
            &inv.budget,
        )
    });
    let policies = if opts.checks {
        [ImageClass::Sysext, ImageClass::Confext]
            .into_iter()
            .filter(|c| *c == ImageClass::Sysext || version.major >= 254)
            .map(|c| policy::effective(root, c, version))
            .collect()
    } else {
        vec![]
    };
    HostFacts {
        mutable_dirs,
        policies,
        content,
    }
}

/// Stage 4: the findings and the result of every selected check.
pub fn checks(
    probe: &Probe,
    inv: &Inventory,
    facts: &HostFacts,
    select: &crate::checks::Selection,
) -> (Vec<Finding>, Vec<CheckRun>) {
    let facts = crate::checks::Facts {
        images: &inv.images,
        hierarchies: &inv.hierarchies,
        mutable_dirs: &facts.mutable_dirs,
        mount_table: probe.mounts.is_some(),
        policies: &facts.policies,
        content: facts.content.as_ref(),
        special: &inv.special,
        ..crate::checks::Facts::new(probe.version, &inv.trust.host)
    };
    crate::checks::run(&facts, select)
}

/// The report of the stages' results (`findings`/`checks` empty for an inventory).
pub fn report(
    probe: &Probe,
    inv: &Inventory,
    findings: Vec<Finding>,
    checks: Vec<CheckRun>,
) -> Report {
    Report {
        schema: SCHEMA.into(),
        host: Host {
            root: probe.root.display_path().display().to_string(),
            systemd_version: probe.version.to_string(),
            systemd_version_source: probe.version_source.clone(),
            os_release: probe.os_release.clone(),
            os_release_error: probe.os_release_error.clone(),
            architecture: probe.arch.into(),
            initrd: probe.initrd,
            mountinfo: probe
                .mounts
                .as_ref()
                .map(|_| probe.mountinfo.display().to_string()),
        },
        images: inv.images.iter().map(|(i, _)| i.clone()).collect(),
        hierarchies: inv.hierarchies.clone(),
        findings,
        checks,
    }
}

/// Takes the inventory (and, with `checks`, the findings) of a root.
pub fn audit(opts: &Options) -> Result<(Report, Vec<Diagnostic>), AuditError> {
    audit_full(opts).map(|(r, w, _)| (r, w))
}

/// [`audit`], also returning the content analysis (merged views) when it was made.
pub fn audit_full(
    opts: &Options,
) -> Result<(Report, Vec<Diagnostic>, Option<Analysis>), AuditError> {
    let p = probe(opts)?;
    let inv = inventory(&p, opts)?;
    let f = facts(&p, &inv, opts);
    let (findings, checks) = if opts.checks {
        checks(&p, &inv, &f, &opts.select)
    } else {
        (vec![], vec![])
    };
    let report = report(&p, &inv, findings, checks);
    let mut diagnostics = p.diagnostics;
    diagnostics.extend(inv.diagnostics);
    Ok((report, diagnostics, f.content))
}

fn threads() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
}

/// The root's os-release as systemd's `open_os_release()` finds it: `/etc/os-release`, and
/// `/usr/lib/os-release` only when the first does not exist. A regular file that exists but cannot
/// be used (over systemd's `READ_FULL_BYTES_MAX`, unreadable, unparsable) is an error with the
/// reason, never a silent `null` and never a fall-through to the other file (issue 8). A FIFO,
/// socket or device there is never opened (systemd would block on it); it is skipped with a
/// diagnostic, as before, and the next file is used.
fn host_os_release(
    root: &RootFs,
    diagnostics: &mut Vec<Diagnostic>,
) -> (Option<BTreeMap<String, String>>, Option<String>) {
    for p in ["/etc/os-release", "/usr/lib/os-release"] {
        if let Ok(Some(st)) = root.stat(p) {
            if rustix::fs::FileType::from_raw_mode(st.st_mode) != rustix::fs::FileType::RegularFile
            {
                diagnostics.push(Diagnostic::new(
                    Area::OsRelease,
                    Some(p.to_string()),
                    format!("host os-release: {p} is not a regular file; skipped"),
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
    found: &[discover::Found],
    host: &release::HostRelease,
    v: SystemdVersion,
    trust: &TrustCtx,
    budget: &RunBudget,
) -> Vec<(Image, Extra)> {
    let threads = threads().clamp(1, 8).min(found.len().max(1));
    let next = std::sync::atomic::AtomicUsize::new(0);
    let slots: Vec<std::sync::Mutex<Option<(Image, Extra)>>> =
        found.iter().map(|_| std::sync::Mutex::new(None)).collect();
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let Some(f) = found.get(i) else { break };
                let r = analyze_image(root, f, host, v, trust, budget);
                if let Some(Ok(mut slot)) = slots.get(i).map(|m| m.lock()) {
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
