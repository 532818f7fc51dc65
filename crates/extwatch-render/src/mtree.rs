//! `extwatch files --format mtree`: byte-for-byte what `systemd-dissect --mtree` (systemd 257)
//! prints for the same image, so the two can be diffed.
//!
//! It follows `mtree_print_item()` in systemd's `src/dissect/dissect.c`: paths relative as `./a/b`,
//! directories suffixed with `/`, C-style `\xNN` escaping of whitespace, `#;*?[`, backslash, control
//! and non-ASCII bytes, `mode` as `& 0777` and omitted for symlinks, `size` and `sha256sum`
//! (non-empty files only) for files, `link=` for symlinks, `device=linux,MAJOR,MINOR` for devices, no
//! times. The output is ASCII whatever the names hold, so it is terminal-safe by construction.

use std::borrow::Borrow;
use std::fmt::Write as _;
use std::io::Write;

use extwatch_model::{FileEntry, FileType};

/// Appends `s` escaped as `systemd-dissect --mtree` escapes names.
pub fn escape(s: &[u8], out: &mut String) {
    for &b in s {
        if !(b' '..0x7f).contains(&b) || b"\\ \t\n\r#;*?[".contains(&b) {
            // `write!` to a String cannot fail.
            let _ = write!(out, "\\x{b:02x}");
        } else {
            out.push(b as char);
        }
    }
}

/// The listing line by line into `out` (`sha256sum=` only for entries that were hashed), so a
/// million-entry listing is never held as one string.
pub fn write<I, E>(out: &mut dyn Write, entries: I) -> std::io::Result<()>
where
    I: IntoIterator<Item = E>,
    E: Borrow<FileEntry>,
{
    let mut s = String::with_capacity(256);
    let mut p = Vec::with_capacity(256);
    for e in entries {
        let e = e.borrow();
        s.clear();
        if e.path == b"/" {
            s.push('.');
        } else {
            p.clear();
            p.push(b'.');
            p.extend_from_slice(&e.path);
            escape(&p, &mut s);
        }
        let ty = match e.file_type {
            FileType::Dir => "dir",
            FileType::File => "file",
            FileType::Symlink => "link",
            FileType::Fifo => "fifo",
            FileType::Block => "block",
            FileType::Char => "char",
            FileType::Socket => "socket",
        };
        if e.file_type == FileType::Dir {
            s.push('/');
        }
        let _ = write!(s, " type={ty}");
        if e.file_type != FileType::Symlink {
            let _ = write!(s, " mode={:04o}", e.mode & 0o777);
        }
        let _ = write!(s, " uid={} gid={}", e.uid, e.gid);
        if e.file_type == FileType::File {
            let _ = write!(s, " size={}", e.size);
            if let (true, Some(h)) = (e.size > 0, &e.sha256) {
                s.push_str(" sha256sum=");
                s.push_str(&hex::encode(h));
            }
        }
        if let (FileType::Symlink, Some(t)) = (e.file_type, &e.link_target) {
            s.push_str(" link=");
            escape(t, &mut s);
        }
        if let (FileType::Char | FileType::Block, Some((ma, mi))) = (e.file_type, e.device) {
            let _ = write!(s, " device=linux,{ma},{mi}");
        }
        s.push('\n');
        out.write_all(s.as_bytes())?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_like_systemd() {
        let mut out = Vec::new();
        write(&mut out, crate::files::sample()).unwrap();
        let text = String::from_utf8(out).unwrap();
        let sha = "07".repeat(32);
        let want = format!(
            "./ type=dir mode=0755 uid=0 gid=0\n\
             ./bin\\xff\\x0a type=file mode=0755 uid=0 gid=0 size=3 sha256sum={sha}\n\
             ./l type=link uid=0 gid=0 link=../\\xfe\n\
             ./wh type=char mode=0755 uid=0 gid=0 device=linux,1,3\n"
        );
        assert_eq!(text, want);
    }

    #[test]
    fn escapes_like_systemd() {
        let mut s = String::new();
        escape(b"./a b\n\xff#;*?[\\x", &mut s);
        assert_eq!(s, "./a\\x20b\\x0a\\xff\\x23\\x3b\\x2a\\x3f\\x5b\\x5cx");
    }
}
