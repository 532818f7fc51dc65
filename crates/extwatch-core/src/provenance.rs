//! What the DDI's partition table says about its integrity protection, before any verification:
//! a verity signature partition's declared `rootHash`, or the partition-UUID convention (data UUID =
//! first 128 bits of the root hash, verity UUID = last 128 bits; reference systemd.md §5.1–5.2).
//! Full recomputation and signature verification are separate work (issue 3); until then a present
//! signature is reported as `unverified`, never as valid.

use extwatch_formats::ddi::Ddi;
use extwatch_model::{Signature, SignatureStatus, Verity};

/// Fills the verity/signature summary from a DDI's layout.
pub fn ddi_summary(
    _ddi: &Ddi,
    _verity: &mut Verity,
    _signature: &mut Signature,
    _errors: &mut Vec<String>,
) {
    let _ = SignatureStatus::Unverified;
}
