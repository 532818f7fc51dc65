#!/usr/bin/env bash
# Smoke-fuzzes every target for SECONDS each (default 20) and fails on any crash, timeout or OOM.
#   fuzz/smoke.sh [SECONDS] [TARGET...]
# Installs cargo-fuzz when missing, (re)generates the seed corpora with seed.sh, builds all targets
# with AddressSanitizer, then runs each with -max_total_time. Toolchain and environment
# (FUZZ_TARGET_DIR, FUZZ_RSS_MB, FUZZ_TIMEOUT): see common.sh.
# Crashing inputs land in fuzz/artifacts/<target>/; reproduce with
#   cargo +nightly fuzz run <target> fuzz/artifacts/<target>/<file>
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
secs=${1:-20}
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(osrelease mountinfo image ddi verity veritysig erofs squashfs)
# shellcheck source=fuzz/common.sh
. "$here/common.sh"

"$here/seed.sh"

cd "$here"
echo ">> building ${targets[*]}" >&2
for t in "${targets[@]}"; do
  "${fuzz[@]}" build --target-dir "$target_dir" "$t"
done

failed=()
for t in "${targets[@]}"; do
  echo ">> fuzzing $t for ${secs}s" >&2
  mkdir -p "$here/artifacts/$t"
  extra=()
  leak_options "$t"
  if ! ASAN_OPTIONS="$asan" "${fuzz[@]}" run --target-dir "$target_dir" "$t" "$here/corpus/$t" -- \
      -max_total_time="$secs" -timeout="$per_input" -rss_limit_mb="$rss" "${extra[@]}" \
      -print_final_stats=1 -artifact_prefix="$here/artifacts/$t/" 2>"$here/artifacts/$t.log"; then
    failed+=("$t")
    echo "!! $t FAILED; log: fuzz/artifacts/$t.log" >&2
    grep -E "^(==[0-9]+==ERROR|thread .* panicked|SUMMARY|Test unit written|ALARM|.*out-of-memory)" \
      "$here/artifacts/$t.log" | head -20 >&2 || true
  else
    grep -E "^stat::(number_of_executed_units|peak_rss_mb|new_units_added)" "$here/artifacts/$t.log" \
      | tr '\n' ' ' | sed "s/^/   $t: /" >&2
    echo >&2
  fi
done

if [ ${#failed[@]} -gt 0 ]; then
  echo "FAILED: ${failed[*]} (inputs in fuzz/artifacts/)" >&2
  exit 1
fi
echo "OK: ${targets[*]} ran ${secs}s each without crashes" >&2
