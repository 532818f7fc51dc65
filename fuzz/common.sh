# Shared setup of fuzz/smoke.sh and fuzz/run.sh (sourced, not run): the environment knobs, cargo-fuzz
# itself, the toolchain, and the LeakSanitizer exceptions. Expects `here` (the fuzz/ directory).
# Environment: FUZZ_TARGET_DIR (default fuzz/target), FUZZ_RSS_MB (default 2048), FUZZ_TIMEOUT
# (seconds per input before it counts as a hang, default 10).

target_dir=${FUZZ_TARGET_DIR:-$here/target}
rss=${FUZZ_RSS_MB:-2048}
per_input=${FUZZ_TIMEOUT:-10}

if ! cargo fuzz --version >/dev/null 2>&1; then
  echo ">> installing cargo-fuzz" >&2
  cargo install cargo-fuzz --locked
fi

# `cargo +nightly` when a nightly toolchain exists, else stable with RUSTC_BOOTSTRAP=1 (what
# cargo-fuzz's -Z flags need).
if cargo +nightly --version >/dev/null 2>&1; then
  fuzz=(cargo +nightly fuzz)
else
  echo ">> no nightly toolchain: using stable with RUSTC_BOOTSTRAP=1" >&2
  export RUSTC_BOOTSTRAP=1
  fuzz=(cargo fuzz)
fi

# Sets `asan` (ASAN_OPTIONS for target $1) and appends its libFuzzer flags to the array `extra`.
# LeakSanitizer reports allocations that are not ours and would fail runs at random: OpenSSL keeps
# small allocations alive on some d2i error paths (only libcrypto frames; veritysig), and glibc's
# thread-local destructor registration (__cxa_thread_atexit_impl) for the hashing threads that the
# verity tree spawns. Crashes, timeouts and OOMs still count for both.
leak_options() {
  asan=${ASAN_OPTIONS:-}
  if [ "$1" = veritysig ] || [ "$1" = verity ]; then
    extra+=(-detect_leaks=0)
    asan="${asan:+$asan:}detect_leaks=0"
  fi
}
