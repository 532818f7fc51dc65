//! Provenance against the reference tools: DDIs signed by systemd-repart 257, side-car images made
//! with `veritysetup format` and `openssl smime`, and every negative case of issue 3. extwatch's root
//! hash must equal veritysetup's, its signature verdict must equal `openssl smime -verify` and systemd's
//! own userspace PKCS#7 verdict on the same image.

use std::fs;
use std::io::{Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::process::Command;

use extwatch_model::{ImageFormat, Report, SignatureStatus, VerifiedImage, VeritySource};
use extwatch_testsupport::fixtures::{DdiVerity, Fixtures, Format, Image, PartType};
use extwatch_testsupport::reports;
use extwatch_testsupport::runner::trixie_exec;
use extwatch_testsupport::Env;
use serde_json::Value;

/// Runs extwatch: (exit code, stdout, stderr).
fn extwatch(args: &[&str]) -> (Option<i32>, Vec<u8>, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_extwatch"))
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code(),
        out.stdout,
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// `extwatch verify --format json ARGS…` on one image: (exit code, its typed record).
fn verify_one(args: &[&str]) -> (Option<i32>, VerifiedImage) {
    let (code, out, err) = extwatch(args);
    (
        code,
        reports::only_image(reports::verify_report(&out, &err)),
    )
}

fn sh(cmd: &str) -> (bool, String) {
    let o = Command::new("sh").arg("-c").arg(cmd).output().unwrap();
    (
        o.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        ),
    )
}

/// `extwatch audit --root ROOT --format json [extra…]`'s report.
fn audit(root: &Path, extra: &[&str]) -> Report {
    let mut args = vec![
        "audit",
        "--root",
        root.to_str().unwrap(),
        "--format",
        "json",
    ];
    args.extend_from_slice(extra);
    let (_, out, err) = extwatch(&args);
    reports::report(&out, &err)
}

/// A self-signed certificate `DIR/NAME.crt` (key `DIR/NAME.key`) for `CN=NAME`, made by openssl.
fn self_signed(dir: &Path, name: &str) -> PathBuf {
    let crt = dir.join(format!("{name}.crt"));
    let (ok, out) = sh(&format!(
        "openssl req -x509 -newkey rsa:2048 -nodes -days 3 -subj /CN={name} -keyout {} -out {}",
        dir.join(format!("{name}.key")).display(),
        crt.display()
    ));
    assert!(ok, "{out}");
    crt
}

/// `openssl smime -sign` of `content` (detached, DER, no attributes or certificates) into `out`.
fn smime_sign(content: &Path, key: &Path, cert: &Path, out: &Path) {
    let (ok, log) = sh(&format!(
        "openssl smime -sign -binary -noattr -nocerts -in {} -inkey {} -signer {} -outform DER -out {}",
        content.display(),
        key.display(),
        cert.display(),
        out.display()
    ));
    assert!(ok, "{log}");
}

/// Whether `openssl smime -verify` accepts the DER signature `sig` over `content` by `cert`
/// (NOINTERN + NOVERIFY, like systemd).
fn smime_verify(sig: &Path, content: &Path, cert: &Path) -> bool {
    sh(&format!(
        "openssl smime -verify -binary -inform DER -in {} -content {} -certfile {} -nointern -noverify -out /dev/null",
        sig.display(),
        content.display(),
        cert.display()
    ))
    .0
}

/// A directory `DIR/NAME` holding `cert` as `as_name` (a verity.d for [`systemd_merge_log`]).
fn cert_dir(dir: &Path, name: &str, cert: &Path, as_name: &str) -> PathBuf {
    let d = dir.join(name);
    fs::create_dir_all(&d).unwrap();
    fs::copy(cert, d.join(as_name)).unwrap();
    d
}

#[derive(Debug, Clone)]
struct Part {
    start: u64,
    size: u64,
    ty: String,
    uuid: String,
}

/// Partitions as sfdisk sees them (bytes).
fn partitions(img: &Path) -> Vec<Part> {
    let (ok, out) = sh(&format!("sfdisk -J {}", img.display()));
    assert!(ok, "sfdisk: {out}");
    let v: Value = serde_json::from_str(&out).unwrap();
    let ss = v["partitiontable"]["sectorsize"].as_u64().unwrap_or(512);
    v["partitiontable"]["partitions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| Part {
            start: p["start"].as_u64().unwrap() * ss,
            size: p["size"].as_u64().unwrap() * ss,
            ty: p["type"].as_str().unwrap().to_ascii_lowercase(),
            uuid: p["uuid"].as_str().unwrap().to_ascii_lowercase(),
        })
        .collect()
}

fn extract(img: &Path, p: &Part, out: &Path) {
    let data = fs::read(img).unwrap();
    fs::write(out, &data[p.start as usize..(p.start + p.size) as usize]).unwrap();
}

fn patch(img: &Path, offset: u64, bytes: &[u8]) {
    let mut f = fs::OpenOptions::new().write(true).open(img).unwrap();
    f.seek(SeekFrom::Start(offset)).unwrap();
    f.write_all(bytes).unwrap();
}

const ROOT_X86_64: &str = "4f68bce3-e8cd-4db1-96e7-fbcaf984b709";
const ROOT_VERITY: &str = "2c7357ed-ebd2-46d9-aec1-23d437ec2bf5";
const ROOT_VERITY_SIG: &str = "41092b05-9fc8-4523-994f-2def0408b176";

fn image() -> Image {
    let mut img = Image::sysext().release("signed", "ID=_any\n");
    // Enough data for a multi-level tree: > 128 data blocks.
    let big: String = (0..40_000).map(|i| format!("line {i}\n")).collect();
    img = img.file("usr/share/signed/data.txt", &big);
    img
}

struct Setup {
    _tmp: tempfile::TempDir,
    dir: PathBuf,
    signed: PathBuf,
    cert: PathBuf,
    fx: Fixtures,
    env: Env,
}

fn setup(test: &str) -> Option<Setup> {
    let env = Env::detect_or_skip(test)?;
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().to_path_buf();
    let fx = Fixtures::new(&env.trixie, &dir.join("cache")).unwrap();
    let signed = fx
        .build(
            &image(),
            Format::Ddi {
                part: PartType::RootX86_64,
                erofs: false,
                verity: DdiVerity::Signed,
            },
        )
        .unwrap();
    let (_, cert) = fx.signing_key().unwrap();
    Some(Setup {
        _tmp: tmp,
        dir,
        signed,
        cert,
        fx,
        env,
    })
}

/// An offline Debian 13 root holding the signed DDI as /var/lib/extensions/signed.raw, with `certs`
/// copied into its /etc/verity.d under the given names.
fn root_with_signed(s: &Setup, name: &str, certs: &[(&Path, &str)]) -> PathBuf {
    let root = s.dir.join(name);
    for d in ["etc/verity.d", "usr/lib", "var/lib/extensions"] {
        fs::create_dir_all(root.join(d)).unwrap();
    }
    fs::write(root.join("etc/os-release"), "ID=debian\nVERSION_ID=13\n").unwrap();
    fs::copy(&s.signed, root.join("var/lib/extensions/signed.raw")).unwrap();
    for (cert, as_name) in certs {
        fs::copy(cert, root.join("etc/verity.d").join(as_name)).unwrap();
    }
    root
}

/// systemd 257's debug log of `systemd-sysext merge --root=ROOT` with `verityd` bound over the running
/// system's /etc/verity.d (where its userspace PKCS#7 check looks, reference §11).
fn systemd_merge_log(s: &Setup, verityd: &Path, root: &Path) -> String {
    let script = format!(
        "mkdir -p /etc/verity.d && mount --bind {} /etc/verity.d && SYSTEMD_LOG_LEVEL=debug systemd-sysext merge --root={} 2>&1; true",
        verityd.display(),
        root.display()
    );
    let o = trixie_exec(
        &s.env.trixie,
        &[&s.dir],
        &["sh".into(), "-c".into(), script],
    )
    .unwrap();
    String::from_utf8_lossy(&o.stdout).into_owned() + &String::from_utf8_lossy(&o.stderr)
}

fn verify_json(img: &Path, trust: Option<&Path>) -> (Option<i32>, VerifiedImage) {
    let mut args = vec!["verify", "--format", "json", img.to_str().unwrap()];
    if let Some(t) = trust {
        args.push("--trust");
        args.push(t.to_str().unwrap());
    }
    verify_one(&args)
}

/// The signature JSON of a DDI's signature partition.
fn sig_json(img: &Path) -> (Part, Value) {
    let p = partitions(img)
        .into_iter()
        .find(|p| p.ty == ROOT_VERITY_SIG)
        .expect("signature partition");
    let data = fs::read(img).unwrap();
    let raw = &data[p.start as usize..(p.start + p.size) as usize];
    let end = raw.iter().position(|c| *c == 0).unwrap_or(raw.len());
    (p, serde_json::from_slice(&raw[..end]).unwrap())
}

#[test]
fn signed_ddi_matches_veritysetup_openssl_and_systemd() {
    let Some(s) = setup("signed_ddi_matches_veritysetup_openssl_and_systemd") else {
        return;
    };
    let (code, v) = verify_json(&s.signed, Some(&s.cert));
    assert_eq!(code, Some(0), "{v:#?}");
    assert_eq!(v.format, ImageFormat::Ddi);
    assert_eq!(v.verity.verified, Some(true));
    assert_eq!(v.signature.status, SignatureStatus::Valid);
    let root_hash = v.verity.recomputed.clone().unwrap();

    // Root hash == the JSON rootHash == partition UUIDs == what veritysetup verifies.
    let (_, j) = sig_json(&s.signed);
    assert_eq!(j["rootHash"].as_str().unwrap(), root_hash);
    let parts = partitions(&s.signed);
    let data = parts.iter().find(|p| p.ty == ROOT_X86_64).unwrap();
    let hash = parts.iter().find(|p| p.ty == ROOT_VERITY).unwrap();
    assert_eq!(
        format!(
            "{}{}",
            data.uuid.replace('-', ""),
            hash.uuid.replace('-', "")
        ),
        root_hash
    );
    let (dp, hp) = (s.dir.join("data.img"), s.dir.join("hash.img"));
    extract(&s.signed, data, &dp);
    extract(&s.signed, hash, &hp);
    let (ok, out) = sh(&format!(
        "veritysetup verify {} {} {root_hash}",
        dp.display(),
        hp.display()
    ));
    assert!(
        ok,
        "veritysetup verify rejected extwatch's root hash: {out}"
    );

    // Signer identity equals openssl's view of the certificate.
    let (_, fp) = sh(&format!(
        "openssl x509 -in {} -noout -fingerprint -sha256",
        s.cert.display()
    ));
    let fp = fp
        .trim()
        .rsplit('=')
        .next()
        .unwrap()
        .replace(':', "")
        .to_ascii_lowercase();
    let signer = v.signature.signer.as_ref().expect("signer");
    assert_eq!(signer.sha256_fingerprint, fp);
    assert_eq!(v.signature.fingerprint_matches, Some(true));
    assert!(signer.subject.contains("CN=extwatch test signer"));

    // openssl smime -verify agrees (NOINTERN + NOVERIFY, like systemd).
    let sig = s.dir.join("sig.der");
    let b64 = j["signature"].as_str().unwrap();
    fs::write(s.dir.join("sig.b64"), b64).unwrap();
    let (ok, out) = sh(&format!(
        "base64 -d {} > {}",
        s.dir.join("sig.b64").display(),
        sig.display()
    ));
    assert!(ok, "{out}");
    fs::write(s.dir.join("rh.txt"), &root_hash).unwrap();
    assert!(smime_verify(&sig, &s.dir.join("rh.txt"), &s.cert));
    fs::write(s.dir.join("other.txt"), "0".repeat(64)).unwrap();
    assert!(!smime_verify(&sig, &s.dir.join("other.txt"), &s.cert));

    // systemd-dissect 257's view of the same image: a signed verity root partition whose UUID is
    // the first half of extwatch's root hash.
    let (dbin, dbind) = extwatch_testsupport::runner::systemd_dissect(&s.env);
    let o = trixie_exec(
        &s.env.trixie,
        &[&dbind, s.signed.parent().unwrap()],
        &[
            dbin.to_string_lossy().into_owned(),
            "--json=short".into(),
            s.signed.to_string_lossy().into_owned(),
        ],
    )
    .unwrap();
    let dj: Value = serde_json::from_slice(&o.stdout).unwrap_or_else(|e| {
        panic!(
            "systemd-dissect --json=short: {e}: {}",
            String::from_utf8_lossy(&o.stderr)
        )
    });
    let root_mount = dj["mounts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["designator"] == "root")
        .unwrap_or_else(|| panic!("no root partition in {dj:#}"));
    assert_eq!(root_mount["verity"], "signed", "{dj:#}");
    assert_eq!(
        root_mount["partition_uuid"]
            .as_str()
            .unwrap()
            .replace('-', ""),
        root_hash[..32]
    );

    // systemd 257's own userspace verdict, with the certificate in the running system's verity.d.
    let root = root_with_signed(&s, "root", &[]);
    let vd = cert_dir(&s.dir, "verityd", &s.cert, "test.crt");
    let log = systemd_merge_log(&s, &vd, &root);
    assert!(
        log.contains("Userspace PKCS#7 validation succeeded"),
        "systemd did not validate the signature:\n{log}"
    );
    // With another certificate there, systemd's userspace check fails — and so does extwatch's
    // judgement with that certificate as the host's verity.d.
    let stranger_crt = self_signed(&s.dir, "stranger");
    let vd2 = cert_dir(&s.dir, "verityd2", &stranger_crt, "stranger.crt");
    let log2 = systemd_merge_log(&s, &vd2, &root);
    assert!(
        log2.contains("Userspace PKCS#7 validation failed"),
        "systemd accepted a signature from an unlisted key:\n{log2}"
    );
    let stranger_root = root_with_signed(&s, "stranger-root", &[(&stranger_crt, "stranger.crt")]);
    let a2 = audit(&stranger_root, &[]);
    assert_eq!(
        a2.images[0].signature.host_status,
        Some(SignatureStatus::Untrusted)
    );
    assert_ne!(a2.images[0].signature.status, SignatureStatus::Valid);
    // And extwatch, auditing the same root with the certificate in the root's verity.d.
    fs::create_dir_all(root.join("etc/verity.d")).unwrap();
    fs::copy(&s.cert, root.join("etc/verity.d/test.crt")).unwrap();
    let a = audit(&root, &["--deep"]);
    let img = &a.images[0];
    assert_eq!(img.signature.status, SignatureStatus::Valid);
    assert_eq!(img.signature.host_status, Some(SignatureStatus::Valid));
    assert_eq!(img.verity.source, VeritySource::SigPartition);
    assert_eq!(img.verity.verified, Some(true));
    let ids: Vec<&str> = a.findings.iter().map(|f| f.id.as_str()).collect();
    assert!(!ids.contains(&"extension-unsigned"), "{ids:?}");
    assert!(!ids.contains(&"extension-signature-invalid"), "{ids:?}");
    assert!(ids.contains(&"policy-allows-unsigned"), "{ids:?}");
}

#[test]
fn negative_cases_are_each_detected() {
    let Some(s) = setup("negative_cases_are_each_detected") else {
        return;
    };
    let copy = |name: &str| {
        let p = s.dir.join(name);
        fs::copy(&s.signed, &p).unwrap();
        p
    };
    // 1. Signed by an untrusted key.
    let other = self_signed(&s.dir, "other");
    let (code, v) = verify_json(&s.signed, Some(&other));
    assert_eq!(code, Some(1));
    assert_eq!(v.signature.status, SignatureStatus::Untrusted, "{v:#?}");

    // 2. Certificate only as .pem in the host's verity.d: systemd ignores it.
    let root = root_with_signed(&s, "pemroot", &[(&s.cert, "test.pem")]);
    let a = audit(&root, &[]);
    let f = &a.findings;
    assert!(
        f.iter()
            .any(|f| f.id == "trust-store-ignored-files" && f.subject == "/etc/verity.d/test.pem"),
        "{f:#?}"
    );
    assert!(
        f.iter()
            .any(|f| f.id == "extension-signature-invalid" && f.subject == "signed"),
        "{f:#?}"
    );
    // The same root with --trust: the operator's certificate decides, host disagreement is reported.
    let a = audit(&root, &["--trust", s.cert.to_str().unwrap()]);
    assert_eq!(a.images[0].signature.status, SignatureStatus::Valid);
    assert_eq!(
        a.images[0].signature.host_status,
        Some(SignatureStatus::Untrusted)
    );
    // Host accepts what the operator rejects: an attacker's certificate in verity.d.
    fs::copy(&s.cert, root.join("etc/verity.d/attacker.crt")).unwrap();
    let a = audit(&root, &["--trust", other.to_str().unwrap()]);
    let f = &a.findings;
    assert!(
        f.iter().any(|f| f.id == "extension-signature-invalid"
            && f.message.contains("accepted by the host's verity.d")),
        "{f:#?}"
    );

    // 3. Signature over another root hash: rewrite rootHash in the JSON (same length).
    let (sigp, j) = sig_json(&s.signed);
    let rh = j["rootHash"].as_str().unwrap().to_string();
    let fake: String = rh.chars().rev().collect();
    let img = copy("otherhash.raw");
    let text = serde_json::to_string(&serde_json::json!({"rootHash": fake, "certificateFingerprint": j["certificateFingerprint"], "signature": j["signature"]})).unwrap();
    let mut padded = text.into_bytes();
    padded.resize(sigp.size as usize, 0);
    patch(&img, sigp.start, &padded);
    let (code, v) = verify_json(&img, Some(&s.cert));
    assert_eq!(code, Some(1));
    assert_eq!(v.signature.status, SignatureStatus::Invalid, "{v:#?}");
    // ... which also disagrees with the partition UUIDs and the recomputed tree.
    let problems = &v.verity.problems;
    assert!(
        problems.iter().any(|p| p.contains("partition-uuid")),
        "{problems:?}"
    );

    // 4. One flipped byte in the data partition.
    let parts = partitions(&s.signed);
    let data = parts.iter().find(|p| p.ty == ROOT_X86_64).unwrap().clone();
    let hash = parts.iter().find(|p| p.ty == ROOT_VERITY).unwrap().clone();
    let img = copy("dataflip.raw");
    let orig = fs::read(&img).unwrap()[(data.start + 8192) as usize];
    patch(&img, data.start + 8192, &[orig ^ 0x01]);
    let (code, v) = verify_json(&img, Some(&s.cert));
    assert_eq!(code, Some(1));
    assert_eq!(v.verity.verified, Some(false));
    assert_eq!(
        v.signature.status,
        SignatureStatus::Valid,
        "the signature itself is intact"
    );

    // 5. One flipped byte in the hash partition (inside the tree, not the superblock).
    let img = copy("hashflip.raw");
    let off = hash.start + 4096 + 17;
    let orig = fs::read(&img).unwrap()[off as usize];
    patch(&img, off, &[orig ^ 0x80]);
    let (code, v) = verify_json(&img, Some(&s.cert));
    assert_eq!(code, Some(1));
    assert_eq!(v.verity.verified, Some(false), "{v:#?}");
    assert!(v
        .verity
        .problems
        .iter()
        .any(|p| p.contains("stored hash block")));

    // 6. Truncated signature partition content and non-NUL padding.
    let img = copy("sigtrunc.raw");
    patch(&img, sigp.start + 10, &vec![0u8; (sigp.size - 10) as usize]);
    let (code, v) = verify_json(&img, Some(&s.cert));
    assert_eq!(code, Some(1));
    assert_eq!(v.signature.status, SignatureStatus::Invalid);
    assert!(
        v.signature
            .reason
            .as_deref()
            .unwrap()
            .contains("Failed to parse signature JSON"),
        "{v:#?}"
    );
    let img = copy("signul.raw");
    patch(&img, sigp.start + sigp.size - 1, b"x");
    let (_, v) = verify_json(&img, Some(&s.cert));
    assert_eq!(
        v.signature.reason.as_deref(),
        Some("Signature data contains embedded NUL byte.")
    );
    // An oversized signature partition: the last partition grown to 5 MiB with sfdisk (JSON, then
    // NUL padding, so only the size is wrong). systemd refuses anything over 4 MiB unread.
    let img = copy("sigbig.raw");
    let parts = partitions(&img);
    let last = parts.len();
    assert_eq!(parts[last - 1].ty, ROOT_VERITY_SIG, "{parts:?}");
    let (ok, out) = sh(&format!(
        "truncate -s +6M {i} && sfdisk -q --relocate gpt-bak-std {i} && echo ',5M' | sfdisk -q --no-reread -N {last} {i}",
        i = img.display()
    ));
    assert!(ok, "sfdisk: {out}");
    let grown = partitions(&img);
    assert_eq!(grown[last - 1].size, 5 << 20);
    assert_eq!(grown[last - 1].start, sigp.start);
    let (code, v) = verify_json(&img, Some(&s.cert));
    assert_eq!(code, Some(1), "{v:#?}");
    assert_eq!(v.signature.status, SignatureStatus::Invalid, "{v:#?}");
    assert_eq!(
        v.signature.reason.as_deref(),
        Some("Verity signature partition is larger than 4M, refusing.")
    );

    // 7. Without --deep an audit does not read the data, but still checks the signature.
    let _ = &s.fx;
}

#[test]
fn sidecar_images_match_veritysetup_and_openssl() {
    let Some(s) = setup("sidecar_images_match_veritysetup_and_openssl") else {
        return;
    };
    let sq = s.fx.build(&image(), Format::Squashfs("zstd")).unwrap();
    let img = s.dir.join("side.raw");
    fs::copy(&sq, &img).unwrap();
    let verity = s.dir.join("side.verity");
    let (ok, out) = sh(&format!(
        "veritysetup format {} {}",
        img.display(),
        verity.display()
    ));
    assert!(ok, "{out}");
    let rh = out
        .lines()
        .find_map(|l| l.strip_prefix("Root hash:"))
        .unwrap()
        .trim()
        .to_string();
    fs::write(s.dir.join("side.roothash"), format!("{rh}\n")).unwrap();
    fs::write(s.dir.join("rh.txt"), &rh).unwrap();
    let (key, cert) = s.fx.signing_key().unwrap();
    let p7s = s.dir.join("side.roothash.p7s");
    smime_sign(&s.dir.join("rh.txt"), &key, &cert, &p7s);
    let (code, v) = verify_json(&img, Some(&cert));
    assert_eq!(code, Some(0), "{v:#?}");
    assert_eq!(v.verity.source, VeritySource::Sidecar);
    assert_eq!(v.verity.recomputed.as_deref(), Some(rh.as_str()));
    assert_eq!(v.signature.source.as_deref(), Some("sidecar"));
    assert_eq!(v.signature.status, SignatureStatus::Valid);
    // veritysetup dump agrees on the parameters we used.
    let (ok, dump) = sh(&format!("veritysetup dump {}", verity.display()));
    assert!(ok && dump.contains("sha256"), "{dump}");
    // The recomputed root hash identifies the content: no whole-file hash unless asked for, and
    // then the one sha256sum computes. Without side-cars the file hash is the only identity.
    assert_eq!(v.sha256, None, "{v:#?}");
    let (_, want) = sh(&format!("sha256sum {}", img.display()));
    let want = want.split_whitespace().next().unwrap().to_string();
    let (code, v2) = verify_one(&[
        "verify",
        "--sha256",
        "--trust",
        cert.to_str().unwrap(),
        "--format",
        "json",
        img.to_str().unwrap(),
    ]);
    assert_eq!(code, Some(0), "{v2:#?}");
    assert_eq!(v2.sha256.as_deref(), Some(want.as_str()));
    assert_eq!(v2.verity.recomputed.as_deref(), Some(rh.as_str()));
    let (_, plain) = verify_json(&sq, None);
    assert_eq!(plain.verity.recomputed, None, "{plain:#?}");
    let (_, want_plain) = sh(&format!("sha256sum {}", sq.display()));
    assert_eq!(
        plain.sha256.as_deref(),
        want_plain.split_whitespace().next()
    );

    // A signature over another root hash: openssl and extwatch both reject it.
    fs::write(s.dir.join("wrong.txt"), "f".repeat(64)).unwrap();
    smime_sign(&s.dir.join("wrong.txt"), &key, &cert, &p7s);
    let (code, v) = verify_json(&img, Some(&cert));
    assert_eq!(code, Some(1));
    assert_eq!(v.signature.status, SignatureStatus::Invalid);
    assert!(
        !smime_verify(&p7s, &s.dir.join("rh.txt"), &cert),
        "openssl must reject it too"
    );
}
