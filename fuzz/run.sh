#!/usr/bin/env bash
# Runs one fuzz target for a given time outside CI and prints its execution count:
#   fuzz/run.sh TARGET SECONDS [JOBS]
# e.g. fuzz/run.sh squashfs 3600 (the long campaigns of issue 8: >= 10M executions for squashfs and
# image/erofs). Seeds the corpora with seed.sh first, builds with AddressSanitizer, keeps the corpus
# it grows in fuzz/corpus/TARGET and crashing inputs in fuzz/artifacts/TARGET/. JOBS > 1 runs that
# many libFuzzer workers (-fork). Environment as for smoke.sh: FUZZ_TARGET_DIR, FUZZ_RSS_MB (2048),
# FUZZ_TIMEOUT (10 s per input), FUZZ_SANITIZER (address; `none` runs several times more inputs per
# second — the readers are safe Rust, AddressSanitizer mainly watches the C decompressors — and
# then also needs its own FUZZ_TARGET_DIR).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
[ $# -ge 2 ] || { echo "usage: fuzz/run.sh TARGET SECONDS [JOBS]" >&2; exit 2; }
t=$1 secs=$2 jobs=${3:-1}
# shellcheck source=fuzz/common.sh
. "$here/common.sh"

"$here/seed.sh" >&2
cd "$here"
san=(-s "${FUZZ_SANITIZER:-address}")
"${fuzz[@]}" build "${san[@]}" --target-dir "$target_dir" "$t"
mkdir -p "$here/artifacts/$t" "$here/corpus/$t"
log="$here/artifacts/$t.run.log"
extra=()
[ "$jobs" -gt 1 ] && extra+=(-fork="$jobs" -ignore_crashes=0)
leak_options "$t"
start=$(date +%s)
status=0
ASAN_OPTIONS="$asan" "${fuzz[@]}" run "${san[@]}" --target-dir "$target_dir" "$t" "$here/corpus/$t" -- \
  -max_total_time="$secs" -timeout="$per_input" -rss_limit_mb="$rss" -print_final_stats=1 \
  -artifact_prefix="$here/artifacts/$t/" "${extra[@]}" 2>"$log" || status=$?
execs=$(grep -E "^stat::number_of_executed_units" "$log" | awk '{s += $2} END {print s + 0}')
if [ "$execs" = 0 ]; then
  # -fork mode reports progress lines instead of final stats.
  execs=$(grep -oE "#[0-9]+" "$log" | tail -1 | tr -d '#')
fi
echo "$t: ${execs:-0} executions in $(( $(date +%s) - start ))s, exit $status, log $log"
crashes=$(find "$here/artifacts/$t" -type f | wc -l)
echo "$t: $crashes crashing inputs in fuzz/artifacts/$t/"
exit "$status"
