//! Finding an image's extension-release (docs/systemd.md §2.4) and judging it against the host
//! with systemd's own algorithm and words (§2.3, `extension_release_validate()`).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};

use extwatch_formats::limits;
use extwatch_formats::osrelease::parse_os_release;
use extwatch_model::ImageClass;

use crate::content::source::ContentError;
use crate::content::Content;
use crate::host::version::SystemdVersion;

/// Largest release file read (systemd's `READ_FULL_BYTES_MAX`).
const MAX_RELEASE: u64 = extwatch_formats::osrelease::MAX_RELEASE_SIZE as u64;

/// Longest release key copied into the report.
pub use limits::MAX_REPORT_KEY;
/// Most release keys copied into the report (the keys systemd and the checks read always are).
pub use limits::MAX_REPORT_KEYS;
/// Longest release value copied into the report; longer ones are cut at a character boundary and
/// end in a marker naming the full size. Real values are a few dozen bytes.
pub use limits::MAX_REPORT_VALUE;

/// Keys always kept in the report: the ones systemd's `extension_release_validate()` reads, and
/// the identifying ones an operator looks for.
const KEPT_KEYS: &[&str] = &[
    "ID",
    "ID_LIKE",
    "VERSION_ID",
    "SYSEXT_LEVEL",
    "CONFEXT_LEVEL",
    "SYSEXT_SCOPE",
    "CONFEXT_SCOPE",
    "ARCHITECTURE",
    "SYSEXT_ID",
    "SYSEXT_VERSION_ID",
    "CONFEXT_ID",
    "CONFEXT_VERSION_ID",
    "IMAGE_ID",
    "IMAGE_VERSION",
    "NAME",
    "PRETTY_NAME",
];

/// extension-release bytes one run may still read, shared by all images (and threads) of the run:
/// [`limits::MAX_RELEASE_TOTAL`]. Each file is charged its size from its inode *before* it is read,
/// so the bytes in memory never exceed the budget (issue 8 case 11: 12 images with a 64 MB release
/// each took 1.5 GB). Which image crosses the budget first can depend on thread timing; that only
/// happens on a root built to exhaust it, and every image refused says why.
#[derive(Debug)]
pub struct ReleaseBudget {
    total: u64,
    left: AtomicU64,
}

impl Default for ReleaseBudget {
    fn default() -> Self {
        ReleaseBudget::new(limits::MAX_RELEASE_TOTAL)
    }
}

impl ReleaseBudget {
    /// A budget of `total` bytes.
    pub fn new(total: u64) -> ReleaseBudget {
        ReleaseBudget {
            total,
            left: AtomicU64::new(total),
        }
    }

    fn take(&self, p: &str, n: u64) -> Result<(), ReleaseError> {
        self.left
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |l| l.checked_sub(n))
            .map(|_| ())
            .map_err(|left| ReleaseError::BudgetSpent {
                path: p.to_string(),
                size: n,
                total: self.total,
                left,
            })
    }
}

/// Why an image's release cannot be looked up. The parse error is chained
/// ([`crate::error::chain`] prints `path: cause`).
#[derive(Debug, thiserror::Error)]
pub enum ReleaseError {
    /// Reading the image failed.
    #[error(transparent)]
    Content(#[from] ContentError),
    /// Over systemd's `READ_FULL_BYTES_MAX`.
    #[error(
        "{path} is {size} bytes, larger than the {MAX_RELEASE}-byte limit systemd reads \
         (READ_FULL_BYTES_MAX); not read"
    )]
    TooLarge {
        /// The file.
        path: String,
        /// Its size.
        size: u64,
    },
    /// The run's extension-release budget is spent.
    #[error(
        "{path} ({size} bytes) not read: the run's extension-release budget \
         (MAX_RELEASE_TOTAL, {total} bytes; {left} left) is spent"
    )]
    BudgetSpent {
        /// The file.
        path: String,
        /// Its size.
        size: u64,
        /// The budget.
        total: u64,
        /// What is left of it.
        left: u64,
    },
    /// Not an os-release file.
    #[error("{path}")]
    Parse {
        /// The file.
        path: String,
        /// Why.
        #[source]
        source: extwatch_formats::osrelease::ReleaseError,
    },
    /// The file chosen disappeared before it was read.
    #[error("{0} vanished")]
    Vanished(String),
}

fn parse(
    path: &str,
) -> impl FnOnce(extwatch_formats::osrelease::ReleaseError) -> ReleaseError + '_ {
    move |source| ReleaseError::Parse {
        path: path.to_string(),
        source,
    }
}

/// Reads a release file: its size is checked against systemd's limit and charged to `budget`
/// before any byte is read.
fn read_release(
    content: &Content,
    p: &str,
    budget: &ReleaseBudget,
) -> Result<Option<Vec<u8>>, ReleaseError> {
    let Some(size) = content.file_size(p)? else {
        return Ok(None);
    };
    if size > MAX_RELEASE {
        return Err(ReleaseError::TooLarge {
            path: p.to_string(),
            size,
        });
    }
    budget.take(p, size)?;
    // At most what was charged: a file that grew since the stat is refused, not read past it.
    Ok(content.read_file(p, size)?)
}

/// The release as it goes into the report: values over [`MAX_REPORT_VALUE`] cut with a marker,
/// keys over [`MAX_REPORT_KEY`] dropped, at most [`MAX_REPORT_KEYS`] keys (the ones systemd
/// compares first). Returns a note saying what was cut, `None` when nothing was. The verdict is
/// computed on the full release before this; only the copy in the report is bounded, so a planted
/// 64 MB value cannot turn into a 755 MB report.
pub fn for_report(pairs: BTreeMap<String, String>) -> (BTreeMap<String, String>, Option<String>) {
    let mut out = BTreeMap::new();
    let (mut cut_values, mut dropped) = (0usize, 0usize);
    let mut keep = |out: &mut BTreeMap<String, String>, k: String, v: String| {
        let v = if v.len() > MAX_REPORT_VALUE {
            cut_values += 1;
            let mut end = MAX_REPORT_VALUE;
            while !v.is_char_boundary(end) {
                end -= 1;
            }
            format!("{}…[extwatch: truncated, {} bytes]", &v[..end], v.len())
        } else {
            v
        };
        out.insert(k, v);
    };
    let mut rest = Vec::new();
    for (k, v) in pairs {
        if KEPT_KEYS.contains(&k.as_str()) {
            keep(&mut out, k, v);
        } else {
            rest.push((k, v));
        }
    }
    for (k, v) in rest {
        if k.len() > MAX_REPORT_KEY || out.len() >= MAX_REPORT_KEYS {
            dropped += 1;
        } else {
            keep(&mut out, k, v);
        }
    }
    let note = (cut_values > 0 || dropped > 0).then(|| {
        format!(
            "release too large for the report: {cut_values} values over {MAX_REPORT_VALUE} bytes \
             truncated, {dropped} keys dropped (over {MAX_REPORT_KEYS} keys or {MAX_REPORT_KEY}-byte \
             names)"
        )
    });
    (out, note)
}

/// The host facts systemd compares against.
#[derive(Debug, Clone, Default)]
pub struct HostRelease {
    /// os-release key/values of the audited root.
    pub os_release: Option<BTreeMap<String, String>>,
    /// `system` or `initrd`.
    pub scope: &'static str,
    /// uname architecture in systemd's spelling.
    pub arch: &'static str,
    /// Path of the root, as systemd prints it in messages.
    pub root_display: String,
}

impl HostRelease {
    fn get(&self, k: &str) -> Option<&str> {
        self.os_release
            .as_ref()
            .and_then(|m| m.get(k))
            .map(String::as_str)
            .filter(|s| !s.is_empty())
    }
}

/// A release file found in an image.
#[derive(Debug, Clone)]
pub struct FoundRelease {
    /// Path inside the image.
    pub path: String,
    /// Parsed pairs.
    pub pairs: BTreeMap<String, String>,
}

/// `path_extract_image_name()` (≥v256): strip `.raw`, then a `.sysext`/`.confext` class suffix (also
/// for directories — verified against 257.13), cut at `_` or `+`.
pub fn base_image_name(file_name: &str) -> String {
    let s = file_name;
    let s = s.strip_suffix(".raw").unwrap_or(s);
    let s = s
        .strip_suffix(".sysext")
        .or_else(|| s.strip_suffix(".confext"))
        .unwrap_or(s);
    let end = s.find(['_', '+']).unwrap_or(s.len());
    s[..end].to_string()
}

fn parse_bool_false(v: &[u8]) -> bool {
    let s = String::from_utf8_lossy(v);
    let s = s.trim_end_matches('\0').trim();
    ["0", "no", "n", "false", "f", "off"]
        .iter()
        .any(|f| s.eq_ignore_ascii_case(f))
}

/// systemd's `image_name_is_valid()` (the part that matters for release-file suffixes).
fn image_name_valid(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 255
        && !s.starts_with(".#")
        && s != "."
        && s != ".."
        && !s.contains('/')
        && s.chars().all(|c| !c.is_control())
}

/// Outcome of a release lookup.
#[derive(Debug, Clone)]
pub enum Lookup {
    /// Found.
    Found(FoundRelease),
    /// No qualifying file.
    Absent,
    /// More than one qualifying file (`-ENOTUNIQ`); the candidates are kept for debugging.
    NotUnique(#[allow(dead_code)] Vec<String>),
}

/// Looks up the extension-release of `name` (or, for portable images, the os-release).
/// `file_name` is the basename systemd uses for the base-name fallback (≥v256). One image on its
/// own: a fresh [`ReleaseBudget`].
pub fn find_release(
    content: &Content,
    class: ImageClass,
    name: &str,
    file_name: &str,
    v: SystemdVersion,
) -> Result<Lookup, ReleaseError> {
    find_release_budgeted(
        content,
        class,
        name,
        file_name,
        v,
        &ReleaseBudget::default(),
    )
}

/// [`find_release`], charging what it reads to the run's `budget`.
pub fn find_release_budgeted(
    content: &Content,
    class: ImageClass,
    name: &str,
    file_name: &str,
    v: SystemdVersion,
    budget: &ReleaseBudget,
) -> Result<Lookup, ReleaseError> {
    if class == ImageClass::Portable {
        for p in ["/etc/os-release", "/usr/lib/os-release"] {
            if let Some(data) = read_release(content, p, budget)? {
                let pairs = parse_os_release(&data).map_err(parse(p))?;
                return Ok(Lookup::Found(FoundRelease {
                    path: p.into(),
                    pairs,
                }));
            }
        }
        return Ok(Lookup::Absent);
    }
    let dir = match class {
        ImageClass::Confext => "/etc/extension-release.d",
        _ => "/usr/lib/extension-release.d",
    };
    let exact = format!("{dir}/extension-release.{name}");
    if let Some(data) = read_release(content, &exact, budget)? {
        let pairs = parse_os_release(&data).map_err(parse(&exact))?;
        return Ok(Lookup::Found(FoundRelease { path: exact, pairs }));
    }
    let base = base_image_name(file_name);
    let mut chosen: Vec<String> = Vec::new();
    for (entry, regular) in content.list(dir)? {
        let Some(suffix) = entry.strip_prefix("extension-release.") else {
            continue;
        };
        if !regular || !image_name_valid(suffix) {
            continue;
        }
        let p = format!("{dir}/{entry}");
        let by_base = v.major >= 256 && suffix == base;
        let by_xattr = !by_base
            && content
                .xattr(&p, "user.extension-release.strict")?
                .is_some_and(|x| parse_bool_false(&x));
        if !(by_base || by_xattr) {
            continue;
        }
        chosen.push(p);
    }
    match chosen.len() {
        0 => Ok(Lookup::Absent),
        1 => {
            let p = chosen.remove(0);
            let data = read_release(content, &p, budget)?
                .ok_or_else(|| ReleaseError::Vanished(p.clone()))?;
            let pairs = parse_os_release(&data).map_err(parse(&p))?;
            Ok(Lookup::Found(FoundRelease { path: p, pairs }))
        }
        // -ENOTUNIQ: more than one candidate; systemd then has no release data.
        _ => Ok(Lookup::NotUnique(chosen)),
    }
}

/// systemd's verdict on an image, with its debug message when it refuses: `Ok(())` or `Err(reason)`.
pub fn validate(
    name: &str,
    class: ImageClass,
    release: Option<&BTreeMap<String, String>>,
    host: &HostRelease,
    v: SystemdVersion,
) -> Result<(), String> {
    if class == ImageClass::Portable {
        return match release {
            Some(r) if !r.is_empty() => Ok(()),
            _ => Err(format!("Image '{name}' carries no os-release data.")),
        };
    }
    let Some(host_id) = host.get("ID") else {
        return Err(format!(
            "'ID' field not found or empty in 'os-release' data of OS tree '{}'.",
            host.root_display
        ));
    };
    let empty = BTreeMap::new();
    let rel = release.unwrap_or(&empty);
    let get = |k: &str| rel.get(k).map(String::as_str).filter(|s| !s.is_empty());
    // systemd ≤253 (src/shared/extension-release.c) words some refusals differently.
    let old = v.major <= 253;
    if rel.is_empty() {
        return Err(if old {
            format!("Extension '{name}' carries no extension-release data, ignoring extension.")
        } else {
            format!("Extension '{name}' carries no release data, ignoring.")
        });
    }
    let (level_key, scope_key) = match class {
        ImageClass::Confext => ("CONFEXT_LEVEL", "CONFEXT_SCOPE"),
        _ => ("SYSEXT_LEVEL", "SYSEXT_SCOPE"),
    };
    let scopes: Vec<&str> = match rel.get(scope_key) {
        Some(s) => s.split_ascii_whitespace().collect(),
        None => vec!["system", "portable"],
    };
    if !scopes.contains(&host.scope) {
        return Err(format!(
            "Extension '{name}' is not suitable for scope {}, ignoring{}.",
            host.scope,
            if old { " extension" } else { "" }
        ));
    }
    if let Some(a) = get("ARCHITECTURE") {
        if a != "_any" && a != host.arch {
            return Err(format!(
                "Extension '{name}' is for architecture '{a}', but deployed on top of '{}'.",
                host.arch
            ));
        }
    }
    let Some(id) = get("ID") else {
        return Err(format!(
            "Extension '{name}' does not contain ID in {} but requested to match '{host_id}' or be '_any'",
            if old { "extension-release" } else { "release file" }
        ));
    };
    if id == "_any" {
        return Ok(());
    }
    let id_like = host.get("ID_LIKE").filter(|_| v.honours_id_like());
    let like = id_like.is_some_and(|l| l.split_ascii_whitespace().any(|w| w == id));
    if id != host_id && !like {
        return Err(match id_like {
            Some(l) => format!(
                "Extension '{name}' is for OS '{id}', but deployed on top of '{host_id}' (like '{l}')."
            ),
            None => format!("Extension '{name}' is for OS '{id}', but deployed on top of '{host_id}'."),
        });
    }
    let host_ver = host.get("VERSION_ID");
    let host_level = host.get(level_key);
    if host_ver.is_none() && host_level.is_none() {
        return Ok(());
    }
    let ext_level = get(level_key);
    if let (Some(hl), Some(el)) = (host_level, ext_level) {
        if hl != el {
            let api = if old { "sysext API level" } else { "API level" };
            return Err(format!(
                "Extension '{name}' is for {api} '{el}', but running on {api} '{hl}'"
            ));
        }
    } else if let Some(hv) = host_ver {
        let Some(ev) = get("VERSION_ID") else {
            return Err(format!(
                "Extension '{name}' does not contain VERSION_ID in {} but requested to match '{hv}'",
                if old { "extension-release" } else { "release file" }
            ));
        };
        if ev != hv {
            return Err(format!(
                "Extension '{name}' is for OS '{ev}', but deployed on top of '{hv}'."
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
