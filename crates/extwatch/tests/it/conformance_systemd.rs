//! Conformance: extwatch's inventory verdicts must equal real systemd's on the same roots.
//!
//! Every scenario below builds an offline root with real tools (see `extwatch-testsupport`), then, in a
//! private mount namespace, runs systemd 257 (Debian trixie root) `systemd-sysext merge` and
//! `systemd-confext merge --root=ROOT`, captures `list`/`status`/the debug log, and runs
//! `extwatch inventory --root ROOT --format json --mountinfo /proc/self/mountinfo` in the same namespace.
//! Scenarios marked `v252` are also run against the host's systemd 252 (`/usr/bin/systemd-sysext`,
//! sysext only) with `--systemd-version 252`.
//!
//! Checks per root and class:
//! * the images extwatch reports as winning (`searched && masked_by == null`) are exactly `list`'s names,
//!   and `ROOT + (resolved_path or path)` equals `list`'s path;
//! * `compatible.ok` equals "systemd used it" (named in "Using extensions …");
//! * when refused, `compatible.reason` equals systemd's debug line (trailing `.` ignored, see
//!   `extwatch_testsupport::verdicts::normalize_reason`);
//! * `merged` equals `status` (the marker files for v252, whose `status --root` is broken);
//! * each hierarchy's `merged`/`extensions` equal `status`.
//!
//! The scenarios also pin systemd's own verdicts (`used`), so a harness bug or a systemd change shows up
//! as an "oracle" mismatch rather than silently moving the target.
//!
//! Observed systemd behaviour the scenarios pin (257.13 and 252.38, both with `--root=`):
//! * A **raw** image whose release file cannot be found for its name at mount time (no release, another
//!   suffix without the strict xattr, two qualifying candidates, `baz.sysext.raw` carrying
//!   `extension-release.baz.sysext` on 257, `foo_1.2.raw` carrying `extension-release.foo` on 252) fails
//!   the **whole** merge: "Failed to read metadata for image NAME: No medium found" (ENOTUNIQ: "Name not
//!   unique on network"). A directory image in the same situation is only ignored ("carries no release
//!   data").
//! * `/usr/lib/os-release` in a directory image fails the whole merge on 257 and 252; in a raw image it
//!   only refuses that image on 257 ("Extension contains '/usr/lib/os-release', which is not allowed,
//!   refusing.") but fails the whole merge on 252. v252's `merge` exits 0 even then.
//! * 257.13 with `--root=` does **not** follow symlinks in search directories ("Skipping directory entry
//!   'link.raw', which is neither regular file, directory nor block device."), like 252.
//! * 252 with images in `/usr/lib/extensions` fails the overlay mount with ELOOP.
//! * `/etc/initrd-release` inside `--root` does not make 257/252 use the initrd scope or `/.extra/sysext`.
//! * 252 words its reasons differently ("carries no extension-release data, ignoring extension.",
//!   "is for sysext API level …", "does not contain VERSION_ID in extension-release …").
//!
//! Needs root, `unshare -m` and the trixie root (`scripts/trixie-root.sh`). Without them the test prints
//! a skip message, unless `EXTWATCH_REQUIRE_SYSTEMD=1`, which turns that into a failure.
//! `EXTWATCH_CONFORMANCE_KEEP=1` keeps the work directory (roots, logs, extwatch output) and prints it;
//! `EXTWATCH_CONFORMANCE_ONLY=name,name` runs a subset.

use std::collections::BTreeSet;
use std::io;
use std::ops::Deref;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use extwatch_testsupport::fixtures::{
    DdiVerity, Fixtures, Format, Image, PartType, RootBuilder, DEBIAN_13,
};
use extwatch_testsupport::runner::{run_systemd, Class, Systemd};
use extwatch_testsupport::verdicts::{lines_about, normalize_reason, ClassVerdicts};
use extwatch_testsupport::Env;
use serde_json::Value;

const EXTWATCH: &str = env!("CARGO_BIN_EXE_extwatch");

type Build = fn(&Root) -> io::Result<()>;

struct Scenario {
    name: &'static str,
    build: Build,
    /// Also run against the host's systemd 252.
    v252: bool,
    /// Names (both classes) systemd 257 uses; checked against the real run (oracle sanity).
    used257: &'static [&'static str],
    /// Names systemd 252 uses (sysext only), when `v252`.
    used252: &'static [&'static str],
    /// systemd 257's merge is expected to fail as a whole (one image breaks it).
    fails257: bool,
    /// systemd 252's merge is expected to fail as a whole.
    fails252: bool,
}

/// A scenario run against systemd 257 only; `used257` as in [`Scenario::used257`].
const fn sc(name: &'static str, used257: &'static [&'static str], build: Build) -> Scenario {
    Scenario {
        name,
        build,
        v252: false,
        used257,
        used252: &[],
        fails257: false,
        fails252: false,
    }
}

/// A scenario also run against systemd 252 ([`Scenario::v252`]).
const fn sc252(
    name: &'static str,
    used257: &'static [&'static str],
    used252: &'static [&'static str],
    build: Build,
) -> Scenario {
    Scenario {
        v252: true,
        used252,
        ..sc(name, used257, build)
    }
}

impl Scenario {
    /// Expects systemd 257's merge to fail as a whole.
    const fn fails257(self) -> Scenario {
        Scenario {
            fails257: true,
            ..self
        }
    }

    /// Expects systemd 252's merge to fail as a whole.
    const fn fails252(self) -> Scenario {
        Scenario {
            fails252: true,
            ..self
        }
    }
}

const DEB: &str = "ID=debian\nVERSION_ID=13\n";
const FEDORA: &str = "ID=fedora\nVERSION_ID=40\n";
const SQ: Format = Format::Squashfs("zstd");
const DIR: Format = Format::Directory;
/// The search directory most scenarios put their images in ([`Root::at`]).
const VLE: &str = "var/lib/extensions";

fn sx(name: &str, release: &str) -> Image {
    Image::sysext().release(name, release)
}

fn cx(name: &str, release: &str) -> Image {
    Image::confext().release(name, release)
}

/// A sysext with two release files (`cand-a`, `cand-b`), both marked non-strict.
fn two_candidates() -> Image {
    sx("cand-a", DEB)
        .strict("0")
        .release("cand-b", DEB)
        .strict("0")
}

fn deb_root(r: &RootBuilder) -> io::Result<()> {
    r.os_release(DEBIAN_13)?;
    Ok(())
}

/// What a scenario's build step lays out: the root (by deref) and the fixtures that make images.
struct Root<'a> {
    fx: &'a Fixtures,
    rb: &'a RootBuilder,
    /// Where [`Root::put`] places images (empty: paths are relative to the root).
    dir: &'a str,
}

impl Deref for Root<'_> {
    type Target = RootBuilder;

    fn deref(&self) -> &RootBuilder {
        self.rb
    }
}

impl<'a> Root<'a> {
    /// The same root, with [`Root::put`] placing images in `dir`.
    fn at(&self, dir: &'a str) -> Root<'a> {
        Root {
            fx: self.fx,
            rb: self.rb,
            dir,
        }
    }

    /// Places each `(path, image, form)`, in order, at `path` inside the directory chosen with
    /// [`Root::at`] (by default the root itself).
    fn put(&self, images: &[(&str, Image, Format)]) -> io::Result<()> {
        for (path, img, fmt) in images {
            let rel = if self.dir.is_empty() {
                path.to_string()
            } else {
                format!("{}/{path}", self.dir)
            };
            self.image(self.fx, &rel, img, *fmt)?;
        }
        Ok(())
    }

    /// A sysext NAME releasing [`DEB`], as `var/lib/extensions/NAME.raw` in form `fmt`.
    fn raw_sysext(&self, name: &str, fmt: Format) -> io::Result<()> {
        self.image(self.fx, &format!("{VLE}/{name}.raw"), &sx(name, DEB), fmt)?;
        Ok(())
    }

    /// DDIs with `verity`, one per `(name, class, release, partition type, erofs)`: placed at
    /// `var/lib/extensions/NAME.raw` (sysext) or `var/lib/confexts/NAME.raw` (confext), with
    /// `extension-release.NAME` holding `release`.
    fn ddis(
        &self,
        verity: DdiVerity,
        list: &[(&str, Class, &str, PartType, bool)],
    ) -> io::Result<()> {
        for &(name, class, release, part, erofs) in list {
            let (dir, img) = match class {
                Class::Sysext => ("extensions", sx(name, release)),
                Class::Confext => ("confexts", cx(name, release)),
            };
            let fmt = Format::Ddi {
                part,
                erofs,
                verity,
            };
            self.image(self.fx, &format!("var/lib/{dir}/{name}.raw"), &img, fmt)?;
        }
        Ok(())
    }
}

fn scenarios() -> Vec<Scenario> {
    vec![
        sc252("precedence", &["prec", "prec2"], &["prec", "prec2"], |r| {
            deb_root(r)?;
            r.put(&[
                ("etc/extensions/prec", sx("prec", DEB), DIR),
                ("run/extensions/prec", sx("prec", FEDORA), DIR),
                ("var/lib/extensions/prec.raw", sx("prec", FEDORA), SQ),
                ("run/extensions/prec2", sx("prec2", DEB), DIR),
                ("var/lib/extensions/prec2", sx("prec2", FEDORA), DIR),
                ("var/lib/extensions/prec3", sx("prec3", FEDORA), DIR),
            ])
        }),
        sc252("masking", &["visible"], &["visible"], |r| {
            deb_root(r)?;
            r.dir("etc/extensions/masked")?;
            r.dir("run/extensions/m2")?;
            r.at(VLE).put(&[
                ("masked.raw", sx("masked", DEB), SQ),
                ("m2", sx("m2", DEB), DIR),
                ("visible", sx("visible", DEB), DIR),
            ])
        }),
        sc252(
            "hidden-names",
            &[".hidden", ".x"],
            &[".hidden", ".x"],
            |r| {
                deb_root(r)?;
                r.at(VLE).put(&[
                    (".hidden", sx(".hidden", DEB), DIR),
                    (".x.raw", sx(".x", DEB), SQ),
                ])
            },
        ),
        sc252("skipped-entries", &["good"], &["good"], |r| {
            deb_root(r)?;
            r.file("var/lib/extensions/notes.txt", "not an image\n")?;
            r.at(VLE).put(&[
                (".#tmp", sx(".#tmp", DEB), DIR),
                (".#part.raw", sx(".#part", DEB), SQ),
                ("plain.img", sx("plain", DEB), SQ),
                ("good", sx("good", DEB), DIR),
            ])
        }),
        sc252("sysext-suffix-raw", &["foo", "good"], &[], |r| {
            deb_root(r)?;
            r.at(VLE).put(&[
                ("foo.sysext.raw", sx("foo", DEB), SQ),
                ("good", sx("good", DEB), DIR),
            ])
        })
        .fails252(),
        sc252("sysext-suffix-dir", &["bar"], &["qux.sysext"], |r| {
            deb_root(r)?;
            r.at(VLE).put(&[
                ("bar.sysext", sx("bar", DEB), DIR),
                ("qux.sysext", sx("qux.sysext", DEB), DIR),
            ])
        }),
        sc252(
            "sysext-suffix-fullname-release",
            &[],
            &["baz.sysext", "good"],
            |r| {
                deb_root(r)?;
                r.at(VLE).put(&[
                    ("baz.sysext.raw", sx("baz.sysext", DEB), SQ),
                    ("good", sx("good", DEB), DIR),
                ])
            },
        )
        .fails257(),
        sc252(
            "version-basename-fallback",
            &["bar_1.2", "dirv_3", "tries+3"],
            &["bar_1.2"],
            |r| {
                deb_root(r)?;
                r.at(VLE).put(&[
                    ("bar_1.2.raw", sx("bar_1.2", DEB), SQ),
                    ("dirv_3", sx("dirv", DEB), DIR),
                    ("tries+3", sx("tries", DEB), DIR),
                ])
            },
        ),
        sc252(
            "version-basename-fallback-raw",
            &["foo_1.2", "good"],
            &[],
            |r| {
                deb_root(r)?;
                r.at(VLE).put(&[
                    ("foo_1.2.raw", sx("foo", DEB), SQ),
                    ("good", sx("good", DEB), DIR),
                ])
            },
        )
        .fails252(),
        sc252("vpick-dirs", &["vfoo"], &[], |r| {
            deb_root(r)?;
            r.at(VLE).put(&[
                (
                    "vfoo.raw.v/vfoo_1.2.raw",
                    sx("vfoo", "ID=debian\nVERSION_ID=13\nSYSEXT_VERSION_ID=1.2\n"),
                    SQ,
                ),
                (
                    "vfoo.raw.v/vfoo_1.3.raw",
                    sx("vfoo", "ID=debian\nVERSION_ID=13\nSYSEXT_VERSION_ID=1.3\n"),
                    SQ,
                ),
                ("vd.v/vd_1.0", sx("vd", DEB), DIR),
                ("vd.v/vd_2.0", sx("vd", "ID=fedora\n"), DIR),
            ])
        }),
        sc252(
            "strict-xattr",
            &["sx1", "sx2", "sx3"],
            &["sx1", "sx2", "sx3"],
            |r| {
                deb_root(r)?;
                r.at(VLE).put(&[
                    ("sx1", sx("other", DEB).strict("0"), DIR),
                    ("sx2.raw", sx("other2", DEB).strict("0"), SQ),
                    (
                        "sx3.raw",
                        sx("other3", DEB).strict("false"),
                        Format::Erofs(Some("lz4")),
                    ),
                    ("ns1", sx("other", DEB), DIR),
                    ("ns2", sx("other", DEB).strict("1"), DIR),
                ])
            },
        ),
        sc252("two-candidates", &["good"], &["good"], |r| {
            deb_root(r)?;
            r.at(VLE).put(&[
                ("two", two_candidates(), DIR),
                ("good", sx("good", DEB), DIR),
            ])
        }),
        sc252("two-candidates-raw", &[], &[], |r| {
            deb_root(r)?;
            r.at(VLE).put(&[
                ("two-raw.raw", two_candidates(), SQ),
                ("good", sx("good", DEB), DIR),
            ])
        })
        .fails257()
        .fails252(),
        sc252("raw-release-name-mismatch", &[], &[], |r| {
            deb_root(r)?;
            r.at(VLE).put(&[
                ("rawname.raw", sx("othername", DEB), SQ),
                ("good", sx("good", DEB), DIR),
            ])
        })
        .fails257()
        .fails252(),
        sc252("raw-no-release", &[], &[], |r| {
            deb_root(r)?;
            r.at(VLE).put(&[
                (
                    "norelease-raw.raw",
                    Image::sysext().file("usr/share/nr/y", "y"),
                    Format::Erofs(None),
                ),
                ("good", sx("good", DEB), DIR),
            ])
        })
        .fails257()
        .fails252(),
        sc252("id-match", &["debian-tools"], &["debian-tools"], |r| {
            deb_root(r)?;
            r.at(VLE).put(&[
                ("fedora-tools", sx("fedora-tools", FEDORA), DIR),
                ("debian-tools.raw", sx("debian-tools", DEB), SQ),
                ("fedora-raw.raw", sx("fedora-raw", FEDORA), SQ),
                ("noid", sx("noid", "VERSION_ID=13\n"), DIR),
            ])
        }),
        sc252("id-any", &["anyos-tools"], &["anyos-tools"], |r| {
            deb_root(r)?;
            r.at(VLE).put(&[
                ("anyos-tools", sx("anyos-tools", "ID=_any\n"), DIR),
                (
                    "anyos-initrd",
                    sx("anyos-initrd", "ID=_any\nSYSEXT_SCOPE=initrd\n"),
                    DIR,
                ),
                (
                    "anyos-arm",
                    sx("anyos-arm", "ID=_any\nARCHITECTURE=arm64\n"),
                    DIR,
                ),
            ])
        }),
        sc252(
            "id-like",
            &["like-debian", "like-ubuntu", "own-id"],
            &["own-id"],
            |r| {
                r.os_release("ID=mydistro\nID_LIKE=\"debian ubuntu\"\nVERSION_ID=13\n")?;
                r.at(VLE).put(&[
                    ("like-debian", sx("like-debian", DEB), DIR),
                    (
                        "like-ubuntu",
                        sx("like-ubuntu", "ID=ubuntu\nVERSION_ID=13\n"),
                        DIR,
                    ),
                    (
                        "like-fedora",
                        sx("like-fedora", "ID=fedora\nVERSION_ID=13\n"),
                        DIR,
                    ),
                    ("own-id", sx("own-id", "ID=mydistro\nVERSION_ID=13\n"), DIR),
                ])
            },
        ),
        sc252("id-like-level", &["like-level"], &[], |r| {
            r.os_release("ID=mydistro\nID_LIKE=debian\nVERSION_ID=2025.04\nSYSEXT_LEVEL=7\n")?;
            r.at(VLE).put(&[
                ("like-nolevel", sx("like-nolevel", DEB), DIR),
                (
                    "like-level",
                    sx("like-level", "ID=debian\nSYSEXT_LEVEL=7\n"),
                    DIR,
                ),
            ])
        }),
        sc252("version-id", &["trixie-tools"], &["trixie-tools"], |r| {
            deb_root(r)?;
            r.at(VLE).put(&[
                (
                    "bookworm-tools",
                    sx("bookworm-tools", "ID=debian\nVERSION_ID=12\n"),
                    DIR,
                ),
                ("noversion", sx("noversion", "ID=debian\n"), DIR),
                ("trixie-tools", sx("trixie-tools", DEB), DIR),
            ])
        }),
        sc252(
            "level-both-sides",
            &["xtos-level", "xtos-level-wrongver", "xtos-ver"],
            &["xtos-level", "xtos-level-wrongver", "xtos-ver"],
            |r| {
                r.os_release("ID=debian\nVERSION_ID=13\nSYSEXT_LEVEL=1.4\n")?;
                r.at(VLE).put(&[
                    (
                        "xtos-level",
                        sx("xtos-level", "ID=debian\nSYSEXT_LEVEL=1.4\n"),
                        DIR,
                    ),
                    (
                        "xtos-oldlevel",
                        sx("xtos-oldlevel", "ID=debian\nSYSEXT_LEVEL=1.3\n"),
                        DIR,
                    ),
                    (
                        "xtos-level-wrongver",
                        sx(
                            "xtos-level-wrongver",
                            "ID=debian\nSYSEXT_LEVEL=1.4\nVERSION_ID=12\n",
                        ),
                        DIR,
                    ),
                    ("xtos-ver", sx("xtos-ver", DEB), DIR),
                    ("xtos-nothing", sx("xtos-nothing", "ID=debian\n"), DIR),
                ])
            },
        ),
        sc252(
            "level-extension-only",
            &["lvl-and-ver"],
            &["lvl-and-ver"],
            |r| {
                deb_root(r)?;
                r.at(VLE).put(&[
                    (
                        "lvl-only",
                        sx("lvl-only", "ID=debian\nSYSEXT_LEVEL=1.4\n"),
                        DIR,
                    ),
                    (
                        "lvl-and-ver",
                        sx(
                            "lvl-and-ver",
                            "ID=debian\nSYSEXT_LEVEL=1.4\nVERSION_ID=13\n",
                        ),
                        DIR,
                    ),
                ])
            },
        ),
        sc252(
            "rolling-host",
            &["arch-a", "arch-b"],
            &["arch-a", "arch-b"],
            |r| {
                r.os_release("ID=arch\n")?;
                r.at(VLE).put(&[
                    ("arch-a", sx("arch-a", "ID=arch\n"), DIR),
                    (
                        "arch-b",
                        sx("arch-b", "ID=arch\nVERSION_ID=5\nSYSEXT_LEVEL=9\n"),
                        DIR,
                    ),
                    ("arch-deb", sx("arch-deb", DEB), DIR),
                ])
            },
        ),
        sc252("scope", &["sys-initrd"], &["sys-initrd"], |r| {
            deb_root(r)?;
            r.at(VLE).put(&[
                (
                    "initrd-only",
                    sx(
                        "initrd-only",
                        "ID=debian\nVERSION_ID=13\nSYSEXT_SCOPE=initrd\n",
                    ),
                    DIR,
                ),
                (
                    "sys-initrd",
                    sx(
                        "sys-initrd",
                        "ID=debian\nVERSION_ID=13\nSYSEXT_SCOPE=system initrd\n",
                    ),
                    DIR,
                ),
                (
                    "portable-only",
                    sx(
                        "portable-only",
                        "ID=debian\nVERSION_ID=13\nSYSEXT_SCOPE=portable\n",
                    ),
                    DIR,
                ),
            ])
        }),
        sc252(
            "architecture",
            &["x86-ok", "arch-any"],
            &["x86-ok", "arch-any"],
            |r| {
                deb_root(r)?;
                r.at(VLE).put(&[
                    (
                        "x86-ok",
                        sx("x86-ok", "ID=debian\nVERSION_ID=13\nARCHITECTURE=x86-64\n"),
                        DIR,
                    ),
                    (
                        "arm64-only",
                        sx(
                            "arm64-only",
                            "ID=debian\nVERSION_ID=13\nARCHITECTURE=arm64\n",
                        ),
                        DIR,
                    ),
                    (
                        "arch-any",
                        sx("arch-any", "ID=debian\nVERSION_ID=13\nARCHITECTURE=_any\n"),
                        DIR,
                    ),
                    (
                        "arch-anyword",
                        sx(
                            "arch-anyword",
                            "ID=debian\nVERSION_ID=13\nARCHITECTURE=any\n",
                        ),
                        DIR,
                    ),
                ])
            },
        ),
        sc252("missing-and-empty-release", &[], &[], |r| {
            deb_root(r)?;
            r.at(VLE).put(&[
                (
                    "norelease",
                    Image::sysext().file("usr/share/nr/x", "x"),
                    DIR,
                ),
                ("emptyrel", sx("emptyrel", ""), DIR),
                ("commentrel", sx("commentrel", "# nothing here\n\n"), DIR),
            ])
        }),
        sc252("os-release-shipper", &[], &[], |r| {
            deb_root(r)?;
            r.at(VLE).put(&[
                (
                    "os-release-shipper",
                    sx("os-release-shipper", DEB).ships_os_release(),
                    DIR,
                ),
                ("innocent", sx("innocent", DEB), DIR),
            ])
        })
        .fails257()
        .fails252(),
        sc252("os-release-shipper-raw", &["innocent2"], &[], |r| {
            deb_root(r)?;
            r.at(VLE).put(&[
                (
                    "shipper-raw.raw",
                    sx("shipper-raw", DEB).ships_os_release(),
                    SQ,
                ),
                ("innocent2", sx("innocent2", DEB), DIR),
            ])
        })
        .fails252(),
        sc(
            "confext-search-paths",
            &["c1", "c4", "c5", "c6", "sysext-in-sysext-dir"],
            |r| {
                deb_root(r)?;
                r.put(&[
                    ("run/confexts/c1", cx("c1", DEB), DIR),
                    ("var/lib/confexts/c2", cx("c2", FEDORA), DIR),
                    ("etc/confexts/c3", cx("c3", DEB), DIR),
                    ("usr/lib/confexts/c4.raw", cx("c4", DEB), SQ),
                    (
                        "usr/local/lib/confexts/c5.raw",
                        cx("c5", DEB),
                        Format::Erofs(None),
                    ),
                    ("var/lib/confexts/c6.confext.raw", cx("c6", DEB), SQ),
                    (
                        "var/lib/extensions/sysext-in-sysext-dir",
                        sx("sysext-in-sysext-dir", DEB),
                        DIR,
                    ),
                    (
                        "var/lib/confexts/sysext-in-confext-dir",
                        sx("sysext-in-confext-dir", DEB),
                        DIR,
                    ),
                ])
            },
        ),
        sc("confext-levels", &["conf-lv2"], |r| {
            r.os_release("ID=debian\nVERSION_ID=13\nSYSEXT_LEVEL=1\nCONFEXT_LEVEL=2\n")?;
            r.put(&[
                (
                    "var/lib/confexts/conf-lv2",
                    cx("conf-lv2", "ID=debian\nCONFEXT_LEVEL=2\n"),
                    DIR,
                ),
                (
                    "var/lib/confexts/conf-lv3",
                    cx("conf-lv3", "ID=debian\nCONFEXT_LEVEL=3\n"),
                    DIR,
                ),
                (
                    "var/lib/confexts/conf-syslv",
                    cx("conf-syslv", "ID=debian\nSYSEXT_LEVEL=1\n"),
                    DIR,
                ),
                (
                    "var/lib/confexts/conf-initrd",
                    cx(
                        "conf-initrd",
                        "ID=debian\nVERSION_ID=13\nCONFEXT_SCOPE=initrd\n",
                    ),
                    DIR,
                ),
                (
                    "var/lib/extensions/sys-conflv",
                    sx("sys-conflv", "ID=debian\nCONFEXT_LEVEL=2\n"),
                    DIR,
                ),
            ])
        }),
        sc("confext-precedence-masking", &["cp", "cq"], |r| {
            deb_root(r)?;
            r.dir("run/confexts/cm")?;
            r.put(&[
                ("run/confexts/cp", cx("cp", DEB), DIR),
                ("var/lib/confexts/cp", cx("cp", FEDORA), DIR),
                ("usr/local/lib/confexts/cq", cx("cq", DEB), DIR),
                ("usr/lib/confexts/cq.raw", cx("cq", FEDORA), SQ),
                ("var/lib/confexts/cm", cx("cm", DEB), DIR),
            ])
        }),
        sc252("symlinks", &["plain"], &["plain"], |r| {
            deb_root(r)?;
            r.put(&[
                ("srv/images/real.raw", sx("link", DEB), SQ),
                ("srv/images/rel.raw", sx("rel", DEB), SQ),
                ("srv/images/dirimg", sx("dirlink", DEB), DIR),
                ("var/lib/extensions/plain", sx("plain", DEB), DIR),
            ])?;
            r.symlink("var/lib/extensions/link.raw", "/srv/images/real.raw")?;
            r.symlink("var/lib/extensions/rel.raw", "../../../srv/images/rel.raw")?;
            r.symlink("var/lib/extensions/dirlink", "/srv/images/dirimg")?;
            r.symlink("var/lib/extensions/dangling.raw", "/srv/images/nothing.raw")?;
            Ok(())
        }),
        sc(
            "squashfs-compressors",
            &["sq-gzip", "sq-xz", "sq-zstd", "sq-lz4", "sq-lzo"],
            |r| {
                deb_root(r)?;
                for c in ["gzip", "xz", "zstd", "lz4", "lzo"] {
                    r.raw_sysext(&format!("sq-{c}"), Format::Squashfs(c))?;
                }
                Ok(())
            },
        ),
        sc(
            "erofs-compressors",
            &[
                "ero-plain",
                "ero-lz4",
                "ero-lz4hc",
                "ero-lzma",
                "ero-deflate",
            ],
            |r| {
                deb_root(r)?;
                for c in [
                    None,
                    Some("lz4"),
                    Some("lz4hc"),
                    Some("lzma"),
                    Some("deflate"),
                ] {
                    r.raw_sysext(&format!("ero-{}", c.unwrap_or("plain")), Format::Erofs(c))?;
                }
                Ok(())
            },
        ),
        sc(
            "ddi",
            &["ddi-root", "ddi-usr", "ddi-generic", "cddi"],
            |r| {
                deb_root(r)?;
                r.ddis(
                    DdiVerity::None,
                    &[
                        ("ddi-root", Class::Sysext, DEB, PartType::RootX86_64, false),
                        ("ddi-usr", Class::Sysext, DEB, PartType::UsrX86_64, true),
                        (
                            "ddi-generic",
                            Class::Sysext,
                            DEB,
                            PartType::LinuxGeneric,
                            false,
                        ),
                        (
                            "ddi-fedora",
                            Class::Sysext,
                            FEDORA,
                            PartType::RootX86_64,
                            true,
                        ),
                        ("cddi", Class::Confext, DEB, PartType::RootX86_64, false),
                    ],
                )
            },
        ),
        sc("ddi-verity-unsigned", &["vroot", "vusr", "vconf"], |r| {
            deb_root(r)?;
            r.ddis(
                DdiVerity::Hash,
                &[
                    ("vroot", Class::Sysext, DEB, PartType::RootX86_64, false),
                    ("vusr", Class::Sysext, DEB, PartType::UsrX86_64, true),
                    ("vfed", Class::Sysext, FEDORA, PartType::RootX86_64, false),
                    ("vconf", Class::Confext, DEB, PartType::RootX86_64, true),
                ],
            )
        }),
        sc252(
            "merged-mix-opt",
            &["mix-dir", "mix-sq", "mix-ero", "mix-conf"],
            &["mix-dir", "mix-sq", "mix-ero"],
            |r| {
                deb_root(r)?;
                r.dir("opt")?;
                r.put(&[
                    (
                        "etc/extensions/mix-dir",
                        sx("mix-dir", DEB).file("opt/mix/dir", "d\n"),
                        DIR,
                    ),
                    (
                        "run/extensions/mix-sq.raw",
                        sx("mix-sq", DEB).file("usr/share/mix/sq", "s\n"),
                        SQ,
                    ),
                    (
                        "var/lib/extensions/mix-ero.raw",
                        sx("mix-ero", DEB).file("usr/share/mix/ero", "e\n"),
                        Format::Erofs(Some("lz4hc")),
                    ),
                    ("var/lib/extensions/mix-bad", sx("mix-bad", FEDORA), DIR),
                    ("run/confexts/mix-conf", cx("mix-conf", DEB), DIR),
                ])
            },
        ),
        sc252(
            "host-usr-lib-os-release",
            &["ulos-lvl"],
            &["ulos-lvl"],
            |r| {
                r.usr_os_release("ID=debian\nVERSION_ID=13\nSYSEXT_LEVEL=2\n")?;
                r.at(VLE).put(&[
                    (
                        "ulos-lvl",
                        sx("ulos-lvl", "ID=debian\nSYSEXT_LEVEL=2\n"),
                        DIR,
                    ),
                    (
                        "ulos-ver",
                        sx("ulos-ver", "ID=debian\nVERSION_ID=12\n"),
                        DIR,
                    ),
                ])
            },
        ),
        sc252("etc-os-release-wins", &["etc-wins"], &["etc-wins"], |r| {
            r.os_release("ID=debian\nVERSION_ID=13\n")?;
            r.usr_os_release("ID=fedora\nVERSION_ID=40\n")?;
            r.at(VLE).put(&[
                ("etc-wins", sx("etc-wins", DEB), DIR),
                ("usr-loses", sx("usr-loses", FEDORA), DIR),
            ])
        }),
        sc252(
            "usr-lib-extensions",
            &["vle"],
            &["ule", "ulle", "vle"],
            |r| {
                deb_root(r)?;
                r.put(&[
                    ("usr/lib/extensions/ule", sx("ule", DEB), DIR),
                    ("usr/local/lib/extensions/ulle.raw", sx("ulle", DEB), SQ),
                    ("var/lib/extensions/vle", sx("vle", DEB), DIR),
                ])
            },
        )
        .fails252(),
        sc252("raw-release-mismatch", &[], &[], |r| {
            deb_root(r)?;
            r.at(VLE).put(&[
                (
                    "rawver.raw",
                    sx("rawver", "ID=debian\nVERSION_ID=12\n"),
                    Format::Erofs(Some("lz4")),
                ),
                (
                    "rawarch.raw",
                    sx("rawarch", "ID=debian\nVERSION_ID=13\nARCHITECTURE=arm64\n"),
                    SQ,
                ),
            ])
        }),
        sc252(
            "initrd-release-in-root",
            &["ir-default"],
            &["ir-default"],
            |r| {
                deb_root(r)?;
                r.file("etc/initrd-release", DEBIAN_13)?;
                r.put(&[
                    ("var/lib/extensions/ir-default", sx("ir-default", DEB), DIR),
                    (
                        "var/lib/extensions/ir-initrd",
                        sx(
                            "ir-initrd",
                            "ID=debian\nVERSION_ID=13\nSYSEXT_SCOPE=initrd\n",
                        ),
                        DIR,
                    ),
                    (".extra/sysext/ir-extra.raw", sx("ir-extra", DEB), SQ),
                    (
                        "run/confexts/ir-conf",
                        cx(
                            "ir-conf",
                            "ID=debian\nVERSION_ID=13\nCONFEXT_SCOPE=initrd\n",
                        ),
                        DIR,
                    ),
                ])
            },
        ),
        sc252(
            "odd-names",
            &["dir.raw", "sp ace", "dots.v1"],
            &["dir.raw", "sp ace", "dots.v1"],
            |r| {
                deb_root(r)?;
                r.at(VLE).put(&[
                    ("dir.raw", sx("dir.raw", DEB), DIR),
                    ("sp ace", sx("sp ace", DEB), DIR),
                    ("UPPER.RAW", sx("UPPER.RAW", DEB), SQ),
                    ("dots.v1.raw", sx("dots.v1", DEB), SQ),
                ])
            },
        ),
        sc252("no-images", &[], &[], |r| {
            deb_root(r)?;
            r.dir("etc/extensions")?;
            r.dir("var/lib/extensions")?;
            Ok(())
        }),
    ]
}

/// One comparison run: a scenario against one systemd.
struct Outcome {
    label: String,
    mismatches: Vec<String>,
    oracle: Vec<String>,
}

fn s(v: &Value, k: &str) -> Option<String> {
    v.get(k).and_then(Value::as_str).map(String::from)
}

fn compare_class(
    v: &ClassVerdicts,
    report: &Value,
    root: &Path,
    merge_fails: bool,
    out: &mut Vec<String>,
) {
    let class = v.class.as_str();
    let empty = Vec::new();
    let images = report["images"].as_array().unwrap_or(&empty);
    let all_winners = images.iter().filter(|i| {
        s(i, "class").as_deref() == Some(class)
            && i["masked_by"].is_null()
            && i["searched"].as_bool() == Some(true)
    });
    // Symlinked entries: the booted host follows them and so does extwatch (marking them
    // `symlink: true`), but `systemd-sysext --root=` skips them. They must be absent from `list`.
    let (linked, winners): (Vec<&Value>, Vec<&Value>) =
        all_winners.partition(|i| i["symlink"].as_bool() == Some(true));
    for l in &linked {
        let n = s(l, "name").unwrap_or_default();
        if v.listed.iter().any(|x| x.name == n) {
            out.push(format!(
                "{class} '{n}': symlinked entry, but systemd --root lists it"
            ));
        }
        if s(l, "resolved_path").is_none() {
            out.push(format!(
                "{class} '{n}': symlinked entry without resolved_path"
            ));
        }
    }
    let ew_names: BTreeSet<String> = winners.iter().filter_map(|i| s(i, "name")).collect();
    let sd_names: BTreeSet<String> = v.listed.iter().map(|l| l.name.clone()).collect();
    for n in sd_names.difference(&ew_names) {
        out.push(format!(
            "{class} '{n}': systemd lists it ({}), extwatch has no winning image of that name",
            v.get(n).map(|l| l.path.as_str()).unwrap_or("")
        ));
    }
    for n in ew_names.difference(&sd_names) {
        let p = winners
            .iter()
            .find(|i| s(i, "name").as_deref() == Some(n))
            .and_then(|i| s(i, "path"))
            .unwrap_or_default();
        out.push(format!(
            "{class} '{n}': extwatch reports a winning image ({p}), systemd does not list it"
        ));
    }
    for l in &v.listed {
        let Some(w) = winners
            .iter()
            .find(|i| s(i, "name").as_deref() == Some(&l.name))
        else {
            continue;
        };
        let inner = s(w, "resolved_path")
            .or_else(|| s(w, "path"))
            .unwrap_or_default();
        let full = format!("{}{}", root.display(), inner);
        if full != l.path {
            out.push(format!(
                "{class} '{}': path: systemd {} / extwatch {full}",
                l.name, l.path
            ));
        }
        let ok = w["compatible"]["ok"].as_bool();
        let reason = s(&w["compatible"], "reason");
        let used = v.used.contains(&l.name);
        if merge_fails {
            // The whole merge failed: systemd's only per-image verdict is on the image that broke it,
            // in any of the lines it wrote about that image or the final failure line.
            if v.failed_image.as_deref() == Some(l.name.as_str()) {
                let mut accepted = lines_about(&v.log, &l.name);
                accepted.extend(v.merge_failure.clone());
                accepted.dedup();
                let reason_ok = reason.as_deref().is_some_and(|r| {
                    accepted
                        .iter()
                        .any(|a| normalize_reason(a) == normalize_reason(r))
                });
                let fails = w["compatible"]["fails_merge"].as_bool();
                if ok != Some(false) || !reason_ok || fails != Some(true) {
                    out.push(format!(
                        "{class} '{}': systemd fails the whole merge on it ({accepted:?}) / extwatch ok={ok:?} reason={reason:?} fails_merge={fails:?}",
                        l.name
                    ));
                }
            }
        } else if ok != Some(used) {
            out.push(format!(
                "{class} '{}': compatible.ok: systemd {} / extwatch {ok:?} (reason {reason:?}; systemd: {:?})",
                l.name,
                if used { "used it" } else { "refused it" },
                v.refused.get(&l.name).cloned().flatten()
            ));
        } else if !used {
            let sd = v.refused.get(&l.name).cloned().flatten();
            match (&sd, &reason) {
                (Some(a), Some(b)) if normalize_reason(a) == normalize_reason(b) => {}
                _ => out.push(format!(
                    "{class} '{}': reason: systemd {sd:?} / extwatch {reason:?}",
                    l.name
                )),
            }
        }
        let merged = w["merged"].as_bool();
        if merged != Some(v.merged.contains(&l.name)) {
            out.push(format!(
                "{class} '{}': merged: systemd {} / extwatch {merged:?}",
                l.name,
                v.merged.contains(&l.name)
            ));
        }
    }
    // Hierarchies: systemd status (or markers) vs extwatch.
    let sd_hier = v.status.clone().unwrap_or_else(|| v.markers.clone());
    let hiers = report["hierarchies"].as_array().unwrap_or(&empty);
    for (h, names) in &sd_hier {
        let e = hiers.iter().find(|x| {
            s(x, "hierarchy").as_deref() == Some(h) && s(x, "class").as_deref() == Some(class)
        });
        let (em, en): (bool, Vec<String>) = match e {
            Some(x) => (
                x["merged"].as_bool().unwrap_or(false),
                x["extensions"]
                    .as_array()
                    .map(|a| {
                        a.iter()
                            .filter_map(|n| n.as_str().map(String::from))
                            .collect()
                    })
                    .unwrap_or_default(),
            ),
            None => (false, Vec::new()),
        };
        let sd_merged = !names.is_empty();
        if em != sd_merged || (em && &en != names) {
            out.push(format!(
                "{class} hierarchy {h}: systemd merged={sd_merged} {names:?} / extwatch merged={em} {en:?}"
            ));
        }
    }
}

fn run_one(
    sc: &Scenario,
    systemd: &Systemd,
    version: &str,
    root: &Path,
    work: &Path,
) -> Result<Outcome, String> {
    let classes: &[Class] = match systemd {
        Systemd::Trixie(_) => &[Class::Sysext, Class::Confext],
        Systemd::Host(_) => &[Class::Sysext],
    };
    let argv: Vec<String> = [
        EXTWATCH,
        "inventory",
        "--root",
        &root.to_string_lossy(),
        "--format",
        "json",
        "--mountinfo",
        "/proc/self/mountinfo",
        "--systemd-version",
        version,
        // systemd ≤258 with --root= asks whether the *running* system is an initrd (it is not here);
        // extwatch's default models the booted root instead (/etc/initrd-release inside it).
        "--initrd",
        "no",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let cap = run_systemd(systemd, root, classes, Some(&argv), work)
        .map_err(|e| format!("running systemd: {e}"))?;
    let verdicts = ClassVerdicts::parse_all(&cap)?;
    let label = format!("{} @{version}", sc.name);
    let mut oracle = Vec::new();
    let used: BTreeSet<String> = verdicts
        .iter()
        .flat_map(|v| v.used.iter().cloned())
        .collect();
    let want: BTreeSet<String> = if version == "252" {
        sc.used252
    } else {
        sc.used257
    }
    .iter()
    .map(|s| s.to_string())
    .collect();
    if used != want {
        oracle.push(format!("systemd used {used:?}, scenario expects {want:?}"));
    }
    let failed = verdicts.iter().any(|v| v.merge_failure.is_some());
    let fails = if version == "252" {
        sc.fails252
    } else {
        sc.fails257
    };
    if failed != fails {
        oracle.push(format!(
            "merge failure: {:?}, scenario expects failure={fails}",
            verdicts
                .iter()
                .map(|v| v.merge_failure.clone())
                .collect::<Vec<_>>(),
        ));
    }
    for v in &verdicts {
        if v.status.is_some() && v.merged != v.markers.values().flatten().cloned().collect() {
            oracle.push(format!(
                "{}: status {:?} disagrees with marker files {:?}",
                v.class.as_str(),
                v.status,
                v.markers
            ));
        }
    }
    let after = cap.after.as_ref().expect("after command ran");
    let mut mismatches = Vec::new();
    if after.rc != 0 || after.stdout.trim().is_empty() {
        mismatches.push(format!(
            "extwatch failed (rc {}): {}",
            after.rc,
            after.stderr.trim()
        ));
        return Ok(Outcome {
            label,
            mismatches,
            oracle,
        });
    }
    let report: Value =
        serde_json::from_str(&after.stdout).map_err(|e| format!("extwatch JSON: {e}"))?;
    for v in &verdicts {
        compare_class(v, &report, root, fails, &mut mismatches);
    }
    Ok(Outcome {
        label,
        mismatches,
        oracle,
    })
}

#[test]
fn conformance_against_real_systemd() {
    let Some(env) = Env::detect_or_skip("conformance") else {
        return;
    };
    let keep = std::env::var("EXTWATCH_CONFORMANCE_KEEP").is_ok_and(|v| v == "1");
    let only: Option<Vec<String>> = std::env::var("EXTWATCH_CONFORMANCE_ONLY")
        .ok()
        .map(|v| v.split(',').map(String::from).collect());
    // Under /tmp: the chroot's /tmp is a tmpfs, so the same-path bind leaves nothing in the trixie root.
    let tmp = tempfile::Builder::new()
        .prefix("extwatch-conformance.")
        .tempdir_in("/tmp")
        .expect("tempdir");
    let base: PathBuf = tmp.path().to_path_buf();
    let fx = Fixtures::new(&env.trixie, &base.join("cache")).expect("fixtures");
    let all = scenarios();
    let scenarios: Vec<&Scenario> = all
        .iter()
        .filter(|s| only.as_ref().is_none_or(|o| o.iter().any(|n| n == s.name)))
        .collect();
    let host = env
        .host_sysext
        .clone()
        .filter(|_| env.host_version == Some(252));
    if host.is_none() {
        eprintln!("conformance: host systemd-sysext 252 not found; v252 runs skipped");
    }

    // Build every root first (two copies for v252 scenarios: a merge changes nothing on disk, but
    // separate roots keep the runs independent).
    let mut jobs: Vec<(&Scenario, Systemd, &'static str, PathBuf, PathBuf)> = Vec::new();
    for sc in &scenarios {
        let mut targets = vec![(Systemd::Trixie(env.trixie.clone()), "257.13", "257")];
        if sc.v252 {
            if let Some(h) = &host {
                targets.push((Systemd::Host(h.clone()), "252", "252"));
            }
        }
        for (sd, ver, tag) in targets {
            let root = base.join("roots").join(format!("{}-{tag}", sc.name));
            let rb = RootBuilder::new(&root).expect("root");
            (sc.build)(&Root {
                fx: &fx,
                rb: &rb,
                dir: "",
            })
            .unwrap_or_else(|e| panic!("building {}: {e}", sc.name));
            let work = base.join("work").join(format!("{}-{tag}", sc.name));
            jobs.push((sc, sd, ver, root, work));
        }
    }

    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<Result<Outcome, String>>> = Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for _ in 0..3 {
            scope.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::SeqCst);
                let Some((sc, sd, ver, root, work)) = jobs.get(i) else {
                    break;
                };
                let r = run_one(sc, sd, ver, root, work)
                    .map_err(|e| format!("{} @{ver}: {e}", sc.name));
                results.lock().unwrap().push(r);
            });
        }
    });
    let mut results = results.into_inner().unwrap();
    results.sort_by(|a, b| {
        let k = |r: &Result<Outcome, String>| match r {
            Ok(o) => o.label.clone(),
            Err(e) => e.clone(),
        };
        k(a).cmp(&k(b))
    });

    let mut errors = 0;
    let mut mismatches = 0;
    let mut oracle = 0;
    for r in &results {
        match r {
            Err(e) => {
                errors += 1;
                eprintln!("ERROR {e}");
            }
            Ok(o) => {
                for m in &o.oracle {
                    oracle += 1;
                    eprintln!("ORACLE {}: {m}", o.label);
                }
                for m in &o.mismatches {
                    mismatches += 1;
                    eprintln!("MISMATCH {}: {m}", o.label);
                }
            }
        }
    }
    let roots = scenarios.len();
    let v252 = jobs.iter().filter(|j| j.2 == "252").count();
    eprintln!(
        "conformance: {roots} roots ({v252} also against systemd 252), {} runs, {mismatches} mismatches, {oracle} oracle deviations, {errors} errors",
        jobs.len()
    );
    if keep {
        let p = tmp.keep();
        eprintln!("conformance: work directory kept at {}", p.display());
    }
    assert!(
        errors == 0 && mismatches == 0 && oracle == 0,
        "conformance: {mismatches} mismatches, {oracle} oracle deviations, {errors} errors (see stderr)"
    );
}
