//! The image policy systemd-sysext/confext would apply on this root (docs/systemd.md §5.5),
//! and whether it lets unsigned images in.
//!
//! Precedence (`pick_image_policy()`): an explicit `--image-policy=` on the service's `ExecStart=` (unit
//! file or drop-in, v254+), then `ImagePolicy=` in `sysext.conf`/`confext.conf` and their `.conf.d/`
//! drop-ins (v259+), then the built-in defaults — which accept completely unprotected images.
//! systemd 252/253 have no policy at all: anything dissectable is used.

use std::collections::HashMap;
use std::io::Read;
use std::os::unix::fs::MetadataExt;

use extwatch_formats::limits::MAX_UNIT_FILE;
use extwatch_model::ImageClass;

use crate::host::rootfs::RootFs;
use crate::host::version::SystemdVersion;

/// Built-in sysext policy (`image_policy_sysext`).
pub const DEFAULT_SYSEXT: &str =
    "root=verity+signed+encrypted+unprotected+absent:usr=verity+signed+encrypted+unprotected+absent";
/// Built-in confext policy (`image_policy_confext`).
pub const DEFAULT_CONFEXT: &str = "root=verity+signed+encrypted+unprotected+absent";

/// The effective policy for one class.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Effective {
    /// The class.
    pub class: ImageClass,
    /// Policy string (null-equivalent `"(none)"` before v254).
    pub policy: String,
    /// Where it came from: `built-in`, `none`, or the file that set it.
    pub source: String,
    /// Protection flags allowed for the designators the class uses (root, usr).
    pub flags: Vec<(String, Vec<String>)>,
}

impl Effective {
    /// True when an unsigned image (unprotected, or verity without signature) is accepted.
    pub fn allows_unsigned(&self) -> bool {
        self.policy == "(none)"
            || self.flags.iter().any(|(_, f)| {
                f.iter()
                    .any(|x| matches!(x.as_str(), "unprotected" | "verity" | "encrypted" | "open"))
            })
    }

    /// True when `verity` is allowed, so v259+ falls back to unsigned verity on a bad signature.
    pub fn allows_verity(&self) -> bool {
        self.flags
            .iter()
            .any(|(_, f)| f.iter().any(|x| x == "verity" || x == "open"))
    }
}

/// Protection flags of `designator` in a policy string; `None` when the string is not a policy.
pub fn flags_for(policy: &str, designator: &str) -> Option<Vec<String>> {
    let policy = policy.trim();
    let all = |f: &[&str]| Some(f.iter().map(|s| s.to_string()).collect());
    match policy {
        "*" => return all(&["open"]),
        "-" => return all(&["unused", "absent"]),
        "~" => return all(&["absent"]),
        _ => {}
    }
    let mut default: Option<Vec<String>> = None;
    let mut found: Option<Vec<String>> = None;
    for part in policy.split(':').filter(|p| !p.is_empty()) {
        let (d, f) = part.split_once('=')?;
        let flags: Vec<String> = f
            .split('+')
            .filter(|x| !x.is_empty())
            .map(|x| match x {
                "*" => "open".to_string(),
                _ => x.to_string(),
            })
            .collect();
        if d.is_empty() {
            default = Some(flags);
        } else if d == designator {
            found = Some(flags);
        }
    }
    Some(
        found
            .or(default)
            .unwrap_or_else(|| vec!["unused".into(), "absent".into()]),
    )
}

/// Reads the effective policy of `class` from the root.
pub fn effective(root: &RootFs, class: ImageClass, v: SystemdVersion) -> Effective {
    let designators: &[&str] = match class {
        ImageClass::Confext => &["root"],
        _ => &["root", "usr"],
    };
    let mk = |policy: String, source: String| {
        let flags = designators
            .iter()
            .map(|d| {
                (
                    d.to_string(),
                    flags_for(&policy, d).unwrap_or_else(|| vec!["open".into()]),
                )
            })
            .collect();
        Effective {
            class,
            policy,
            source,
            flags,
        }
    };
    if v.major < 254 {
        return Effective {
            class,
            policy: "(none)".into(),
            source: format!("systemd {v} has no image policy"),
            flags: vec![],
        };
    }
    if let Some((p, src)) = exec_start_policy(root, class) {
        return mk(p, src);
    }
    if v.major >= 259 {
        if let Some((p, src)) = conf_policy(root, class) {
            return mk(p, src);
        }
    }
    let d = match class {
        ImageClass::Confext => DEFAULT_CONFEXT,
        _ => DEFAULT_SYSEXT,
    };
    mk(d.into(), "built-in".into())
}

fn unit_name(class: ImageClass) -> &'static str {
    match class {
        ImageClass::Confext => "systemd-confext.service",
        _ => "systemd-sysext.service",
    }
}

/// Unit search path for system units (first match wins for the unit file).
pub const UNIT_DIRS: [&str; 5] = [
    "/etc/systemd/system",
    "/run/systemd/system",
    "/usr/local/lib/systemd/system",
    "/usr/lib/systemd/system",
    "/lib/systemd/system",
];

/// The unit file and drop-ins of the class's merge service, in the order systemd applies them.
pub fn unit_files(root: &RootFs, class: ImageClass) -> Vec<String> {
    let unit = unit_name(class);
    let mut files = Vec::new();
    if let Some(main) = UNIT_DIRS
        .iter()
        .map(|d| format!("{d}/{unit}"))
        .find(|p| root.stat(p).ok().flatten().is_some())
    {
        files.push(main);
    }
    // Drop-ins: same file name in a higher-precedence directory wins; applied sorted by name.
    let dirs: Vec<String> = UNIT_DIRS.iter().map(|d| format!("{d}/{unit}.d")).collect();
    files.extend(dropins(root, &dirs));
    files
}

/// `*.conf` drop-ins of the directories `dirs` (highest precedence first): a file name seen in a
/// higher-precedence directory masks the same name below; the result is sorted by file name, the
/// order systemd applies them in.
fn dropins(root: &RootFs, dirs: &[String]) -> Vec<String> {
    // A map keyed by name, not a list searched per entry: a planted directory of a million
    // drop-ins made the old `found.iter().any(..)` quadratic (issue 8).
    let mut found: std::collections::BTreeMap<String, String> = std::collections::BTreeMap::new();
    for dir in dirs {
        let Ok(entries) = root.read_dir(dir) else {
            continue;
        };
        for (n, _) in entries {
            let n = String::from_utf8_lossy(&n).into_owned();
            if n.ends_with(".conf") && !found.contains_key(&n) {
                let path = format!("{dir}/{n}");
                found.insert(n, path);
            }
        }
    }
    found.into_values().collect()
}

/// Reads `f` and applies `parse` to it, once per file (`st_dev`, `st_ino` of the opened file):
/// a planted directory of thousands of hard links or symlinks to one 1 MiB drop-in would otherwise
/// be read and scanned once per name (the drop-in neighbour of issue 8 case 10). `None` when the
/// file cannot be read or is over [`MAX_UNIT_FILE`] (skipped, as before).
fn per_file<T: Clone>(
    root: &RootFs,
    f: &str,
    cache: &mut HashMap<(u64, u64), Option<T>>,
    parse: impl Fn(&str) -> T,
) -> Option<T> {
    let file = root.open_file(f).ok()?;
    let md = file.metadata().ok()?;
    let key = (md.dev(), md.ino());
    if let Some(v) = cache.get(&key) {
        return v.clone();
    }
    let mut data = Vec::new();
    let v = match file.take(MAX_UNIT_FILE + 1).read_to_end(&mut data) {
        Ok(n) if n as u64 <= MAX_UNIT_FILE => Some(parse(&String::from_utf8_lossy(&data))),
        _ => None,
    };
    cache.insert(key, v.clone());
    v
}

/// What one unit file does to `ExecStart=`'s policy: `None` when it has no `ExecStart=` line,
/// else the policy of its last one (`Some(None)`: reset, or a command without a policy).
fn file_exec_start(text: &str) -> Option<Option<String>> {
    let mut effect = None;
    for line in text.lines() {
        let line = line.trim();
        let Some(v) = line.strip_prefix("ExecStart=") else {
            continue;
        };
        if v.trim().is_empty() {
            effect = Some(None);
            continue;
        }
        let words: Vec<&str> = v.split_whitespace().collect();
        let mut pol = None;
        for (i, w) in words.iter().enumerate() {
            if let Some(p) = w.strip_prefix("--image-policy=") {
                pol = Some(p.trim_matches('"').to_string());
            } else if *w == "--image-policy" {
                pol = words.get(i + 1).map(|p| p.trim_matches('"').to_string());
            }
        }
        effect = Some(pol);
    }
    effect
}

/// The `--image-policy=` on the last effective `ExecStart=` of the merge service.
fn exec_start_policy(root: &RootFs, class: ImageClass) -> Option<(String, String)> {
    let mut current: Option<(String, String)> = None;
    let mut cache = HashMap::new();
    for f in unit_files(root, class) {
        if let Some(Some(effect)) = per_file(root, &f, &mut cache, file_exec_start) {
            current = effect.map(|p| (p, f.clone()));
        }
    }
    current
}

/// `ImagePolicy=` from `sysext.conf`/`confext.conf` (v259+), last assignment wins.
fn conf_policy(root: &RootFs, class: ImageClass) -> Option<(String, String)> {
    let (name, section) = match class {
        ImageClass::Confext => ("confext", "[ConfExt]"),
        _ => ("sysext", "[SysExt]"),
    };
    let mut files = Vec::new();
    for d in [
        "/etc/systemd",
        "/run/systemd",
        "/usr/local/lib/systemd",
        "/usr/lib/systemd",
    ] {
        let p = format!("{d}/{name}.conf");
        if root.stat(&p).ok().flatten().is_some() {
            files.push(p);
            break;
        }
    }
    let dirs: Vec<String> = [
        "/etc/systemd",
        "/run/systemd",
        "/usr/local/lib/systemd",
        "/usr/lib/systemd",
    ]
    .iter()
    .map(|d| format!("{d}/{name}.conf.d"))
    .collect();
    files.extend(dropins(root, &dirs));
    // Per file: the last `ImagePolicy=` inside the class's section (sections restart per file).
    let file_policy = |text: &str| {
        let mut in_section = false;
        let mut last = None;
        for line in text.lines() {
            let line = line.trim();
            if line.starts_with('[') {
                in_section = line == section;
            } else if in_section {
                if let Some(v) = line.strip_prefix("ImagePolicy=") {
                    last = Some(v.trim().to_string());
                }
            }
        }
        last
    };
    let mut current = None;
    let mut cache = HashMap::new();
    for f in files {
        if let Some(Some(p)) = per_file(root, &f, &mut cache, file_policy) {
            current = Some((p, f.clone()));
        }
    }
    current
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_policies() {
        assert_eq!(flags_for(DEFAULT_SYSEXT, "usr").unwrap().len(), 5);
        assert_eq!(
            flags_for("root=signed+absent", "usr").unwrap(),
            vec!["unused", "absent"]
        );
        assert_eq!(flags_for("=signed", "usr").unwrap(), vec!["signed"]);
        assert_eq!(flags_for("*", "root").unwrap(), vec!["open"]);
        assert_eq!(flags_for("bogus", "root"), None);
        let e = |p: &str| Effective {
            class: ImageClass::Sysext,
            policy: p.into(),
            source: String::new(),
            flags: ["root", "usr"]
                .iter()
                .map(|d| (d.to_string(), flags_for(p, d).unwrap()))
                .collect(),
        };
        assert!(e(DEFAULT_SYSEXT).allows_unsigned());
        assert!(!e("root=signed+absent:usr=signed+absent").allows_unsigned());
        assert!(e("root=verity+signed+absent:usr=signed+absent").allows_verity());
        assert!(!e("root=signed+absent:usr=signed+absent").allows_verity());
    }

    #[test]
    fn effective_policy_from_dropins_and_conf() {
        let t = tempfile::tempdir().unwrap();
        let w = |p: &str, c: &str| {
            let p = t.path().join(p.trim_start_matches('/'));
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, c).unwrap();
        };
        let root = || RootFs::open(t.path()).unwrap();
        let v = |m| SystemdVersion {
            major: m,
            point: None,
        };
        assert_eq!(
            effective(&root(), ImageClass::Sysext, v(257)).source,
            "built-in"
        );
        assert!(effective(&root(), ImageClass::Sysext, v(252)).allows_unsigned());
        // ImagePolicy= in sysext.conf counts from v259 only.
        w(
            "/etc/systemd/sysext.conf",
            "[SysExt]\nImagePolicy=root=signed+absent:usr=signed+absent\n",
        );
        assert!(effective(&root(), ImageClass::Sysext, v(257)).allows_unsigned());
        let e = effective(&root(), ImageClass::Sysext, v(259));
        assert!(!e.allows_unsigned(), "{e:?}");
        assert_eq!(e.source, "/etc/systemd/sysext.conf");
        // A drop-in ExecStart with --image-policy wins over the config file; a later drop-in that
        // resets ExecStart= without a policy drops it again.
        w(
            "/usr/lib/systemd/system/systemd-sysext.service",
            "[Service]\nExecStart=systemd-sysext refresh\n",
        );
        w("/etc/systemd/system/systemd-sysext.service.d/10-p.conf",
          "[Service]\nExecStart=\nExecStart=systemd-sysext refresh --image-policy=root=verity+signed+absent:usr=signed+absent\n");
        let e = effective(&root(), ImageClass::Sysext, v(259));
        assert!(e.allows_unsigned() && e.allows_verity(), "{e:?}");
        assert!(e.source.ends_with("10-p.conf"));
        w(
            "/etc/systemd/system/systemd-sysext.service.d/20-reset.conf",
            "[Service]\nExecStart=\nExecStart=systemd-sysext refresh\n",
        );
        assert_eq!(
            effective(&root(), ImageClass::Sysext, v(259)).source,
            "/etc/systemd/sysext.conf"
        );
        // A hard link to the policy drop-in sorting after the reset: read once, applied again by
        // name, so its policy wins again.
        std::fs::hard_link(
            t.path()
                .join("etc/systemd/system/systemd-sysext.service.d/10-p.conf"),
            t.path()
                .join("etc/systemd/system/systemd-sysext.service.d/30-again.conf"),
        )
        .unwrap();
        let e = effective(&root(), ImageClass::Sysext, v(259));
        assert!(e.source.ends_with("30-again.conf"), "{e:?}");
    }

    /// 5,000 hard links to one 1 MiB drop-in: each name applied, the file read and scanned once.
    #[test]
    fn dropin_hard_link_bomb_is_read_once() {
        let t = tempfile::tempdir().unwrap();
        let d = t.path().join("etc/systemd/system/systemd-sysext.service.d");
        std::fs::create_dir_all(&d).unwrap();
        let mut big =
            b"[Service]\nExecStart=\nExecStart=x --image-policy=root=signed+absent\n".to_vec();
        big.resize(1024 * 1024 - 1, b'#');
        std::fs::write(d.join("a.conf"), &big).unwrap();
        for i in 0..5000 {
            std::fs::hard_link(d.join("a.conf"), d.join(format!("l{i:04}.conf"))).unwrap();
        }
        let root = RootFs::open(t.path()).unwrap();
        let start = std::time::Instant::now();
        let e = effective(
            &root,
            ImageClass::Sysext,
            SystemdVersion {
                major: 257,
                point: None,
            },
        );
        assert!(e.source.ends_with("l4999.conf"), "{e:?}");
        assert_eq!(e.policy, "root=signed+absent");
        // Hang guard only: 5,000 reads of 1 MiB took seconds; one is milliseconds.
        assert!(start.elapsed() < std::time::Duration::from_secs(60));
    }
}
