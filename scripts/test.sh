#!/usr/bin/env bash
# Sets up everything the tests need (Debian packages, the systemd 257 root) and runs them.
# Conformance tests against real systemd must not skip: EXTWATCH_REQUIRE_SYSTEMD=1 makes a missing
# trixie root or namespace support a failure. Ends with one line "tests: N passed, M failed".
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --test
export EXTWATCH_REQUIRE_SYSTEMD="${EXTWATCH_REQUIRE_SYSTEMD:-1}"
log=$(mktemp)
trap 'rm -f "$log"' EXIT
set +e
cargo test --workspace --locked "$@" 2>&1 | tee "$log"
rc=${PIPESTATUS[0]}
set -e
awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($i ~ /^passed;?$/) p += $(i-1); if ($i ~ /^failed;?$/) f += $(i-1) } }
     END { printf "tests: %d passed, %d failed\n", p, f }' "$log" | tee "${EXTWATCH_TEST_SUMMARY:-/dev/null}"
exit "$rc"
