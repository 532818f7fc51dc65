//! The integration tests of `extwatch-formats`, built as one test binary (cargo builds
//! `tests/it/main.rs` as the test target `it`). Each former test file is a module and keeps its name
//! as a filter prefix:
//!
//! ```text
//! cargo test -p extwatch-formats --test it                  # all
//! cargo test -p extwatch-formats --test it erofs_hostile::  # one module
//! ```

mod erofs_hostile;
mod readers;
