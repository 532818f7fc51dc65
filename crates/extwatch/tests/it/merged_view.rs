//! The merged view extwatch computes must equal what the kernel shows after a **real** merge by
//! systemd 257: every path, type, mode and content hash of /usr and /etc, for several images shipping
//! the same path, whiteouts and opaque directories, directory, squashfs, erofs and DDI images, and a
//! confext over /etc. Also the content findings on the same root.

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

use extwatch_testsupport::fixtures::{DdiVerity, Fixtures, Format, Image, PartType, RootBuilder};
use extwatch_testsupport::runner::{run_systemd, Class, Systemd};
use extwatch_testsupport::Env;
use serde_json::Value;

fn sh(cmd: &str) {
    let o = Command::new("sh").arg("-c").arg(cmd).output().unwrap();
    assert!(
        o.status.success(),
        "{cmd}: {}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
}

fn write(p: &Path, s: &str, mode: u32) {
    fs::create_dir_all(p.parent().unwrap()).unwrap();
    fs::write(p, s).unwrap();
    fs::set_permissions(p, fs::Permissions::from_mode(mode)).unwrap();
}

/// A sysext tree with a whiteout and an opaque directory (made by hand: the fixture builder has no
/// such entries), packed with the host's mksquashfs.
fn tree_with_whiteouts(dir: &Path) {
    write(
        &dir.join("usr/lib/extension-release.d/extension-release.zz-wo"),
        "ID=debian\nVERSION_ID=13\n",
        0o644,
    );
    // Delete the base's /usr/share/doc/gone.txt and make /usr/share/opaque empty but for one file.
    fs::create_dir_all(dir.join("usr/share/doc")).unwrap();
    sh(&format!(
        "mknod {} c 0 0",
        dir.join("usr/share/doc/gone.txt").display()
    ));
    write(&dir.join("usr/share/opaque/only.txt"), "only\n", 0o644);
    sh(&format!(
        "setfattr -n trusted.overlay.opaque -v y {}",
        dir.join("usr/share/opaque").display()
    ));
}

fn manifest_from_kernel(text: &str) -> BTreeMap<String, (String, String, Option<String>)> {
    // Lines: TYPE<TAB>MODE<TAB>PATH[<TAB>SHA256]
    text.lines()
        .filter(|l| !l.is_empty())
        .map(|l| {
            let f: Vec<&str> = l.splitn(4, '\t').collect();
            let sha = f.get(3).map(|s| s.to_string());
            (f[2].to_string(), (f[0].to_string(), f[1].to_string(), sha))
        })
        .collect()
}

#[test]
fn computed_merged_view_equals_the_kernels() {
    let Some(env) = Env::detect_or_skip("computed_merged_view_equals_the_kernels") else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let fx = Fixtures::new(&env.trixie, &tmp.path().join("cache")).unwrap();
    let root = tmp.path().join("root");
    let rb = RootBuilder::new(&root).unwrap();
    rb.os_release("ID=debian\nVERSION_ID=13\n").unwrap();
    // The base.
    rb.file("/usr/bin/tool", "base tool\n").unwrap();
    rb.file("/usr/bin/keep", "base keep\n").unwrap();
    rb.file("/usr/share/doc/gone.txt", "to be whited out\n")
        .unwrap();
    rb.file("/usr/share/opaque/hidden.txt", "hidden by opaque\n")
        .unwrap();
    rb.file("/etc/pam.d/sshd", "base pam\n").unwrap();
    rb.file("/etc/hostname", "base\n").unwrap();
    // Images: two ship /usr/bin/tool (the higher name wins), one adds a setuid file, a unit, etc.
    let a = Image::sysext()
        .release("aa-dir", "ID=debian\nVERSION_ID=13\n")
        .file("usr/bin/tool", "tool from aa-dir\n")
        .file("usr/bin/newcmd", "#!/bin/sh\n");
    let b = Image::sysext()
        .release("bb-sq", "ID=debian\nVERSION_ID=13\n")
        .file("usr/bin/tool", "tool from bb-sq\n")
        .file(
            "usr/lib/systemd/system/evil.service",
            "[Service]\nExecStart=/usr/bin/newcmd\n",
        );
    let c = Image::sysext()
        .release("cc-erofs", "ID=debian\nVERSION_ID=13\n")
        .file("usr/share/cc/data", "erofs data\n");
    let d = Image::sysext()
        .release("dd-ddi", "ID=debian\nVERSION_ID=13\n")
        .file("usr/share/dd/data", "ddi data\n");
    rb.image(&fx, "/var/lib/extensions/aa-dir", &a, Format::Directory)
        .unwrap();
    rb.image(
        &fx,
        "/var/lib/extensions/bb-sq.raw",
        &b,
        Format::Squashfs("gzip"),
    )
    .unwrap();
    rb.image(
        &fx,
        "/var/lib/extensions/cc-erofs.raw",
        &c,
        Format::Erofs(Some("lz4")),
    )
    .unwrap();
    rb.image(
        &fx,
        "/var/lib/extensions/dd-ddi.raw",
        &d,
        Format::Ddi {
            part: PartType::RootX86_64,
            erofs: false,
            verity: DdiVerity::None,
        },
    )
    .unwrap();
    // Make a binary setuid in the directory image (mode survives as-is).
    let newcmd = rb.p("/var/lib/extensions/aa-dir/usr/bin/newcmd");
    fs::set_permissions(&newcmd, fs::Permissions::from_mode(0o4755)).unwrap();
    let wo = tmp.path().join("wo-tree");
    tree_with_whiteouts(&wo);
    sh(&format!(
        "mksquashfs {} {} -quiet -noappend -no-progress -all-root",
        wo.display(),
        rb.p("/var/lib/extensions/zz-wo.raw").display()
    ));
    // A confext over /etc replacing a PAM file and adding sudoers.
    let conf = Image::confext()
        .release("conf", "ID=debian\nVERSION_ID=13\n")
        .file("etc/pam.d/sshd", "auth sufficient pam_permit.so\n")
        .file("etc/sudoers.d/99-backdoor", "ALL ALL=(ALL) NOPASSWD: ALL\n");
    rb.image(
        &fx,
        "/var/lib/confexts/conf.raw",
        &conf,
        Format::Squashfs("xz"),
    )
    .unwrap();

    let baseline = tmp.path().join("baseline.json");
    let report = tmp.path().join("report.json");
    let kernel = tmp.path().join("kernel.txt");
    let script = format!(
        "{bin} audit --root {r} --format json --baseline {b} --fail-on none > {rep}; rc=$?; \
         cd {r} && for h in usr etc; do find $h -path '*/.systemd-*' -prune -o -printf '%y\\t%m\\t/%p\\n' ; done > {k}.list; \
         while IFS=\"$(printf '\\t')\" read -r t m p; do if [ \"$t\" = f ]; then printf '%s\\t%s\\t%s\\t%s\\n' \"$t\" \"$m\" \"$p\" \"$(sha256sum < \".$p\" | cut -d' ' -f1)\"; else printf '%s\\t%s\\t%s\\n' \"$t\" \"$m\" \"$p\"; fi; done < {k}.list > {k}; exit $rc",
        bin = env!("CARGO_BIN_EXE_extwatch"),
        r = root.display(),
        b = baseline.display(),
        rep = report.display(),
        k = kernel.display()
    );
    let cap = run_systemd(
        &Systemd::Trixie(env.trixie.clone()),
        &root,
        &[Class::Sysext, Class::Confext],
        Some(&["sh".to_string(), "-c".to_string(), script]),
        &tmp.path().join("work"),
    )
    .unwrap();
    let after = cap.after.as_ref().expect("after ran");
    assert_eq!(
        after.rc, 0,
        "extwatch/walk failed: {}\n{}",
        after.stderr, cap.setup_log
    );
    let sys = cap.class(Class::Sysext).unwrap();
    assert!(
        sys.merge_log.contains("Merged extensions into"),
        "systemd did not merge: {}",
        sys.merge_log
    );

    let k = manifest_from_kernel(&fs::read_to_string(&kernel).unwrap());
    let b: Value = serde_json::from_slice(&fs::read(&baseline).unwrap()).unwrap();
    assert_eq!(b["schema"], "extwatch/v1-baseline");
    let mut ours: BTreeMap<String, (String, String, Option<String>)> = BTreeMap::new();
    let mut layer_of: BTreeMap<String, String> = BTreeMap::new();
    for h in b["hierarchies"].as_array().unwrap() {
        assert_eq!(h["merged"], true, "{}", h["hierarchy"]);
        for e in h["merged_view"].as_array().unwrap() {
            let p = e["path"].as_str().unwrap().to_string();
            let t = match e["type"].as_str().unwrap() {
                "file" => "f",
                "dir" => "d",
                "symlink" => "l",
                "char" => "c",
                "block" => "b",
                "fifo" => "p",
                _ => "s",
            };
            let mode = format!(
                "{:o}",
                u32::from_str_radix(e["mode"].as_str().unwrap(), 8).unwrap()
            );
            ours.insert(
                p.clone(),
                (t.into(), mode, e["sha256"].as_str().map(str::to_string)),
            );
            layer_of.insert(p, e["layer"].as_str().unwrap_or("").to_string());
        }
    }
    // The kernel's root directories of the hierarchies are the meta layer's; compare below them.
    let strip = |m: &mut BTreeMap<String, (String, String, Option<String>)>| {
        m.remove("/usr");
        m.remove("/etc");
    };
    let mut k2 = k.clone();
    strip(&mut k2);
    strip(&mut ours);
    let only_kernel: Vec<_> = k2.keys().filter(|p| !ours.contains_key(*p)).collect();
    let only_ours: Vec<_> = ours.keys().filter(|p| !k2.contains_key(*p)).collect();
    assert!(
        only_kernel.is_empty() && only_ours.is_empty(),
        "paths differ: kernel only {only_kernel:?}, extwatch only {only_ours:?}"
    );
    for (p, v) in &k2 {
        assert_eq!(Some(v), ours.get(p), "{p} differs (type, mode, sha256)");
    }
    // Provenance of the interesting paths.
    assert_eq!(layer_of["/usr/bin/tool"], "bb-sq");
    assert_eq!(layer_of["/usr/bin/keep"], "base");
    assert_eq!(layer_of["/usr/share/opaque/only.txt"], "zz-wo");
    assert!(!ours.contains_key("/usr/share/doc/gone.txt"));
    assert!(!ours.contains_key("/usr/share/opaque/hidden.txt"));
    assert_eq!(layer_of["/etc/pam.d/sshd"], "conf");
    assert_eq!(layer_of["/usr/share/dd/data"], "dd-ddi");
    assert_eq!(layer_of["/usr/share/cc/data"], "cc-erofs");

    // Findings on the same, merged root.
    let r: Value = serde_json::from_slice(&fs::read(&report).unwrap()).unwrap();
    let has = |id: &str, subject: &str, needle: &str| {
        r["findings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["id"] == id && f["subject"] == subject && f.to_string().contains(needle))
    };
    for (id, subject, needle) in [
        ("extension-shadows-base", "aa-dir", "/usr/bin/tool"),
        ("extension-shadows-base", "bb-sq", "/usr/bin/tool"),
        ("extension-overrides-extension", "bb-sq", "aa-dir"),
        ("extension-adds-executable", "aa-dir", "/usr/bin/newcmd"),
        ("extension-setuid", "aa-dir", "/usr/bin/newcmd"),
        ("extension-adds-unit", "bb-sq", "evil.service"),
        ("confext-sensitive-config", "conf", "\"category\":\"pam\""),
        (
            "confext-sensitive-config",
            "conf",
            "\"category\":\"sudoers\"",
        ),
    ] {
        assert!(
            has(id, subject, needle),
            "{id} on {subject} mentioning {needle}"
        );
    }
    let sha_base = r["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["id"] == "extension-shadows-base" && f["subject"] == "conf")
        .map(|f| f["evidence"]["below_sha256"].clone())
        .unwrap();
    // The base's PAM file hash, read from beneath the overlay.
    let expect = {
        use sha2::Digest;
        hex::encode(sha2::Sha256::digest(b"base pam\n"))
    };
    assert_eq!(sha_base, Value::String(expect));
}
