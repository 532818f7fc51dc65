//! systemd's verdicts, parsed from what [`crate::runner::run_systemd`] captured.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use crate::runner::{Capture, Class, ClassCapture};

/// One row of `systemd-sysext list --json=short`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listed {
    /// Image name.
    pub name: String,
    /// `directory`, `subvolume`, `raw`, `block`.
    pub kind: String,
    /// Path as printed (resolved, with the `--root` prefix).
    pub path: String,
}

/// What systemd decided for one class on one root.
#[derive(Debug, Clone)]
pub struct ClassVerdicts {
    /// sysext or confext.
    pub class: Class,
    /// `list` output, sorted by name.
    pub listed: Vec<Listed>,
    /// The entries of the `Using extensions '…'.` line (names ≤v256, file basenames ≥v257).
    pub using: Vec<String>,
    /// Listed names the merge used (matched by name or by path basename).
    pub used: BTreeSet<String>,
    /// Names merged per hierarchy according to `status` (None when `status` failed, e.g. v252 `--root`).
    pub status: Option<BTreeMap<String, Vec<String>>>,
    /// Names merged per hierarchy according to the marker files.
    pub markers: BTreeMap<String, Vec<String>>,
    /// Union of merged names (status when available, else markers).
    pub merged: BTreeSet<String>,
    /// Listed names that were not used, with systemd's debug reason line when one was found.
    pub refused: BTreeMap<String, Option<String>>,
    /// Exit status of `merge`.
    pub merge_rc: i32,
    /// When the merge failed as a whole: its last error line.
    pub merge_failure: Option<String>,
    /// The image the whole merge failed on, when it could be identified.
    pub failed_image: Option<String>,
    /// The raw merge log.
    pub log: String,
}

/// Strips what systemd is inconsistent about: trailing full stops and whitespace.
pub fn normalize_reason(s: &str) -> &str {
    s.trim().trim_end_matches('.').trim_end()
}

fn parse_list(json: &str) -> Result<Vec<Listed>, String> {
    let v: Value =
        serde_json::from_str(json.trim()).map_err(|e| format!("list JSON: {e}: {json}"))?;
    let arr = v.as_array().ok_or("list JSON is not an array")?;
    let mut out = Vec::new();
    for o in arr {
        let g = |k: &str| o.get(k).and_then(Value::as_str).unwrap_or("").to_string();
        out.push(Listed {
            name: g("name"),
            kind: g("type"),
            path: g("path"),
        });
    }
    Ok(out)
}

fn parse_status(json: &str) -> Option<BTreeMap<String, Vec<String>>> {
    let v: Value = serde_json::from_str(json.trim()).ok()?;
    let mut out = BTreeMap::new();
    for o in v.as_array()? {
        let h = o.get("hierarchy")?.as_str()?.to_string();
        let names = match o.get("extensions")? {
            Value::Array(a) => a
                .iter()
                .filter_map(|x| x.as_str().map(String::from))
                .collect(),
            _ => Vec::new(), // the string "none"
        };
        out.insert(h, names);
    }
    Some(out)
}

/// The quoted items of `Using extensions 'a', 'b.raw'.`.
pub fn parse_using(log: &str) -> Vec<String> {
    let Some(line) = log.lines().find(|l| l.starts_with("Using extensions ")) else {
        return Vec::new();
    };
    line["Using extensions ".len()..]
        .split('\'')
        .skip(1)
        .step_by(2)
        .map(String::from)
        .collect()
}

/// Log lines that mention an image but are not a reason for refusing it.
fn is_noise(line: &str) -> bool {
    const NOISE: &[&str] = &[
        "Bind-mounting ",
        "Checking for ",
        "Mounting ",
        "Failed to read machine ID",
        "Failed to read os-release",
        "Failed to read confext-release",
        "Failed to read sysext-release",
        "Cannot open ",
        "Opened ",
        "Using extensions ",
        "Successfully ",
        "Version info of extension",
        "Hierarchy ",
    ];
    NOISE.iter().any(|n| line.starts_with(n))
        || line.ends_with("matches '_any' OS.")
        || line.contains("matches host")
}

/// The image a log line is "about" when it names no image: the mount point of the image being set up
/// (`… on /run/systemd/sysext/extensions/NAME (…`, `confexts/NAME` for confext).
fn context_of(line: &str) -> Option<&str> {
    if !(line.starts_with("Bind-mounting ") || line.starts_with("Mounting ")) {
        return None;
    }
    for key in [
        " on /run/systemd/sysext/extensions/",
        " on /run/systemd/sysext/confexts/",
    ] {
        if let Some(i) = line.find(key) {
            let rest = &line[i + key.len()..];
            return rest.split(" (").next();
        }
    }
    None
}

/// Every debug line systemd wrote about image `name`: lines quoting it (`'name'`, `image name:`,
/// `image name,`), plus unquoted `Extension …` lines written while that image was being mounted.
pub fn lines_about(log: &str, name: &str) -> Vec<String> {
    let quoted = format!("'{name}'");
    let colon = format!("image {name}:");
    let comma = format!("image {name},");
    let mut ctx: Option<&str> = None;
    let mut out = Vec::new();
    for l in log.lines() {
        if let Some(c) = context_of(l) {
            ctx = Some(c);
            continue;
        }
        if is_noise(l) {
            continue;
        }
        let names_it = l.contains(&quoted) || l.contains(&colon) || l.contains(&comma);
        let names_other = l.starts_with("Extension '") && !l.contains(&quoted);
        if names_it || (!names_other && l.starts_with("Extension ") && ctx == Some(name)) {
            out.push(l.to_string());
        }
    }
    out
}

/// systemd's reason for not using image `name`: the last debug line about it.
pub fn find_reason(log: &str, name: &str) -> Option<String> {
    lines_about(log, name).pop()
}

/// True when the merge as a whole failed: non-zero exit, or — v252 exits 0 regardless — the merge
/// child failed. Exit status 123 of the child is systemd's "nothing to merge" (`No extensions found.`),
/// not a failure.
fn merge_failed(rc: i32, log: &str) -> bool {
    rc != 0
        || log.lines().any(|l| {
            (l.starts_with("(sd-merge) failed") || l.starts_with("(sd-sysext) failed"))
                && l.contains("exit status")
                && !l.contains("exit status 123.")
        })
}

impl ClassVerdicts {
    /// Parses one class's capture.
    pub fn parse(class: Class, cap: &ClassCapture) -> Result<ClassVerdicts, String> {
        let listed = parse_list(&cap.list_json)
            .map_err(|e| format!("{}: {e} (stderr: {})", class.as_str(), cap.list_err))?;
        let using = parse_using(&cap.merge_log);
        let basename = |p: &str| p.rsplit('/').next().unwrap_or(p).to_string();
        let used: BTreeSet<String> = listed
            .iter()
            .filter(|l| {
                using
                    .iter()
                    .any(|u| *u == l.name || *u == basename(&l.path))
            })
            .map(|l| l.name.clone())
            .collect();
        let status = parse_status(&cap.status_json);
        let markers: BTreeMap<String, Vec<String>> = cap
            .markers
            .iter()
            .filter_map(|(h, m)| {
                m.as_ref()
                    .map(|m| (h.clone(), m.lines().map(String::from).collect()))
            })
            .collect();
        let merged: BTreeSet<String> = match &status {
            Some(s) => s.values().flatten().cloned().collect(),
            None => markers.values().flatten().cloned().collect(),
        };
        let merge_failure = merge_failed(cap.merge_rc, &cap.merge_log).then(|| {
            cap.merge_log
                .lines()
                .rfind(|l| {
                    !l.trim().is_empty()
                        && !l.starts_with("(sd-")
                        && !l.starts_with("Successfully forked")
                })
                .unwrap_or("")
                .to_string()
        });
        // The image that broke the merge: named in the failure line, else the one being mounted.
        let failed_image = merge_failure.as_ref().and_then(|f| {
            if let Some(rest) = f.split("metadata for image ").nth(1) {
                return rest.split(':').next().map(String::from);
            }
            if !f.starts_with("Extension ") {
                return None; // e.g. the overlay mount itself failed: no single image to blame
            }
            let mut ctx = None;
            for l in cap.merge_log.lines() {
                if let Some(c) = context_of(l) {
                    ctx = Some(c.to_string());
                }
                if l == f {
                    break;
                }
            }
            ctx
        });
        let refused = listed
            .iter()
            .filter(|l| !used.contains(&l.name))
            .map(|l| (l.name.clone(), find_reason(&cap.merge_log, &l.name)))
            .collect();
        Ok(ClassVerdicts {
            class,
            listed,
            using,
            used,
            status,
            markers,
            merged,
            refused,
            merge_rc: cap.merge_rc,
            merge_failure,
            failed_image,
            log: cap.merge_log.clone(),
        })
    }

    /// Parses every class of a capture.
    pub fn parse_all(cap: &Capture) -> Result<Vec<ClassVerdicts>, String> {
        cap.classes
            .iter()
            .map(|(c, cc)| ClassVerdicts::parse(*c, cc))
            .collect()
    }

    /// The listed image called `name`.
    pub fn get(&self, name: &str) -> Option<&Listed> {
        self.listed.iter().find(|l| l.name == name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn using_line() {
        let log = "x\nUsing extensions 'good', 'sq.raw'.\nMerged extensions into '/r/usr'.\n";
        assert_eq!(parse_using(log), vec!["good", "sq.raw"]);
        assert!(parse_using("No extensions found.\n").is_empty());
    }

    #[test]
    fn reason_and_normalisation() {
        let log = "Bind-mounting /x/fed on /run/systemd/sysext/extensions/fed (MS_BIND \"\")...\n\
                   Extension 'fed' is for OS 'fedora', but deployed on top of 'debian'.\n";
        assert_eq!(
            find_reason(log, "fed").as_deref(),
            Some("Extension 'fed' is for OS 'fedora', but deployed on top of 'debian'.")
        );
        assert_eq!(normalize_reason("a 'b'.\n"), "a 'b'");
        assert_eq!(find_reason(log, "other"), None);
        let log = "Mounting /proc/self/fd/3 (squashfs) on /run/systemd/sysext/extensions/sh (MS_RDONLY \"\")...\n\
                   Extension contains '/usr/lib/os-release', which is not allowed, refusing.\n";
        assert_eq!(
            find_reason(log, "sh").as_deref(),
            Some("Extension contains '/usr/lib/os-release', which is not allowed, refusing.")
        );
        assert!(merge_failed(0, "(sd-sysext) failed with exit status 1.\n"));
        assert!(!merge_failed(
            0,
            "(sd-merge) failed with exit status 123.\n"
        ));
    }

    #[test]
    fn status_none_and_list() {
        let s = parse_status(r#"[{"hierarchy":"/opt","extensions":"none","since":null},{"hierarchy":"/usr","extensions":["a","b"],"since":1}]"#).unwrap();
        assert_eq!(s["/usr"], vec!["a", "b"]);
        assert!(s["/opt"].is_empty());
        let l = parse_list(r#"[{"name":"a","type":"raw","path":"/r/a.raw","time":1}]"#).unwrap();
        assert_eq!(l[0].kind, "raw");
    }
}
