//! Running the `extwatch` binary from a test the way a hostile-input test needs it: a wall-clock hang
//! guard (the child is killed and the test fails), both pipes drained on their own threads (a full
//! pipe must not look like a hang), and optionally the child's peak memory and bytes read.
//!
//! Measurement uses GNU time (`/usr/bin/time -f %M`, package `time`: it reports the child's
//! `ru_maxrss` from `wait4`) around a shell that prints its own `/proc/$$/io` once extwatch has been
//! reaped (the kernel adds a reaped child's I/O counters to its parent's): `rchar` is what "read
//! 4.1 GB" means, page cache included. The measured child runs in its own process group, so the
//! hang guard kills time, the shell and extwatch together.

use std::ffi::{OsStr, OsString};
use std::io::Read;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// The extwatch binary under test: `$EXTWATCH_TEST_BIN` when set (to run the same tests against
/// another build), else `default` (the caller's `env!("CARGO_BIN_EXE_extwatch")`).
pub fn bin(default: &str) -> PathBuf {
    std::env::var_os("EXTWATCH_TEST_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(default))
}

/// What one run did.
#[derive(Debug)]
pub struct Run {
    /// How it ended.
    pub status: ExitStatus,
    /// Standard output.
    pub stdout: Vec<u8>,
    /// Standard error, lossily decoded.
    pub stderr: String,
    /// Wall time.
    pub elapsed: Duration,
    /// Peak resident set size in KiB, when measured.
    pub peak_kib: Option<u64>,
    /// `rchar` (bytes read), when measured.
    pub read_bytes: Option<u64>,
}

impl Run {
    /// Fails the test when extwatch died of a signal or printed a panic; returns its exit code.
    pub fn code_no_crash(&self, args: &[OsString]) -> i32 {
        if let Some(sig) = self.status.signal() {
            panic!(
                "extwatch {args:?} killed by signal {sig}\nstderr: {}",
                self.stderr
            );
        }
        assert!(
            !self.stderr.contains("panicked"),
            "extwatch {args:?} panicked:\n{}",
            self.stderr
        );
        // Under the measuring shell a signal shows as 128+N.
        let code = self.status.code().unwrap_or(-1);
        assert!(
            !(129..=192).contains(&code),
            "extwatch {args:?} exited {code} (128+N is signal N)\nstderr: {}",
            self.stderr
        );
        code
    }
}

/// Runs `program args` with stdin closed, killing it and failing the test after `limit`; with
/// `measure`, under GNU time and the `/proc/$$/io` shell (see the module doc).
pub fn run(program: &Path, args: &[OsString], limit: Duration, measure: bool) -> Run {
    let rss = tempfile_path("rss");
    let io = tempfile_path("io");
    let mut cmd = if measure {
        let mut c = Command::new("/usr/bin/time");
        c.arg("-f")
            .arg("%M")
            .arg("-o")
            .arg(&rss)
            .arg("/bin/sh")
            .arg("-c")
            .arg(r#"io="$1"; shift; "$@"; rc=$?; cat /proc/$$/io > "$io"; exit $rc"#)
            .arg("sh")
            .arg(&io)
            .arg(program)
            .process_group(0);
        c
    } else {
        Command::new(program)
    };
    let start = Instant::now();
    let mut child = cmd
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| {
            panic!(
                "spawn {} (measuring needs /usr/bin/time: scripts/setup.sh --test): {e}",
                program.display()
            )
        });
    let mut so = child.stdout.take().expect("stdout pipe");
    let mut se = child.stderr.take().expect("stderr pipe");
    let t_out = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = so.read_to_end(&mut v);
        v
    });
    let t_err = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = se.read_to_end(&mut v);
        v
    });
    let status = loop {
        if let Some(s) = child.try_wait().expect("wait") {
            break s;
        }
        if start.elapsed() > limit {
            if measure {
                let _ = Command::new("kill")
                    .arg("-KILL")
                    .arg("--")
                    .arg(format!("-{}", child.id()))
                    .status();
            } else {
                let _ = child.kill();
            }
            let _ = child.wait();
            panic!(
                "{} {args:?} hung: killed after {limit:?}",
                program.display()
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let elapsed = start.elapsed();
    let stdout = t_out.join().expect("stdout reader");
    let stderr = String::from_utf8_lossy(&t_err.join().expect("stderr reader")).into_owned();
    let (peak_kib, read_bytes) = if measure {
        let rss_text = std::fs::read_to_string(&rss).unwrap_or_default();
        let io_text = std::fs::read_to_string(&io).unwrap_or_default();
        let _ = std::fs::remove_file(&rss);
        let _ = std::fs::remove_file(&io);
        let peak = rss_text
            .lines()
            .filter_map(|l| l.trim().parse::<u64>().ok())
            .next_back()
            .unwrap_or_else(|| panic!("no peak RSS from /usr/bin/time: {rss_text:?}"));
        // A child killed by a signal leaves no io record: the caller's crash check says so.
        let read = io_text
            .lines()
            .find_map(|l| l.strip_prefix("rchar:"))
            .and_then(|v| v.trim().parse().ok());
        (Some(peak), read)
    } else {
        (None, None)
    };
    Run {
        status,
        stdout,
        stderr,
        elapsed,
        peak_kib,
        read_bytes,
    }
}

/// [`run`] with `&OsStr` arguments.
pub fn run_os(program: &Path, args: &[&OsStr], limit: Duration, measure: bool) -> Run {
    let args: Vec<OsString> = args.iter().map(|a| a.to_os_string()).collect();
    run(program, &args, limit, measure)
}

fn tempfile_path(what: &str) -> PathBuf {
    static N: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    std::env::temp_dir().join(format!(
        "extwatch-test-{what}-{}-{}",
        std::process::id(),
        N.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    ))
}

/// [`run`], failing the test unless extwatch exited 0 or 1 (clean, or findings at `--fail-on`):
/// 2 (usage or runtime error), a signal or a panic message fail it.
pub fn run_0_or_1(program: &Path, args: &[OsString], limit: Duration, measure: bool) -> Run {
    let r = run(program, args, limit, measure);
    let code = r.code_no_crash(args);
    assert!(
        code == 0 || code == 1,
        "extwatch {args:?} exited {code} (0 or 1 expected)\nstderr: {}",
        r.stderr
    );
    r
}

/// The flags that make an `audit`/`inventory` independent of the machine running the test: systemd
/// 257, an empty mount table, x86-64 (see [`offline_args`]).
pub const OFFLINE_HOST: [&str; 6] = [
    "--systemd-version",
    "257",
    "--mountinfo",
    "/dev/null",
    "--architecture",
    "x86-64",
];

/// `COMMAND --root ROOT --format FORMAT --systemd-version VERSION --mountinfo MOUNTINFO
/// --architecture x86-64`: an `audit`/`inventory` of an offline root whose result depends on nothing
/// of the machine running the test (its systemd, mount table or CPU).
pub fn offline_args(
    command: &str,
    root: &Path,
    format: &str,
    version: &str,
    mountinfo: &Path,
) -> Vec<OsString> {
    vec![
        command.into(),
        "--root".into(),
        root.into(),
        "--format".into(),
        format.into(),
        "--systemd-version".into(),
        version.into(),
        "--mountinfo".into(),
        mountinfo.into(),
        "--architecture".into(),
        "x86-64".into(),
    ]
}
