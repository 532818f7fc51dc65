#!/usr/bin/env bash
# erofs lzma with and without fragments (issue 14): `extwatch files --hash IMAGE` (release build, the
# command a user runs) on images of the same tree made by erofs-utils 1.8 (the trixie root) with the
# same options but `-E fragments`, timed in the same run with hyperfine; prints the ratios (goal:
# fragments within 2x) and peak RSS. `fsck.erofs --extract` of each image is timed beside it as the
# reference reader.
#
# Usage: scripts/bench-erofs-fragments.sh     Env: BENCH_RUNS (default 3), EXTWATCH_TRIXIE
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${BENCH_RUNS:-3}
trixie=$(bash scripts/trixie-root.sh)
command -v hyperfine >/dev/null || { echo "needs hyperfine" >&2; exit 2; }
[ -x /usr/bin/time ] || { echo "needs GNU time" >&2; exit 2; }
cargo build --release -q -p extwatch
ew=${CARGO_TARGET_DIR:-$PWD/target}/release/extwatch
work=$(mktemp -d "$trixie/tmp/bench-erofs.XXXXXX")
trap 'rm -rf "$work"' EXIT
# A tree of many small files and some large ones: Python's and Perl's libraries when present,
# else a generated one.
mkdir -p "$work/tree"
if [ -d /usr/lib/python3.11 ] && [ -d /usr/share/perl ]; then
  cp -a /usr/lib/python3.11 /usr/share/perl "$work/tree/"
else
  python3 - "$work/tree" <<'PY'
import os, random, sys
r = random.Random(1)
for d in range(60):
    os.makedirs(f"{sys.argv[1]}/d{d}", exist_ok=True)
    for f in range(40):
        n = r.choice([200, 1500, 7000, 30000])
        with open(f"{sys.argv[1]}/d{d}/f{f}.py", "w") as fh:
            fh.write("".join(r.choice("abcdefgh \n") for _ in range(n)))
PY
fi
echo "tree: $(find "$work/tree" | wc -l) entries, $(du -sm "$work/tree" | cut -f1) MiB"
rel=${work#"$trixie"}
mk() { # name, options...
  local name=$1; shift
  chroot "$trixie" mkfs.erofs --quiet "$@" "$rel/$name.erofs" "$rel/tree" >/dev/null
}
pairs=(
  "lzma|-zlzma|-zlzma -Efragments"
  "lzma-C64k-ztailpacking|-zlzma -C65536 -Eztailpacking|-zlzma -C65536 -Eztailpacking,fragments"
  "lzma-C1m-ztailpacking|-zlzma -C1048576 -Eztailpacking|-zlzma -C1048576 -Eztailpacking,fragments"
  "lz4hc|-zlz4hc|-zlz4hc -Eall-fragments"
)
echo "extwatch files --hash IMAGE (release), $runs runs each; fsck.erofs 1.8 --extract as the reference"
for p in "${pairs[@]}"; do
  IFS='|' read -r name plain frag <<<"$p"
  # shellcheck disable=SC2086
  mk "$name" $plain
  # shellcheck disable=SC2086
  mk "$name-frag" $frag
  json=$work/$name.json
  hyperfine -N -r "$runs" -w 1 --export-json "$json" \
    "$ew files --hash $work/$name.erofs" "$ew files --hash $work/$name-frag.erofs" >/dev/null 2>&1
  read -r a b < <(python3 -c 'import json,sys; r=json.load(open(sys.argv[1]))["results"]; print(r[0]["mean"], r[1]["mean"])' "$json")
  rss=$(/usr/bin/time -f %M "$ew" files --hash "$work/$name-frag.erofs" 2>&1 >/dev/null | tail -1)
  rm -rf "$work/x"
  fs=$( { /usr/bin/time -f %e chroot "$trixie" fsck.erofs --extract="$rel/x" "$rel/$name-frag.erofs" >/dev/null; } 2>&1 | tail -1)
  printf '  %-28s no fragments %.2f s   fragments %.2f s   ratio %.2fx (goal <= 2x)   peak RSS %d MiB   fsck.erofs --extract %s s\n' \
    "$name" "$a" "$b" "$(python3 -c "print($b/$a)")" $((rss / 1024)) "$fs"
done
