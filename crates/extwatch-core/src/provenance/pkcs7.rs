//! Verifying a verity root-hash signature the way systemd's userspace fallback does, and naming the
//! signer.
//!
//! systemd (`validate_signature_userspace()` in `src/shared/dissect-image.c`) calls
//! `PKCS7_verify(p7, certs, NULL, hex(root_hash), NULL, PKCS7_NOINTERN|PKCS7_NOVERIFY)`: the signature
//! is good when it was made by the key of *any* listed certificate — no chain, expiry or key-usage
//! check, and certificates embedded in the PKCS#7 are ignored. We call the very same OpenSSL routine
//! (the `openssl` crate) so verdicts agree for every algorithm and encoding quirk
//! (docs/crates.md job 3). The signed content is the lowercase hex root hash, no newline.

use openssl::hash::MessageDigest;
use openssl::pkcs7::{Pkcs7, Pkcs7Flags};
use openssl::stack::Stack;
use openssl::x509::store::X509StoreBuilder;
use openssl::x509::{X509NameRef, X509};

/// Largest PKCS#7 blob accepted.
pub const MAX_PKCS7: usize = 1024 * 1024;
/// Largest certificate file accepted.
pub const MAX_CERT_FILE: usize = 1024 * 1024;

/// A trusted certificate and where it came from.
#[derive(Clone)]
pub struct TrustedCert {
    /// File it was read from (for evidence).
    pub source: String,
    /// The certificate.
    pub cert: X509,
}

impl std::fmt::Debug for TrustedCert {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "TrustedCert({})", self.source)
    }
}

/// Identity of a certificate, for reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertInfo {
    /// Subject, `CN=…, O=…` style.
    pub subject: String,
    /// Issuer.
    pub issuer: String,
    /// Serial (lowercase hex).
    pub serial: String,
    /// SHA-256 of the DER (lowercase hex).
    pub sha256_fingerprint: String,
    /// notBefore, seconds since the epoch.
    pub not_before: Option<i64>,
    /// notAfter, seconds since the epoch.
    pub not_after: Option<i64>,
}

fn unix(t: &openssl::asn1::Asn1TimeRef) -> Option<i64> {
    let epoch = openssl::asn1::Asn1Time::from_unix(0).ok()?;
    let d = epoch.diff(t).ok()?;
    Some(i64::from(d.days) * 86_400 + i64::from(d.secs))
}

/// Outcome of one verification against one set of certificates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Verified; the signer among the given certificates.
    Valid(CertInfo),
    /// None of the given certificates is the signer ("signer certificate not found").
    SignerNotFound,
    /// A given certificate is the signer but the signature does not verify over this root hash.
    BadSignature(String),
    /// The blob is not a usable PKCS#7 signature.
    Malformed(String),
}

/// Why a certificate file cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum CertError {
    /// Over `MAX_CERT_FILE`.
    #[error("certificate file larger than 1 MiB")]
    TooLarge,
    /// OpenSSL does not read it as a PEM X.509 certificate.
    #[error("not a PEM X.509 certificate")]
    Pem(#[source] openssl::error::ErrorStack),
}

/// Parses PEM certificate(s) from a file's bytes (systemd loads one per `.crt`; we accept the first).
pub fn parse_cert_pem(data: &[u8]) -> Result<X509, CertError> {
    if data.len() > MAX_CERT_FILE {
        return Err(CertError::TooLarge);
    }
    X509::from_pem(data).map_err(CertError::Pem)
}

fn name(n: &X509NameRef) -> String {
    n.entries()
        .map(|e| {
            let k = e.object().nid().short_name().unwrap_or("?").to_string();
            let v = e.data().to_string().unwrap_or_else(|_| "?".into());
            format!("{k}={v}")
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Describes a certificate.
pub fn cert_info(c: &X509) -> CertInfo {
    let fp = c
        .digest(MessageDigest::sha256())
        .map(|d| hex::encode(&*d))
        .unwrap_or_default();
    let serial = c
        .serial_number()
        .to_bn()
        .ok()
        .and_then(|b| b.to_hex_str().ok().map(|s| s.to_ascii_lowercase()))
        .unwrap_or_default();
    CertInfo {
        subject: name(c.subject_name()),
        issuer: name(c.issuer_name()),
        serial,
        sha256_fingerprint: fp,
        not_before: unix(c.not_before()),
        not_after: unix(c.not_after()),
    }
}

/// Certificates embedded in the PKCS#7 (systemd ignores them; we use them to name an untrusted
/// signer).
pub fn embedded_certs(der: &[u8]) -> Vec<X509> {
    let Ok(p7) = Pkcs7::from_der(der) else {
        return vec![];
    };
    let Some(signed) = p7.signed() else {
        return vec![];
    };
    signed
        .certificates()
        .map(|s| s.iter().map(|c| c.to_owned()).collect())
        .unwrap_or_default()
}

/// `PKCS7_verify(…, NOINTERN|NOVERIFY)` of `der` over the ASCII `root_hash_hex` with `certs`.
pub fn verify(der: &[u8], root_hash_hex: &str, certs: &[X509]) -> Verdict {
    if der.len() > MAX_PKCS7 {
        return Verdict::Malformed("signature larger than 1 MiB".into());
    }
    if der.is_empty() {
        return Verdict::Malformed("empty signature".into());
    }
    let p7 = match Pkcs7::from_der(der) {
        Ok(p) => p,
        Err(e) => return Verdict::Malformed(format!("not a DER PKCS#7 structure: {e}")),
    };
    if p7.signed().is_none() {
        return Verdict::Malformed("PKCS#7 is not of type signedData".into());
    }
    let mut stack = match Stack::new() {
        Ok(s) => s,
        Err(e) => return Verdict::Malformed(e.to_string()),
    };
    for c in certs {
        if stack.push(c.clone()).is_err() {
            return Verdict::Malformed("cannot build certificate stack".into());
        }
    }
    let store = match X509StoreBuilder::new() {
        Ok(b) => b.build(),
        Err(e) => return Verdict::Malformed(e.to_string()),
    };
    let flags = Pkcs7Flags::NOINTERN | Pkcs7Flags::NOVERIFY;
    let signer = p7
        .signers(&stack, flags)
        .ok()
        .and_then(|s| s.iter().next().map(|c| c.to_owned()));
    let Some(signer) = signer else {
        return Verdict::SignerNotFound;
    };
    let data = root_hash_hex.as_bytes();
    match p7.verify(&stack, &store, Some(data), None, flags) {
        Ok(()) => Verdict::Valid(cert_info(&signer)),
        Err(e) => Verdict::BadSignature(e.to_string()),
    }
}
