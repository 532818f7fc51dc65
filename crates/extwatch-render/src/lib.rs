//! Every output extwatch prints, rendered from the model types alone.
//!
//! This crate depends on `extwatch-model` and on formatting crates, never on the crate that reads
//! hosts and images: whatever produced a [`extwatch_model::Report`] (a live audit, a stored report,
//! later the fleet collector) renders it the same way, and a renderer cannot reach back into the host.
//!
//! Two rules hold for every module:
//!
//! * **Text for a terminal goes through [`escape`].** Image names, paths, release fields, signer
//!   subjects and finding messages come from the audited images; a control character among them
//!   must never reach a terminal raw (it could move the cursor, rewrite earlier lines or set the
//!   window title). Every table and text rendering below escapes such fields with the one escaper.
//! * **JSON is a model type, printed by [`json`].** Each document has a type in `extwatch-model`
//!   and a committed JSON Schema (`extwatch_model::schemas::SCHEMAS`, written by
//!   `cargo xtask codegen`); nothing here builds JSON ad hoc.
//!
//! Layout, by what is rendered:
//!
//! | module | renders |
//! |---|---|
//! | [`escape`] | the terminal escaper |
//! | [`json`] | any model document as pretty JSON with a trailing newline |
//! | [`text`] | terminal tables: the inventory/audit report, `verify`, `checks` and the `files` listing |
//! | [`files`] | `files --format json` streamed from entries, and the [`extwatch_model::FileRecord`] of an entry |
//! | [`mtree`] | `files --format mtree`: byte-for-byte what `systemd-dissect --mtree` prints |
//!
//! Interchange formats for other tools come next (issue 10 onwards) and go here, one top-level
//! module each, beside [`json`]: `sarif` (SARIF 2.1.0 for code-scanning dashboards: one `rule` per
//! catalogue entry from `extwatch_model::catalogue`, one `result` per finding), `ocsf` (OCSF
//! findings for SIEM pipelines) and `oscal` (OSCAL assessment results keyed by the NIST SP 800-53
//! controls each finding evidences; the field mappings are in `docs/formats-and-controls.md`). Each maps a `Report` to its own serde types, with a schema of
//! its own, and is printed by [`json`]; none of them reads anything but the model. NDJSON event
//! streams (one model record per line, for the watch agent) join [`json`].
#![forbid(unsafe_code)]

pub mod escape;
pub mod files;
pub mod json;
pub mod mtree;
pub mod text;
