//! Extension images and whole offline roots, built at test time with the real tools.
//!
//! Image files (squashfs, erofs, DDI) are built with the tools of the trixie root (mksquashfs,
//! mkfs.erofs 1.8, systemd-repart 257) run by [`crate::runner::trixie_exec`], cached per content in the
//! [`Fixtures`] cache directory, and copied into each root that uses them.

use std::collections::HashMap;
use std::fs;
use std::io;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;

use crate::runner::{trixie_exec, Class};

/// One `extension-release.SUFFIX` file inside an image.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ReleaseFile {
    /// The part after `extension-release.`.
    pub suffix: String,
    /// File content (os-release syntax).
    pub content: String,
    /// Value of the `user.extension-release.strict` xattr, when set.
    pub strict: Option<String>,
}

/// The content of an extension image.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Image {
    /// sysext (release under `usr/lib/extension-release.d/`) or confext (`etc/extension-release.d/`).
    pub class: Class,
    /// Release files.
    pub releases: Vec<ReleaseFile>,
    /// Other files: (path relative to the image root, content).
    pub files: Vec<(String, String)>,
    /// Permission bits set after writing: (path relative to the image root, mode incl. setuid).
    pub modes: Vec<(String, u32)>,
}

impl Image {
    /// An empty sysext image.
    pub fn sysext() -> Image {
        Image {
            class: Class::Sysext,
            releases: Vec::new(),
            files: Vec::new(),
            modes: Vec::new(),
        }
    }

    /// An empty confext image.
    pub fn confext() -> Image {
        Image {
            class: Class::Confext,
            releases: Vec::new(),
            files: Vec::new(),
            modes: Vec::new(),
        }
    }

    /// Adds `extension-release.SUFFIX` with `content`.
    pub fn release(mut self, suffix: &str, content: &str) -> Image {
        self.releases.push(ReleaseFile {
            suffix: suffix.into(),
            content: content.into(),
            strict: None,
        });
        self
    }

    /// Sets `user.extension-release.strict` on the release file added last.
    pub fn strict(mut self, value: &str) -> Image {
        if let Some(r) = self.releases.last_mut() {
            r.strict = Some(value.into());
        }
        self
    }

    /// Adds a plain file.
    pub fn file(mut self, path: &str, content: &str) -> Image {
        self.files
            .push((path.trim_start_matches('/').into(), content.into()));
        self
    }

    /// Sets the permission bits of a file added with [`Image::file`] (e.g. `0o4755`).
    pub fn mode(mut self, path: &str, mode: u32) -> Image {
        self.modes.push((path.trim_start_matches('/').into(), mode));
        self
    }

    /// Ships `/usr/lib/os-release` (systemd refuses the whole merge).
    pub fn ships_os_release(self) -> Image {
        self.file("usr/lib/os-release", "ID=evil\nVERSION_ID=1\n")
    }

    /// The directory holding release files, relative to the image root.
    pub fn release_dir(&self) -> &'static str {
        match self.class {
            Class::Sysext => "usr/lib/extension-release.d",
            Class::Confext => "etc/extension-release.d",
        }
    }

    /// Writes the image tree under `dir` (which must not exist or be empty), xattrs included.
    pub fn write_tree(&self, dir: &Path) -> io::Result<()> {
        fs::create_dir_all(dir)?;
        let payload_dir = match self.class {
            Class::Sysext => "usr/share/extwatch-test",
            Class::Confext => "etc/extwatch-test",
        };
        let mut files = self.files.clone();
        if files.is_empty() {
            let tag = self
                .releases
                .first()
                .map(|r| r.suffix.clone())
                .unwrap_or_else(|| "none".into());
            files.push((format!("{payload_dir}/{tag}"), format!("{tag}\n")));
        }
        for (p, c) in &files {
            let path = dir.join(p);
            fs::create_dir_all(path.parent().expect("has parent"))?;
            fs::write(path, c)?;
        }
        for r in &self.releases {
            let rd = dir.join(self.release_dir());
            fs::create_dir_all(&rd)?;
            let path = rd.join(format!("extension-release.{}", r.suffix));
            fs::write(&path, &r.content)?;
            if let Some(v) = &r.strict {
                set_xattr(&path, "user.extension-release.strict", v)?;
            }
        }
        for (p, mode) in &self.modes {
            fs::set_permissions(dir.join(p), fs::Permissions::from_mode(*mode))?;
        }
        Ok(())
    }
}

/// `systemd-repart` creating a new, minimal image (offline) from the partition definitions in `defs`
/// with files copied from `source`; the caller appends options and the output path.
pub(crate) fn repart_argv(defs: &Path, source: &Path) -> Vec<String> {
    vec![
        "systemd-repart".into(),
        "--empty=create".into(),
        "--size=auto".into(),
        "--dry-run=no".into(),
        "--offline=yes".into(),
        "--no-pager".into(),
        format!("--definitions={}", defs.to_string_lossy()),
        format!("--copy-source={}", source.to_string_lossy()),
    ]
}

/// Sets an xattr with `setfattr`.
pub fn set_xattr(path: &Path, name: &str, value: &str) -> io::Result<()> {
    let mut c = Command::new("setfattr");
    c.args(["-n", name, "-v", value]).arg(path);
    crate::status_ok(
        &mut c,
        format_args!("setfattr {name} on {}", path.display()),
    )
}

/// A self-signed RSA certificate `cert` for `/CN=cn`, valid `days` days, with its unencrypted key
/// `key` (PEM, made with the openssl CLI).
pub fn self_signed_cert(key: &Path, cert: &Path, cn: &str, days: u32) -> io::Result<()> {
    let o = Command::new("openssl")
        .args(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days"])
        .arg(days.to_string())
        .arg("-subj")
        .arg(format!("/CN={cn}"))
        .arg("-keyout")
        .arg(key)
        .arg("-out")
        .arg(cert)
        .output()?;
    if !o.status.success() {
        return Err(io::Error::other(format!(
            "openssl req failed: {}",
            String::from_utf8_lossy(&o.stderr)
        )));
    }
    Ok(())
}

/// GPT partition type for DDIs made by systemd-repart.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PartType {
    /// `root-x86-64`: the whole image tree.
    RootX86_64,
    /// `usr-x86-64`: the image's `usr/` tree.
    UsrX86_64,
    /// `linux-generic`: the whole image tree (sysext's single generic data partition).
    LinuxGeneric,
}

/// dm-verity partitions of a DDI made by systemd-repart.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DdiVerity {
    /// Data partition only.
    None,
    /// Data + verity hash partition (`Verity=data`/`hash`); the root hash is only implied by the
    /// partition UUIDs.
    Hash,
    /// Data + hash + signature partition, signed with [`Fixtures::signing_key`] (systemd needs
    /// device-mapper to merge it, which test containers usually lack).
    Signed,
}

/// On-disk form of an image.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    /// A plain directory.
    Directory,
    /// A naked squashfs made by `mksquashfs -comp C`.
    Squashfs(&'static str),
    /// A naked erofs made by `mkfs.erofs [-zC]`.
    Erofs(Option<&'static str>),
    /// A GPT DDI made by `systemd-repart` with `Format=squashfs` (`false`) or `erofs` (`true`).
    Ddi {
        /// Partition type.
        part: PartType,
        /// erofs instead of squashfs.
        erofs: bool,
        /// Verity partitions (not for [`PartType::LinuxGeneric`]).
        verity: DdiVerity,
    },
}

/// Builds and caches image files.
#[derive(Debug)]
pub struct Fixtures {
    trixie: PathBuf,
    cache: PathBuf,
    built: Mutex<HashMap<String, PathBuf>>,
    /// Set by [`Fixtures::reproducible`]: every built image is byte-for-byte the same on every run.
    epoch: Option<u64>,
}

impl Fixtures {
    /// `cache` is a scratch directory (created) for staging trees and built images.
    pub fn new(trixie: &Path, cache: &Path) -> io::Result<Fixtures> {
        fs::create_dir_all(cache)?;
        Ok(Fixtures {
            trixie: trixie.to_path_buf(),
            cache: cache.to_path_buf(),
            built: Mutex::new(HashMap::new()),
            epoch: None,
        })
    }

    /// Like [`Fixtures::new`], but every image (and staged tree) is reproducible: see
    /// [`crate::repro`] for what is fixed and how. Directory images written by
    /// [`Fixtures::materialize`] get the same treatment.
    pub fn reproducible(trixie: &Path, cache: &Path, epoch: u64) -> io::Result<Fixtures> {
        let mut f = Fixtures::new(trixie, cache)?;
        f.epoch = Some(epoch);
        Ok(f)
    }

    /// Writes `img` in form `fmt` at `dest` (a directory for [`Format::Directory`], else a file).
    pub fn materialize(&self, img: &Image, fmt: Format, dest: &Path) -> io::Result<()> {
        if let Some(parent) = dest.parent() {
            fs::create_dir_all(parent)?;
        }
        if fmt == Format::Directory {
            img.write_tree(dest)?;
            if let Some(epoch) = self.epoch {
                crate::repro::fix_tree(dest, epoch)?;
            }
            return Ok(());
        }
        let built = self.build(img, fmt)?;
        fs::copy(&built, dest)?;
        Ok(())
    }

    /// A self-signed RSA key and certificate (PEM) for signing DDIs, made once with openssl.
    pub fn signing_key(&self) -> io::Result<(PathBuf, PathBuf)> {
        let key = self.cache.join("signing-key.pem");
        let cert = self.cache.join("signing-cert.crt");
        if !cert.exists() {
            self_signed_cert(&key, &cert, "extwatch test signer", 30)?;
        }
        Ok((key, cert))
    }

    /// Builds (or returns the cached) image file.
    pub fn build(&self, img: &Image, fmt: Format) -> io::Result<PathBuf> {
        let key = format!("{img:?}/{fmt:?}");
        let mut built = self.built.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(p) = built.get(&key) {
            return Ok(p.clone());
        }
        let n = built.len();
        let stage = self.cache.join(format!("stage-{n}"));
        let out = self.cache.join(format!("image-{n}.raw"));
        let _ = fs::remove_dir_all(&stage);
        img.write_tree(&stage)?;
        if let Some(epoch) = self.epoch {
            crate::repro::fix_tree(&stage, epoch)?;
        }
        let s = |p: &Path| p.to_string_lossy().into_owned();
        let argv: Vec<String> = match fmt {
            Format::Directory => unreachable!("directories are not built"),
            Format::Squashfs(comp) => vec![
                "mksquashfs".into(),
                s(&stage),
                s(&out),
                "-noappend".into(),
                "-quiet".into(),
                "-no-progress".into(),
                "-all-root".into(),
                "-comp".into(),
                comp.into(),
            ],
            Format::Erofs(comp) => {
                let mut v = vec!["mkfs.erofs".into(), "--quiet".into()];
                if let Some(c) = comp {
                    v.push(format!("-z{c}"));
                }
                v.push(s(&out));
                v.push(s(&stage));
                v
            }
            Format::Ddi {
                part,
                erofs,
                verity,
            } => {
                let defs = self.cache.join(format!("repart-{n}.d"));
                fs::create_dir_all(&defs)?;
                let (ty, copy) = match part {
                    PartType::RootX86_64 => ("root-x86-64", "/:/"),
                    PartType::UsrX86_64 => ("usr-x86-64", "/usr:/"),
                    PartType::LinuxGeneric => ("linux-generic", "/:/"),
                };
                if verity != DdiVerity::None && part == PartType::LinuxGeneric {
                    return Err(io::Error::other("linux-generic partitions have no verity"));
                }
                let fsname = if erofs { "erofs" } else { "squashfs" };
                let vdata = if verity == DdiVerity::None {
                    ""
                } else {
                    "Verity=data\nVerityMatchKey=data\n"
                };
                fs::write(
                    defs.join("10-data.conf"),
                    format!(
                        "[Partition]\nType={ty}\nFormat={fsname}\nCopyFiles={copy}\nMinimize=best\n{vdata}"
                    ),
                )?;
                if verity != DdiVerity::None {
                    fs::write(
                        defs.join("20-hash.conf"),
                        format!("[Partition]\nType={ty}-verity\nVerity=hash\nVerityMatchKey=data\nMinimize=best\n"),
                    )?;
                }
                let mut extra = Vec::new();
                if verity == DdiVerity::Signed {
                    fs::write(
                        defs.join("30-sig.conf"),
                        format!("[Partition]\nType={ty}-verity-sig\nVerity=signature\nVerityMatchKey=data\n"),
                    )?;
                    let (key, cert) = self.signing_key()?;
                    extra.push(format!("--private-key={}", s(&key)));
                    extra.push(format!("--certificate={}", s(&cert)));
                }
                let mut v = repart_argv(&defs, &stage);
                v.extend(extra);
                v.push(s(&out));
                v
            }
        };
        let argv = match self.epoch {
            Some(epoch) => crate::repro::argv(argv, epoch),
            None => argv,
        };
        let _ = fs::remove_file(&out);
        let o = trixie_exec(&self.trixie, &[&self.cache], &argv)?;
        if !o.status.success() || !out.exists() {
            return Err(io::Error::other(format!(
                "building {fmt:?} failed: {}\n{}{}",
                argv.join(" "),
                String::from_utf8_lossy(&o.stdout),
                String::from_utf8_lossy(&o.stderr)
            )));
        }
        built.insert(key, out.clone());
        Ok(out)
    }
}

/// The default host os-release of test roots (Debian 13).
pub const DEBIAN_13: &str =
    "ID=debian\nVERSION_ID=13\nPRETTY_NAME=\"Debian GNU/Linux 13 (trixie)\"\n";

/// Lays out an offline root for systemd-sysext/confext `--root=`.
#[derive(Debug, Clone)]
pub struct RootBuilder {
    /// The root directory.
    pub path: PathBuf,
}

impl RootBuilder {
    /// Creates `path` with `usr/lib`, `etc`, `var/lib` (no os-release yet; no `opt`).
    pub fn new(path: &Path) -> io::Result<RootBuilder> {
        for d in ["usr/lib", "etc", "var/lib"] {
            fs::create_dir_all(path.join(d))?;
        }
        Ok(RootBuilder {
            path: path.to_path_buf(),
        })
    }

    /// A path inside the root (`rel` may start with `/`).
    pub fn p(&self, rel: &str) -> PathBuf {
        self.path.join(rel.trim_start_matches('/'))
    }

    /// Writes `/etc/os-release`.
    pub fn os_release(&self, content: &str) -> io::Result<&Self> {
        self.file("/etc/os-release", content)
    }

    /// Writes `/usr/lib/os-release` (and nothing in /etc).
    pub fn usr_os_release(&self, content: &str) -> io::Result<&Self> {
        self.file("/usr/lib/os-release", content)
    }

    /// Writes a file (parents created).
    pub fn file(&self, rel: &str, content: &str) -> io::Result<&Self> {
        let p = self.p(rel);
        fs::create_dir_all(p.parent().expect("inside root"))?;
        fs::write(p, content)?;
        Ok(self)
    }

    /// Creates a directory (an empty one in a search directory masks lower images).
    pub fn dir(&self, rel: &str) -> io::Result<&Self> {
        fs::create_dir_all(self.p(rel))?;
        Ok(self)
    }

    /// Creates a symlink at `rel` pointing to `target` (verbatim).
    pub fn symlink(&self, rel: &str, target: &str) -> io::Result<&Self> {
        let p = self.p(rel);
        fs::create_dir_all(p.parent().expect("inside root"))?;
        symlink(target, p)?;
        Ok(self)
    }

    /// Puts `img` in form `fmt` at `rel`.
    pub fn image(&self, fx: &Fixtures, rel: &str, img: &Image, fmt: Format) -> io::Result<&Self> {
        fx.materialize(img, fmt, &self.p(rel))?;
        Ok(self)
    }
}
