//! The integration tests of the `extwatch` binary, one test binary (`cargo test -p extwatch --test
//! it`); each module keeps its own name as a filter prefix (`cargo test -p extwatch --test it
//! golden::`).

mod golden;
