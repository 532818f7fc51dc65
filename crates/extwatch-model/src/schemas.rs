//! Every JSON document extwatch prints or writes has a JSON Schema generated from its type here, and
//! a committed copy under `schema/`. [`SCHEMAS`] is the one list: `cargo xtask codegen` writes each
//! file and `cargo xtask codegen --check` (run by a test) fails when a committed copy is stale, so
//! a field change cannot reach users without a reviewed schema diff.

use schemars::JsonSchema;

/// One committed schema file and the function that generates its content.
#[derive(Debug, Clone, Copy)]
pub struct SchemaFile {
    /// File name under `schema/`.
    pub file: &'static str,
    /// What prints the document it describes.
    pub printed_by: &'static str,
    /// The schema, pretty-printed with a trailing newline.
    pub generate: fn() -> String,
}

/// Every schema, one per printed document.
pub const SCHEMAS: &[SchemaFile] = &[
    SchemaFile {
        file: "extwatch-v1.schema.json",
        printed_by: "extwatch inventory|audit --format json",
        generate: crate::report_schema_json,
    },
    SchemaFile {
        file: "extwatch-v1-verify.schema.json",
        printed_by: "extwatch verify --format json",
        generate: crate::verify_schema_json,
    },
    SchemaFile {
        file: "extwatch-v1-files.schema.json",
        printed_by: "extwatch files --format json",
        generate: crate::files_schema_json,
    },
    SchemaFile {
        file: "extwatch-v1-checks.schema.json",
        printed_by: "extwatch checks --format json",
        generate: crate::checklist::checks_schema_json,
    },
    SchemaFile {
        file: "extwatch-v1-baseline.schema.json",
        printed_by: "extwatch audit --baseline FILE",
        generate: baseline_schema_json,
    },
];

/// The JSON Schema of `T`, pretty-printed with a trailing newline (the layout of every committed
/// schema file).
pub fn schema_json<T: JsonSchema>() -> String {
    let schema = schemars::schema_for!(T);
    // Serialised through `Schema` (not its inner value), which puts `$schema`, `title` and
    // `description` first; a `Schema` is a JSON value, so this cannot fail.
    let mut s = serde_json::to_string_pretty(&schema).unwrap_or_default();
    s.push('\n');
    s
}

/// The JSON Schema of [`crate::baseline::Baseline`].
pub fn baseline_schema_json() -> String {
    schema_json::<crate::baseline::Baseline>()
}
