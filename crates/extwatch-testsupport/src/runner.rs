//! Runs real `systemd-sysext` / `systemd-confext` against a test root in a private mount namespace.
//!
//! See the crate documentation for the namespace layout. Every run is one `unshare -m --propagation
//! private sh -c SCRIPT` process: nothing it mounts outlives it, and nothing outside the namespace sees it.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::{shell_quote, shell_quote_path};

/// Which extension class.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Class {
    /// systemd-sysext: /usr and /opt.
    Sysext,
    /// systemd-confext: /etc.
    Confext,
}

impl Class {
    /// `sysext` / `confext`.
    pub fn as_str(self) -> &'static str {
        match self {
            Class::Sysext => "sysext",
            Class::Confext => "confext",
        }
    }

    /// The hierarchies systemd merges for this class (relative to the root, no leading slash).
    pub fn hierarchies(self) -> &'static [&'static str] {
        match self {
            Class::Sysext => &["usr", "opt"],
            Class::Confext => &["etc"],
        }
    }

    /// The marker file listing the merged names inside `<hier>/.systemd-<class>/`.
    pub fn marker_file(self) -> &'static str {
        match self {
            Class::Sysext => "extensions",
            Class::Confext => "confexts",
        }
    }
}

/// Which systemd to run.
#[derive(Debug, Clone)]
pub enum Systemd {
    /// systemd from the trixie root (257), run with `chroot`.
    Trixie(PathBuf),
    /// The host's `systemd-sysext` binary (252 on Debian 12); confext is not available.
    Host(PathBuf),
}

/// What one class's run left behind.
#[derive(Debug, Clone, Default)]
pub struct ClassCapture {
    /// stdout+stderr of `SYSTEMD_LOG_LEVEL=debug … merge --root=ROOT`.
    pub merge_log: String,
    /// Exit status of the merge.
    pub merge_rc: i32,
    /// stdout of `list --json=short --root=ROOT`.
    pub list_json: String,
    /// stderr of `list`.
    pub list_err: String,
    /// stdout of `status --json=short --root=ROOT`.
    pub status_json: String,
    /// stderr of `status` (v252 fails here with `--root`, reference §3.4).
    pub status_err: String,
    /// Per hierarchy (`/usr`, …): the marker file's content, when present.
    pub markers: Vec<(String, Option<String>)>,
}

/// Output of the caller's command run inside the namespace after the merges.
#[derive(Debug, Clone, Default)]
pub struct CmdCapture {
    /// Exit status.
    pub rc: i32,
    /// stdout.
    pub stdout: String,
    /// stderr.
    pub stderr: String,
}

/// Everything captured from one run.
#[derive(Debug, Clone)]
pub struct Capture {
    /// The root that was merged into.
    pub root: PathBuf,
    /// Per class that was run.
    pub classes: Vec<(Class, ClassCapture)>,
    /// `/proc/self/mountinfo` after the merges.
    pub mountinfo: String,
    /// The caller's command, when one was given.
    pub after: Option<CmdCapture>,
    /// The namespace script's own stderr (setup problems).
    pub setup_log: String,
}

impl Capture {
    /// The capture of one class.
    pub fn class(&self, class: Class) -> Option<&ClassCapture> {
        self.classes
            .iter()
            .find(|(c, _)| *c == class)
            .map(|(_, c)| c)
    }
}

/// Shell lines that set up the chroot mounts inside a fresh namespace (`$T` = the trixie root).
fn chroot_setup() -> &'static str {
    r#"
mount --bind "$T" "$T"
mount -t proc proc "$T/proc"
mount --bind /dev "$T/dev"
mount -t sysfs -o ro sysfs "$T/sys"
mount -t tmpfs tmpfs "$T/run"
mount -t tmpfs tmpfs "$T/tmp"
"#
}

/// Runs `argv` inside the trixie root (chroot) in a private mount namespace, with each of `binds`
/// visible at the same path inside. Used for systemd-repart, mkfs.erofs, mksquashfs.
pub fn trixie_exec(trixie: &Path, binds: &[&Path], argv: &[String]) -> io::Result<Output> {
    let mut script = String::from("set -e\n");
    script.push_str(&format!("T={}\n", shell_quote_path(trixie)));
    script.push_str(chroot_setup());
    for b in binds {
        let q = shell_quote_path(b);
        script.push_str(&format!("mkdir -p \"$T\"{q}\nmount --bind {q} \"$T\"{q}\n"));
    }
    script.push_str("exec chroot \"$T\" \"$@\"\n");
    Command::new("unshare")
        .args(["-m", "--propagation", "private", "sh", "-c", &script, "sh"])
        .args(argv)
        .env("SYSTEMD_LOG_COLOR", "0")
        .env("SYSTEMD_PAGER", "cat")
        .output()
}

/// Runs the merges for `classes` against `root`, captures systemd's view, then runs `after` (if any)
/// in the same namespace. `work` is a scratch directory outside `root` for the captured files.
pub fn run_systemd(
    systemd: &Systemd,
    root: &Path,
    classes: &[Class],
    after: Option<&[String]>,
    work: &Path,
) -> io::Result<Capture> {
    fs::create_dir_all(work)?;
    let root_q = shell_quote_path(root);
    let out_q = shell_quote_path(work);
    let mut s = format!("set -eu\nOUT={out_q}\nROOT={root_q}\nexec 2>\"$OUT/setup.log\"\nset -x\n");
    let tool = |name: &str| -> String {
        match systemd {
            Systemd::Trixie(_) => format!("chroot \"$T\" /usr/bin/{name}"),
            Systemd::Host(bin) => {
                if name == "systemd-sysext" {
                    shell_quote_path(bin)
                } else {
                    shell_quote_path(&bin.with_file_name(name))
                }
            }
        }
    };
    match systemd {
        Systemd::Trixie(t) => {
            s.push_str(&format!("T={}\n", shell_quote_path(t)));
            s.push_str(chroot_setup());
            s.push_str("mkdir -p \"$T$ROOT\"\nmount --bind \"$ROOT\" \"$T$ROOT\"\n");
        }
        Systemd::Host(_) => {
            // The merge child needs /run/systemd/sysext; keep the host's /run untouched.
            s.push_str("mount -t tmpfs tmpfs /run\n");
        }
    }
    // Each hierarchy: bind onto itself, shared (own peer group), and the chroot's view joins that group.
    s.push_str("for h in usr opt etc; do\n  if [ -d \"$ROOT/$h\" ] && [ ! -L \"$ROOT/$h\" ]; then\n    mount --bind \"$ROOT/$h\" \"$ROOT/$h\"\n    mount --make-shared \"$ROOT/$h\"\n");
    if matches!(systemd, Systemd::Trixie(_)) {
        s.push_str("    mount --bind \"$ROOT/$h\" \"$T$ROOT/$h\"\n");
    }
    s.push_str("  fi\ndone\nset +ex\n");
    for class in classes {
        let c = class.as_str();
        let bin = tool(&format!("systemd-{c}"));
        s.push_str(&format!(
            "env SYSTEMD_LOG_LEVEL=debug SYSTEMD_LOG_COLOR=0 {bin} merge --root=\"$ROOT\" >\"$OUT/{c}.merge.log\" 2>&1; echo $? >\"$OUT/{c}.merge.rc\"\n"
        ));
    }
    for class in classes {
        let c = class.as_str();
        let bin = tool(&format!("systemd-{c}"));
        s.push_str(&format!(
            "{bin} list --json=short --root=\"$ROOT\" >\"$OUT/{c}.list.json\" 2>\"$OUT/{c}.list.err\"\n{bin} status --json=short --root=\"$ROOT\" >\"$OUT/{c}.status.json\" 2>\"$OUT/{c}.status.err\"\n"
        ));
        for h in class.hierarchies() {
            s.push_str(&format!(
                "if [ -f \"$ROOT/{h}/.systemd-{c}/{m}\" ]; then cp \"$ROOT/{h}/.systemd-{c}/{m}\" \"$OUT/{c}.{h}.marker\"; fi\n",
                m = class.marker_file()
            ));
        }
    }
    s.push_str("cat /proc/self/mountinfo >\"$OUT/mountinfo\"\n");
    if after.is_some() {
        s.push_str(
            "\"$@\" >\"$OUT/after.stdout\" 2>\"$OUT/after.stderr\"; echo $? >\"$OUT/after.rc\"\n",
        );
    }
    for f in fs::read_dir(work)? {
        let f = f?;
        if f.file_type()?.is_file() {
            fs::remove_file(f.path())?;
        }
    }
    fs::write(work.join("run.sh"), &s)?;
    let mut cmd = Command::new("unshare");
    cmd.args(["-m", "--propagation", "private", "sh", "-c", &s, "sh"]);
    if let Some(a) = after {
        cmd.args(a);
    }
    cmd.env("SYSTEMD_PAGER", "cat").env("SYSTEMD_COLORS", "0");
    let st = cmd.status()?;
    let read = |name: &str| fs::read_to_string(work.join(name)).unwrap_or_default();
    let rc = |name: &str| read(name).trim().parse::<i32>().unwrap_or(-1);
    let setup_log = read("setup.log");
    if !st.success() {
        return Err(io::Error::other(format!(
            "namespace script failed ({st}): {setup_log}"
        )));
    }
    let mut caps = Vec::new();
    for class in classes {
        let c = class.as_str();
        let markers = class
            .hierarchies()
            .iter()
            .map(|h| {
                (
                    format!("/{h}"),
                    fs::read_to_string(work.join(format!("{c}.{h}.marker"))).ok(),
                )
            })
            .collect();
        caps.push((
            *class,
            ClassCapture {
                merge_log: read(&format!("{c}.merge.log")),
                merge_rc: rc(&format!("{c}.merge.rc")),
                list_json: read(&format!("{c}.list.json")),
                list_err: read(&format!("{c}.list.err")),
                status_json: read(&format!("{c}.status.json")),
                status_err: read(&format!("{c}.status.err")),
                markers,
            },
        ));
    }
    let after = after.map(|_| CmdCapture {
        rc: rc("after.rc"),
        stdout: read("after.stdout"),
        stderr: read("after.stderr"),
    });
    Ok(Capture {
        root: root.to_path_buf(),
        classes: caps,
        mountinfo: read("mountinfo"),
        after,
        setup_log,
    })
}

/// Quotes argv for display.
pub fn display_argv(argv: &[String]) -> String {
    argv.iter()
        .map(|a| shell_quote(a))
        .collect::<Vec<_>>()
        .join(" ")
}

/// systemd-dissect 257 for the trixie root: Debian ships it in `systemd-container`, which the root
/// leaves out (its postinst needs dbus), so the package of the root's exact systemd version is
/// downloaded once and unpacked into `/var/cache/extwatch/dissect-257`. Returns the binary's path as
/// seen inside the chroot and the directory to bind for it.
pub fn systemd_dissect(env: &crate::Env) -> (std::path::PathBuf, std::path::PathBuf) {
    use std::path::PathBuf;
    let in_root = env.trixie.join("usr/bin/systemd-dissect");
    if in_root.exists() {
        return (
            PathBuf::from("/usr/bin/systemd-dissect"),
            env.trixie.clone(),
        );
    }
    let cache = PathBuf::from("/var/cache/extwatch/dissect-257");
    let bin = cache.join("root/usr/bin/systemd-dissect");
    if !bin.exists() {
        std::fs::create_dir_all(&cache).expect("create dissect cache");
        let script = format!(
            "set -e; cd {c}; v=$(dpkg-query -W -f '${{Version}}' systemd); \
             apt-get download -q systemd-container=$v; dpkg-deb -x systemd-container_*.deb root",
            c = cache.display()
        );
        let o = trixie_exec(&env.trixie, &[&cache], &["sh".into(), "-c".into(), script])
            .expect("run apt-get download in the trixie root");
        assert!(
            bin.exists(),
            "cannot fetch systemd-dissect (systemd-container) into {}: {}{}",
            cache.display(),
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
    }
    (bin, cache)
}
