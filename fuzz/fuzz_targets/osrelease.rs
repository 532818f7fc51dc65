//! os-release / extension-release parser: never panics, honours its caps.
#![no_main]

use extwatch_formats::osrelease::{parse_os_release, MAX_KEYS, MAX_RELEASE_SIZE};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(map) = parse_os_release(data) {
        assert!(data.len() <= MAX_RELEASE_SIZE);
        assert!(map.len() <= MAX_KEYS);
        for (k, v) in &map {
            // Keys are environment-variable names; no value can be longer than the input (x3 for
            // the U+FFFD replacement of invalid UTF-8 bytes).
            assert!(!k.is_empty(), "empty key accepted");
            assert!(!k.contains('='), "key {k:?} contains '='");
            assert!(v.len() <= data.len() * 3, "value longer than input");
        }
    }
});
