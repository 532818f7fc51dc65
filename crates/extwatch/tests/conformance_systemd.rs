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

type Build = fn(&Fixtures, &RootBuilder) -> io::Result<()>;

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

const fn sc(name: &'static str, build: Build, used257: &'static [&'static str]) -> Scenario {
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

const fn sc252(
    name: &'static str,
    build: Build,
    used257: &'static [&'static str],
    used252: &'static [&'static str],
) -> Scenario {
    Scenario {
        name,
        build,
        v252: true,
        used257,
        used252,
        fails257: false,
        fails252: false,
    }
}

const DEB: &str = "ID=debian\nVERSION_ID=13\n";
const FEDORA: &str = "ID=fedora\nVERSION_ID=40\n";
const SQ: Format = Format::Squashfs("zstd");
const DIR: Format = Format::Directory;

fn sx(name: &str, release: &str) -> Image {
    Image::sysext().release(name, release)
}

fn cx(name: &str, release: &str) -> Image {
    Image::confext().release(name, release)
}

fn deb_root(r: &RootBuilder) -> io::Result<()> {
    r.os_release(DEBIAN_13)?;
    Ok(())
}

fn scenarios() -> Vec<Scenario> {
    vec![
        sc252(
            "precedence",
            |fx, r| {
                deb_root(r)?;
                r.image(fx, "etc/extensions/prec", &sx("prec", DEB), DIR)?;
                r.image(fx, "run/extensions/prec", &sx("prec", FEDORA), DIR)?;
                r.image(fx, "var/lib/extensions/prec.raw", &sx("prec", FEDORA), SQ)?;
                r.image(fx, "run/extensions/prec2", &sx("prec2", DEB), DIR)?;
                r.image(fx, "var/lib/extensions/prec2", &sx("prec2", FEDORA), DIR)?;
                r.image(fx, "var/lib/extensions/prec3", &sx("prec3", FEDORA), DIR)?;
                Ok(())
            },
            &["prec", "prec2"],
            &["prec", "prec2"],
        ),
        sc252(
            "masking",
            |fx, r| {
                deb_root(r)?;
                r.dir("etc/extensions/masked")?;
                r.image(fx, "var/lib/extensions/masked.raw", &sx("masked", DEB), SQ)?;
                r.dir("run/extensions/m2")?;
                r.image(fx, "var/lib/extensions/m2", &sx("m2", DEB), DIR)?;
                r.image(fx, "var/lib/extensions/visible", &sx("visible", DEB), DIR)?;
                Ok(())
            },
            &["visible"],
            &["visible"],
        ),
        sc252(
            "hidden-names",
            |fx, r| {
                deb_root(r)?;
                r.image(fx, "var/lib/extensions/.hidden", &sx(".hidden", DEB), DIR)?;
                r.image(fx, "var/lib/extensions/.x.raw", &sx(".x", DEB), SQ)?;
                Ok(())
            },
            &[".hidden", ".x"],
            &[".hidden", ".x"],
        ),
        sc252(
            "skipped-entries",
            |fx, r| {
                deb_root(r)?;
                r.image(fx, "var/lib/extensions/.#tmp", &sx(".#tmp", DEB), DIR)?;
                r.image(fx, "var/lib/extensions/.#part.raw", &sx(".#part", DEB), SQ)?;
                r.image(fx, "var/lib/extensions/plain.img", &sx("plain", DEB), SQ)?;
                r.file("var/lib/extensions/notes.txt", "not an image\n")?;
                r.image(fx, "var/lib/extensions/good", &sx("good", DEB), DIR)?;
                Ok(())
            },
            &["good"],
            &["good"],
        ),
        Scenario {
            fails252: true,
            ..sc252(
                "sysext-suffix-raw",
                |fx, r| {
                    deb_root(r)?;
                    r.image(fx, "var/lib/extensions/foo.sysext.raw", &sx("foo", DEB), SQ)?;
                    r.image(fx, "var/lib/extensions/good", &sx("good", DEB), DIR)?;
                    Ok(())
                },
                &["foo", "good"],
                &[],
            )
        },
        sc252(
            "sysext-suffix-dir",
            |fx, r| {
                deb_root(r)?;
                r.image(fx, "var/lib/extensions/bar.sysext", &sx("bar", DEB), DIR)?;
                r.image(
                    fx,
                    "var/lib/extensions/qux.sysext",
                    &sx("qux.sysext", DEB),
                    DIR,
                )?;
                Ok(())
            },
            &["bar"],
            &["qux.sysext"],
        ),
        Scenario {
            fails257: true,
            ..sc252(
                "sysext-suffix-fullname-release",
                |fx, r| {
                    deb_root(r)?;
                    r.image(
                        fx,
                        "var/lib/extensions/baz.sysext.raw",
                        &sx("baz.sysext", DEB),
                        SQ,
                    )?;
                    r.image(fx, "var/lib/extensions/good", &sx("good", DEB), DIR)?;
                    Ok(())
                },
                &[],
                &["baz.sysext", "good"],
            )
        },
        sc252(
            "version-basename-fallback",
            |fx, r| {
                deb_root(r)?;
                r.image(
                    fx,
                    "var/lib/extensions/bar_1.2.raw",
                    &sx("bar_1.2", DEB),
                    SQ,
                )?;
                r.image(fx, "var/lib/extensions/dirv_3", &sx("dirv", DEB), DIR)?;
                r.image(fx, "var/lib/extensions/tries+3", &sx("tries", DEB), DIR)?;
                Ok(())
            },
            &["bar_1.2", "dirv_3", "tries+3"],
            &["bar_1.2"],
        ),
        Scenario {
            fails252: true,
            ..sc252(
                "version-basename-fallback-raw",
                |fx, r| {
                    deb_root(r)?;
                    r.image(fx, "var/lib/extensions/foo_1.2.raw", &sx("foo", DEB), SQ)?;
                    r.image(fx, "var/lib/extensions/good", &sx("good", DEB), DIR)?;
                    Ok(())
                },
                &["foo_1.2", "good"],
                &[],
            )
        },
        sc252(
            "vpick-dirs",
            |fx, r| {
                deb_root(r)?;
                r.image(
                    fx,
                    "var/lib/extensions/vfoo.raw.v/vfoo_1.2.raw",
                    &sx("vfoo", "ID=debian\nVERSION_ID=13\nSYSEXT_VERSION_ID=1.2\n"),
                    SQ,
                )?;
                r.image(
                    fx,
                    "var/lib/extensions/vfoo.raw.v/vfoo_1.3.raw",
                    &sx("vfoo", "ID=debian\nVERSION_ID=13\nSYSEXT_VERSION_ID=1.3\n"),
                    SQ,
                )?;
                r.image(fx, "var/lib/extensions/vd.v/vd_1.0", &sx("vd", DEB), DIR)?;
                r.image(
                    fx,
                    "var/lib/extensions/vd.v/vd_2.0",
                    &sx("vd", "ID=fedora\n"),
                    DIR,
                )?;
                Ok(())
            },
            &["vfoo"],
            &[],
        ),
        sc252(
            "strict-xattr",
            |fx, r| {
                deb_root(r)?;
                r.image(
                    fx,
                    "var/lib/extensions/sx1",
                    &sx("other", DEB).strict("0"),
                    DIR,
                )?;
                r.image(
                    fx,
                    "var/lib/extensions/sx2.raw",
                    &sx("other2", DEB).strict("0"),
                    SQ,
                )?;
                r.image(
                    fx,
                    "var/lib/extensions/sx3.raw",
                    &sx("other3", DEB).strict("false"),
                    Format::Erofs(Some("lz4")),
                )?;
                r.image(fx, "var/lib/extensions/ns1", &sx("other", DEB), DIR)?;
                r.image(
                    fx,
                    "var/lib/extensions/ns2",
                    &sx("other", DEB).strict("1"),
                    DIR,
                )?;
                Ok(())
            },
            &["sx1", "sx2", "sx3"],
            &["sx1", "sx2", "sx3"],
        ),
        sc252(
            "two-candidates",
            |fx, r| {
                deb_root(r)?;
                let img = sx("cand-a", DEB)
                    .strict("0")
                    .release("cand-b", DEB)
                    .strict("0");
                r.image(fx, "var/lib/extensions/two", &img, DIR)?;
                r.image(fx, "var/lib/extensions/good", &sx("good", DEB), DIR)?;
                Ok(())
            },
            &["good"],
            &["good"],
        ),
        Scenario {
            fails257: true,
            fails252: true,
            ..sc252(
                "two-candidates-raw",
                |fx, r| {
                    deb_root(r)?;
                    let img = sx("cand-a", DEB)
                        .strict("0")
                        .release("cand-b", DEB)
                        .strict("0");
                    r.image(fx, "var/lib/extensions/two-raw.raw", &img, SQ)?;
                    r.image(fx, "var/lib/extensions/good", &sx("good", DEB), DIR)?;
                    Ok(())
                },
                &[],
                &[],
            )
        },
        Scenario {
            fails257: true,
            fails252: true,
            ..sc252(
                "raw-release-name-mismatch",
                |fx, r| {
                    deb_root(r)?;
                    r.image(
                        fx,
                        "var/lib/extensions/rawname.raw",
                        &sx("othername", DEB),
                        SQ,
                    )?;
                    r.image(fx, "var/lib/extensions/good", &sx("good", DEB), DIR)?;
                    Ok(())
                },
                &[],
                &[],
            )
        },
        Scenario {
            fails257: true,
            fails252: true,
            ..sc252(
                "raw-no-release",
                |fx, r| {
                    deb_root(r)?;
                    r.image(
                        fx,
                        "var/lib/extensions/norelease-raw.raw",
                        &Image::sysext().file("usr/share/nr/y", "y"),
                        Format::Erofs(None),
                    )?;
                    r.image(fx, "var/lib/extensions/good", &sx("good", DEB), DIR)?;
                    Ok(())
                },
                &[],
                &[],
            )
        },
        sc252(
            "id-match",
            |fx, r| {
                deb_root(r)?;
                r.image(
                    fx,
                    "var/lib/extensions/fedora-tools",
                    &sx("fedora-tools", FEDORA),
                    DIR,
                )?;
                r.image(
                    fx,
                    "var/lib/extensions/debian-tools.raw",
                    &sx("debian-tools", DEB),
                    SQ,
                )?;
                r.image(
                    fx,
                    "var/lib/extensions/fedora-raw.raw",
                    &sx("fedora-raw", FEDORA),
                    SQ,
                )?;
                r.image(
                    fx,
                    "var/lib/extensions/noid",
                    &sx("noid", "VERSION_ID=13\n"),
                    DIR,
                )?;
                Ok(())
            },
            &["debian-tools"],
            &["debian-tools"],
        ),
        sc252(
            "id-any",
            |fx, r| {
                deb_root(r)?;
                r.image(
                    fx,
                    "var/lib/extensions/anyos-tools",
                    &sx("anyos-tools", "ID=_any\n"),
                    DIR,
                )?;
                r.image(
                    fx,
                    "var/lib/extensions/anyos-initrd",
                    &sx("anyos-initrd", "ID=_any\nSYSEXT_SCOPE=initrd\n"),
                    DIR,
                )?;
                r.image(
                    fx,
                    "var/lib/extensions/anyos-arm",
                    &sx("anyos-arm", "ID=_any\nARCHITECTURE=arm64\n"),
                    DIR,
                )?;
                Ok(())
            },
            &["anyos-tools"],
            &["anyos-tools"],
        ),
        sc252(
            "id-like",
            |fx, r| {
                r.os_release("ID=mydistro\nID_LIKE=\"debian ubuntu\"\nVERSION_ID=13\n")?;
                r.image(
                    fx,
                    "var/lib/extensions/like-debian",
                    &sx("like-debian", DEB),
                    DIR,
                )?;
                r.image(
                    fx,
                    "var/lib/extensions/like-ubuntu",
                    &sx("like-ubuntu", "ID=ubuntu\nVERSION_ID=13\n"),
                    DIR,
                )?;
                r.image(
                    fx,
                    "var/lib/extensions/like-fedora",
                    &sx("like-fedora", "ID=fedora\nVERSION_ID=13\n"),
                    DIR,
                )?;
                r.image(
                    fx,
                    "var/lib/extensions/own-id",
                    &sx("own-id", "ID=mydistro\nVERSION_ID=13\n"),
                    DIR,
                )?;
                Ok(())
            },
            &["like-debian", "like-ubuntu", "own-id"],
            &["own-id"],
        ),
        sc252(
            "id-like-level",
            |fx, r| {
                r.os_release("ID=mydistro\nID_LIKE=debian\nVERSION_ID=2025.04\nSYSEXT_LEVEL=7\n")?;
                r.image(
                    fx,
                    "var/lib/extensions/like-nolevel",
                    &sx("like-nolevel", DEB),
                    DIR,
                )?;
                r.image(
                    fx,
                    "var/lib/extensions/like-level",
                    &sx("like-level", "ID=debian\nSYSEXT_LEVEL=7\n"),
                    DIR,
                )?;
                Ok(())
            },
            &["like-level"],
            &[],
        ),
        sc252(
            "version-id",
            |fx, r| {
                deb_root(r)?;
                r.image(
                    fx,
                    "var/lib/extensions/bookworm-tools",
                    &sx("bookworm-tools", "ID=debian\nVERSION_ID=12\n"),
                    DIR,
                )?;
                r.image(
                    fx,
                    "var/lib/extensions/noversion",
                    &sx("noversion", "ID=debian\n"),
                    DIR,
                )?;
                r.image(
                    fx,
                    "var/lib/extensions/trixie-tools",
                    &sx("trixie-tools", DEB),
                    DIR,
                )?;
                Ok(())
            },
            &["trixie-tools"],
            &["trixie-tools"],
        ),
        sc252(
            "level-both-sides",
            |fx, r| {
                r.os_release("ID=debian\nVERSION_ID=13\nSYSEXT_LEVEL=1.4\n")?;
                r.image(
                    fx,
                    "var/lib/extensions/xtos-level",
                    &sx("xtos-level", "ID=debian\nSYSEXT_LEVEL=1.4\n"),
                    DIR,
                )?;
                r.image(
                    fx,
                    "var/lib/extensions/xtos-oldlevel",
                    &sx("xtos-oldlevel", "ID=debian\nSYSEXT_LEVEL=1.3\n"),
                    DIR,
                )?;
                r.image(
                    fx,
                    "var/lib/extensions/xtos-level-wrongver",
                    &sx(
                        "xtos-level-wrongver",
                        "ID=debian\nSYSEXT_LEVEL=1.4\nVERSION_ID=12\n",
                    ),
                    DIR,
                )?;
                r.image(fx, "var/lib/extensions/xtos-ver", &sx("xtos-ver", DEB), DIR)?;
                r.image(
                    fx,
                    "var/lib/extensions/xtos-nothing",
                    &sx("xtos-nothing", "ID=debian\n"),
                    DIR,
                )?;
                Ok(())
            },
            &["xtos-level", "xtos-level-wrongver", "xtos-ver"],
            &["xtos-level", "xtos-level-wrongver", "xtos-ver"],
        ),
        sc252(
            "level-extension-only",
            |fx, r| {
                deb_root(r)?;
                r.image(
                    fx,
                    "var/lib/extensions/lvl-only",
                    &sx("lvl-only", "ID=debian\nSYSEXT_LEVEL=1.4\n"),
                    DIR,
                )?;
                r.image(
                    fx,
                    "var/lib/extensions/lvl-and-ver",
                    &sx(
                        "lvl-and-ver",
                        "ID=debian\nSYSEXT_LEVEL=1.4\nVERSION_ID=13\n",
                    ),
                    DIR,
                )?;
                Ok(())
            },
            &["lvl-and-ver"],
            &["lvl-and-ver"],
        ),
        sc252(
            "rolling-host",
            |fx, r| {
                r.os_release("ID=arch\n")?;
                r.image(
                    fx,
                    "var/lib/extensions/arch-a",
                    &sx("arch-a", "ID=arch\n"),
                    DIR,
                )?;
                r.image(
                    fx,
                    "var/lib/extensions/arch-b",
                    &sx("arch-b", "ID=arch\nVERSION_ID=5\nSYSEXT_LEVEL=9\n"),
                    DIR,
                )?;
                r.image(fx, "var/lib/extensions/arch-deb", &sx("arch-deb", DEB), DIR)?;
                Ok(())
            },
            &["arch-a", "arch-b"],
            &["arch-a", "arch-b"],
        ),
        sc252(
            "scope",
            |fx, r| {
                deb_root(r)?;
                r.image(
                    fx,
                    "var/lib/extensions/initrd-only",
                    &sx(
                        "initrd-only",
                        "ID=debian\nVERSION_ID=13\nSYSEXT_SCOPE=initrd\n",
                    ),
                    DIR,
                )?;
                r.image(
                    fx,
                    "var/lib/extensions/sys-initrd",
                    &sx(
                        "sys-initrd",
                        "ID=debian\nVERSION_ID=13\nSYSEXT_SCOPE=system initrd\n",
                    ),
                    DIR,
                )?;
                r.image(
                    fx,
                    "var/lib/extensions/portable-only",
                    &sx(
                        "portable-only",
                        "ID=debian\nVERSION_ID=13\nSYSEXT_SCOPE=portable\n",
                    ),
                    DIR,
                )?;
                Ok(())
            },
            &["sys-initrd"],
            &["sys-initrd"],
        ),
        sc252(
            "architecture",
            |fx, r| {
                deb_root(r)?;
                r.image(
                    fx,
                    "var/lib/extensions/x86-ok",
                    &sx("x86-ok", "ID=debian\nVERSION_ID=13\nARCHITECTURE=x86-64\n"),
                    DIR,
                )?;
                r.image(
                    fx,
                    "var/lib/extensions/arm64-only",
                    &sx(
                        "arm64-only",
                        "ID=debian\nVERSION_ID=13\nARCHITECTURE=arm64\n",
                    ),
                    DIR,
                )?;
                r.image(
                    fx,
                    "var/lib/extensions/arch-any",
                    &sx("arch-any", "ID=debian\nVERSION_ID=13\nARCHITECTURE=_any\n"),
                    DIR,
                )?;
                r.image(
                    fx,
                    "var/lib/extensions/arch-anyword",
                    &sx(
                        "arch-anyword",
                        "ID=debian\nVERSION_ID=13\nARCHITECTURE=any\n",
                    ),
                    DIR,
                )?;
                Ok(())
            },
            &["x86-ok", "arch-any"],
            &["x86-ok", "arch-any"],
        ),
        sc252(
            "missing-and-empty-release",
            |fx, r| {
                deb_root(r)?;
                r.image(
                    fx,
                    "var/lib/extensions/norelease",
                    &Image::sysext().file("usr/share/nr/x", "x"),
                    DIR,
                )?;
                r.image(fx, "var/lib/extensions/emptyrel", &sx("emptyrel", ""), DIR)?;
                r.image(
                    fx,
                    "var/lib/extensions/commentrel",
                    &sx("commentrel", "# nothing here\n\n"),
                    DIR,
                )?;
                Ok(())
            },
            &[],
            &[],
        ),
        Scenario {
            fails257: true,
            fails252: true,
            ..sc252(
                "os-release-shipper",
                |fx, r| {
                    deb_root(r)?;
                    r.image(
                        fx,
                        "var/lib/extensions/os-release-shipper",
                        &sx("os-release-shipper", DEB).ships_os_release(),
                        DIR,
                    )?;
                    r.image(fx, "var/lib/extensions/innocent", &sx("innocent", DEB), DIR)?;
                    Ok(())
                },
                &[],
                &[],
            )
        },
        Scenario {
            fails252: true,
            ..sc252(
                "os-release-shipper-raw",
                |fx, r| {
                    deb_root(r)?;
                    r.image(
                        fx,
                        "var/lib/extensions/shipper-raw.raw",
                        &sx("shipper-raw", DEB).ships_os_release(),
                        SQ,
                    )?;
                    r.image(
                        fx,
                        "var/lib/extensions/innocent2",
                        &sx("innocent2", DEB),
                        DIR,
                    )?;
                    Ok(())
                },
                &["innocent2"],
                &[],
            )
        },
        sc(
            "confext-search-paths",
            |fx, r| {
                deb_root(r)?;
                r.image(fx, "run/confexts/c1", &cx("c1", DEB), DIR)?;
                r.image(fx, "var/lib/confexts/c2", &cx("c2", FEDORA), DIR)?;
                r.image(fx, "etc/confexts/c3", &cx("c3", DEB), DIR)?;
                r.image(fx, "usr/lib/confexts/c4.raw", &cx("c4", DEB), SQ)?;
                r.image(
                    fx,
                    "usr/local/lib/confexts/c5.raw",
                    &cx("c5", DEB),
                    Format::Erofs(None),
                )?;
                r.image(fx, "var/lib/confexts/c6.confext.raw", &cx("c6", DEB), SQ)?;
                r.image(
                    fx,
                    "var/lib/extensions/sysext-in-sysext-dir",
                    &sx("sysext-in-sysext-dir", DEB),
                    DIR,
                )?;
                r.image(
                    fx,
                    "var/lib/confexts/sysext-in-confext-dir",
                    &sx("sysext-in-confext-dir", DEB),
                    DIR,
                )?;
                Ok(())
            },
            &["c1", "c4", "c5", "c6", "sysext-in-sysext-dir"],
        ),
        sc(
            "confext-levels",
            |fx, r| {
                r.os_release("ID=debian\nVERSION_ID=13\nSYSEXT_LEVEL=1\nCONFEXT_LEVEL=2\n")?;
                r.image(
                    fx,
                    "var/lib/confexts/conf-lv2",
                    &cx("conf-lv2", "ID=debian\nCONFEXT_LEVEL=2\n"),
                    DIR,
                )?;
                r.image(
                    fx,
                    "var/lib/confexts/conf-lv3",
                    &cx("conf-lv3", "ID=debian\nCONFEXT_LEVEL=3\n"),
                    DIR,
                )?;
                r.image(
                    fx,
                    "var/lib/confexts/conf-syslv",
                    &cx("conf-syslv", "ID=debian\nSYSEXT_LEVEL=1\n"),
                    DIR,
                )?;
                r.image(
                    fx,
                    "var/lib/confexts/conf-initrd",
                    &cx(
                        "conf-initrd",
                        "ID=debian\nVERSION_ID=13\nCONFEXT_SCOPE=initrd\n",
                    ),
                    DIR,
                )?;
                r.image(
                    fx,
                    "var/lib/extensions/sys-conflv",
                    &sx("sys-conflv", "ID=debian\nCONFEXT_LEVEL=2\n"),
                    DIR,
                )?;
                Ok(())
            },
            &["conf-lv2"],
        ),
        sc(
            "confext-precedence-masking",
            |fx, r| {
                deb_root(r)?;
                r.image(fx, "run/confexts/cp", &cx("cp", DEB), DIR)?;
                r.image(fx, "var/lib/confexts/cp", &cx("cp", FEDORA), DIR)?;
                r.image(fx, "usr/local/lib/confexts/cq", &cx("cq", DEB), DIR)?;
                r.image(fx, "usr/lib/confexts/cq.raw", &cx("cq", FEDORA), SQ)?;
                r.dir("run/confexts/cm")?;
                r.image(fx, "var/lib/confexts/cm", &cx("cm", DEB), DIR)?;
                Ok(())
            },
            &["cp", "cq"],
        ),
        sc252(
            "symlinks",
            |fx, r| {
                deb_root(r)?;
                r.image(fx, "srv/images/real.raw", &sx("link", DEB), SQ)?;
                r.symlink("var/lib/extensions/link.raw", "/srv/images/real.raw")?;
                r.image(fx, "srv/images/rel.raw", &sx("rel", DEB), SQ)?;
                r.symlink("var/lib/extensions/rel.raw", "../../../srv/images/rel.raw")?;
                r.image(fx, "srv/images/dirimg", &sx("dirlink", DEB), DIR)?;
                r.symlink("var/lib/extensions/dirlink", "/srv/images/dirimg")?;
                r.symlink("var/lib/extensions/dangling.raw", "/srv/images/nothing.raw")?;
                r.image(fx, "var/lib/extensions/plain", &sx("plain", DEB), DIR)?;
                Ok(())
            },
            &["plain"],
            &["plain"],
        ),
        sc(
            "squashfs-compressors",
            |fx, r| {
                deb_root(r)?;
                for c in ["gzip", "xz", "zstd", "lz4", "lzo"] {
                    let n = format!("sq-{c}");
                    r.image(
                        fx,
                        &format!("var/lib/extensions/{n}.raw"),
                        &sx(&n, DEB),
                        Format::Squashfs(c),
                    )?;
                }
                Ok(())
            },
            &["sq-gzip", "sq-xz", "sq-zstd", "sq-lz4", "sq-lzo"],
        ),
        sc(
            "erofs-compressors",
            |fx, r| {
                deb_root(r)?;
                for c in [
                    None,
                    Some("lz4"),
                    Some("lz4hc"),
                    Some("lzma"),
                    Some("deflate"),
                ] {
                    let n = format!("ero-{}", c.unwrap_or("plain"));
                    r.image(
                        fx,
                        &format!("var/lib/extensions/{n}.raw"),
                        &sx(&n, DEB),
                        Format::Erofs(c),
                    )?;
                }
                Ok(())
            },
            &[
                "ero-plain",
                "ero-lz4",
                "ero-lz4hc",
                "ero-lzma",
                "ero-deflate",
            ],
        ),
        sc(
            "ddi",
            |fx, r| {
                deb_root(r)?;
                let ddi = |part, erofs| Format::Ddi {
                    part,
                    erofs,
                    verity: DdiVerity::None,
                };
                r.image(
                    fx,
                    "var/lib/extensions/ddi-root.raw",
                    &sx("ddi-root", DEB),
                    ddi(PartType::RootX86_64, false),
                )?;
                r.image(
                    fx,
                    "var/lib/extensions/ddi-usr.raw",
                    &sx("ddi-usr", DEB),
                    ddi(PartType::UsrX86_64, true),
                )?;
                r.image(
                    fx,
                    "var/lib/extensions/ddi-generic.raw",
                    &sx("ddi-generic", DEB),
                    ddi(PartType::LinuxGeneric, false),
                )?;
                r.image(
                    fx,
                    "var/lib/extensions/ddi-fedora.raw",
                    &sx("ddi-fedora", FEDORA),
                    ddi(PartType::RootX86_64, true),
                )?;
                r.image(
                    fx,
                    "var/lib/confexts/cddi.raw",
                    &cx("cddi", DEB),
                    ddi(PartType::RootX86_64, false),
                )?;
                Ok(())
            },
            &["ddi-root", "ddi-usr", "ddi-generic", "cddi"],
        ),
        sc(
            "ddi-verity-unsigned",
            |fx, r| {
                deb_root(r)?;
                let v = |part, erofs| Format::Ddi {
                    part,
                    erofs,
                    verity: DdiVerity::Hash,
                };
                r.image(
                    fx,
                    "var/lib/extensions/vroot.raw",
                    &sx("vroot", DEB),
                    v(PartType::RootX86_64, false),
                )?;
                r.image(
                    fx,
                    "var/lib/extensions/vusr.raw",
                    &sx("vusr", DEB),
                    v(PartType::UsrX86_64, true),
                )?;
                r.image(
                    fx,
                    "var/lib/extensions/vfed.raw",
                    &sx("vfed", FEDORA),
                    v(PartType::RootX86_64, false),
                )?;
                r.image(
                    fx,
                    "var/lib/confexts/vconf.raw",
                    &cx("vconf", DEB),
                    v(PartType::RootX86_64, true),
                )?;
                Ok(())
            },
            &["vroot", "vusr", "vconf"],
        ),
        sc252(
            "merged-mix-opt",
            |fx, r| {
                deb_root(r)?;
                r.dir("opt")?;
                r.image(
                    fx,
                    "etc/extensions/mix-dir",
                    &sx("mix-dir", DEB).file("opt/mix/dir", "d\n"),
                    DIR,
                )?;
                r.image(
                    fx,
                    "run/extensions/mix-sq.raw",
                    &sx("mix-sq", DEB).file("usr/share/mix/sq", "s\n"),
                    SQ,
                )?;
                r.image(
                    fx,
                    "var/lib/extensions/mix-ero.raw",
                    &sx("mix-ero", DEB).file("usr/share/mix/ero", "e\n"),
                    Format::Erofs(Some("lz4hc")),
                )?;
                r.image(
                    fx,
                    "var/lib/extensions/mix-bad",
                    &sx("mix-bad", FEDORA),
                    DIR,
                )?;
                r.image(fx, "run/confexts/mix-conf", &cx("mix-conf", DEB), DIR)?;
                Ok(())
            },
            &["mix-dir", "mix-sq", "mix-ero", "mix-conf"],
            &["mix-dir", "mix-sq", "mix-ero"],
        ),
        sc252(
            "host-usr-lib-os-release",
            |fx, r| {
                r.usr_os_release("ID=debian\nVERSION_ID=13\nSYSEXT_LEVEL=2\n")?;
                r.image(
                    fx,
                    "var/lib/extensions/ulos-lvl",
                    &sx("ulos-lvl", "ID=debian\nSYSEXT_LEVEL=2\n"),
                    DIR,
                )?;
                r.image(
                    fx,
                    "var/lib/extensions/ulos-ver",
                    &sx("ulos-ver", "ID=debian\nVERSION_ID=12\n"),
                    DIR,
                )?;
                Ok(())
            },
            &["ulos-lvl"],
            &["ulos-lvl"],
        ),
        sc252(
            "etc-os-release-wins",
            |fx, r| {
                r.os_release("ID=debian\nVERSION_ID=13\n")?;
                r.usr_os_release("ID=fedora\nVERSION_ID=40\n")?;
                r.image(fx, "var/lib/extensions/etc-wins", &sx("etc-wins", DEB), DIR)?;
                r.image(
                    fx,
                    "var/lib/extensions/usr-loses",
                    &sx("usr-loses", FEDORA),
                    DIR,
                )?;
                Ok(())
            },
            &["etc-wins"],
            &["etc-wins"],
        ),
        Scenario {
            fails252: true,
            ..sc252(
                "usr-lib-extensions",
                |fx, r| {
                    deb_root(r)?;
                    r.image(fx, "usr/lib/extensions/ule", &sx("ule", DEB), DIR)?;
                    r.image(
                        fx,
                        "usr/local/lib/extensions/ulle.raw",
                        &sx("ulle", DEB),
                        SQ,
                    )?;
                    r.image(fx, "var/lib/extensions/vle", &sx("vle", DEB), DIR)?;
                    Ok(())
                },
                &["vle"],
                &["ule", "ulle", "vle"],
            )
        },
        sc252(
            "raw-release-mismatch",
            |fx, r| {
                deb_root(r)?;
                r.image(
                    fx,
                    "var/lib/extensions/rawver.raw",
                    &sx("rawver", "ID=debian\nVERSION_ID=12\n"),
                    Format::Erofs(Some("lz4")),
                )?;
                r.image(
                    fx,
                    "var/lib/extensions/rawarch.raw",
                    &sx("rawarch", "ID=debian\nVERSION_ID=13\nARCHITECTURE=arm64\n"),
                    SQ,
                )?;
                Ok(())
            },
            &[],
            &[],
        ),
        sc252(
            "initrd-release-in-root",
            |fx, r| {
                deb_root(r)?;
                r.file("etc/initrd-release", DEBIAN_13)?;
                r.image(
                    fx,
                    "var/lib/extensions/ir-default",
                    &sx("ir-default", DEB),
                    DIR,
                )?;
                r.image(
                    fx,
                    "var/lib/extensions/ir-initrd",
                    &sx(
                        "ir-initrd",
                        "ID=debian\nVERSION_ID=13\nSYSEXT_SCOPE=initrd\n",
                    ),
                    DIR,
                )?;
                r.image(fx, ".extra/sysext/ir-extra.raw", &sx("ir-extra", DEB), SQ)?;
                r.image(
                    fx,
                    "run/confexts/ir-conf",
                    &cx(
                        "ir-conf",
                        "ID=debian\nVERSION_ID=13\nCONFEXT_SCOPE=initrd\n",
                    ),
                    DIR,
                )?;
                Ok(())
            },
            &["ir-default"],
            &["ir-default"],
        ),
        sc252(
            "odd-names",
            |fx, r| {
                deb_root(r)?;
                r.image(fx, "var/lib/extensions/dir.raw", &sx("dir.raw", DEB), DIR)?;
                r.image(fx, "var/lib/extensions/sp ace", &sx("sp ace", DEB), DIR)?;
                r.image(
                    fx,
                    "var/lib/extensions/UPPER.RAW",
                    &sx("UPPER.RAW", DEB),
                    SQ,
                )?;
                r.image(
                    fx,
                    "var/lib/extensions/dots.v1.raw",
                    &sx("dots.v1", DEB),
                    SQ,
                )?;
                Ok(())
            },
            &["dir.raw", "sp ace", "dots.v1"],
            &["dir.raw", "sp ace", "dots.v1"],
        ),
        sc252(
            "no-images",
            |_fx, r| {
                deb_root(r)?;
                r.dir("etc/extensions")?;
                r.dir("var/lib/extensions")?;
                Ok(())
            },
            &[],
            &[],
        ),
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
            (sc.build)(&fx, &rb).unwrap_or_else(|e| panic!("building {}: {e}", sc.name));
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
