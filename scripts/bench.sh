#!/usr/bin/env bash
# Benchmarks extwatch against the reference tools IN THE SAME RUN and prints the ratios.
#
#   (a) metadata listing of a squashfs image of a whole /usr (100k+ entries; padded with a synthetic
#       tree when the host's /usr is smaller): `extwatch files IMAGE` (the command a user runs, into
#       a pipe) vs `unsquashfs -lls` on the same image, plus the peak RSS of both (GNU time -v).
#   (b) `extwatch inventory --root R --format json` over a root holding 200 images (50 directories,
#       50 squashfs, 50 erofs, 50 GPT DDIs) vs `systemd-dissect --json=short` run over the 150 raw
#       images (systemd-dissect cannot dissect directory images). extwatch is also timed on a root
#       holding only those 150 raw images, for a like-for-like ratio.
#       When systemd-dissect is missing or cannot attach loop devices, the fallback reference is
#       `unsquashfs -s` / `dump.erofs` on the naked squashfs / erofs images, clearly labelled.
#
# Usage: scripts/bench.sh            (first run builds the fixtures into $BENCH_CACHE, ~2 min extra)
# Env:   BENCH_CACHE (default /var/tmp/extwatch-bench), BENCH_RUNS (default 5), CARGO_TARGET_DIR.
# Needs: hyperfine, mksquashfs, unsquashfs, mkfs.erofs, sfdisk, GNU time; systemd-dissect
#        (Debian: systemd-container) for the (b) reference. Installed with apt-get when root.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
cache=${BENCH_CACHE:-/var/tmp/extwatch-bench}
runs=${BENCH_RUNS:-5}
target=${CARGO_TARGET_DIR:-$repo/target}
mkdir -p "$cache"
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
export LC_ALL=C

log() { printf '>> %s\n' "$*" >&2; }

apt_install() { # package: installs with apt-get when root and apt is there
  if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$1" >/dev/null 2>&1 || true
  fi
}
[ -x /usr/bin/time ] || apt_install time
command -v systemd-dissect >/dev/null || apt_install systemd-container
for t in hyperfine mksquashfs unsquashfs mkfs.erofs sfdisk python3; do
  command -v "$t" >/dev/null || { echo "bench: $t is required" >&2; exit 2; }
done
[ -x /usr/bin/time ] || { echo "bench: GNU time (/usr/bin/time) is required" >&2; exit 2; }

log "building extwatch (release)"
cargo build --release -q -p extwatch
extwatch=$target/release/extwatch

mean() { # hyperfine json, command index -> mean seconds
  python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["results"][int(sys.argv[2])]["mean"])' "$1" "$2"
}
ratio() { python3 -c 'import sys; a,b=float(sys.argv[1]),float(sys.argv[2]); print(f"{a/b:.2f}")' "$1" "$2"; }
ms() { python3 -c 'import sys; print(f"{float(sys.argv[1])*1000:.1f} ms")' "$1"; }
rss() { # command... -> peak RSS in MiB
  /usr/bin/time -v "$@" >/dev/null 2>"$out/time.txt" || true
  awk -F': ' '/Maximum resident set size/ {printf "%.1f", $2/1024}' "$out/time.txt"
}

# ------------------------------------------------------------------------------------------ (a)
img=$cache/usr.squashfs
if [ ! -s "$img" ]; then
  n=$(find /usr -xdev 2>/dev/null | wc -l)
  srcs=(/usr)
  if [ "$n" -lt 110000 ]; then
    need=$((110000 - n))
    log "/usr has $n entries; adding a synthetic tree of $need"
    rm -rf "$cache/synth"
    python3 - "$cache/synth" "$need" <<'PY'
import os, sys
root, need = sys.argv[1], int(sys.argv[2])
i = 0
while i < need:
    d = os.path.join(root, f"d{i // 1000:03d}", f"s{(i // 100) % 10}")
    os.makedirs(d, exist_ok=True)
    for j in range(100):
        p = os.path.join(d, f"f{j:02d}")
        if j % 10 == 0:
            os.symlink(f"f{j + 1:02d}", p)
        else:
            with open(p, "w") as f:
                f.write(f"{i + j}\n")
    i += 100
PY
    srcs+=("$cache/synth")
  fi
  log "building $img from ${srcs[*]} (lz4; one-time, cached)"
  mksquashfs "${srcs[@]}" "$img.tmp" -comp lz4 -noappend -no-progress -quiet >/dev/null
  mv "$img.tmp" "$img"
fi
# The command a user runs: `extwatch files IMAGE` (its table, into a pipe).
entries=$("$extwatch" files "$img" --format mtree | grep -vc '^#')
uns_entries=$(unsquashfs -lls "$img" | grep -c '^[-dlcbps][-rwxsStT]\{9\} ')
log "image: $(du -h "$img" | cut -f1), extwatch files lists $entries; unsquashfs -lls lists $uns_entries"
hyperfine --warmup 1 --runs "$runs" --export-json "$out/a.json" \
  -n extwatch-files "$extwatch files $img | cat >/dev/null" \
  -n unsquashfs-lls "unsquashfs -lls $img | cat >/dev/null" >&2
a_ext=$(mean "$out/a.json" 0)
a_ref=$(mean "$out/a.json" 1)
a_rss=$(rss "$extwatch" files "$img")
a_rss_ref=$(rss unsquashfs -lls "$img")

# ------------------------------------------------------------------------------------------ (b)
root=$cache/root200
raw=$cache/root150
if [ ! -f "$root/.complete" ]; then
  log "building a root with 200 mixed images (one-time, cached)"
  rm -rf "$root" "$raw"
  mkdir -p "$root/var/lib/extensions" "$root/etc" "$root/usr/lib"
  printf 'ID=debian\nVERSION_ID=12\n' >"$root/etc/os-release"
  tmp=$(mktemp -d)
  comps=(gzip xz lz4 zstd)
  for i in $(seq -w 0 199); do
    name=img$i
    t=$tmp/$name
    mkdir -p "$t/usr/lib/extension-release.d" "$t/usr/bin" "$t/usr/share/$name" "$t/usr/lib/systemd/system"
    printf 'ID=debian\nVERSION_ID=12\nSYSEXT_LEVEL=1.0\n' >"$t/usr/lib/extension-release.d/extension-release.$name"
    printf '#!/bin/sh\necho %s\n' "$name" >"$t/usr/bin/$name"
    chmod 755 "$t/usr/bin/$name"
    printf '[Service]\nExecStart=/usr/bin/%s\n' "$name" >"$t/usr/lib/systemd/system/$name.service"
    for j in $(seq 1 20); do printf 'doc %s %s\n' "$name" "$j" >"$t/usr/share/$name/doc$j"; done
    case $((10#$i % 4)) in
      0) cp -a "$t" "$root/var/lib/extensions/$name" ;;
      1) mksquashfs "$t" "$root/var/lib/extensions/$name.raw" -comp "${comps[$((10#$i % 8 / 2))]}" \
           -noappend -no-progress -quiet >/dev/null ;;
      2) if [ $((10#$i % 8)) -lt 4 ]; then z=(); else z=(-zlz4); fi
         mkfs.erofs --quiet "${z[@]}" "$root/var/lib/extensions/$name.raw" "$t" >/dev/null ;;
      3) mksquashfs "$t" "$tmp/$name.sq" -comp zstd -noappend -no-progress -quiet >/dev/null
         sz=$(stat -c %s "$tmp/$name.sq"); sectors=$(((sz + 511) / 512))
         f=$root/var/lib/extensions/$name.raw
         truncate -s $(((2048 + sectors + 2048) * 512)) "$f"
         printf 'label: gpt\nstart=2048, size=%s, type=8484680c-9521-48c6-9c11-b0720656f69e, name=usr\n' \
           "$sectors" | sfdisk --quiet --no-reread --no-tell-kernel "$f" >/dev/null
         dd if="$tmp/$name.sq" of="$f" bs=512 seek=2048 conv=notrunc status=none ;;
    esac
  done
  rm -rf "$tmp"
  mkdir -p "$raw/var/lib/extensions" "$raw/etc" "$raw/usr/lib"
  cp "$root/etc/os-release" "$raw/etc/"
  cp -al "$root"/var/lib/extensions/*.raw "$raw/var/lib/extensions/"
  touch "$root/.complete"
fi
n_all=$("$extwatch" inventory --root "$root" --format json --mountinfo /dev/null |
  python3 -c 'import json,sys; d=json.load(sys.stdin); print(len(d["images"]), sorted({i["format"] for i in d["images"]}), sum(1 for i in d["images"] if i["compatible"]["ok"]))')
log "extwatch on root200: images, formats, compatible = $n_all"
raws=("$raw"/var/lib/extensions/*.raw)
printf '%s\n' "${raws[@]}" >"$out/raws.txt"
cat >"$out/dissect.sh" <<EOF
#!/bin/sh
while read -r f; do systemd-dissect --json=short "\$f" >/dev/null || exit 1; done <"$out/raws.txt"
EOF
chmod +x "$out/dissect.sh"
if command -v systemd-dissect >/dev/null && "$out/dissect.sh" 2>"$out/dissect.err"; then
  ref_label="systemd-dissect --json=short over the ${#raws[@]} raw images ($(systemd-dissect --version | head -1))"
  ref_cmd=$out/dissect.sh
  b_runs=3
else
  ref_label="FALLBACK (systemd-dissect unavailable: $(head -c 200 "$out/dissect.err" 2>/dev/null | tr '\n' ' ')): unsquashfs -s / dump.erofs over the naked squashfs/erofs images only"
  cat >"$out/fallback.sh" <<EOF
#!/bin/sh
while read -r f; do
  case "\$(head -c 4 "\$f")" in hsqs) unsquashfs -s "\$f" >/dev/null ;; *) dump.erofs "\$f" >/dev/null 2>&1 || true ;; esac
done <"$out/raws.txt"
EOF
  chmod +x "$out/fallback.sh"
  ref_cmd=$out/fallback.sh
  b_runs=$runs
fi
log "reference for (b): $ref_label"
hyperfine -N --warmup 1 --runs "$b_runs" --export-json "$out/b.json" \
  -n extwatch-inventory-200 "$extwatch inventory --root $root --format json --mountinfo /dev/null" \
  -n extwatch-inventory-150raw "$extwatch inventory --root $raw --format json --mountinfo /dev/null" \
  -n reference "$ref_cmd" >&2
b_all=$(mean "$out/b.json" 0)
b_raw=$(mean "$out/b.json" 1)
b_ref=$(mean "$out/b.json" 2)
b_rss=$(rss "$extwatch" inventory --root "$root" --format json --mountinfo /dev/null)

cat <<EOF

==================================== extwatch benchmark summary ====================================
host: $(nproc) CPUs, $(uname -r); runs per command: $runs (b reference: $b_runs)

(a) metadata listing of a squashfs image of /usr ($(du -h "$img" | cut -f1), $entries entries; unsquashfs lists $uns_entries)
    extwatch files IMAGE (into a pipe)                   $(ms "$a_ext")   peak RSS ${a_rss} MiB
    unsquashfs -lls                                          $(ms "$a_ref")   peak RSS ${a_rss_ref} MiB
    ratio extwatch / unsquashfs = $(ratio "$a_ext" "$a_ref")x   (lower is better for extwatch)

(b) inventory of 200 mixed images (50 dir, 50 squashfs, 50 erofs, 50 DDI)
    extwatch inventory, 200 images                         $(ms "$b_all")   peak RSS ${b_rss} MiB
    extwatch inventory, the 150 raw images only            $(ms "$b_raw")
    reference: $ref_label
                                                           $(ms "$b_ref")
    ratio extwatch(150 raw) / reference = $(ratio "$b_raw" "$b_ref")x
    ratio extwatch(200 all) / reference = $(ratio "$b_all" "$b_ref")x
    (extwatch also hashes every image file with SHA-256 and evaluates release compatibility;
     systemd-dissect attaches a loop device per image and probes the partitions/file systems.)
====================================================================================================
EOF
