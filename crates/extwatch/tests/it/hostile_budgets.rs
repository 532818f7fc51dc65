//! Hostile roots that attack extwatch's budgets rather than its parsers (issue 8 cases 6–11): a
//! sparse terabyte image, a mount table with a single-layer overlay or an empty source field,
//! thousands of hard links to one certificate, extension-release bombs across many images.
//!
//! Each run goes through the CLI under `/usr/bin/time -f %M` (package `time`, in `scripts/setup.sh
//! --test`), so the child's peak RSS is measured by the kernel (`wait4` rusage), and the bytes it
//! read (`rchar`) come from `/proc/PID/io` of the shell that reaped it. Time limits are generous
//! hang guards, not performance assertions: the assertions are on bytes read, peak RSS and report
//! size, which do not depend on the machine. Every run must end with exit 0 or 1, no signal, no
//! panic, and valid JSON. Case 7 (verity workers hanging) is tested in `extwatch-formats`
//! (`verity::tests`), where a reader can fail on demand.

use extwatch_testsupport::cli;
use extwatch_testsupport::roots::{mksquashfs, sysext_tree, write};
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::Duration;

use extwatch_model::{Report, Severity};
use extwatch_testsupport::reports::{self, ReportExt};

struct Out {
    stdout: Vec<u8>,
    stderr: String,
    /// Peak resident set size of the extwatch process, KiB.
    peak_kib: u64,
    /// Bytes extwatch read through `read(2)`-family calls (`rchar` of `/proc/PID/io`), page cache
    /// included: what "read 4.1 GB" means, measured.
    read_bytes: u64,
}

/// Runs `extwatch ARGS` measured (peak RSS, and `rchar` of `/proc/PID/io`: see
/// `extwatch_testsupport::cli`), killing it and failing the test after `limit`. Fails on a signal,
/// on an exit code other than 0/1, and on a panic message.
fn extwatch(args: &[OsString], limit: Duration) -> Out {
    let r = cli::run_0_or_1(Path::new(env!("CARGO_BIN_EXE_extwatch")), args, limit, true);
    let peak_kib = r.peak_kib.expect("measured");
    let read_bytes = r.read_bytes.expect("rchar of /proc/PID/io");
    eprintln!(
        "extwatch {}: {:.2} s, peak RSS {} KiB, read {} bytes, {} bytes of output",
        args.first()
            .map(|a| a.to_string_lossy())
            .unwrap_or_default(),
        r.elapsed.as_secs_f64(),
        peak_kib,
        read_bytes,
        r.stdout.len()
    );
    Out {
        stdout: r.stdout,
        stderr: r.stderr,
        peak_kib,
        read_bytes,
    }
}

/// `extwatch audit --root ROOT --format json` (systemd 257, x86-64) with the given mount table.
fn audit_with(root: &Path, mountinfo: &Path, extra: &[&str], limit: Duration) -> (Out, Report) {
    let mut args = cli::offline_args("audit", root, "json", "257", mountinfo);
    args.extend(extra.iter().map(OsString::from));
    let out = extwatch(&args, limit);
    let v = reports::report(&out.stdout, &out.stderr);
    (out, v)
}

/// [`audit_with`] a mount table of `/` on ext4 followed by the lines `mounts`.
fn audit_with_mounts(root: &Path, mounts: &str, extra: &[&str]) -> (Out, Report) {
    let mi = tempfile::NamedTempFile::new().unwrap();
    write(
        mi.path(),
        format!("1 0 8:1 / / rw - ext4 /dev/sda1 rw\n{mounts}"),
    );
    audit_with(root, mi.path(), extra, LIMIT)
}

fn audit(root: &Path, limit: Duration) -> (Out, Report) {
    audit_with(root, Path::new("/dev/null"), &[], limit)
}

fn base_root() -> tempfile::TempDir {
    extwatch_testsupport::roots::base_root("extwatch-budgets")
}

const LIMIT: Duration = Duration::from_secs(120);

/// Mount-table path as the audit compares it: the root's `/usr` seen from the auditing machine.
fn usr_mount_point(root: &Path) -> PathBuf {
    root.join("usr")
}

// ---------------------------------------------------------------------------------------------
// Case 8: an overlay with a single lower layer panicked the merged-state code (`[1..len-1]`).

#[test]
fn single_layer_overlay_in_the_mount_table_is_reported_not_a_panic() {
    let t = base_root();
    let r = t.path();
    let (_, v) = audit_with_mounts(
        r,
        &format!(
            "100 1 0:50 / {} ro,relatime shared:9 - overlay sysext ro,lowerdir=/run/systemd/sysext/meta/usr\n",
            usr_mount_point(r).display()
        ),
        &[],
    );
    let h = v.hierarchy("/usr");
    let overlay = h.overlay.as_ref().expect("an overlay on /usr");
    assert_eq!(overlay.lowerdirs.len(), 1, "{h:#?}");
    // systemd's shape (meta on top) but no marker directory: a foreign overlay, reported.
    let f = v.findings("merge-foreign-overlay");
    assert!(
        f.iter().any(|f| f.subject == "/usr"),
        "single-layer overlay not reported: {:#?}",
        v.findings
    );
}

// ---------------------------------------------------------------------------------------------
// Case 9: one empty mount-source field (valid: FUSE mounts print none) aborted the whole audit.

#[test]
fn empty_mount_source_and_a_junk_line_do_not_abort_the_audit() {
    let t = base_root();
    let r = t.path();
    let (out, v) = audit_with_mounts(
        r,
        &format!(
            "36 1 0:30 / /run/user/1000/doc rw,nosuid,nodev - fuse.portal  rw,user_id=1000,group_id=1000\n\
             this line is not a mount\n\
             100 1 0:50 / {} ro,relatime shared:9 - overlay sysext ro,lowerdir=/run/systemd/sysext/meta/usr:/run/systemd/sysext/extensions/foo/usr:/usr\n",
            usr_mount_point(r).display()
        ),
        &["--verbose"],
    );
    // The table was used: the overlay on /usr is seen, and the junk line is a warning.
    assert!(v.host.mountinfo.is_some(), "{:#?}", v.host);
    let h = v.hierarchy("/usr");
    assert_eq!(
        h.overlay.as_ref().map(|o| o.source.as_str()),
        Some("sysext"),
        "{h:#?}"
    );
    assert!(
        out.stderr.contains("line 3"),
        "the malformed line should be a warning: {}",
        out.stderr
    );
}

// ---------------------------------------------------------------------------------------------
// Case 10: thousands of hard links to one ~1 MB `.crt` in verity.d (4.1 GB read, 23 s before).

/// A self-signed certificate (openssl CLI) padded to ~1 MB with text before the PEM block, which
/// PEM readers skip.
fn padded_cert(dir: &Path) -> Vec<u8> {
    let key = dir.join("k.pem");
    let crt = dir.join("c.pem");
    extwatch_testsupport::fixtures::self_signed_cert(&key, &crt, "bomb", 3).expect("openssl");
    let pem = std::fs::read(&crt).unwrap();
    let mut data = Vec::with_capacity(1_000_000);
    while data.len() + pem.len() + 80 < 1_000_000 {
        data.extend_from_slice(b"padding padding padding padding padding padding padding pad\n");
    }
    data.extend_from_slice(&pem);
    data
}

#[test]
fn five_thousand_hard_links_to_one_certificate_are_read_once() {
    let t = base_root();
    let r = t.path();
    let d = r.join("etc/verity.d");
    let tmp = tempfile::tempdir().unwrap();
    write(&d.join("a.crt"), padded_cert(tmp.path()));
    for i in 0..5000 {
        std::fs::hard_link(d.join("a.crt"), d.join(format!("l{i:04}.crt"))).unwrap();
    }
    let (out, v) = audit(r, LIMIT);
    // The certificate was loaded (no "no usable *.crt" finding) and nothing was skipped: the
    // 5,000 names are one file, read once.
    let ign = v.findings("trust-store-ignored-files");
    assert!(ign.is_empty(), "{ign:#?}");
    // Reading it 5,001 times was 5 GB of reads; once is ~1 MB (plus the root's other small files).
    assert!(
        out.read_bytes < 64 << 20,
        "read {} bytes for a 1 MB trust store",
        out.read_bytes
    );
    assert!(
        out.peak_kib < 128 * 1024,
        "peak RSS {} KiB for a 1 MB trust store",
        out.peak_kib
    );
}

/// Neighbour: 100 distinct 1 MB certificates exceed the 64 MiB trust-store budget; the ones left
/// unread are findings that say so.
#[test]
fn trust_store_over_the_byte_budget_reports_what_was_skipped() {
    let t = base_root();
    let r = t.path();
    let d = r.join("usr/lib/verity.d");
    let tmp = tempfile::tempdir().unwrap();
    let cert = padded_cert(tmp.path());
    for i in 0..100 {
        let mut c = cert.clone();
        c.insert(0, b'#'); // distinct files (not links), same certificate
        write(&d.join(format!("c{i:03}.crt")), c);
    }
    let (out, v) = audit(r, LIMIT);
    let skipped: Vec<_> = v
        .findings("trust-store-ignored-files")
        .into_iter()
        .filter(|f| f.evidence["skipped_by"] == "extwatch")
        .collect();
    // 64 MiB / ~1 MB = 67 read, 33 skipped.
    assert!(
        (30..=40).contains(&skipped.len()),
        "{} skipped: {skipped:#?}",
        skipped.len()
    );
    assert!(skipped[0].evidence["reason"]
        .as_str()
        .unwrap()
        .contains("budget"));
    assert!(out.peak_kib < 256 * 1024, "peak RSS {} KiB", out.peak_kib);
    assert!(out.read_bytes < 80 << 20, "read {} bytes", out.read_bytes);
}

// ---------------------------------------------------------------------------------------------
// Case 6: a sparse 1 TiB `.raw` (4 KB on disk) made `inventory` hash a terabyte (~23 minutes).

#[test]
fn terabyte_sparse_image_is_not_hashed_and_is_a_finding() {
    let t = base_root();
    let r = t.path();
    let dir = r.join("var/lib/extensions");
    std::fs::create_dir_all(&dir).unwrap();
    // `truncate -s 1T`: no data blocks at all.
    std::fs::File::create(dir.join("huge.raw"))
        .unwrap()
        .set_len(1 << 40)
        .unwrap();
    // A small real file next to it is still hashed.
    write(&dir.join("small.raw"), vec![0u8; 8192]);
    for cmd in ["inventory", "audit"] {
        let args: Vec<OsString> = vec![
            cmd.into(),
            "--root".into(),
            r.into(),
            "--format".into(),
            "json".into(),
            "--systemd-version".into(),
            "257".into(),
            "--mountinfo".into(),
            "/dev/null".into(),
            "--architecture".into(),
            "x86-64".into(),
        ];
        // Hashing 1 TiB took 23 minutes; the guard is 120 s.
        let out = extwatch(&args, LIMIT);
        let v = reports::report(&out.stdout, &out.stderr);
        let i = v.image("/var/lib/extensions/huge.raw");
        assert_eq!(i.sha256, None, "{i:#?}");
        assert_eq!(i.size, Some(1u64 << 40), "{i:#?}");
        assert!(
            i.allocated_size.expect("allocated_size") < 1 << 20,
            "sparse: {i:#?}"
        );
        let why = i.not_hashed.as_deref().unwrap_or_default();
        assert!(why.contains("MAX_IMAGE_HASH"), "{i:#?}");
        let small = v.image("/var/lib/extensions/small.raw");
        assert_eq!(
            small.sha256.as_deref(),
            Some("9f1dcbc35c350d6027f98be0f5c8b43b42ca52b7604459c0c42be3aa88913d47"),
            "{small:#?}"
        );
        assert_eq!(small.not_hashed, None);
        // Reading a terabyte was the bug; the audit reads the superblock and little else.
        assert!(
            out.read_bytes < 256 << 20,
            "{cmd} read {} bytes",
            out.read_bytes
        );
        if cmd == "audit" {
            let f = v.findings("extension-implausible-size");
            assert_eq!(f.len(), 1, "{:#?}", v.findings);
            assert_eq!(f[0].evidence["path"], "/var/lib/extensions/huge.raw");
            assert_eq!(f[0].evidence["size"], 1u64 << 40);
            assert_eq!(f[0].severity, Severity::Medium);
            assert!(f[0].controls.iter().any(|c| c == "CM-8"));
        }
    }
    // `extwatch verify` on it: refused with the reason instead of hashing 1 TiB.
    let out = extwatch(
        &[
            "verify".into(),
            "--format".into(),
            "json".into(),
            dir.join("huge.raw").into(),
        ],
        LIMIT,
    );
    let v = reports::only_image(reports::verify_report(&out.stdout, &out.stderr));
    let errs = v.errors.join("\n");
    assert!(errs.contains("MAX_IMAGE_HASH"), "{v:#?}");
    assert!(
        out.read_bytes < 256 << 20,
        "verify read {} bytes",
        out.read_bytes
    );
    // The catalogue lists the check.
    let out = extwatch(&["checks".into()], LIMIT);
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("extension-implausible-size"),
        "extwatch checks does not list the new check"
    );
}

// ---------------------------------------------------------------------------------------------
// Case 11: extension-release bombs across images (12 × 64 MB: 1.5 GB RSS, a 755 MB report).

/// A release of just under systemd's 64 MiB limit: valid keys and one enormous value.
fn release_bomb() -> Vec<u8> {
    let mut v = b"ID=_any\nDESCRIPTION=".to_vec();
    let target = 64 * 1024 * 1024 - 4096;
    v.resize(target, b'A');
    v.push(b'\n');
    v
}

#[test]
fn release_bombs_across_images_are_bounded_in_memory_and_report() {
    let t = base_root();
    let r = t.path();
    let dir = r.join("var/lib/extensions");
    let bomb = release_bomb();
    // Directory images (the release read through the root like every file) and squashfs images
    // (read through extwatch's reader).
    for i in 0..10 {
        sysext_tree(
            &dir.join(format!("bomb{i:02}")),
            &format!("bomb{i:02}"),
            &bomb,
        );
    }
    let src = tempfile::tempdir().unwrap();
    for i in 10..12 {
        let name = format!("bomb{i:02}");
        let tree = src.path().join(&name);
        sysext_tree(&tree, &name, &bomb);
        mksquashfs(&tree, &dir.join(format!("{name}.raw")), "zstd");
    }
    let (out, v) = audit(r, LIMIT);
    let imgs = &v.images;
    assert_eq!(imgs.len(), 12);
    let mut read = 0;
    let mut refused = 0;
    for i in imgs {
        if let Some(release) = &i.release {
            // Judged on the whole release, reported bounded, with a note saying what was cut.
            assert_eq!(release.get("ID").map(String::as_str), Some("_any"));
            let d = release.get("DESCRIPTION").expect("DESCRIPTION");
            assert!(d.len() < 8192 && d.contains("truncated"), "{}", d.len());
            assert!(i.release_note.as_deref().unwrap().contains("truncated"));
            assert!(i.compatible.ok, "{i:#?}");
            read += 1;
        } else {
            let errs = i.errors.join("\n");
            assert!(errs.contains("MAX_RELEASE_TOTAL"), "{i:#?}");
            refused += 1;
        }
    }
    // 256 MiB of budget holds 4 such files; the rest are refused with the reason.
    assert_eq!((read, refused), (4, 8), "read {read}, refused {refused}");
    assert!(
        out.stdout.len() < 4 << 20,
        "report is {} bytes",
        out.stdout.len()
    );
    // Two 64 MB files in memory at a time (one per thread on two cores; a file and its parse) plus
    // the binary: well under 1 GiB. 12 files took 1.5 GB before.
    assert!(out.peak_kib < 768 * 1024, "peak RSS {} KiB", out.peak_kib);
}

/// Neighbours: a release over systemd's 64 MiB limit is an error with the reason (never a silent
/// `null`), and so is the host's own os-release over the limit.
#[test]
fn oversized_release_and_host_os_release_are_errors_with_the_reason() {
    let t = base_root();
    let r = t.path();
    let dir = r.join("var/lib/extensions");
    let mut big = release_bomb();
    big.resize(64 * 1024 * 1024 + 10, b'B');
    sysext_tree(&dir.join("over"), "over", &big);
    let (_, v) = audit(r, LIMIT);
    let i = v.image("/var/lib/extensions/over");
    assert_eq!(i.release, None);
    assert!(
        i.errors.join("\n").contains("READ_FULL_BYTES_MAX"),
        "{i:#?}"
    );
    assert!(!v.findings("extension-malformed").is_empty());

    // The host's os-release: over the limit → os_release null *with* os_release_error, and no
    // fall-through to /usr/lib/os-release (systemd reads that only when /etc/os-release is absent).
    let t2 = base_root();
    let r2 = t2.path();
    write(&r2.join("etc/os-release"), &big);
    write(&r2.join("usr/lib/os-release"), "ID=decoy\n");
    let (_, v) = audit(r2, LIMIT);
    assert_eq!(v.host.os_release, None);
    let e = v.host.os_release_error.as_deref().unwrap_or_default();
    assert!(
        e.contains("/etc/os-release") && e.contains("larger than"),
        "{:#?}",
        v.host
    );
}
