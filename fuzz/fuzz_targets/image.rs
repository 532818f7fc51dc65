//! Image readers (squashfs, erofs, DDI) behind `open_image`: open the bytes, then walk the tree,
//! bounded, calling every `FsReader` method on every entry. Never panics, never exceeds the caps.
#![no_main]

mod walk;

use std::sync::Arc;

use extwatch_formats::{open_image, ReadAt};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let src: Arc<dyn ReadAt> = Arc::new(data.to_vec());
    if let Ok(img) = open_image(src, "x86-64") {
        walk::walk(img.fs.as_ref());
    }
});
