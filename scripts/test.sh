#!/usr/bin/env bash
# Sets up everything the tests need (Debian packages, the systemd 257 root) and runs them.
# Conformance tests against real systemd must not skip: EXTWATCH_REQUIRE_SYSTEMD=1 makes a missing
# trixie root or namespace support a failure.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --test
export EXTWATCH_REQUIRE_SYSTEMD="${EXTWATCH_REQUIRE_SYSTEMD:-1}"
cargo test --workspace --locked "$@"
