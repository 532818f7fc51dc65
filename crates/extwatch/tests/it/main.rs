//! The integration tests of the `extwatch` binary, built as one test binary (cargo builds
//! `tests/it/main.rs` as the test target `it`): one link instead of twelve, one place for shared
//! helpers (`extwatch-testsupport`). Each former test file is a module and keeps its name as a filter
//! prefix:
//!
//! ```text
//! cargo test -p extwatch --test it                      # all
//! cargo test -p extwatch --test it hostile_confine::    # one module
//! cargo test -p extwatch --test it golden::             # the golden files
//! EXTWATCH_REQUIRE_SYSTEMD=1 cargo test -p extwatch --test it conformance_systemd:: -- --nocapture
//! ```

// Test code: a failed unwrap is a failed test (clippy.toml allows these in #[test] functions only,
// not in the helpers beside them).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod checks_select;
mod cli;
mod conformance_systemd;
mod files;
mod golden;
mod hostile;
mod hostile_budgets;
mod hostile_confine;
mod hostile_erofs;
mod hostile_squashfs;
mod merged_view;
mod provenance;
mod reader_conformance;
