//! The verity signature partition (JSON, NUL padding, base64 PKCS#7), then the PKCS#7 verification
//! systemd performs, over hostile bytes: never panics.
#![no_main]

use extwatch_formats::pkcs7::{embedded_certs, verify};
use extwatch_formats::veritysig::parse_verity_sig;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(sig) = parse_verity_sig(data) {
        let _ = verify(&sig.signature, &sig.root_hash, &[]);
        let certs = embedded_certs(&sig.signature);
        let _ = verify(&sig.signature, &sig.root_hash, &certs);
    }
    // The raw bytes as a DER PKCS#7 blob too (the .p7s side-car path).
    let certs = embedded_certs(data);
    let _ = verify(data, "00", &certs);
});
