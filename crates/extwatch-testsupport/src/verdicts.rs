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
    /// The raw merge log.
    pub log: String,
}

/// Strips what systemd is inconsistent about: trailing full stops and whitespace.
pub fn normalize_reason(s: &str) -> &str {
    s.trim().trim_end_matches('.').trim_end()
}

fn parse_list(json: &str) -> Result<Vec<Listed>, String> {
    let v: Value = serde_json::from_str(json.trim()).map_err(|e| format!("list JSON: {e}: {json}"))?;
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

/// systemd's reason for not using image `name`: the last non-noise debug line that quotes it.
pub fn find_reason(log: &str, name: &str) -> Option<String> {
    let quoted = format!("'{name}'");
    let bare = format!("image {name}:");
    log.lines()
        .filter(|l| (l.contains(&quoted) || l.contains(&bare)) && !is_noise(l))
        .next_back()
        .map(String::from)
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
            .filter(|l| using.iter().any(|u| *u == l.name || *u == basename(&l.path)))
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
        let merge_failure = (cap.merge_rc != 0).then(|| {
            cap.merge_log
                .lines()
                .rfind(|l| !l.trim().is_empty())
                .unwrap_or("")
                .to_string()
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
