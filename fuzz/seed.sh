#!/usr/bin/env bash
# Generates the fuzz seed corpora from code (nothing binary is committed):
#   corpus/osrelease  os-release / extension-release samples, incl. systemd's quoting dialect
#   corpus/mountinfo  mount tables with sysext/confext overlays and kernel octal escapes
#   corpus/image      small real squashfs (gzip xz lz4 zstd lzo, uncompressed) and erofs (plain, lz4,
#                     lz4hc) images built by mksquashfs / mkfs.erofs, plus truncated copies
#   corpus/squashfs   the squashfs images above (every compressor, 4 KiB and 1 MiB blocks, long
#                     symlinks), each prefixed with a 0 byte (the squashfs target's raw mode)
#   corpus/ddi        GPT Discoverable Disk Images (sfdisk + dd) holding those file systems
# Usage: fuzz/seed.sh            (idempotent; rewrites the corpus directories' seed-* files)
# Needs: mksquashfs, mkfs.erofs, sfdisk; setfattr optional (xattr seeds are skipped without it).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
corpus=$here/corpus
mkdir -p "$corpus"/{osrelease,mountinfo,image,ddi,squashfs}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# ---------------------------------------------------------------- os-release
o=$corpus/osrelease
printf 'ID=debian\nVERSION_ID=12\nPRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\n' >"$o/seed-debian"
printf 'ID=_any\nSYSEXT_LEVEL=1.0\nEXTENSION_RELOAD_MANAGER=1\n' >"$o/seed-any"
printf 'ID=fedora\nVERSION_ID=40\nARCHITECTURE=x86-64\nSYSEXT_SCOPE="system portable"\nCONFEXT_LEVEL=2\n' >"$o/seed-fedora"
printf "# comment\n; other comment\nA='single \"quoted\" \\\\n'\nB=\"dq \\\\\"esc\\\\\" \\\\\$x \\\\\` tail\"\nC=un\\\\ quoted\\\\\ncontinued  \nD=\"multi\\\\\nline\"\n" >"$o/seed-quoting"
printf 'ID=a\r\nID_LIKE="debian ubuntu"\r\n  KEY_WITH_SPACE  =  v  \n1BAD=x\nGOOD_1=y\n=novalue\nNOEQ\n' >"$o/seed-odd"
printf 'ID=x\nNAME=\xff\xfe\xc3\x28\nVERSION="\xe2\x82\xac"\n' >"$o/seed-utf8"
printf 'ID="unterminated\nVERSION_ID=1\n' >"$o/seed-unterminated"
printf "ID='unterminated\n" >"$o/seed-unterminated-sq"
printf 'A=\\' >"$o/seed-trailing-backslash"
printf '#\\\ncomment continued?\nID=z\n' >"$o/seed-comment-escape"
: >"$o/seed-empty"
for i in $(seq 1 40); do printf 'K%d=v%d\n' "$i" "$i"; done >"$o/seed-many"

# ---------------------------------------------------------------- mountinfo
m=$corpus/mountinfo
cat >"$m/seed-host" <<'MI'
22 1 252:1 / / rw,relatime shared:1 - ext4 /dev/vda1 rw,errors=remount-ro
23 22 0:21 / /proc rw,nosuid,nodev,noexec,relatime shared:12 - proc proc rw
24 22 0:5 / /dev rw,nosuid shared:2 - devtmpfs udev rw,size=4096k,nr_inodes=1024,mode=755
25 22 0:23 / /run rw,nosuid,nodev,noexec,relatime shared:5 - tmpfs tmpfs rw,size=1000k,mode=755
MI
cat >"$m/seed-sysext" <<'MI'
22 1 252:1 / / rw,relatime shared:1 - ext4 /dev/vda1 rw
99 22 0:41 / /usr ro,nodev,relatime shared:40 - overlay sysext ro,lowerdir=/run/systemd/sysext/meta/usr:/run/systemd/sysext/extensions/foo/usr:/usr,redirect_dir=on,xino=off
100 22 0:42 / /etc ro,nodev,relatime shared:41 - overlay confext ro,lowerdir=/run/systemd/confext/meta/etc:/run/systemd/confext/extensions/bar/etc:/etc
101 99 7:0 / /run/systemd/sysext/extensions/foo ro,nodev,relatime - squashfs /dev/loop0 ro,errors=continue
MI
cat >"$m/seed-escapes" <<'MI'
22 1 252:1 / / rw shared:1 - ext4 /dev/vda1 rw
30 22 0:50 /sub\040dir /mnt/with\040space\011tab\012nl\134bs rw master:3 propagate_from:1 unbindable - overlay overlay rw,lowerdir=/a\\:b:/c\\,d,upperdir=/up,workdir=/w
31 22 0:51 / /x rw - overlay overlay rw,lowerdir+=/l1,lowerdir+=/l2,datadir+=/d
32 22 0:52 / /y rw - erofs /dev/loop1 ro,\777,\0
MI
printf '1 2 3:4 / /\n' >"$m/seed-short"
printf '1 0 0:0 / / rw - \n\n   \n' >"$m/seed-nofs"
printf '18446744073709551616 1 4294967296:1 / / rw - x y z\n' >"$m/seed-overflow"

# ---------------------------------------------------------------- images
tree=$work/tree
mkdir -p "$tree"/usr/lib/extension-release.d "$tree"/usr/bin "$tree"/usr/lib/systemd/system \
  "$tree"/usr/share/empty "$tree"/etc/ssh/sshd_config.d "$tree"/usr/lib/deep/a/b/c/d/e/f
printf 'ID=_any\nSYSEXT_LEVEL=1.0\n' >"$tree/usr/lib/extension-release.d/extension-release.seed"
printf '#!/bin/sh\necho hi\n' >"$tree/usr/bin/tool"
chmod 4755 "$tree/usr/bin/tool"
printf '[Service]\nExecStart=/usr/bin/tool\n' >"$tree/usr/lib/systemd/system/seed.service"
printf 'PermitRootLogin yes\n' >"$tree/etc/ssh/sshd_config.d/10-seed.conf"
head -c 20000 /dev/zero | tr '\0' 'x' >"$tree/usr/lib/compressible"
# Incompressible data from a fixed seed, so corpora are reproducible.
awk 'BEGIN{srand(7); for(i=0;i<6000;i++) printf "%c", int(rand()*256)}' LC_ALL=C >"$tree/usr/lib/random.bin"
printf 'deep\n' >"$tree/usr/lib/deep/a/b/c/d/e/f/leaf"
ln -s ../bin/tool "$tree/usr/lib/tool-link"
ln -s /usr/lib/deep "$tree/usr/lib/abs-link"
ln -s loop2 "$tree/usr/lib/loop1"
ln -s loop1 "$tree/usr/lib/loop2"
ln -s "$(printf 'x%.0s' $(seq 1 200))" "$tree/usr/lib/long-link"
ln "$tree/usr/bin/tool" "$tree/usr/bin/tool-hardlink"
mkfifo "$tree/usr/lib/fifo"
mknod "$tree/usr/lib/whiteout" c 0 0 2>/dev/null || true
mknod "$tree/usr/lib/blockdev" b 7 0 2>/dev/null || true
touch "$tree/usr/lib/$(printf 'name\nwith\tctl')" "$tree/usr/lib/$(printf 'bad\xff\xfeutf8')"
if command -v setfattr >/dev/null; then
  setfattr -n user.seed -v hello "$tree/usr/bin/tool" 2>/dev/null || true
  setfattr -n user.big -v "$(head -c 3000 /dev/zero | tr '\0' 'v')" "$tree/usr/lib/compressible" 2>/dev/null || true
  setfattr -n security.capability -v 0sAQAAAgAgAAAAAAAAAAAAAAAAAAA= "$tree/usr/bin/tool" 2>/dev/null || true
  setfattr -n trusted.overlay.opaque -v y "$tree/usr/share/empty" 2>/dev/null || true
fi
find "$tree" -exec touch -h -d '2024-01-01 00:00:00 UTC' {} +

# A second, tiny tree: one file, so the smallest seeds are small.
small=$work/small
mkdir -p "$small/usr/lib/extension-release.d"
printf 'ID=_any\n' >"$small/usr/lib/extension-release.d/extension-release.small"

i=$corpus/image
sq() { # name src extra-args...
  local name=$1 src=$2; shift 2
  mksquashfs "$src" "$work/$name" -noappend -quiet -no-progress -b 4096 -all-time 0 "$@" >/dev/null
}
for c in gzip xz lz4 zstd lzo; do
  sq "sq-$c" "$tree" -comp "$c"
done
sq sq-small-gzip "$small" -comp gzip
sq sq-uncompressed "$tree" -noI -noD -noF -noX
sq sq-nofrag "$tree" -comp gzip -no-fragments -no-xattrs
sq sq-root-owned "$tree" -comp xz -all-root -Xbcj x86 2>/dev/null || sq sq-root-owned "$tree" -comp xz -all-root
er() { # name src extra-args...
  local name=$1 src=$2; shift 2
  mkfs.erofs --quiet -T0 "$@" "$work/$name" "$src" >/dev/null
}
er erofs-plain "$tree"
er erofs-small "$small"
er erofs-lz4 "$tree" -zlz4
er erofs-lz4hc "$tree" -zlz4hc,12
er erofs-compact "$tree" -Eforce-inode-compact
er erofs-extended "$tree" -Eforce-inode-extended -zlz4
er erofs-chunked "$tree" --chunksize=4096 2>/dev/null || true
for f in "$work"/sq-* "$work"/erofs-*; do
  [ -f "$f" ] || continue
  cp "$f" "$i/seed-$(basename "$f")"
done
# Truncated copies of a few images: header only, mid-inode-table, missing the last block.
for f in sq-gzip sq-zstd erofs-plain erofs-lz4; do
  sz=$(stat -c %s "$work/$f")
  for cut in 96 1024 $((sz / 2)) $((sz - 1)); do
    [ "$cut" -lt "$sz" ] && head -c "$cut" "$work/$f" >"$i/seed-$f-cut$cut"
  done
done

# ---------------------------------------------------------------- squashfs (raw mode: 0 byte + image)
s=$corpus/squashfs
ln -s "$(printf 'L%.0s' $(seq 1 300))" "$tree/usr/lib/link-300"
sq sq-lzma-long "$tree" -comp lzma 2>/dev/null || true
sq sq-gzip-long "$tree" -comp gzip
mksquashfs "$tree" "$work/sq-1m" -noappend -quiet -no-progress -b 1M -comp zstd >/dev/null
mksquashfs "$tree" "$work/sq-always-frag" -noappend -quiet -no-progress -always-use-fragments -comp lz4 >/dev/null
for f in "$work"/sq-*; do
  [ -f "$f" ] || continue
  { printf '\0'; cat "$f"; } >"$s/seed-$(basename "$f")"
done
# ---------------------------------------------------------------- erofs (structure-aware target)
# The erofs images above, plus tail packing and big clusters (host erofs-utils), and lzma with
# fragments (erofs-utils 1.8 in the trixie root, when there is one: $EXTWATCH_TRIXIE).
mkdir -p "$corpus/erofs"
er erofs-ztail "$tree" -zlz4hc -C16384 -Eztailpacking 2>/dev/null || true
cp "$work"/erofs-* "$corpus/erofs/" && for f in "$corpus"/erofs/erofs-*; do mv "$f" "$corpus/erofs/seed-${f##*/}"; done
T=${EXTWATCH_TRIXIE:-/var/cache/extwatch/trixie}
if [ -x "$T/usr/bin/mkfs.erofs" ] && [ "$(id -u)" = 0 ]; then
  for opts in "-zlzma -Efragments" "-zlzma -Eall-fragments,ztailpacking -C16384"; do
    n=erofs18-$(echo "$opts" | tr -cs 'a-zA-Z0-9' '-')
    # shellcheck disable=SC2086
    unshare -m --propagation private sh -c 'T=$1 W=$2; shift 2; mount --bind "$T" "$T"; mount -t proc proc "$T/proc";
      mkdir -p "$T$W"; mount --bind "$W" "$T$W"; exec chroot "$T" /usr/bin/mkfs.erofs "$@"' \
      sh "$T" "$work" --quiet -T0 $opts "$work/$n" "$tree" >/dev/null 2>&1 && cp "$work/$n" "$corpus/erofs/seed-$n"
  done
fi

# ---------------------------------------------------------------- DDIs
d=$corpus/ddi
ROOT_X86_64=4f68bce3-e8cd-4db1-96e7-fbcaf984b709
USR_X86_64=8484680c-9521-48c6-9c11-b0720656f69e
USR_VERITY_X86_64=77ff5f63-e7b6-4633-acf4-1565b864c0e6
USR_ARM64=b0e01050-ee5f-4390-949a-9101b17104e9
LINUX_GENERIC=0fc63daf-8483-4772-8e79-3d69d8477de4
ESP=c12a7328-f81f-11d2-ba4b-00a0c93ec93b
# ddi name fs-image table-length partition-lines...  (partition start is filled in; fs goes in the first)
ddi() {
  local name=$1 fs=$2 tlen=$3; shift 3
  local fsz sectors first out=$work/$name
  fsz=$(stat -c %s "$fs")
  sectors=$(((fsz + 511) / 512))
  first=$((2 + (tlen * 128 + 511) / 512))
  local extra=$(( $# * 16 ))
  truncate -s $(((first + sectors + extra + 2 + (tlen * 128 + 511) / 512 + 1) * 512)) "$out"
  {
    echo "label: gpt"
    echo "label-id: 01234567-89AB-CDEF-0123-456789ABCDEF"
    echo "table-length: $tlen"
    echo "first-lba: $first"
    local start=$first n=0
    for spec in "$@"; do
      local size=$sectors
      [ $n -gt 0 ] && size=16
      echo "start=$start, size=$size, $spec"
      start=$((start + size)); n=$((n + 1))
    done
  } | sfdisk --quiet --no-reread --no-tell-kernel "$out" >/dev/null
  dd if="$fs" of="$out" bs=512 seek="$first" conv=notrunc status=none
  cp "$out" "$d/seed-$name"
  cp "$out" "$i/seed-ddi-$name"
}
ddi usr-squashfs "$work/sq-small-gzip" 4 "type=$USR_X86_64, name=usr" "type=$USR_VERITY_X86_64, name=usr-verity"
ddi root-erofs "$work/erofs-small" 8 "type=$ROOT_X86_64, name=root-1.2" "type=$ESP, name=esp"
ddi generic-squashfs "$work/sq-small-gzip" 4 "type=$LINUX_GENERIC, name=data"
ddi arm64-only "$work/erofs-small" 4 "type=$USR_ARM64, name=usr"
ddi two-generic "$work/sq-small-gzip" 4 "type=$LINUX_GENERIC" "type=$LINUX_GENERIC"
ddi noauto "$work/sq-small-gzip" 4 "type=$USR_X86_64, attrs=63"
ddi full-table "$work/sq-small-gzip" 128 "type=$USR_X86_64, name=usr"

# --- verity: veritysetup hash devices (superblock + tree) followed by their data ------------------
mkdir -p "$corpus"/{verity,veritysig}
vt=$corpus/verity
for blocks in 1 8 130; do
  head -c $((blocks * 4096)) /dev/urandom > "$work/vdata-$blocks"
  veritysetup format "$work/vdata-$blocks" "$work/vhash-$blocks" > "$work/vout-$blocks"
  cat "$work/vhash-$blocks" "$work/vdata-$blocks" > "$vt/seed-$blocks"
done
# --- veritysig: signature-partition JSON as systemd-repart writes it, NUL-padded -----------------
vs=$corpus/veritysig
openssl req -x509 -newkey rsa:2048 -nodes -days 3 -subj /CN=fuzz -keyout "$work/k.pem" \
  -out "$work/c.pem" 2>/dev/null
rh=$(awk '/Root hash:/ {print $3}' "$work/vout-8")
printf '%s' "$rh" > "$work/rh"
openssl smime -sign -binary -noattr -in "$work/rh" -inkey "$work/k.pem" -signer "$work/c.pem" \
  -outform DER -out "$work/sig.der"
fp=$(openssl x509 -in "$work/c.pem" -outform DER | sha256sum | cut -d' ' -f1)
printf '{"rootHash":"%s","certificateFingerprint":"%s","signature":"%s"}' "$rh" "$fp" \
  "$(base64 -w0 "$work/sig.der")" > "$vs/seed-json"
cp "$vs/seed-json" "$vs/seed-padded" && truncate -s 4096 "$vs/seed-padded"
cp "$work/sig.der" "$vs/seed-der"

n() { find "$1" -type f | wc -l; }
echo "seeded: osrelease=$(n "$o") mountinfo=$(n "$m") image=$(n "$i") squashfs=$(n "$s") erofs=$(n "$corpus/erofs") ddi=$(n "$d") verity=$(n "$vt") veritysig=$(n "$vs")"
