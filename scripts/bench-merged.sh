#!/usr/bin/env bash
# Merged-view benchmark (issue 4): what computing the merged view adds to `extwatch audit` for a root
# whose /usr is the host's real /usr (bind-mounted read-only in a private mount namespace) and which
# holds 20 mergeable extensions (10 directories, 10 squashfs; 300 files each, some replacing base
# files). Reported: `extwatch inventory` (no content analysis) vs `extwatch audit` (inventory + every
# check including the merged view), same run, best of 3; hashing is limited to replaced files.
#
# Usage: sudo scripts/bench-merged.sh
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -q -p extwatch
bin=${CARGO_TARGET_DIR:-$PWD/target}/release/extwatch
work=$(mktemp -d /var/tmp/extwatch-merged.XXXXXX)
trap 'rm -rf "$work"' EXIT
r=$work/root
mkdir -p "$r/usr" "$r/etc" "$r/var/lib/extensions"
cp /etc/os-release "$r/etc/os-release"
. /etc/os-release
for i in $(seq -w 1 20); do
  t=$work/src/ext$i
  mkdir -p "$t/usr/lib/extension-release.d" "$t/usr/share/ext$i" "$t/usr/bin"
  printf 'ID=%s\nVERSION_ID=%s\n' "$ID" "${VERSION_ID:-}" > "$t/usr/lib/extension-release.d/extension-release.ext$i"
  for f in $(seq 1 300); do echo "ext$i file $f" > "$t/usr/share/ext$i/f$f"; done
  # Replace a few real base files (these get hashed on both sides).
  for b in $(ls /usr/bin | head -5); do echo "ext$i $b" > "$t/usr/bin/$b"; done
  if [ $((10#$i % 2)) -eq 0 ]; then
    cp -a "$t" "$r/var/lib/extensions/ext$i"
  else
    mksquashfs "$t" "$r/var/lib/extensions/ext$i.raw" -quiet -noappend -no-progress >/dev/null
  fi
done
script='
mount --bind -o ro /usr "$R/usr"
best() { sort -n | head -1; }
t() { for _ in 1 2 3; do s=$(date +%s.%N); "$@" >/dev/null; e=$(date +%s.%N); echo "$e - $s" | bc; done | best; }
inv=$(t "$BIN" inventory --root "$R" --format json)
aud=$(t "$BIN" audit --root "$R" --format json --fail-on none)
n=$("$BIN" audit --root "$R" --format json --fail-on none | grep -c "\"extension-shadows-base\"" || true)
entries=$(find "$R/usr" -xdev | wc -l)
echo "root: host /usr ($entries entries) + 20 mergeable extensions"
echo "  extwatch inventory (no content analysis): ${inv} s"
echo "  extwatch audit (with merged view):        ${aud} s"
echo "  merged view + content checks add:         $(echo "$aud - $inv" | bc) s (goal < 2 s); shadows-base findings: $n"
'
command -v bc >/dev/null || apt-get install -y -qq bc >/dev/null
R=$r BIN=$bin unshare -m --propagation private sh -c "$script"
