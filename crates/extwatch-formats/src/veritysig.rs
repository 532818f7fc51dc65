//! The verity signature partition of a DDI, read exactly as systemd's `acquire_sig_for_roothash()`
//! reads it (docs/systemd.md §5.2; UAPI.2 "Verity"): at most 4 MiB, a JSON object in text form,
//! optionally NUL-padded — and if a NUL appears, everything after it must be NUL — with mandatory
//! `rootHash` (hex) and `signature` (base64 of a DER PKCS#7), and an optional `certificateFingerprint`
//! that systemd itself ignores but extwatch cross-checks.

use base64::Engine;

/// systemd refuses signature partitions larger than this.
pub const MAX_SIG_PARTITION: u64 = 4 * 1024 * 1024;

/// A parsed signature partition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VeritySig {
    /// Declared root hash (lowercase hex, as decoded).
    pub root_hash: String,
    /// DER PKCS#7 detached signature over the ASCII hex root hash.
    pub signature: Vec<u8>,
    /// SHA-256 fingerprint of the signing certificate, if declared (lowercase hex).
    pub certificate_fingerprint: Option<String>,
}

/// Why systemd would reject the partition (its own words where it has them). The decoders' errors
/// are kept typed but not exposed as `source()`: systemd's message embeds their text, so a chain
/// printer would show it twice.
#[derive(Debug, thiserror::Error)]
pub enum SigError {
    /// Over 4 MiB.
    #[error("Verity signature partition is larger than 4M, refusing.")]
    TooLarge,
    /// Data after the first NUL.
    #[error("Signature data contains embedded NUL byte.")]
    EmbeddedNul,
    /// Not JSON.
    #[error("Failed to parse signature JSON data: {0}")]
    Json(serde_json::Error),
    /// JSON, but not an object.
    #[error("Failed to parse signature JSON data: not a JSON object")]
    NotObject,
    /// A mandatory key is missing.
    #[error("Signature JSON object lacks '{0}' field.")]
    Missing(&'static str),
    /// rootHash is not a string.
    #[error("Failed to parse root hash field: not a string")]
    RootHashNotString,
    /// rootHash is not hex.
    #[error("Failed to parse root hash field: {0}")]
    RootHash(hex::FromHexError),
    /// rootHash is empty.
    #[error("Failed to parse root hash field: empty")]
    RootHashEmpty,
    /// signature is not a string.
    #[error("Failed to parse signature field: not a string")]
    SignatureNotString,
    /// signature is not base64.
    #[error("Failed to parse signature field: {0}")]
    Signature(base64::DecodeError),
}

/// Parses the raw bytes of a signature partition.
pub fn parse_verity_sig(data: &[u8]) -> Result<VeritySig, SigError> {
    if data.len() as u64 > MAX_SIG_PARTITION {
        return Err(SigError::TooLarge);
    }
    let text = match data.iter().position(|c| *c == 0) {
        Some(i) => {
            let (text, nuls) = data.split_at_checked(i).unwrap_or((data, &[]));
            if nuls.iter().any(|c| *c != 0) {
                return Err(SigError::EmbeddedNul);
            }
            text
        }
        None => data,
    };
    let v: serde_json::Value = serde_json::from_slice(text).map_err(SigError::Json)?;
    let obj = v.as_object().ok_or(SigError::NotObject)?;
    let rh = obj.get("rootHash").ok_or(SigError::Missing("rootHash"))?;
    let rh = rh.as_str().ok_or(SigError::RootHashNotString)?;
    let bytes = hex::decode(rh).map_err(SigError::RootHash)?;
    if bytes.is_empty() {
        return Err(SigError::RootHashEmpty);
    }
    let sig = obj.get("signature").ok_or(SigError::Missing("signature"))?;
    let sig = sig.as_str().ok_or(SigError::SignatureNotString)?;
    let signature = base64::engine::general_purpose::STANDARD
        .decode(sig)
        .map_err(SigError::Signature)?;
    let certificate_fingerprint = obj
        .get("certificateFingerprint")
        .and_then(|f| f.as_str())
        .map(str::to_ascii_lowercase);
    Ok(VeritySig {
        root_hash: hex::encode(bytes),
        signature,
        certificate_fingerprint,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_repart_style_json_and_rejects_hostile_forms() {
        let mut good = br#"{"rootHash":"ABcd0123456789abcdef0123456789ab","certificateFingerprint":"ff","signature":"AAEC"}"#.to_vec();
        good.resize(4096, 0);
        let s = parse_verity_sig(&good).unwrap();
        assert_eq!(s.root_hash, "abcd0123456789abcdef0123456789ab");
        assert_eq!(s.signature, vec![0, 1, 2]);
        assert_eq!(s.certificate_fingerprint.as_deref(), Some("ff"));

        let mut bad = good.clone();
        bad[4000] = b'x';
        assert!(matches!(parse_verity_sig(&bad), Err(SigError::EmbeddedNul)));
        assert!(matches!(
            parse_verity_sig(&vec![b' '; 5 * 1024 * 1024]),
            Err(SigError::TooLarge)
        ));
        assert!(matches!(
            parse_verity_sig(br#"{"signature":"AA=="}"#),
            Err(SigError::Missing("rootHash"))
        ));
        assert!(matches!(
            parse_verity_sig(br#"{"rootHash":"abcd"}"#),
            Err(SigError::Missing("signature"))
        ));
        assert!(matches!(
            parse_verity_sig(br#"{"rootHash":"xyz","signature":"AA=="}"#),
            Err(SigError::RootHash(_))
        ));
        assert!(matches!(
            parse_verity_sig(br#"{"rootHash":"abcd","signature":"***"}"#),
            Err(SigError::Signature(_))
        ));
        assert!(matches!(
            parse_verity_sig(b"[1,2]"),
            Err(SigError::NotObject)
        ));
        assert!(matches!(parse_verity_sig(b"\0\0"), Err(SigError::Json(_))));
        // The messages are systemd's words and end up in reports: they must not change.
        let msg = |d: &[u8]| parse_verity_sig(d).map(|_| ()).unwrap_err().to_string();
        assert_eq!(
            msg(b"[1,2]"),
            "Failed to parse signature JSON data: not a JSON object"
        );
        assert_eq!(
            msg(br#"{"rootHash":"","signature":"AA=="}"#),
            "Failed to parse root hash field: empty"
        );
        assert_eq!(
            msg(br#"{"rootHash":"xy","signature":"AA=="}"#),
            "Failed to parse root hash field: Invalid character 'x' at position 0"
        );
    }
}
