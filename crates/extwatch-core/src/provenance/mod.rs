//! The provenance room: where an image's bytes come from and whether anyone vouches for them —
//! dm-verity (declared, stored and recomputed root hashes) and its PKCS#7 signature evaluated the way
//! systemd does ([`evaluate`]), the host's and the operator's trust anchors ([`trust`]), the
//! stand-alone `verify` command ([`verify`]), and the OpenSSL-backed PKCS#7 verification itself
//! ([`pkcs7`]; it lives here, not in `extwatch-formats`, so the parser crate links no OpenSSL).

pub(crate) mod evaluate;
pub(crate) mod pkcs7;
pub(crate) mod trust;
pub(crate) mod verify;
