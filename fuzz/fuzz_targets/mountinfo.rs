//! mountinfo parser plus the helpers the core calls on its output: never panics.
#![no_main]

use extwatch_formats::mountinfo::{
    overlay_lowerdirs, parse_mountinfo, shell_unescape, split_unescaped, unescape,
};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(entries) = parse_mountinfo(data) {
        for e in &entries {
            let _ = e.read_only();
            let _ = e.super_option("lowerdir");
            let _ = e.super_option("upperdir");
            let _ = overlay_lowerdirs(e);
        }
    }
    let s = String::from_utf8_lossy(data);
    let _ = unescape(&s);
    let _ = split_unescaped(&s, ':');
    let _ = shell_unescape(&s);
});
