//! The `extwatch` command line as a library: [`cli`] holds the clap definitions, so man pages and
//! shell completions are generated from the same grammar the binary parses (`cargo xtask codegen`).
#![forbid(unsafe_code)]

// clap turns doc comments into help text: a doc comment on a value-enum variant or a flattened field
// would change `--help`, the man pages and the completions. The grammar's documentation is its help.
#[allow(missing_docs)]
pub mod cli;
