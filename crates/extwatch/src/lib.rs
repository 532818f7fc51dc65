//! The `extwatch` command line as a library: [`cli`] holds the clap definitions, so man pages and
//! shell completions are generated from the same grammar the binary parses (`cargo xtask codegen`).
#![forbid(unsafe_code)]

pub mod cli;
