//! `extwatch files` as text: one `ls -l`-like line per entry, names escaped (control characters,
//! backslashes and bytes that are not UTF-8 as `\xNN`), paths shortened from the left so every line
//! fits 100 columns.
//!
//! Written straight into the output with one reused line buffer: on a full `/usr` (130k entries)
//! the per-field `format!` calls of a naive version cost more than reading the image.

use std::borrow::Borrow;
use std::fmt::Write as _;
use std::io::Write;

use extwatch_model::{FileEntry, FileType};

use crate::escape::push_bytes;

/// Every entry as one line; with `hash`, the first 12 hex digits of the SHA-256 replace the mtime.
pub fn write_files<I, E>(out: &mut dyn Write, entries: I, hash: bool) -> std::io::Result<()>
where
    I: IntoIterator<Item = E>,
    E: Borrow<FileEntry>,
{
    const WIDTH: usize = 100;
    let mut line = String::with_capacity(256);
    let mut name = String::with_capacity(256);
    let mut last_time: Option<(i64, String)> = None;
    for e in entries {
        let e = e.borrow();
        let t = match e.file_type {
            FileType::File => '-',
            FileType::Dir => 'd',
            FileType::Symlink => 'l',
            FileType::Char => 'c',
            FileType::Block => 'b',
            FileType::Fifo => 'p',
            FileType::Socket => 's',
        };
        line.clear();
        push_perms(&mut line, t, e.mode);
        let _ = write!(line, " {:>5} {:>5} ", e.uid, e.gid);
        match (e.file_type, e.device) {
            (FileType::Char | FileType::Block, Some((ma, mi))) => {
                let _ = write!(line, "{:>11}", format!("{ma},{mi}"));
            }
            _ => {
                let _ = write!(line, "{:>11}", e.size);
            }
        }
        line.push(' ');
        if hash {
            match &e.sha256 {
                Some(h) => line.push_str(&hex::encode(&h[..6])),
                None => line.push_str("------------"),
            }
        } else {
            let cached = matches!(&last_time, Some((m, _)) if *m == e.mtime);
            if !cached {
                let s = extwatch_model::time::rfc3339(e.mtime)
                    .map(|s| s.get(..16).unwrap_or(&s).replace('T', " "))
                    .unwrap_or_else(|| "?".repeat(16));
                last_time = Some((e.mtime, s));
            }
            if let Some((_, s)) = &last_time {
                line.push_str(s);
            }
        }
        line.push(' ');
        let head_chars = line.chars().count();
        name.clear();
        push_bytes(&mut name, &e.path);
        if let Some(t) = &e.link_target {
            name.push_str(" -> ");
            push_bytes(&mut name, t);
        }
        let room = WIDTH.saturating_sub(head_chars);
        let n = if name.is_ascii() {
            name.len()
        } else {
            name.chars().count()
        };
        if n > room && room > 1 {
            line.push('…');
            line.extend(name.chars().skip(n - (room - 1)));
        } else {
            line.push_str(&name);
        }
        line.push('\n');
        out.write_all(line.as_bytes())?;
    }
    Ok(())
}

/// `ls -l` permissions: type letter, then rwx triples with setuid/setgid/sticky as s/S and t/T.
fn push_perms(s: &mut String, t: char, mode: u32) {
    s.push(t);
    let bits = [
        (0o400, 'r'),
        (0o200, 'w'),
        (0o100, 'x'),
        (0o040, 'r'),
        (0o020, 'w'),
        (0o010, 'x'),
        (0o004, 'r'),
        (0o002, 'w'),
        (0o001, 'x'),
    ];
    for (i, (b, c)) in bits.iter().enumerate() {
        let set = mode & b != 0;
        let special = match i {
            2 => mode & 0o4000 != 0,
            5 => mode & 0o2000 != 0,
            8 => mode & 0o1000 != 0,
            _ => false,
        };
        s.push(match (set, special, i) {
            (true, true, 8) => 't',
            (false, true, 8) => 'T',
            (true, true, _) => 's',
            (false, true, _) => 'S',
            (true, false, _) => *c,
            (false, false, _) => '-',
        });
    }
}
