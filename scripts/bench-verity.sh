#!/usr/bin/env bash
# dm-verity recomputation benchmark (issue 3): extwatch's streaming tree vs `veritysetup verify` on the
# same 1 GiB data and hash device, in the same run, plus extwatch's throughput against what
# `openssl speed -evp sha256` reports for one core (times the cores used), and extwatch's peak RSS.
# Then end to end: `extwatch verify` (the CLI with its default options: partitions, release lookup,
# side-car reading, the tree and the report) of a squashfs of the same size with `.verity` and
# `.roothash` side-cars, against `veritysetup verify` of that image; and `extwatch verify --sha256`,
# which also computes the whole-file SHA-256 (one sequential stream, so it bounds the wall time).
#
# Usage: scripts/bench-verity.sh [SIZE_MIB]   (default 1024)
set -euo pipefail
cd "$(dirname "$0")/.."
size=${1:-1024}
command -v veritysetup >/dev/null || { echo "needs veritysetup (cryptsetup-bin)" >&2; exit 2; }
[ -x /usr/bin/time ] || { apt-get install -y -qq time >/dev/null; }
work=${BENCH_CACHE:-/var/tmp/extwatch-bench}/verity
mkdir -p "$work"
if [ ! -f "$work/data-$size" ]; then
  echo ">> making $size MiB of random data" >&2
  openssl rand -out "$work/data-$size" $((size * 1024 * 1024))
fi
data=$work/data-$size
hash=$work/hash-$size
root=$(veritysetup format "$data" "$hash" | awk '/Root hash:/ {print $3}')
cargo build --release -q -p extwatch-formats --example verity
bin=${CARGO_TARGET_DIR:-target}/release/examples/verity
cores=$(nproc)
# Warm the page cache for both tools alike.
cat "$data" "$hash" > /dev/null

best() { sort -n | head -1; }
vs=$( for _ in 1 2 3; do /usr/bin/time -f '%e' veritysetup verify "$data" "$hash" "$root" 2>&1 >/dev/null | tail -1; done | best )
ew=$( for _ in 1 2 3; do "$bin" "$data" "$hash" "$cores" | awk '{print $6}'; done | best )
ew1=$( for _ in 1 2 3; do "$bin" "$data" "$hash" 1 | awk '{print $6}'; done | best )
ours=$("$bin" "$data" "$hash" "$cores")
[ "$(echo "$ours" | awk '{print $2}')" = "$root" ] || { echo "ROOT HASH MISMATCH: $ours vs $root" >&2; exit 1; }
rss=$( /usr/bin/time -f '%M' "$bin" "$data" "$hash" "$cores" 2>&1 >/dev/null | tail -1 )
ossl=$(openssl speed -evp sha256 -bytes 4096 -seconds 3 2>/dev/null | awk '/^sha256/ {print $2}' | tr -d k)
# openssl prints thousands of bytes per second for the 4096-byte block size.
ossl_mbs=$(awk -v k="$ossl" 'BEGIN {printf "%.0f", k * 1000 / 1e6}')
mbs=$(awk -v s="$size" -v t="$ew" 'BEGIN {printf "%.0f", s * 1048576 / 1e6 / t}')
mbs1=$(awk -v s="$size" -v t="$ew1" 'BEGIN {printf "%.0f", s * 1048576 / 1e6 / t}')
echo "verity tree of ${size} MiB (root hash $root, equal in both tools)"
echo "  veritysetup verify:          ${vs} s"
echo "  extwatch, ${cores} threads:          ${ew} s  (${mbs} MB/s)  peak RSS $((rss / 1024)) MiB"
echo "  extwatch, 1 thread:          ${ew1} s  (${mbs1} MB/s)"
awk -v a="$vs" -v b="$ew" 'BEGIN {printf "  ratio veritysetup/extwatch:   %.2fx (goal >= 3x)\n", a / b}'
awk -v m="$mbs" -v o="$ossl_mbs" -v c="$cores" 'BEGIN {printf "  openssl speed sha256 @4KiB:  %d MB/s per core; extwatch reaches %.0f%% of %d x that (goal >= 75%%)\n", o, 100 * m / (o * c), c}'

# End to end: a squashfs image (the data, stored uncompressed) with side-cars, through the CLI.
img=$work/sq-$size.raw
if [ ! -f "$img" ]; then
  echo ">> making a $size MiB squashfs with .verity/.roothash side-cars" >&2
  t=$(mktemp -d)
  mkdir -p "$t/usr/lib/extension-release.d"
  echo ID=_any > "$t/usr/lib/extension-release.d/extension-release.sq-$size"
  ln "$data" "$t/usr/data" 2>/dev/null || cp "$data" "$t/usr/data"
  mksquashfs "$t" "$img" -noappend -quiet -no-progress -noD -noF -all-root >/dev/null
  rm -rf "$t"
fi
sqroot=$(veritysetup format "$img" "$work/sq-$size.verity" | awk '/Root hash:/ {print $3}')
echo "$sqroot" > "$work/sq-$size.roothash"
cargo build --release -q -p extwatch
cli=${CARGO_TARGET_DIR:-target}/release/extwatch
cat "$img" "$work/sq-$size.verity" > /dev/null
"$cli" verify "$img" --format json | grep -q '"recomputed": "'"$sqroot"'"' || {
  echo "extwatch verify did not recompute $sqroot" >&2; "$cli" verify "$img" >&2; exit 1; }
vs2=$( for _ in 1 2 3; do /usr/bin/time -f '%e' veritysetup verify "$img" "$work/sq-$size.verity" "$sqroot" 2>&1 >/dev/null | tail -1; done | best )
ew2=$( for _ in 1 2 3; do /usr/bin/time -f '%e' "$cli" verify "$img" 2>&1 >/dev/null | tail -1; done | best )
ew3=$( for _ in 1 2 3; do /usr/bin/time -f '%e' "$cli" verify --sha256 "$img" 2>&1 >/dev/null | tail -1; done | best )
rss2=$( /usr/bin/time -f '%M' "$cli" verify "$img" 2>&1 >/dev/null | tail -1 )
echo "end to end, $(stat -c %s "$img") byte squashfs with .verity/.roothash side-cars:"
echo "  veritysetup verify:          ${vs2} s"
echo "  extwatch verify:             ${ew2} s  peak RSS $((rss2 / 1024)) MiB"
echo "  extwatch verify --sha256:    ${ew3} s  (also the whole-file SHA-256: one sequential stream)"
awk -v a="$vs2" -v b="$ew2" 'BEGIN {printf "  ratio veritysetup/extwatch verify:          %.2fx (goal >= 2.5x)\n", a / b}'
awk -v a="$vs2" -v b="$ew3" 'BEGIN {printf "  ratio veritysetup/extwatch verify --sha256: %.2fx\n", a / b}'
