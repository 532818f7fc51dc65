#!/bin/sh
# Benchmark `extwatch files IMAGE` (default table output, into a pipe) against `unsquashfs -lls IMAGE`
# in the same run, on images built at run time:
#
#   usr-zstd, usr-gzip, usr-lz4   mksquashfs of $SRC (default /usr) with that compressor
#   deep-200k                     200,000 empty files in 250 nested directories (800 per level)
#
# Prints, per image, hyperfine's mean times, the ratio unsquashfs/extwatch, and both peak RSS
# (/usr/bin/time -f %M, KiB). Targets (issue 8): >= 5x on the /usr images with extwatch under 64 MiB,
# and within 2x (ratio >= 0.5) on deep-200k.
#
#   scripts/bench-squashfs.sh [RUNS]     (default 5 runs each)
#
# Environment: EXTWATCH (binary; default: cargo build --release into $CARGO_TARGET_DIR or
# $HERE/target), BENCH_DIR (scratch, images are kept and reused; default
# /var/tmp/extwatch-bench-squashfs), SRC (default /usr), COMPS (default "zstd gzip lz4").
set -eu

RUNS="${1:-5}"
BENCH_DIR="${BENCH_DIR:-/var/tmp/extwatch-bench-squashfs}"
SRC="${SRC:-/usr}"
COMPS="${COMPS:-zstd gzip lz4}"
HERE="$(cd "$(dirname "$0")/.." && pwd)"

if [ -z "${EXTWATCH:-}" ]; then
    export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HERE/target}"
    (cd "$HERE" && cargo build -q --release -p extwatch)
    EXTWATCH="$CARGO_TARGET_DIR/release/extwatch"
fi
[ -x /usr/bin/time ] || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq time >/dev/null
for t in mksquashfs unsquashfs hyperfine python3; do
    command -v "$t" >/dev/null || { echo "bench-squashfs: $t missing" >&2; exit 1; }
done
mkdir -p "$BENCH_DIR"

images=""
for c in $COMPS; do
    img="$BENCH_DIR/usr-$c.sqfs"
    if [ ! -s "$img" ]; then
        echo ">> building $img (mksquashfs $SRC -comp $c)" >&2
        # Fast levels: the listing cost does not depend on them, building 5 GB at level 15 does.
        case $c in
            zstd) opts="-Xcompression-level 1" ;;
            gzip) opts="-Xcompression-level 1" ;;
            *) opts="" ;;
        esac
        # shellcheck disable=SC2086
        mksquashfs "$SRC" "$img.tmp" -noappend -quiet -no-progress -comp "$c" $opts >/dev/null 2>&1 || true
        [ -s "$img.tmp" ] || { echo "bench-squashfs: mksquashfs failed for $c" >&2; exit 1; }
        mv "$img.tmp" "$img"
    fi
    images="$images $img"
done

deep="$BENCH_DIR/deep-200k.sqfs"
if [ ! -s "$deep" ]; then
    echo ">> building $deep (200,000 files in 250 levels)" >&2
    tree="$BENCH_DIR/deep-tree"
    rm -rf "$tree"
    python3 - "$tree" <<'PY'
import os, sys
d = sys.argv[1]
for level in range(250):
    d = os.path.join(d, "d%03d" % level)
    os.makedirs(d)
    for i in range(800):
        open(os.path.join(d, "f%04d" % i), "w").close()
PY
    mksquashfs "$tree" "$deep.tmp" -noappend -quiet -no-progress >/dev/null
    mv "$deep.tmp" "$deep"
    rm -rf "$tree"
fi
images="$images $deep"

printf '\n%-16s %8s %10s %12s %8s %12s %12s\n' image entries extwatch unsquashfs ratio rss_ext_KiB rss_unsq_KiB
for img in $images; do
    name=$(basename "$img" .sqfs)
    json="$BENCH_DIR/$name.json"
    hyperfine -N -w 1 -r "$RUNS" --export-json "$json" \
        -n extwatch "sh -c '$EXTWATCH files $img | cat > /dev/null'" \
        -n unsquashfs "sh -c 'unsquashfs -lls $img | cat > /dev/null'" >/dev/null 2>&1
    entries=$("$EXTWATCH" files "$img" | wc -l)
    rss_e=$(/usr/bin/time -f %M sh -c "$EXTWATCH files $img > /dev/null" 2>&1 >/dev/null | tail -1)
    rss_u=$(/usr/bin/time -f %M sh -c "unsquashfs -lls $img > /dev/null" 2>&1 >/dev/null | tail -1)
    python3 - "$json" "$name" "$entries" "$rss_e" "$rss_u" <<'PY'
import json, sys
r = {x["command"]: x["mean"] for x in json.load(open(sys.argv[1]))["results"]}
e, u = r["extwatch"], r["unsquashfs"]
print("%-16s %8s %9.3fs %11.3fs %7.2fx %12s %12s" % (sys.argv[2], sys.argv[3], e, u, u / e, sys.argv[4], sys.argv[5]))
PY
done
