//! What `extwatch checks --format json` prints: the catalogue as a list of typed records.
//!
//! The catalogue itself ([`crate::catalogue::CATALOGUE`]) is `'static` data with more words than
//! this listing shows; [`CheckList`] is the printed contract, with a committed JSON Schema
//! (`schema/extwatch-v1-checks.schema.json`) like every other JSON extwatch prints. The fields are
//! declared in alphabetical order because that is the order the listing has always had (it was
//! built as a `serde_json::Value` map, which sorts its keys); reordering them changes the bytes.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::catalogue::{CheckDef, CATALOGUE};
use crate::Severity;

/// One check as `extwatch checks --format json` lists it.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema, PartialEq, Eq)]
pub struct CheckInfo {
    /// NIST SP 800-53 rev. 5 controls it evidences, e.g. `["SI-7","SR-4"]`.
    pub controls: Vec<String>,
    /// What a finding of this check means, in one line.
    pub description: String,
    /// Stable kebab-case check id (the `id` of its findings).
    pub id: String,
    /// Default severity of its findings.
    pub severity: Severity,
}

/// The whole listing: a JSON array, one [`CheckInfo`] per check, in catalogue order.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema, PartialEq, Eq)]
#[serde(transparent)]
pub struct CheckList(pub Vec<CheckInfo>);

impl From<&CheckDef> for CheckInfo {
    fn from(d: &CheckDef) -> Self {
        CheckInfo {
            controls: d.controls.iter().map(|c| (*c).to_string()).collect(),
            description: d.summary.to_string(),
            id: d.id.to_string(),
            severity: d.severity,
        }
    }
}

impl CheckList {
    /// Every check this build evaluates.
    pub fn catalogue() -> Self {
        CheckList(CATALOGUE.iter().map(CheckInfo::from).collect())
    }
}

/// The JSON Schema of [`CheckList`].
pub fn checks_schema_json() -> String {
    crate::schemas::schema_json::<CheckList>()
}
