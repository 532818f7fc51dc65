//! Image-policy checks: what systemd-sysext and systemd-confext would accept on this host (docs/design.md
//! §4: `policy-allows-unsigned`, `policy-verity-fallback`).
//!
//! The effective policy per class (option, `sysext.conf`/`confext.conf` from v259, or the built-in
//! default, which accepts unprotected images) is resolved once by the policy reader; from v259 a
//! policy that allows `verity` lets a bad signature fall back to activation by root hash alone
//! (docs/systemd.md §5.4–5.5).

use serde_json::json;

use super::{finding, ids, Check, Facts, Outcome};

pub(super) const ALLOWS_UNSIGNED: Check = Check::new(ids::POLICY_ALLOWS_UNSIGNED, allows_unsigned);
pub(super) const VERITY_FALLBACK: Check = Check::new(ids::POLICY_VERITY_FALLBACK, verity_fallback);

/// First systemd version that activates a badly signed image by root hash when policy allows it.
const VERITY_FALLBACK_SINCE: u32 = 259;

fn allows_unsigned(f: &Facts) -> Outcome {
    Outcome::of(
        f.policies
            .iter()
            .filter(|p| p.allows_unsigned())
            .map(|p| {
                finding(
                    ALLOWS_UNSIGNED.def,
                    &format!("systemd-{}", p.class.as_str()),
                    format!(
                        "systemd-{} accepts unsigned images (policy {} from {})",
                        p.class.as_str(),
                        p.policy,
                        p.source
                    ),
                    json!({"policy": p.policy, "source": p.source, "flags": p.flags}),
                )
            })
            .collect(),
    )
}

fn verity_fallback(f: &Facts) -> Outcome {
    let v = f.version;
    Outcome::of(
        f.policies
            .iter()
            .filter(|p| v.major >= VERITY_FALLBACK_SINCE && p.allows_verity())
            .map(|p| {
                finding(
                    VERITY_FALLBACK.def,
                    &format!("systemd-{}", p.class.as_str()),
                    format!(
                        "systemd {} with policy {} activates images whose signature fails by root hash alone",
                        v, p.policy
                    ),
                    json!({"policy": p.policy, "source": p.source, "systemd_version": v.to_string()}),
                )
            })
            .collect(),
    )
}
