//! Image readers against images built at test time by the real tools (mksquashfs, mkfs.erofs, sfdisk),
//! plus hostile inputs: truncations, deterministic byte flips, crafted GPTs. Run as root (setfattr on
//! `trusted.`/`security.` and setcap need it).
// Test code: its helpers may unwrap, expect, panic and index (clippy.toml allows that only
// inside #[test] functions; a failure here should stop loudly).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::collections::BTreeMap;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, OnceLock};

use extwatch_formats::ddi::{self, crc32, PartitionRole};
use extwatch_formats::{open_image, EntryKind, FsError, FsReader, RawFormat, ReadAt};
use extwatch_testsupport::rng::XorShift;

const ROOT_X86_64: &str = "4f68bce3-e8cd-4db1-96e7-fbcaf984b709";
const LINUX_GENERIC: &str = "0fc63daf-8483-4772-8e79-3d69d8477de4";

fn run(cmd: &mut Command) -> bool {
    match cmd.output() {
        Ok(o) if o.status.success() => true,
        Ok(o) => {
            eprintln!(
                "{:?} failed: {}{}",
                cmd,
                String::from_utf8_lossy(&o.stdout),
                String::from_utf8_lossy(&o.stderr)
            );
            false
        }
        Err(e) => {
            eprintln!("{cmd:?}: {e}");
            false
        }
    }
}

struct Fixture {
    _dir: tempfile::TempDir,
    tree: PathBuf,
    out: PathBuf,
}

fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let dir = tempfile::tempdir().expect("tempdir");
        let tree = dir.path().join("tree");
        let out = dir.path().join("out");
        std::fs::create_dir_all(&out).unwrap();
        let rel = tree.join("usr/lib/extension-release.d");
        std::fs::create_dir_all(&rel).unwrap();
        std::fs::create_dir_all(tree.join("usr/bin")).unwrap();
        std::fs::create_dir_all(tree.join("usr/share/empty")).unwrap();
        std::fs::create_dir_all(tree.join("etc")).unwrap();
        let release = rel.join("extension-release.foo");
        std::fs::write(&release, "ID=_any\nSYSEXT_LEVEL=1\n").unwrap();
        let mut rng = XorShift(0x1234_5678_9abc_def1);
        let big: Vec<u8> = (0..300_000)
            .map(|_| (rng.next_u64() % 7) as u8 + b'a')
            .collect();
        let hello = tree.join("usr/bin/hello");
        std::fs::write(&hello, &big).unwrap();
        std::fs::set_permissions(&hello, std::fs::Permissions::from_mode(0o755)).unwrap();
        let suid = tree.join("usr/bin/suid");
        std::fs::write(&suid, b"#!/bin/sh\necho root\n").unwrap();
        // chown clears setuid, so chmod afterwards.
        std::os::unix::fs::chown(&suid, Some(1234), Some(5678)).unwrap();
        std::fs::set_permissions(&suid, std::fs::Permissions::from_mode(0o4755)).unwrap();
        std::os::unix::fs::symlink("hello", tree.join("usr/bin/link")).unwrap();
        std::os::unix::fs::symlink(
            "/usr/lib/extension-release.d/extension-release.foo",
            tree.join("etc/abs-link"),
        )
        .unwrap();
        std::fs::write(tree.join("etc/other.conf"), b"x=1\n").unwrap();
        let long = "v".repeat(3000);
        for (p, n, v) in [
            (&release, "user.extension-release.strict", "0"),
            (
                &tree.join("etc/other.conf"),
                "user.extension-release.strict",
                "0",
            ),
            (&tree.join("etc/other.conf"), "user.long", long.as_str()),
            (&suid, "user.long", long.as_str()),
            (&suid, "trusted.overlay.opaque", "y"),
        ] {
            assert!(run(Command::new("setfattr")
                .arg("-n")
                .arg(n)
                .arg("-v")
                .arg(v)
                .arg(p)));
        }
        // Directory xattr.
        assert!(run(Command::new("setfattr")
            .args(["-n", "user.dir", "-v", "d"])
            .arg(tree.join("usr/share/empty"))));
        if !run(Command::new("setcap").arg("cap_net_raw=ep").arg(&hello)) {
            // security.capability v2 for cap_net_raw=ep written raw.
            assert!(run(Command::new("setfattr")
                .args([
                    "-n",
                    "security.capability",
                    "-v",
                    "0x0000000200200000000000000000000000000000"
                ])
                .arg(&hello)));
        }
        Fixture {
            _dir: dir,
            tree,
            out,
        }
    })
}

fn squashfs_compressors() -> Vec<String> {
    let o = Command::new("mksquashfs").arg("-help").output();
    let text = match o {
        Ok(o) => format!(
            "{}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        ),
        Err(_) => return Vec::new(),
    };
    let mut out = Vec::new();
    let mut on = false;
    for line in text.lines() {
        if line.starts_with("Compressors available") {
            on = true;
            continue;
        }
        if on && line.starts_with('\t') && !line.starts_with("\t\t") && !line.starts_with("\t  ") {
            if let Some(name) = line.split_whitespace().next() {
                out.push(name.to_string());
            }
        }
    }
    out
}

/// Image builders run one at a time (tests run in parallel and share the output directory).
static BUILD: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn make_squashfs(comp: &str) -> Option<PathBuf> {
    let f = fixture();
    let _g = BUILD.lock().unwrap_or_else(|e| e.into_inner());
    let img = f.out.join(format!("sq-{comp}.raw"));
    if img.exists() {
        return Some(img);
    }
    let tmp = f.out.join(format!("sq-{comp}.tmp"));
    let ok = run(Command::new("mksquashfs").arg(&f.tree).arg(&tmp).args([
        "-comp",
        comp,
        "-noappend",
        "-quiet",
        "-no-progress",
        "-xattrs",
    ]));
    if !ok {
        return None;
    }
    std::fs::rename(&tmp, &img).ok()?;
    Some(img)
}

fn make_erofs(comp: Option<&str>) -> Option<PathBuf> {
    let f = fixture();
    let _g = BUILD.lock().unwrap_or_else(|e| e.into_inner());
    let name = comp.unwrap_or("plain");
    let img = f.out.join(format!("erofs-{name}.raw"));
    if img.exists() {
        return Some(img);
    }
    let tmp = f.out.join(format!("erofs-{name}.tmp"));
    let mut cmd = Command::new("mkfs.erofs");
    cmd.arg("--quiet");
    if let Some(c) = comp {
        cmd.arg(format!("-z{c}"));
    }
    cmd.arg(&tmp).arg(&f.tree);
    if !run(&mut cmd) {
        return None;
    }
    std::fs::rename(&tmp, &img).ok()?;
    Some(img)
}

fn load(path: &Path) -> Arc<dyn ReadAt> {
    Arc::new(std::fs::File::open(path).expect("open image"))
}

fn getfattr(path: &Path) -> BTreeMap<Vec<u8>, Vec<u8>> {
    let o = Command::new("getfattr")
        .args(["--absolute-names", "-h", "-d", "-m", "-", "-e", "hex"])
        .arg(path)
        .output()
        .expect("getfattr");
    let mut m = BTreeMap::new();
    for line in String::from_utf8_lossy(&o.stdout).lines() {
        if let Some((k, v)) = line.split_once('=') {
            let v = v.trim_start_matches("0x");
            m.insert(k.as_bytes().to_vec(), hex::decode(v).unwrap_or_default());
        }
    }
    m
}

/// Compares everything the reader says against the source tree.
fn compare_tree(fs: &dyn FsReader, label: &str, check_mtime: bool) {
    let f = fixture();
    let mut stack = vec![(f.tree.clone(), b"/".to_vec())];
    let mut seen = 0;
    while let Some((host, img)) = stack.pop() {
        let mut host_names: Vec<Vec<u8>> = std::fs::read_dir(&host)
            .unwrap()
            .map(|e| {
                use std::os::unix::ffi::OsStrExt;
                e.unwrap().file_name().as_bytes().to_vec()
            })
            .collect();
        host_names.sort();
        let listing = fs
            .read_dir(&img)
            .unwrap_or_else(|e| panic!("{label}: read_dir: {e}"));
        let mut names: Vec<Vec<u8>> = listing.iter().map(|(n, _)| n.clone()).collect();
        names.sort();
        assert_eq!(
            names,
            host_names,
            "{label}: listing of {}",
            String::from_utf8_lossy(&img)
        );
        for (name, entry) in listing {
            seen += 1;
            let hp = host.join(std::ffi::OsStr::new(
                &String::from_utf8(name.clone()).unwrap(),
            ));
            let mut ip = if img == b"/" { Vec::new() } else { img.clone() };
            ip.push(b'/');
            ip.extend_from_slice(&name);
            let what = format!("{label}: {}", String::from_utf8_lossy(&ip));
            let md = std::fs::symlink_metadata(&hp).unwrap();
            let st = fs
                .stat(&ip)
                .unwrap()
                .unwrap_or_else(|| panic!("{what}: stat None"));
            assert_eq!(st, entry, "{what}: stat vs read_dir");
            assert_eq!(st.mode, md.mode() & 0o7777, "{what}: mode");
            assert_eq!(st.uid, md.uid(), "{what}: uid");
            assert_eq!(st.gid, md.gid(), "{what}: gid");
            if check_mtime {
                assert_eq!(st.mtime, md.mtime(), "{what}: mtime");
            }
            let ft = md.file_type();
            if ft.is_dir() {
                assert_eq!(st.kind, EntryKind::Dir, "{what}");
                stack.push((hp.clone(), ip.clone()));
            } else if ft.is_symlink() {
                assert_eq!(st.kind, EntryKind::Symlink, "{what}");
                let target = std::fs::read_link(&hp).unwrap();
                use std::os::unix::ffi::OsStrExt;
                assert_eq!(
                    fs.read_link(&ip).unwrap(),
                    target.as_os_str().as_bytes(),
                    "{what}"
                );
                assert_eq!(
                    st.size,
                    target.as_os_str().len() as u64,
                    "{what}: link size"
                );
                assert!(matches!(
                    fs.read_file(&ip, 1 << 20),
                    Err(FsError::WrongType(_))
                ));
            } else {
                assert_eq!(st.kind, EntryKind::File, "{what}");
                let data = std::fs::read(&hp).unwrap();
                assert_eq!(st.size, data.len() as u64, "{what}: size");
                assert_eq!(fs.read_file(&ip, 1 << 24).unwrap(), data, "{what}: content");
                if !data.is_empty() {
                    assert!(matches!(
                        fs.read_file(&ip, data.len() as u64 - 1),
                        Err(FsError::TooLarge { .. })
                    ));
                }
            }
            let want = getfattr(&hp);
            let got: BTreeMap<Vec<u8>, Vec<u8>> = fs
                .xattrs(&ip)
                .unwrap_or_else(|e| panic!("{what}: xattrs: {e}"))
                .into_iter()
                .collect();
            assert_eq!(got, want, "{what}: xattrs");
        }
    }
    assert!(seen >= 12, "{label}: walked only {seen} entries");
    // Spot checks.
    let rel = b"/usr/lib/extension-release.d/extension-release.foo";
    assert_eq!(
        fs.xattr(rel, b"user.extension-release.strict").unwrap(),
        Some(b"0".to_vec()),
        "{label}"
    );
    let cap = fs.xattr(b"/usr/bin/hello", b"security.capability").unwrap();
    assert!(cap.is_some(), "{label}: security.capability missing");
    assert_eq!(fs.stat(b"/usr/bin/suid").unwrap().unwrap().mode, 0o4755);
    assert_eq!(fs.stat(b"/nope").unwrap(), None);
    assert_eq!(fs.stat(b"/").unwrap().unwrap().kind, EntryKind::Dir);
    assert!(fs.read_dir(b"/usr/bin/hello").is_err());
    assert!(fs.read_link(b"/usr/bin/hello").is_err());
    assert!(matches!(
        fs.read_file(b"/nope", 10),
        Err(FsError::NotFound(_))
    ));
}

#[test]
fn squashfs_every_compressor() {
    let comps = squashfs_compressors();
    assert!(
        !comps.is_empty(),
        "mksquashfs not found or lists no compressors"
    );
    for c in &comps {
        let img = make_squashfs(c).unwrap_or_else(|| panic!("mksquashfs -comp {c} failed"));
        let opened = open_image(load(&img), "x86-64").unwrap_or_else(|e| panic!("{c}: {e}"));
        assert_eq!(opened.format, RawFormat::Squashfs);
        assert_eq!(opened.fstype, "squashfs");
        compare_tree(&*opened.fs, &format!("squashfs-{c}"), true);
        eprintln!("squashfs {c}: ok");
    }
}

fn erofs_compressors() -> Vec<Option<&'static str>> {
    vec![
        None,
        Some("lz4"),
        Some("lz4hc"),
        Some("lzma"),
        Some("deflate"),
        Some("zstd"),
    ]
}

#[test]
fn erofs_every_available_compressor() {
    let mut tested = 0;
    for c in erofs_compressors() {
        let Some(img) = make_erofs(c) else {
            eprintln!("SKIP erofs {c:?}: this host's mkfs.erofs cannot make it");
            continue;
        };
        let opened = open_image(load(&img), "x86-64").unwrap_or_else(|e| panic!("{c:?}: {e}"));
        assert_eq!(opened.format, RawFormat::Erofs);
        assert_eq!(opened.fstype, "erofs");
        compare_tree(&*opened.fs, &format!("erofs-{c:?}"), true);
        eprintln!("erofs {c:?}: ok");
        tested += 1;
    }
    assert!(
        tested >= 1,
        "mkfs.erofs could not build even an uncompressed image"
    );
}

/// Manual check for images a newer toolchain makes (e.g. erofs-utils 1.8 lzma/deflate/zstd): with
/// `$EXTWATCH_EXTRA_IMAGES=DIR`, copies the fixture tree to `DIR/tree`, runs `DIR/build.sh` (which must
/// write `DIR/*.raw` from `DIR/tree`) and compares every image with the tree. No-op when unset.
#[test]
fn extra_images_from_env() {
    let Ok(dir) = std::env::var("EXTWATCH_EXTRA_IMAGES") else {
        return;
    };
    let f = fixture();
    let src = Path::new(&dir).join("tree");
    let _ = std::fs::remove_dir_all(&src);
    assert!(run(Command::new("cp").arg("-a").arg(&f.tree).arg(&src)));
    assert!(run(&mut Command::new(Path::new(&dir).join("build.sh"))));
    for e in std::fs::read_dir(&dir).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "raw") {
            let opened = open_image(load(&p), "x86-64").unwrap_or_else(|e| panic!("{p:?}: {e}"));
            compare_tree(&*opened.fs, &p.display().to_string(), true);
            eprintln!("extra {}: ok", p.display());
        }
    }
}

/// Builds a DDI with sfdisk: one partition of `ptype` holding `fs_image`.
fn make_ddi(fs_image: &Path, ptype: &str, name: &str) -> PathBuf {
    let f = fixture();
    let _g = BUILD.lock().unwrap_or_else(|e| e.into_inner());
    let img = f.out.join(format!("ddi-{name}.raw"));
    let fs_len = std::fs::metadata(fs_image).unwrap().len();
    let sectors = fs_len.div_ceil(512).max(8);
    let total = (2048 + sectors + 2048) * 512;
    let file = std::fs::File::create(&img).unwrap();
    file.set_len(total).unwrap();
    drop(file);
    let script = format!("label: gpt\nstart=2048, size={sectors}, type={ptype}, name=\"{name}\"\n");
    let mut child = Command::new("sfdisk")
        .arg("-q")
        .arg(&img)
        .stdin(std::process::Stdio::piped())
        .spawn()
        .expect("sfdisk");
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(script.as_bytes())
        .unwrap();
    assert!(child.wait().unwrap().success(), "sfdisk failed");
    assert!(run(Command::new("dd")
        .arg(format!("if={}", fs_image.display()))
        .arg(format!("of={}", img.display()))
        .args(["bs=512", "seek=2048", "conv=notrunc", "status=none"])));
    img
}

#[test]
fn ddi_with_squashfs_and_erofs() {
    let sq = make_squashfs("zstd").expect("mksquashfs zstd");
    let er = make_erofs(Some("lz4"))
        .or_else(|| make_erofs(None))
        .expect("mkfs.erofs");
    for (fs_img, ptype, name, fstype) in [
        (&sq, ROOT_X86_64, "root-sq", "squashfs"),
        (&er, LINUX_GENERIC, "generic-erofs", "erofs"),
    ] {
        let img = make_ddi(fs_img, ptype, name);
        let opened = open_image(load(&img), "x86-64").unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(opened.format, RawFormat::Ddi);
        assert_eq!(opened.fstype, fstype);
        let d = opened.ddi.as_ref().unwrap();
        assert_eq!(d.sector_size, 512);
        assert_eq!(d.partitions.len(), 1);
        let p = &d.partitions[0];
        assert_eq!(p.type_guid, ptype);
        assert_eq!(p.label, name);
        assert_eq!(p.first_byte, 2048 * 512);
        assert_eq!(d.chosen, Some(1));
        if ptype == ROOT_X86_64 {
            assert!(matches!(p.role, PartitionRole::Dps { arch: "x86-64", .. }));
        } else {
            assert_eq!(p.role, PartitionRole::LinuxGeneric);
        }
        // Cross-check with gptman on this trusted, tool-made image.
        let mut file = std::fs::File::open(&img).unwrap();
        let g = gptman::GPT::find_from(&mut file).unwrap();
        let (_, gp) = g.iter().find(|(_, p)| p.is_used()).unwrap();
        assert_eq!(gp.starting_lba * 512, p.first_byte);
        assert_eq!(ddi::guid_to_string(&gp.partition_type_guid), p.type_guid);
        assert_eq!(ddi::guid_to_string(&gp.unique_partition_guid), p.uuid);
        compare_tree(&*opened.fs, &format!("ddi-{name}"), true);
        // A root partition of another architecture is not used.
        if ptype == ROOT_X86_64 {
            assert!(matches!(
                open_image(load(&img), "arm64"),
                Err(FsError::NoUsablePartition(_))
            ));
        }
        // Truncated so the partition runs past the end.
        let bytes = std::fs::read(&img).unwrap();
        let cut: Arc<dyn ReadAt> = Arc::new(bytes[..bytes.len() / 2].to_vec());
        let err = open_image(cut, "x86-64").err().expect("must fail");
        assert!(err.to_string().contains("beyond"), "{err}");
    }
}

/// Writes a GPT (protective MBR, header at LBA 1, entries at LBA 2) by hand.
fn craft_gpt(
    ss: u64,
    total_sectors: u64,
    parts: &[(&str, u64, u64, u64, &str)],
    count: u32,
    esize: u32,
) -> Vec<u8> {
    let mut img = vec![0u8; (total_sectors * ss) as usize];
    img[510] = 0x55;
    img[511] = 0xaa;
    let guid_bytes = |s: &str| -> [u8; 16] {
        let h = hex::decode(s.replace('-', "")).unwrap();
        let mut b = [0u8; 16];
        b[0] = h[3];
        b[1] = h[2];
        b[2] = h[1];
        b[3] = h[0];
        b[4] = h[5];
        b[5] = h[4];
        b[6] = h[7];
        b[7] = h[6];
        b[8..].copy_from_slice(&h[8..]);
        b
    };
    let real_esize = esize.clamp(128, 512) as usize;
    let real_count = (count as usize).min(256);
    let mut array = vec![0u8; real_esize * real_count];
    for (i, (ty, first, last, flags, name)) in parts.iter().enumerate() {
        let e = &mut array[i * real_esize..];
        e[0..16].copy_from_slice(&guid_bytes(ty));
        e[16..32].copy_from_slice(&[i as u8 + 1; 16]);
        e[32..40].copy_from_slice(&first.to_le_bytes());
        e[40..48].copy_from_slice(&last.to_le_bytes());
        e[48..56].copy_from_slice(&flags.to_le_bytes());
        for (j, u) in name.encode_utf16().enumerate().take(36) {
            e[56 + 2 * j..58 + 2 * j].copy_from_slice(&u.to_le_bytes());
        }
    }
    let a = 2 * ss as usize;
    let n = array.len().min(img.len() - a);
    img[a..a + n].copy_from_slice(&array[..n]);
    let mut h = vec![0u8; 92];
    h[0..8].copy_from_slice(b"EFI PART");
    h[8..12].copy_from_slice(&0x0001_0000u32.to_le_bytes());
    h[12..16].copy_from_slice(&92u32.to_le_bytes());
    h[24..32].copy_from_slice(&1u64.to_le_bytes());
    h[32..40].copy_from_slice(&(total_sectors - 1).to_le_bytes());
    h[40..48].copy_from_slice(&34u64.to_le_bytes());
    h[48..56].copy_from_slice(&(total_sectors - 34).to_le_bytes());
    h[56..72].copy_from_slice(&[0xab; 16]);
    h[72..80].copy_from_slice(&2u64.to_le_bytes());
    h[80..84].copy_from_slice(&count.to_le_bytes());
    h[84..88].copy_from_slice(&esize.to_le_bytes());
    h[88..92].copy_from_slice(&crc32(&array).to_le_bytes());
    let c = crc32(&h);
    h[16..20].copy_from_slice(&c.to_le_bytes());
    img[ss as usize..ss as usize + 92].copy_from_slice(&h);
    img
}

#[test]
fn ddi_4096_byte_sectors() {
    let sq = std::fs::read(make_squashfs("gzip").expect("mksquashfs")).unwrap();
    let ss = 4096u64;
    let first = 64u64;
    let nsec = (sq.len() as u64).div_ceil(ss);
    let total = first + nsec + 64;
    let mut img = craft_gpt(
        ss,
        total,
        &[(ROOT_X86_64, first, first + nsec - 1, 0, "root")],
        128,
        128,
    );
    img[(first * ss) as usize..(first * ss) as usize + sq.len()].copy_from_slice(&sq);
    // gptman agrees it is a 4096-byte-sector GPT.
    let g = gptman::GPT::find_from(&mut std::io::Cursor::new(img.clone())).unwrap();
    assert_eq!(g.sector_size, 4096);
    let opened = open_image(Arc::new(img), "x86-64").unwrap();
    let d = opened.ddi.as_ref().unwrap();
    assert_eq!(d.sector_size, 4096);
    assert_eq!(d.partitions[0].first_byte, first * ss);
    compare_tree(&*opened.fs, "ddi-4k", true);
}

#[test]
fn ddi_choice_rules() {
    let sq = std::fs::read(make_squashfs("gzip").expect("mksquashfs")).unwrap();
    let nsec = (sq.len() as u64).div_ceil(512);
    let place = |img: &mut Vec<u8>, first: u64| {
        let at = (first * 512) as usize;
        img[at..at + sq.len()].copy_from_slice(&sq);
    };
    let a = 64u64;
    let b = a + nsec + 8;
    let total = b + nsec + 64;
    // Two generic partitions: refused like ENOTUNIQ.
    let mut img = craft_gpt(
        512,
        total,
        &[
            (LINUX_GENERIC, a, a + nsec - 1, 0, "a"),
            (LINUX_GENERIC, b, b + nsec - 1, 0, "b"),
        ],
        128,
        128,
    );
    place(&mut img, a);
    place(&mut img, b);
    let err = open_image(Arc::new(img), "x86-64").err().unwrap();
    assert!(err.to_string().contains("ENOTUNIQ"), "{err}");
    // no-auto root is ignored; the generic one is used.
    let mut img = craft_gpt(
        512,
        total,
        &[
            (ROOT_X86_64, a, a + nsec - 1, 1 << 63, "root"),
            (LINUX_GENERIC, b, b + nsec - 1, 0, "gen"),
        ],
        128,
        128,
    );
    place(&mut img, b);
    let o = open_image(Arc::new(img), "x86-64").unwrap();
    assert_eq!(o.ddi.as_ref().unwrap().chosen, Some(2));
    // Root with paired verity + signature partitions; the signature bytes are readable bounded.
    let usr_v = "77ff5f63-e7b6-4633-acf4-1565b864c0e6";
    let root_v = "2c7357ed-ebd2-46d9-aec1-23d437ec2bf5";
    let root_s = "41092b05-9fc8-4523-994f-2def0408b176";
    let s = b + nsec + 1;
    let mut img = craft_gpt(
        512,
        total + 16,
        &[
            (ROOT_X86_64, a, a + nsec - 1, 0, "root"),
            (usr_v, b, b + 3, 0, "usr-verity"),
            (root_v, b + 4, b + 7, 0, "root-verity"),
            (root_s, s, s + 7, 0, "sig"),
        ],
        128,
        128,
    );
    place(&mut img, a);
    let at = (s * 512) as usize;
    img[at..at + 11].copy_from_slice(b"{\"json\":1}\n");
    let o = open_image(Arc::new(img), "x86-64").unwrap();
    let d = o.ddi.as_ref().unwrap();
    assert_eq!(
        (d.chosen, d.verity, d.verity_sig),
        (Some(1), Some(3), Some(4))
    );
    let sig = ddi::read_partition(d, 4, 4 << 20).unwrap();
    assert_eq!(sig.len(), 8 * 512);
    assert!(sig.starts_with(b"{\"json\":1}"));
    assert!(matches!(
        ddi::read_partition(d, 4, 100),
        Err(FsError::TooLarge { .. })
    ));
    // ext4 in the chosen partition: clear error.
    let mut img = craft_gpt(512, 256, &[(LINUX_GENERIC, 34, 200, 0, "e")], 128, 128);
    img[34 * 512 + 1080] = 0x53;
    img[34 * 512 + 1081] = 0xef;
    let err = open_image(Arc::new(img), "x86-64").err().unwrap();
    assert!(err.to_string().contains("unsupported filesystem"), "{err}");
}

#[test]
fn hostile_gpts() {
    let cases: Vec<Vec<u8>> = vec![
        craft_gpt(512, 64, &[(LINUX_GENERIC, 34, 1 << 40, 0, "far")], 128, 128),
        craft_gpt(
            512,
            64,
            &[(LINUX_GENERIC, u64::MAX / 2, u64::MAX, 0, "x")],
            128,
            128,
        ),
        craft_gpt(
            512,
            64,
            &[(LINUX_GENERIC, 40, 34, 0, "backwards")],
            128,
            128,
        ),
        craft_gpt(512, 64, &[(LINUX_GENERIC, 0, 0, 0, "lba0")], 128, 128),
        craft_gpt(512, 64, &[], u32::MAX, 128),
        craft_gpt(512, 64, &[], 128, u32::MAX),
        craft_gpt(512, 64, &[], 128, 64),
        craft_gpt(512, 64, &[], 128, 129),
        craft_gpt(512, 64, &[], 0, 128),
        craft_gpt(512, 64, &[(LINUX_GENERIC, 34, 40, 0, "x")], 200_000, 4096),
    ];
    for (i, img) in cases.into_iter().enumerate() {
        let r = open_image(Arc::new(img), "x86-64");
        assert!(r.is_err(), "case {i} should fail");
        eprintln!("case {i}: {}", r.err().unwrap());
    }
}

/// Exercises every reader method over the whole tree, ignoring errors (must not panic or hang).
fn exercise(fs: &dyn FsReader) {
    let mut stack = vec![(b"/".to_vec(), 0)];
    let mut budget = 2000;
    while let Some((p, depth)) = stack.pop() {
        let _ = fs.stat(&p);
        let _ = fs.xattrs(&p);
        let _ = fs.read_link(&p);
        let _ = fs.read_file(&p, 1 << 20);
        if depth > 16 {
            continue;
        }
        if let Ok(list) = fs.read_dir(&p) {
            for (n, _) in list {
                budget -= 1;
                if budget == 0 {
                    return;
                }
                let mut c = if p == b"/" { Vec::new() } else { p.clone() };
                c.push(b'/');
                c.extend_from_slice(&n);
                stack.push((c, depth + 1));
            }
        }
    }
}

fn hostile_images() -> Vec<(String, Vec<u8>)> {
    let mut v = Vec::new();
    for c in ["gzip", "xz", "zstd", "lz4", "lzo"] {
        if let Some(p) = make_squashfs(c) {
            v.push((format!("squashfs-{c}"), std::fs::read(p).unwrap()));
        }
    }
    for c in [None, Some("lz4")] {
        if let Some(p) = make_erofs(c) {
            v.push((format!("erofs-{c:?}"), std::fs::read(p).unwrap()));
        }
    }
    if let Some(p) = make_squashfs("gzip") {
        v.push((
            "ddi".into(),
            std::fs::read(make_ddi(&p, ROOT_X86_64, "hostile")).unwrap(),
        ));
    }
    v
}

#[test]
fn truncated_images_fail_cleanly() {
    for (name, bytes) in hostile_images() {
        let len = bytes.len();
        let mut cuts = vec![0, 1, 4, 95, 96, 100, 511, 512, 1023, 1024, 1100, 1200, 4096];
        cuts.extend((1..16).map(|k| len * k / 16));
        cuts.extend([len.saturating_sub(4096), len.saturating_sub(100), len - 1]);
        for cut in cuts {
            let cut = cut.min(len);
            let img: Arc<dyn ReadAt> = Arc::new(bytes[..cut].to_vec());
            if let Ok(o) = open_image(img, "x86-64") {
                exercise(&*o.fs);
            }
        }
        eprintln!("{name}: truncations ok");
    }
}

#[test]
fn mutated_images_fail_cleanly() {
    let started = std::time::Instant::now();
    for (name, bytes) in hostile_images() {
        let mut rng = XorShift(0xdead_beef_cafe_f00d ^ bytes.len() as u64);
        let len = bytes.len() as u64;
        for round in 0..300 {
            let mut m = bytes.clone();
            let flips = 1 + rng.below(8);
            for _ in 0..flips {
                // Half the flips target the first 8 KiB and last 16 KiB (superblocks, GPT, tables).
                let pos = match rng.below(4) {
                    0 => rng.below(len.min(8192)),
                    1 => len - 1 - rng.below(len.min(16384)),
                    _ => rng.below(len),
                };
                let b = &mut m[pos as usize];
                *b ^= 1 << rng.below(8);
                if rng.below(4) == 0 {
                    *b = rng.next_u64() as u8;
                }
            }
            let t = std::time::Instant::now();
            if let Ok(o) = open_image(Arc::new(m), "x86-64") {
                exercise(&*o.fs);
            }
            assert!(
                t.elapsed() < std::time::Duration::from_secs(20),
                "{name} mutation {round} took {:?}",
                t.elapsed()
            );
        }
        eprintln!("{name}: 300 mutations ok");
    }
    eprintln!("mutations took {:?}", started.elapsed());
}

#[test]
fn unknown_format() {
    let r = open_image(Arc::new(vec![0u8; 10_000]), "x86-64");
    assert!(matches!(r, Err(FsError::UnknownFormat)));
    let r = open_image(Arc::new(Vec::<u8>::new()), "x86-64");
    assert!(matches!(r, Err(FsError::UnknownFormat)));
}

/// The entry caps hold: hard links make directory entries outnumber inodes, so the listings the
/// lazy reader returns are counted too; the superblock's inode count is checked at open.
#[test]
fn entry_caps_refuse_before_indexing() {
    use extwatch_formats::squashfs::SquashfsReader;
    let dir = tempfile::tempdir().unwrap();
    let tree = dir.path().join("tree");
    std::fs::create_dir_all(tree.join("links")).unwrap();
    std::fs::write(tree.join("target"), "shared\n").unwrap();
    for i in 0..3000 {
        std::fs::hard_link(tree.join("target"), tree.join(format!("links/{i}"))).unwrap();
    }
    for i in 0..100 {
        std::fs::write(tree.join(format!("f{i}")), format!("{i}\n")).unwrap();
    }
    let img = dir.path().join("links.raw");
    assert!(run(Command::new("mksquashfs").arg(&tree).arg(&img).args([
        "-noappend",
        "-quiet",
        "-no-progress"
    ])));
    // 3000 links + 100 files + target + 2 directories = 3103 entries, 103 inodes.
    let ok = SquashfsReader::open_limited(load(&img), 3103).expect("at the cap");
    assert_eq!(ok.read_dir(b"/").unwrap().len(), 102);
    assert_eq!(ok.read_dir(b"/links").unwrap().len(), 3000);
    // Walking again (a second pass over the same reader) does not count the entries twice.
    assert_eq!(ok.read_dir(b"/links").unwrap().len(), 3000);
    assert_eq!(ok.read_dir(b"/").unwrap().len(), 102);
    let capped = SquashfsReader::open_limited(load(&img), 3102).expect("opens lazily");
    assert_eq!(capped.read_dir(b"/").unwrap().len(), 102);
    match capped.read_dir(b"/links") {
        Err(FsError::TooMany { what, limit }) => {
            assert_eq!((what.as_str(), limit), ("entry count", 3102));
        }
        Err(e) => panic!("wrong error: {e}"),
        Ok(_) => panic!("3103 entries accepted under a cap of 3102"),
    }
    match SquashfsReader::open_limited(load(&img), 100) {
        Err(FsError::TooMany { what, .. }) => assert_eq!(what, "inode count (103)"),
        Err(e) => panic!("wrong error: {e}"),
        Ok(_) => panic!("103 inodes accepted under a cap of 100"),
    }
    // A superblock declaring more inodes than the default cap is refused with a clear message.
    let mut bytes = std::fs::read(&img).unwrap();
    bytes[4..8].copy_from_slice(&u32::MAX.to_le_bytes());
    let e = open_image(Arc::new(bytes), "x86-64")
        .err()
        .expect("refused");
    assert_eq!(
        e.to_string(),
        "inode count (4294967295) exceeds the limit of 4194304"
    );
}

/// A long block list hard-linked many times: 8,200 links to a 1 GiB sparse file (8,192 blocks of
/// 128 KiB) name 67.2M data blocks, over the 2^26 cap; every listed link reads (and hashes, for its
/// content identity) the 32 KiB block list. Refused with a clear error when listed; a few links
/// stay readable.
#[test]
fn block_reference_cap_stops_link_storms_of_long_files() {
    use extwatch_formats::limits::MAX_BLOCK_REFS;
    let dir = tempfile::tempdir().unwrap();
    let build = |links: usize| {
        let tree = dir.path().join(format!("tree{links}"));
        std::fs::create_dir_all(tree.join("l")).unwrap();
        std::fs::File::create(tree.join("big"))
            .unwrap()
            .set_len(1 << 30)
            .unwrap();
        for i in 0..links {
            std::fs::hard_link(tree.join("big"), tree.join(format!("l/{i}"))).unwrap();
        }
        let img = dir.path().join(format!("links{links}.raw"));
        assert!(run(Command::new("mksquashfs").arg(&tree).arg(&img).args([
            "-noappend",
            "-quiet",
            "-no-progress"
        ])));
        std::fs::remove_dir_all(&tree).unwrap();
        img
    };
    let refs = |links: u64| (links + 1) * 8192;
    assert!(refs(8200) > MAX_BLOCK_REFS && refs(10) < MAX_BLOCK_REFS);
    let storm = open_image(load(&build(8200)), "x86-64").expect("opens lazily");
    let e = storm.fs.read_dir(b"/l").expect_err("refused");
    assert_eq!(
        e.to_string(),
        format!(
            "data block references (blocks × hard links) exceeds the limit of {MAX_BLOCK_REFS}"
        )
    );
    let ok = open_image(load(&build(10)), "x86-64").expect("10 links are fine");
    assert_eq!(ok.fs.read_dir(b"/l").unwrap().len(), 10);
}
