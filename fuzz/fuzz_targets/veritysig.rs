//! The verity signature partition (JSON, NUL padding, base64 PKCS#7) over hostile bytes: never
//! panics. The PKCS#7 verification that follows is OpenSSL's (`PKCS7_verify`, called from
//! extwatch-core's provenance room, which links OpenSSL); the parser crate fuzzed here links none.
#![no_main]

use extwatch_formats::veritysig::parse_verity_sig;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(sig) = parse_verity_sig(data) {
        // The fields the verifier would be handed are bounded and well-formed.
        let _ = (sig.signature.len(), sig.root_hash.len());
    }
});
