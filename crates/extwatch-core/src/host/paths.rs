//! Search directories per image class and systemd version (docs/systemd.md §1.1), plus the
//! directories operators commonly *believe* are searched but are not — images staged there are inert
//! today but one `ln -s` or version change away from being merged.

use extwatch_model::ImageClass;

use crate::host::version::SystemdVersion;

/// The directories systemd searches for `class`, highest precedence first.
pub fn search_dirs(class: ImageClass, v: SystemdVersion, initrd: bool) -> Vec<&'static str> {
    let m = v.major;
    match class {
        ImageClass::Sysext => {
            let mut d = vec!["/etc/extensions", "/run/extensions", "/var/lib/extensions"];
            if m <= 253 {
                d.extend(["/usr/local/lib/extensions", "/usr/lib/extensions"]);
            }
            if initrd && m >= 254 {
                d.push("/.extra/sysext");
                if m >= 258 {
                    d.push("/.extra/global_sysext");
                }
            }
            d
        }
        ImageClass::Confext => {
            if m < 254 {
                return vec![];
            }
            if initrd && m >= 256 {
                let mut d = vec![
                    "/run/confexts",
                    "/var/lib/confexts",
                    "/usr/local/lib/confexts",
                    "/.extra/confext",
                ];
                if m >= 258 {
                    d.push("/.extra/global_confext");
                }
                d
            } else {
                vec![
                    "/run/confexts",
                    "/var/lib/confexts",
                    "/usr/local/lib/confexts",
                    "/usr/lib/confexts",
                ]
            }
        }
        ImageClass::Portable => vec![
            "/etc/portables",
            "/run/portables",
            "/var/lib/portables",
            "/usr/local/lib/portables",
            "/usr/lib/portables",
        ],
    }
}

/// Directories that look like search paths but are not searched for `class` at this version, with
/// the reason.
pub fn unsearched_dirs(
    class: ImageClass,
    v: SystemdVersion,
    initrd: bool,
) -> Vec<(&'static str, &'static str)> {
    let searched = search_dirs(class, v, initrd);
    let candidates: &[(&str, &str)] = match class {
        ImageClass::Sysext => &[
            (
                "/var/lib/extensions.d",
                "no systemd version searches /var/lib/extensions.d",
            ),
            (
                "/etc/extensions.d",
                "no systemd version searches /etc/extensions.d",
            ),
            (
                "/usr/lib/extensions",
                "removed from the sysext search path in systemd 254",
            ),
            (
                "/usr/local/lib/extensions",
                "removed from the sysext search path in systemd 254",
            ),
            (
                "/etc/sysext",
                "not a sysext search directory (use /etc/extensions)",
            ),
            (
                "/var/lib/sysext",
                "not a sysext search directory (use /var/lib/extensions)",
            ),
        ],
        ImageClass::Confext => &[
            (
                "/etc/confexts",
                "systemd has no /etc/confexts in any version",
            ),
            (
                "/var/lib/confexts.d",
                "no systemd version searches /var/lib/confexts.d",
            ),
            ("/etc/confext", "not a confext search directory"),
            ("/run/confexts", "confext exists only from systemd 254"),
            ("/var/lib/confexts", "confext exists only from systemd 254"),
            (
                "/usr/local/lib/confexts",
                "confext exists only from systemd 254",
            ),
            (
                "/usr/lib/confexts",
                "not searched for confext in the initrd from systemd 256",
            ),
        ],
        ImageClass::Portable => &[],
    };
    candidates
        .iter()
        .copied()
        .filter(|(d, _)| !searched.contains(d))
        .collect()
}

/// The hierarchies a class merges into.
pub fn hierarchies(class: ImageClass, v: SystemdVersion) -> &'static [&'static str] {
    match class {
        ImageClass::Sysext => &["/usr", "/opt"],
        ImageClass::Confext if v.major >= 254 => &["/etc"],
        _ => &[],
    }
}

/// The marker directory name inside a merged hierarchy, and the file listing the merged names.
pub fn marker(class: ImageClass) -> (&'static str, &'static str) {
    match class {
        ImageClass::Confext => (".systemd-confext", "confexts"),
        _ => (".systemd-sysext", "extensions"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(m: u32) -> SystemdVersion {
        SystemdVersion {
            major: m,
            point: None,
        }
    }

    #[test]
    fn version_tables() {
        assert_eq!(search_dirs(ImageClass::Sysext, v(252), false).len(), 5);
        assert_eq!(search_dirs(ImageClass::Sysext, v(257), false).len(), 3);
        assert_eq!(
            search_dirs(ImageClass::Sysext, v(257), true).last(),
            Some(&"/.extra/sysext")
        );
        assert!(search_dirs(ImageClass::Confext, v(252), false).is_empty());
        assert!(!search_dirs(ImageClass::Confext, v(257), true).contains(&"/usr/lib/confexts"));
        let un = unsearched_dirs(ImageClass::Sysext, v(257), false);
        assert!(un.iter().any(|(d, _)| *d == "/usr/lib/extensions"));
        let un = unsearched_dirs(ImageClass::Sysext, v(252), false);
        assert!(!un.iter().any(|(d, _)| *d == "/usr/lib/extensions"));
        let un = unsearched_dirs(ImageClass::Confext, v(257), false);
        assert!(un.iter().any(|(d, _)| *d == "/etc/confexts"));
        assert!(!un.iter().any(|(d, _)| *d == "/run/confexts"));
    }
}
