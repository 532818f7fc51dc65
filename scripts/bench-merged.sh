#!/usr/bin/env bash
# Merged-view benchmark (issue 4): what computing the merged view adds to `extwatch audit` for a root
# whose /usr is the host's real /usr (bind-mounted read-only in a private mount namespace) with 20
# extensions (10 directories, 10 squashfs; 300 files each, some replacing base files) **merged by
# real systemd-sysext 257** from the trixie root (scripts/trixie-root.sh), so extwatch has to read
# the base from beneath a live overlay. Reported: `extwatch inventory` (no content analysis) vs
# `extwatch audit` (inventory + every check including the merged view), same run, best of 3;
# hashing is limited to replaced files.
#
# Usage: sudo scripts/bench-merged.sh   (needs `scripts/setup.sh --test` for the trixie root)
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
T=${EXTWATCH_TRIXIE:-/var/cache/extwatch/trixie}
[ -x "$T/usr/bin/systemd-sysext" ] || { echo "needs the trixie root at $T (scripts/setup.sh --test)" >&2; exit 2; }
script='
set -e
mount --bind -o ro /usr "$R/usr"
mount --bind "$R/usr" "$R/usr"
mount --make-shared "$R/usr"
mount --bind "$T" "$T"
mount -t proc proc "$T/proc"
mount --bind /dev "$T/dev"
mount -t sysfs -o ro sysfs "$T/sys"
mount -t tmpfs tmpfs "$T/run"
mkdir -p "$T$R"
mount --bind "$R" "$T$R"
mount --bind "$R/usr" "$T$R/usr"
chroot "$T" /usr/bin/systemd-sysext merge --root="$R" >"$W/merge.log" 2>&1 || { cat "$W/merge.log" >&2; exit 1; }
merged=$(grep -c " $R/usr .* - overlay sysext " /proc/self/mountinfo || true)
[ "$merged" -ge 1 ] || { echo "systemd-sysext did not merge:" >&2; cat "$W/merge.log" >&2; exit 1; }
set +e
best() { sort -n | head -1; }
t() { for _ in 1 2 3; do s=$(date +%s.%N); "$@" >/dev/null; e=$(date +%s.%N); echo "$e - $s" | bc; done | best; }
inv=$(t "$BIN" inventory --root "$R" --format json)
aud=$(t "$BIN" audit --root "$R" --format json --fail-on none)
"$BIN" audit --root "$R" --format json --fail-on none > "$W/audit.json"
n=$(grep -c "\"extension-shadows-base\"" "$W/audit.json" || true)
m=$(python3 -c "import json,sys; r=json.load(open(sys.argv[1])); print(sum(1 for i in r[\"images\"] if i.get(\"merged\")))" "$W/audit.json")
[ "$m" -eq 20 ] || { echo "extwatch sees $m merged images, not 20" >&2; exit 1; }
entries=$(find "$R/usr" -xdev | wc -l)
echo "root: host /usr ($entries entries, counted through the merged overlay) + 20 extensions merged by systemd-sysext 257"
echo "  extwatch inventory (no content analysis): ${inv} s"
echo "  extwatch audit (with merged view):        ${aud} s"
echo "  merged view + content checks add:         $(echo "$aud - $inv" | bc) s (goal < 2 s); shadows-base findings: $n; images extwatch reports merged: $m"
'
command -v bc >/dev/null || apt-get install -y -qq bc >/dev/null
command -v python3 >/dev/null || apt-get install -y -qq python3 >/dev/null
W=$work T=$T R=$r BIN=$bin unshare -m --propagation private sh -c "$script"
