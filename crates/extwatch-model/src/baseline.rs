//! The FIM blind-spot export of `extwatch audit --baseline FILE`.
//!
//! File-integrity tools (AIDE, Tripwire, osquery's file events, EDR baselines) see `/usr` and `/etc`
//! as one tree once an extension is merged, so they either alert on every extension file or — worse —
//! absorb it into their baseline. This document gives them both halves: the **base** manifest (the
//! host's own hierarchy, read from beneath the overlay) and the **merged** manifest (what the kernel
//! shows), every entry of the latter tagged with the layer it comes from. A FIM tool compares its view
//! with `merged`, and treats entries whose `layer` is not `base` as extension content.
//!
//! Format: one JSON object, `schema` = [`BASELINE_SCHEMA`]; paths are absolute host paths; `mode` is
//! the octal permission string (`0755`); `sha256` is lowercase hex for regular files, null otherwise.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Schema id of the baseline document.
pub const BASELINE_SCHEMA: &str = "extwatch/v1-baseline";

/// The whole export.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema, PartialEq)]
pub struct Baseline {
    /// Always [`BASELINE_SCHEMA`].
    pub schema: String,
    /// The audited root.
    pub root: String,
    /// One entry per hierarchy with extension layers (merged or mergeable).
    pub hierarchies: Vec<BaselineHierarchy>,
}

/// Base and merged manifests of one hierarchy.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema, PartialEq)]
pub struct BaselineHierarchy {
    /// `/usr`, `/opt` or `/etc`.
    pub hierarchy: String,
    /// True when the layers are merged now; false when this is the view systemd would build.
    pub merged: bool,
    /// Layers bottom to top: `base`, then image names.
    pub layers: Vec<String>,
    /// The host's own files.
    pub base: Vec<ManifestEntry>,
    /// The union, each entry with its layer.
    pub merged_view: Vec<ManifestEntry>,
}

/// One file in a manifest.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema, PartialEq)]
pub struct ManifestEntry {
    /// Absolute path (lossy UTF-8).
    pub path: String,
    /// `file`, `dir`, `symlink`, `char`, `block`, `fifo`, `socket`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Octal permission bits, e.g. `0755`.
    pub mode: String,
    /// Owner.
    pub uid: u32,
    /// Group.
    pub gid: u32,
    /// Size in bytes (regular files).
    pub size: u64,
    /// Symlink target.
    pub target: Option<String>,
    /// SHA-256 of regular files.
    pub sha256: Option<String>,
    /// `base` or the image name (merged view only).
    pub layer: Option<String>,
}
