//! Golden files: the exact output of `audit`, `inventory`, `verify`, `files` and `checks` (JSON and
//! table) on test roots built at test time, compared byte for byte with
//! `crates/extwatch/tests/golden/*`. They were first written from the code before the issue-9
//! refactor, so they prove that refactor (and any later one) changed no output.
//! `EXTWATCH_UPDATE_GOLDEN=1` rewrites them after an intended change.
//!
//! The fixtures are reproducible ([`extwatch_testsupport::repro`]: fixed modes, mtimes, build
//! times, filesystem UUIDs, repart seed, veritysetup salt and UUID). Only these values are
//! normalised, each as the exact string (never a whole field):
//!
//! * the temporary directory holding the roots → `<TMP>` (its name is random);
//! * the signing certificate made fresh for the run ([`Fixtures::signing_key`], openssl has no
//!   seed): its SHA-256 fingerprint → `<CERT-SHA256>`, serial → `<CERT-SERIAL>`, validity →
//!   `<CERT-NOT-BEFORE>`/`<CERT-NOT-AFTER>`; and the whole-file SHA-256 of the signed DDI (its
//!   signature partition holds the key's signature) → `<SIGNED-DDI-SHA256>`. The sidecar `.p7s`
//!   is not hashed by extwatch, so nothing else depends on the key.
//!
//! Roots (all offline, `--systemd-version` and `--architecture` given, `--mountinfo` a file the test
//! writes, so no host state leaks in):
//!
//! * `empty`: os-release and nothing else;
//! * `mixed`: sysext and confext images of every format (directory, squashfs gzip/zstd, erofs
//!   plain/lz4, DDIs with and without verity, a signed DDI, a squashfs with veritysetup side-cars),
//!   masked, staged, runtime, portable, malformed, sparse-huge and special-file entries, a stray
//!   `.pem` in verity.d, a mutable directory and a mount table with a foreign and a mutable overlay,
//!   so that most of the check catalogue fires (see [`MIXED_IDS`]);
//! * `mixed` again with `--systemd-version 259` (the verity fallback check) and `252`.

use std::ffi::OsString;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use extwatch_testsupport::cli;
use extwatch_testsupport::fixtures::{
    DdiVerity, Fixtures, Format, Image, PartType, RootBuilder, DEBIAN_13,
};
use extwatch_testsupport::golden::{self, Normaliser};
use extwatch_testsupport::reports;
use extwatch_testsupport::repro::{self, FIXED_UUID};
use extwatch_testsupport::Env;

/// The mtime of every fixture entry: 2024-01-01T00:00:00Z.
const EPOCH: u64 = 1_704_067_200;

/// Hang guard (not a performance bound).
const LIMIT: Duration = Duration::from_secs(600);

/// Check ids the `mixed` root must produce (the test fails when one goes missing, so the goldens
/// keep exercising the registry). Not reachable offline: `extension-merged` (needs a real overlay
/// mount) and `policy-verity-fallback` (systemd ≥ 259: the `mixed-v259` golden).
const MIXED_IDS: &[&str] = &[
    "extension-directory-image",
    "extension-release-any",
    "extension-release-mismatch",
    "extension-missing-release",
    "extension-ships-os-release",
    "extension-malformed",
    "image-outside-search-path",
    "special-file-in-search-path",
    "runtime-extension",
    "mutable-extension-mode",
    "merge-foreign-overlay",
    "portable-image-present",
    "extension-unsigned",
    "extension-no-verity",
    "extension-signature-invalid",
    "extension-verity-mismatch",
    "trust-store-ignored-files",
    "policy-allows-unsigned",
    "extension-shadows-base",
    "extension-overrides-extension",
    "extension-adds-executable",
    "extension-setuid",
    "extension-adds-unit",
    "extension-implausible-size",
    "confext-sensitive-config",
];

fn golden_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden")
}

/// Runs extwatch; fails on a crash or an exit code other than 0/1.
fn run(args: &[OsString]) -> Vec<u8> {
    cli::run_0_or_1(
        &cli::bin(env!("CARGO_BIN_EXE_extwatch")),
        args,
        LIMIT,
        false,
    )
    .stdout
}

fn os(args: &[&str]) -> Vec<OsString> {
    args.iter().map(OsString::from).collect()
}

/// Collects golden comparisons so one run reports every mismatch.
struct Goldens {
    norm: Normaliser,
    errors: Vec<String>,
}

impl Goldens {
    fn new(norm: Normaliser) -> Goldens {
        Goldens {
            norm,
            errors: Vec::new(),
        }
    }

    fn check(&mut self, name: &str, args: &[&str]) -> Vec<u8> {
        let out = self.norm.apply(&run(&os(args)));
        if let Err(e) = golden::check(&golden_dir(), name, &out) {
            self.errors.push(e);
        }
        out
    }

    fn finish(self) {
        assert!(
            self.errors.is_empty(),
            "{} golden file(s) differ:\n{}",
            self.errors.len(),
            self.errors.join("\n\n")
        );
    }
}

fn s(p: &Path) -> &str {
    p.to_str().expect("test paths are UTF-8")
}

/// Audit/inventory arguments for an offline root.
fn host_args<'a>(root: &'a str, mountinfo: &'a str, version: &'a str) -> Vec<&'a str> {
    vec![
        "--root",
        root,
        "--systemd-version",
        version,
        "--architecture",
        "x86-64",
        "--mountinfo",
        mountinfo,
    ]
}

/// The shared temporary directory, fixtures and normaliser of a test.
struct Setup {
    tmp: tempfile::TempDir,
    fx: Fixtures,
    norm: Normaliser,
}

fn setup(test: &str) -> Option<Setup> {
    let env = Env::detect_or_skip(test)?;
    let tmp = tempfile::tempdir().expect("tempdir");
    let fx =
        Fixtures::reproducible(&env.trixie, &tmp.path().join("cache"), EPOCH).expect("fixtures");
    let norm = Normaliser::new().rule(s(tmp.path()), "<TMP>");
    Some(Setup { tmp, fx, norm })
}

fn sha256_hex(p: &Path) -> String {
    let o = Command::new("sha256sum")
        .arg(p)
        .output()
        .expect("sha256sum");
    assert!(o.status.success());
    String::from_utf8_lossy(&o.stdout)
        .split_whitespace()
        .next()
        .expect("sha256sum output")
        .to_string()
}

/// `openssl x509 -noout FIELD` of a PEM certificate: the text after `=`.
fn cert_field(cert: &Path, field: &[&str]) -> String {
    let o = Command::new("openssl")
        .args(["x509", "-noout"])
        .args(field)
        .arg("-in")
        .arg(cert)
        .output()
        .expect("openssl x509");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let text = String::from_utf8_lossy(&o.stdout);
    text.split_once('=')
        .expect("FIELD=value")
        .1
        .trim()
        .to_string()
}

/// An openssl date (`Dec  2 12:28:41 2026 GMT`) as extwatch prints it (RFC 3339, UTC).
fn rfc3339(openssl_date: &str) -> String {
    let o = Command::new("date")
        .args(["-u", "-d", openssl_date, "+%Y-%m-%dT%H:%M:%SZ"])
        .output()
        .expect("date");
    assert!(o.status.success(), "date -d {openssl_date:?}");
    String::from_utf8_lossy(&o.stdout).trim().to_string()
}

/// Adds the rules for the run's signing certificate (made fresh by [`Fixtures::signing_key`], so its
/// fingerprint, serial and validity differ on every run): each exact value → a placeholder.
fn cert_rules(norm: Normaliser, cert: &Path) -> Normaliser {
    let fp = cert_field(cert, &["-fingerprint", "-sha256"])
        .replace(':', "")
        .to_lowercase();
    let serial = cert_field(cert, &["-serial"]).to_lowercase();
    let mut norm = norm
        .rule(fp, "<CERT-SHA256>")
        .rule(
            rfc3339(&cert_field(cert, &["-startdate"])),
            "<CERT-NOT-BEFORE>",
        )
        .rule(
            rfc3339(&cert_field(cert, &["-enddate"])),
            "<CERT-NOT-AFTER>",
        );
    let short = serial.trim_start_matches('0');
    if short != serial && !short.is_empty() {
        norm = norm.rule(short, "<CERT-SERIAL>");
    }
    norm.rule(serial, "<CERT-SERIAL>")
}

/// A mount table with the root's own `/` and the given extra lines.
fn mountinfo(path: &Path, lines: &[String]) {
    let mut t = String::from("1 0 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw\n");
    for l in lines {
        t.push_str(l);
        t.push('\n');
    }
    fs::write(path, t).expect("write mountinfo");
}

#[test]
fn checks_catalogue() {
    let mut g = Goldens::new(Normaliser::new());
    g.check("checks.json", &["checks", "--format", "json"]);
    g.check("checks.txt", &["checks"]);
    g.finish();
}

#[test]
fn empty_root() {
    let Some(st) = setup("golden::empty_root") else {
        return;
    };
    let root = st.tmp.path().join("empty");
    RootBuilder::new(&root)
        .and_then(|r| r.os_release(DEBIAN_13).map(|_| ()))
        .expect("root");
    repro::fix_tree(&root, EPOCH).expect("fix root");
    let mi = st.tmp.path().join("mountinfo");
    mountinfo(&mi, &[]);
    let mut g = Goldens::new(st.norm.clone());
    let h = host_args(s(&root), s(&mi), "257");
    g.check(
        "audit-empty.json",
        &[&["audit"][..], &h, &["--format", "json"]].concat(),
    );
    g.check("audit-empty.txt", &[&["audit"][..], &h].concat());
    g.check(
        "inventory-empty.json",
        &[&["inventory"][..], &h, &["--format", "json"]].concat(),
    );
    g.finish();
}

/// The images of the `mixed` root: (path in the root, image, format).
fn mixed_images() -> Vec<(&'static str, Image, Format)> {
    let deb = "ID=debian\nVERSION_ID=13\n";
    vec![
        (
            "/var/lib/extensions/dirext",
            Image::sysext()
                .release("dirext", deb)
                .file("usr/bin/ls", "dirext's ls\n")
                .mode("usr/bin/ls", 0o755)
                .file("usr/bin/dirtool", "#!/bin/sh\necho dirext\n")
                .mode("usr/bin/dirtool", 0o755)
                .file("usr/bin/suid", "#!/bin/sh\n")
                .mode("usr/bin/suid", 0o4755)
                .file(
                    "usr/lib/systemd/system/dirext.service",
                    "[Service]\nExecStart=/usr/bin/dirtool\n",
                ),
            Format::Directory,
        ),
        (
            "/var/lib/extensions/sqext.raw",
            Image::sysext()
                .release("sqext", "ID=_any\n")
                .file("usr/bin/dirtool", "#!/bin/sh\necho sqext\n")
                .mode("usr/bin/dirtool", 0o755)
                .file("usr/share/sqext/data.txt", "squashfs data\n"),
            Format::Squashfs("gzip"),
        ),
        (
            "/var/lib/extensions/sqzstd.raw",
            Image::sysext()
                .release("sqzstd", deb)
                .file("usr/lib/sqzstd/lib.txt", "zstd\n"),
            Format::Squashfs("zstd"),
        ),
        (
            "/var/lib/extensions/erext.raw",
            Image::sysext()
                .release("erext", deb)
                .file("usr/libexec/erext/helper", "#!/bin/sh\n")
                .mode("usr/libexec/erext/helper", 0o755)
                .file("usr/share/erext/readme", "erofs\n"),
            Format::Erofs(None),
        ),
        (
            "/var/lib/extensions/erlz4.raw",
            Image::sysext()
                .release("erlz4", "ID=fedora\nVERSION_ID=41\n")
                .file("usr/share/erlz4/x", "lz4 lz4 lz4 lz4 lz4 lz4 lz4 lz4\n"),
            Format::Erofs(Some("lz4")),
        ),
        (
            "/var/lib/extensions/ddiroot.raw",
            Image::sysext()
                .release("ddiroot", deb)
                .file("usr/share/ddiroot/data", "ddi root verity\n"),
            Format::Ddi {
                part: PartType::RootX86_64,
                erofs: false,
                verity: DdiVerity::Hash,
            },
        ),
        (
            "/var/lib/extensions/ddiusr.raw",
            Image::sysext()
                .release("ddiusr", deb)
                .file("usr/share/ddiusr/data", "ddi usr erofs\n"),
            Format::Ddi {
                part: PartType::UsrX86_64,
                erofs: true,
                verity: DdiVerity::None,
            },
        ),
        (
            "/var/lib/extensions/signed.raw",
            Image::sysext()
                .release("signed", deb)
                .file("usr/share/signed/data", "signed ddi\n"),
            Format::Ddi {
                part: PartType::RootX86_64,
                erofs: false,
                verity: DdiVerity::Signed,
            },
        ),
        (
            "/var/lib/extensions/norelease",
            Image::sysext().file("usr/share/norelease/x", "no release\n"),
            Format::Directory,
        ),
        (
            "/var/lib/extensions/osrel",
            Image::sysext().release("osrel", deb).ships_os_release(),
            Format::Directory,
        ),
        (
            "/var/lib/extensions/masked",
            Image::sysext().release("masked", deb),
            Format::Directory,
        ),
        (
            "/run/extensions/runtime",
            Image::sysext()
                .release("runtime", deb)
                .file("usr/share/runtime/x", "runtime\n"),
            Format::Directory,
        ),
        (
            "/var/lib/extensions.d/staged",
            Image::sysext().release("staged", deb),
            Format::Directory,
        ),
        (
            "/var/lib/portables/port.raw",
            Image::sysext()
                .file("usr/lib/os-release", "ID=debian\nPORTABLE_PREFIXES=port\n")
                .file("usr/lib/systemd/system/port.service", "[Service]\n"),
            Format::Squashfs("gzip"),
        ),
        (
            "/var/lib/confexts/cdir",
            Image::confext()
                .release("cdir", deb)
                .file("etc/sudoers.d/cdir", "ALL ALL=(ALL) NOPASSWD: ALL\n"),
            Format::Directory,
        ),
        (
            "/var/lib/confexts/csq.raw",
            Image::confext()
                .release("csq", deb)
                .file("etc/ssh/sshd_config.d/csq.conf", "PermitRootLogin yes\n"),
            Format::Squashfs("zstd"),
        ),
        (
            "/var/lib/confexts/cer.raw",
            Image::confext()
                .release("cer", "ID=_any\n")
                .file("etc/cer/cer.conf", "x=1\n"),
            Format::Erofs(None),
        ),
    ]
}

/// `veritysetup format` with fixed salt and UUID; returns the root hash.
fn veritysetup(data: &Path, hash: &Path) -> String {
    let o = Command::new("veritysetup")
        .arg("format")
        .arg(format!("--salt={}", "5a".repeat(32)))
        .arg(format!("--uuid={FIXED_UUID}"))
        .arg(data)
        .arg(hash)
        .output()
        .expect("veritysetup (cryptsetup-bin)");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8_lossy(&o.stdout)
        .lines()
        .find_map(|l| l.strip_prefix("Root hash:"))
        .expect("Root hash line")
        .trim()
        .to_string()
}

/// Builds the `mixed` root; returns (root, mountinfo path, signing certificate).
fn build_mixed_root(st: &Setup) -> (PathBuf, PathBuf, PathBuf) {
    let root = st.tmp.path().join("mixed");
    let rb = RootBuilder::new(&root).expect("root");
    rb.os_release(DEBIAN_13).expect("os-release");
    rb.file("/usr/bin/ls", "base ls\n").expect("base ls");
    rb.file("/etc/ssh/sshd_config", "PermitRootLogin no\n")
        .expect("sshd_config");
    for (at, img, fmt) in mixed_images() {
        rb.image(&st.fx, at, &img, fmt)
            .unwrap_or_else(|e| panic!("{at}: {e}"));
    }
    // Side-car verity for a squashfs (veritysetup with fixed salt/uuid), and a wrong .roothash
    // next to the verity DDI (declared root hashes disagree).
    let side = rb.p("/var/lib/extensions/side.raw");
    st.fx
        .materialize(
            &Image::sysext()
                .release("side", "ID=debian\nVERSION_ID=13\n")
                .file("usr/share/side/x", "side-car verity\n"),
            Format::Squashfs("xz"),
            &side,
        )
        .expect("side.raw");
    let rh = veritysetup(&side, &rb.p("/var/lib/extensions/side.verity"));
    rb.file("/var/lib/extensions/side.roothash", &format!("{rh}\n"))
        .expect("roothash");
    rb.file(
        "/var/lib/extensions/ddiroot.roothash",
        &format!("{}\n", "ab".repeat(32)),
    )
    .expect("wrong roothash");
    // Masking, malformed, huge, special.
    rb.dir("/etc/extensions/masked").expect("mask");
    rb.file("/var/lib/extensions/junk.raw", "this is not an image\n")
        .expect("junk");
    let huge = fs::File::create(rb.p("/var/lib/extensions/huge.raw")).expect("huge");
    // 1 TiB, sparse: past IMPLAUSIBLE_IMAGE_SIZE and past MAX_IMAGE_HASH (so it is not hashed).
    huge.set_len(1 << 40).expect("sparse 1 TiB");
    drop(huge);
    let fifo = rb.p("/var/lib/extensions/pipe.raw");
    let st_mk = Command::new("mkfifo").arg(&fifo).status().expect("mkfifo");
    assert!(st_mk.success());
    rb.dir("/var/lib/extensions.mutable").expect("mutable");
    let (_, cert) = st.fx.signing_key().expect("signing key");
    fs::create_dir_all(rb.p("/etc/verity.d")).expect("verity.d");
    fs::copy(&cert, rb.p("/etc/verity.d/stray.pem")).expect("stray pem");
    repro::fix_tree(&root, EPOCH).expect("fix root");
    let mi = st.tmp.path().join("mountinfo");
    let r = s(&root);
    mountinfo(
        &mi,
        &[
            // A hand-made writable overlay on /usr (foreign and mutable).
            format!("100 1 0:50 / {r}/usr rw,relatime shared:9 - overlay overlay rw,lowerdir=/srv/lower:{r}/usr,upperdir=/srv/upper,workdir=/srv/work"),
            // systemd's shape on /etc, but no marker directory.
            format!("101 1 0:51 / {r}/etc ro,relatime shared:10 - overlay confext ro,lowerdir=/run/systemd/confext/meta/etc:/run/systemd/confext/confexts/cdir/etc:{r}/etc"),
        ],
    );
    (root, mi, cert)
}

#[test]
fn mixed_root() {
    let Some(st) = setup("golden::mixed_root") else {
        return;
    };
    let (root, mi, cert) = build_mixed_root(&st);
    let signed = root.join("var/lib/extensions/signed.raw");
    let norm = st
        .norm
        .clone()
        .rule(sha256_hex(&signed), "<SIGNED-DDI-SHA256>");
    let mut g = Goldens::new(cert_rules(norm, &cert));
    let h = host_args(s(&root), s(&mi), "257");
    let json = g.check(
        "audit-mixed.json",
        &[&["audit"][..], &h, &["--format", "json"]].concat(),
    );
    g.check("audit-mixed.txt", &[&["audit"][..], &h].concat());
    g.check(
        "inventory-mixed.json",
        &[&["inventory"][..], &h, &["--format", "json"]].concat(),
    );
    let h259 = host_args(s(&root), s(&mi), "259");
    g.check(
        "audit-mixed-v259.json",
        &[&["audit"][..], &h259, &["--format", "json"]].concat(),
    );
    let h252 = host_args(s(&root), s(&mi), "252");
    g.check(
        "audit-mixed-v252.json",
        &[&["audit"][..], &h252, &["--format", "json"]].concat(),
    );
    let v = reports::report(&json, "");
    let ids: Vec<&str> = v.findings.iter().map(|f| f.id.as_str()).collect();
    let missing: Vec<&&str> = MIXED_IDS.iter().filter(|id| !ids.contains(id)).collect();
    g.finish();
    assert!(
        missing.is_empty(),
        "no finding of {missing:?} in the mixed root"
    );
}

/// `verify` and `files` on single images of each format (outside any root).
#[test]
fn verify_and_files() {
    let Some(st) = setup("golden::verify_and_files") else {
        return;
    };
    let dir = st.tmp.path().join("images");
    let img = Image::sysext()
        .release("gold", "ID=debian\nVERSION_ID=13\n")
        .file("usr/bin/gold", "#!/bin/sh\necho gold\n")
        .mode("usr/bin/gold", 0o755)
        .file("usr/bin/gold-suid", "#!/bin/sh\n")
        .mode("usr/bin/gold-suid", 0o4755)
        .file("usr/lib/systemd/system/gold.service", "[Service]\n")
        .file("usr/share/gold/a.txt", "alpha\n")
        .file("usr/share/gold/sub/b.txt", "beta beta\n");
    let formats: [(&str, Format); 5] = [
        ("gold.sqfs.raw", Format::Squashfs("gzip")),
        ("gold.erofs.raw", Format::Erofs(None)),
        ("gold.erofs-lz4.raw", Format::Erofs(Some("lz4"))),
        (
            "gold.ddi.raw",
            Format::Ddi {
                part: PartType::RootX86_64,
                erofs: true,
                verity: DdiVerity::Hash,
            },
        ),
        (
            "gold.signed.raw",
            Format::Ddi {
                part: PartType::RootX86_64,
                erofs: false,
                verity: DdiVerity::Signed,
            },
        ),
    ];
    for (name, fmt) in formats {
        st.fx
            .materialize(&img, fmt, &dir.join(name))
            .unwrap_or_else(|e| panic!("{name}: {e}"));
    }
    st.fx
        .materialize(&img, Format::Directory, &dir.join("gold.d"))
        .expect("directory image");
    // Side-car verity + signature for a squashfs (fixed salt/uuid; the signature uses the run's key).
    let side = dir.join("side.raw");
    fs::copy(dir.join("gold.sqfs.raw"), &side).expect("copy");
    let rh = veritysetup(&side, &dir.join("side.verity"));
    fs::write(dir.join("side.roothash"), format!("{rh}\n")).expect("roothash");
    let (key, cert) = st.fx.signing_key().expect("signing key");
    fs::write(dir.join("rh.txt"), &rh).expect("rh.txt");
    let o = Command::new("openssl")
        .args([
            "smime", "-sign", "-nocerts", "-noattr", "-binary", "-outform", "der",
        ])
        .arg("-in")
        .arg(dir.join("rh.txt"))
        .arg("-inkey")
        .arg(&key)
        .arg("-signer")
        .arg(&cert)
        .arg("-out")
        .arg(dir.join("side.roothash.p7s"))
        .output()
        .expect("openssl smime");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    for f in [
        "side.raw",
        "side.verity",
        "side.roothash",
        "side.roothash.p7s",
    ] {
        repro::touch(&dir.join(f), EPOCH).expect("touch");
    }
    let norm = st.norm.clone().rule(
        sha256_hex(&dir.join("gold.signed.raw")),
        "<SIGNED-DDI-SHA256>",
    );
    let mut g = Goldens::new(cert_rules(norm, &cert));
    let p = |n: &str| dir.join(n).to_string_lossy().into_owned();
    let cert_s = s(&cert).to_string();
    for (golden, image, extra) in [
        ("verify-squashfs.json", "gold.sqfs.raw", vec!["--sha256"]),
        ("verify-erofs.json", "gold.erofs.raw", vec![]),
        ("verify-erofs-lz4.json", "gold.erofs-lz4.raw", vec![]),
        ("verify-ddi-verity.json", "gold.ddi.raw", vec![]),
        (
            "verify-ddi-signed.json",
            "gold.signed.raw",
            vec!["--trust", cert_s.as_str()],
        ),
        (
            "verify-ddi-signed-untrusted.json",
            "gold.signed.raw",
            vec![],
        ),
        (
            "verify-sidecar.json",
            "side.raw",
            vec!["--trust", cert_s.as_str()],
        ),
        ("verify-directory.json", "gold.d", vec![]),
    ] {
        let path = p(image);
        g.check(
            golden,
            &[
                &["verify", "--format", "json"][..],
                &extra,
                &[path.as_str()],
            ]
            .concat(),
        );
    }
    g.check(
        "verify-all.txt",
        &[
            "verify",
            &p("gold.sqfs.raw"),
            &p("gold.ddi.raw"),
            &p("gold.d"),
        ],
    );
    for (stem, image) in [
        ("squashfs", "gold.sqfs.raw"),
        ("erofs", "gold.erofs.raw"),
        ("erofs-lz4", "gold.erofs-lz4.raw"),
        ("ddi", "gold.ddi.raw"),
        ("directory", "gold.d"),
    ] {
        let path = p(image);
        g.check(
            &format!("files-{stem}.json"),
            &["files", "--format", "json", &path],
        );
        g.check(
            &format!("files-{stem}-hash.json"),
            &["files", "--hash", "--format", "json", &path],
        );
        g.check(
            &format!("files-{stem}.mtree"),
            &["files", "--format", "mtree", &path],
        );
        g.check(&format!("files-{stem}.txt"), &["files", &path]);
    }
    g.finish();
}
