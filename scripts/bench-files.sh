#!/bin/sh
# Benchmark `extwatch files --hash` against the unmounted-image baseline a script would use today:
#
#   extwatch files --hash --format json IMG >/dev/null
#   unsquashfs -d DIR IMG && find DIR -type f -print0 | xargs -0 sha256sum >/dev/null
#
# on a squashfs of the host's /usr (padded with a synthetic tree to at least $MIN_FILES files), in the
# same run, page cache warm for both. Prints wall times, the ratio and extwatch's peak RSS
# (/usr/bin/time -v; `time` is installed with apt-get when missing).
#
#   scripts/bench-files.sh [RUNS]        (default 3 runs each, best time reported)
#
# Environment: EXTWATCH (binary; default: cargo build --release into $CARGO_TARGET_DIR or
# /work/target-d), BENCH_DIR (scratch; default /var/tmp/extwatch-bench-files), SRC (tree; default /usr),
# MIN_FILES (default 100000), COMP (mksquashfs compressor; default zstd), COMP_OPTS (default
# "-Xcompression-level 3" for zstd: mksquashfs's default level 15 takes ~20 min for 5 GB on 2 cores),
# IMG (use this existing squashfs instead of building one).
set -eu

RUNS="${1:-3}"
BENCH_DIR="${BENCH_DIR:-/var/tmp/extwatch-bench-files}"
SRC="${SRC:-/usr}"
MIN_FILES="${MIN_FILES:-100000}"
COMP="${COMP:-zstd}"
if [ "$COMP" = zstd ]; then COMP_OPTS="${COMP_OPTS:--Xcompression-level 3}"; else COMP_OPTS="${COMP_OPTS:-}"; fi
HERE="$(cd "$(dirname "$0")/.." && pwd)"

if [ -z "${EXTWATCH:-}" ]; then
    export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/work/target-d}"
    (cd "$HERE" && cargo build -q --release -p extwatch)
    EXTWATCH="$CARGO_TARGET_DIR/release/extwatch"
fi
if [ ! -x /usr/bin/time ]; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq time >/dev/null
fi
for t in mksquashfs unsquashfs sha256sum; do
    command -v "$t" >/dev/null || { echo "bench-files: $t missing" >&2; exit 1; }
done

mkdir -p "$BENCH_DIR"
IMG="${IMG:-$BENCH_DIR/usr.squashfs}"
PAD="$BENCH_DIR/pad"
if [ ! -f "$IMG" ]; then
    n=$(find "$SRC" -xdev -type f | wc -l)
    rm -rf "$PAD"
    mkdir -p "$PAD"
    if [ "$n" -lt "$MIN_FILES" ]; then
        # Synthetic padding: small files of varied sizes, 1000 per directory.
        need=$((MIN_FILES - n))
        echo "bench-files: $SRC has $n files; padding with $need synthetic ones" >&2
        python3 - "$PAD" "$need" <<'EOF'
import os, sys
root, need = sys.argv[1], int(sys.argv[2])
for i in range(need):
    d = os.path.join(root, "pad", "d%04d" % (i // 1000))
    if i % 1000 == 0:
        os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "f%04d" % (i % 1000)), "wb") as f:
        f.write(os.urandom(64) * (1 + i % 50))
EOF
    fi
    echo "bench-files: building $IMG from $SRC (+ padding) with $COMP" >&2
    # shellcheck disable=SC2086
    mksquashfs "$SRC" "$PAD" "$IMG.tmp" -noappend -quiet -no-progress -comp "$COMP" $COMP_OPTS \
        -no-xattrs >/dev/null
    mv "$IMG.tmp" "$IMG"
    rm -rf "$PAD"
fi

files=$(unsquashfs -lls "$IMG" | grep -c '^-' || true)
bytes=$(du -b "$IMG" | cut -f1)
comp=$(unsquashfs -s "$IMG" | sed -n 's/^Compression //p' | head -1)
echo "image: $IMG ($bytes bytes, $files regular files, compression $comp)"
echo "cores: $(nproc)"

now() { date +%s.%N; }
best_ext=""
best_ref=""
rss=""
# Warm the page cache for both.
cat "$IMG" >/dev/null
i=0
while [ "$i" -lt "$RUNS" ]; do
    i=$((i + 1))
    t0=$(now)
    /usr/bin/time -v -o "$BENCH_DIR/time.txt" "$EXTWATCH" files --hash --format json "$IMG" >/dev/null
    t1=$(now)
    r=$(awk -F: '/Maximum resident set size/ {gsub(/ /, "", $2); print $2}' "$BENCH_DIR/time.txt")
    ext=$(echo "$t1 - $t0" | bc)

    rm -rf "$BENCH_DIR/x"
    t0=$(now)
    unsquashfs -q -n -d "$BENCH_DIR/x" "$IMG" >/dev/null
    find "$BENCH_DIR/x" -type f -print0 | xargs -0 sha256sum >/dev/null
    t1=$(now)
    ref=$(echo "$t1 - $t0" | bc)
    rm -rf "$BENCH_DIR/x"

    echo "run $i: extwatch ${ext}s (peak RSS ${r} KiB), unsquashfs+sha256sum ${ref}s"
    if [ -z "$best_ext" ] || [ "$(echo "$ext < $best_ext" | bc)" = 1 ]; then best_ext=$ext; fi
    if [ -z "$best_ref" ] || [ "$(echo "$ref < $best_ref" | bc)" = 1 ]; then best_ref=$ref; fi
    if [ -z "$rss" ] || [ "$r" -gt "$rss" ]; then rss=$r; fi
done
ratio=$(echo "scale=2; $best_ref / $best_ext" | bc)
echo "best: extwatch ${best_ext}s, unsquashfs+sha256sum ${best_ref}s, ratio ${ratio}x, extwatch peak RSS $((rss / 1024)) MiB"
