#!/usr/bin/env bash
# Smoke-fuzzes every target for SECONDS each (default 20) and fails on any crash, timeout or OOM.
#   fuzz/smoke.sh [SECONDS] [TARGET...]
# Installs cargo-fuzz when missing, (re)generates the seed corpora with seed.sh, builds all targets
# with AddressSanitizer, then runs each with -max_total_time. Uses `cargo +nightly` when a nightly
# toolchain exists, else stable with RUSTC_BOOTSTRAP=1 (what cargo-fuzz's -Z flags need).
# Environment: FUZZ_TARGET_DIR (default fuzz/target), FUZZ_RSS_MB (default 2048),
# FUZZ_TIMEOUT (seconds per input before it counts as a hang, default 10).
# Crashing inputs land in fuzz/artifacts/<target>/; reproduce with
#   cargo +nightly fuzz run <target> fuzz/artifacts/<target>/<file>
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
secs=${1:-20}
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(osrelease mountinfo image ddi verity veritysig erofs squashfs)
target_dir=${FUZZ_TARGET_DIR:-$here/target}
rss=${FUZZ_RSS_MB:-2048}
per_input=${FUZZ_TIMEOUT:-10}

if ! cargo fuzz --version >/dev/null 2>&1; then
  echo ">> installing cargo-fuzz" >&2
  cargo install cargo-fuzz --locked
fi

if cargo +nightly --version >/dev/null 2>&1; then
  fuzz=(cargo +nightly fuzz)
else
  echo ">> no nightly toolchain: using stable with RUSTC_BOOTSTRAP=1" >&2
  export RUSTC_BOOTSTRAP=1
  fuzz=(cargo fuzz)
fi

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
  # LeakSanitizer reports allocations that are not ours and would fail runs at random: OpenSSL keeps
  # small allocations alive on some d2i error paths (only libcrypto frames; veritysig), and glibc's
  # thread-local destructor registration (__cxa_thread_atexit_impl) for the hashing threads that
  # the verity tree spawns. Crashes, timeouts and OOMs still count for both.
  asan=${ASAN_OPTIONS:-}
  if [ "$t" = veritysig ] || [ "$t" = verity ]; then
    extra+=(-detect_leaks=0)
    asan="${asan:+$asan:}detect_leaks=0"
  fi
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
