#!/bin/sh
# Build (once) and print the path of the cached Debian trixie root used to run real systemd 257 in tests.
#
#   scripts/trixie-root.sh            -> prints /var/cache/extwatch/trixie (or $EXTWATCH_TRIXIE)
#
# Idempotent: a stamp file inside the root records the suite, mirror and package list it was built with;
# when they change, the root is rebuilt from scratch. A root that already has every package installed but
# no stamp (built by hand with the same command) is adopted and stamped instead of rebuilt.
# Needs root. Installs debootstrap with apt-get when it is missing.
# Note: systemd-container must NOT be in the list (its postinst fails without dbus).
set -eu

DIR="${EXTWATCH_TRIXIE:-/var/cache/extwatch/trixie}"
SUITE=trixie
MIRROR="${EXTWATCH_DEBIAN_MIRROR:-http://deb.debian.org/debian}"
PACKAGES="systemd,systemd-repart,squashfs-tools,erofs-utils,cryptsetup-bin,openssl,systemd-journal-remote,attr,fdisk"
STAMP="$DIR/.extwatch-stamp"
WANT="suite=$SUITE variant=minbase packages=$PACKAGES"

log() { echo "trixie-root: $*" >&2; }

if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$WANT" ] && [ -x "$DIR/usr/bin/systemd-sysext" ]; then
    echo "$DIR"
    exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
    log "must run as root to build $DIR"
    exit 1
fi

# Adopt an unstamped root that already has everything.
if [ ! -f "$STAMP" ] && [ -x "$DIR/usr/bin/systemd-sysext" ]; then
    missing=""
    for p in $(echo "$PACKAGES" | tr , ' '); do
        st=$(chroot "$DIR" dpkg-query -W -f '${db:Status-Status}' "$p" 2>/dev/null || true)
        [ "$st" = installed ] || missing="$missing $p"
    done
    if [ -z "$missing" ]; then
        log "adopting existing root $DIR"
        echo "$WANT" >"$STAMP"
        echo "$DIR"
        exit 0
    fi
    log "existing root lacks:$missing; rebuilding"
fi

if ! command -v debootstrap >/dev/null 2>&1; then
    log "installing debootstrap"
    apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >&2
fi

TMP="$DIR.tmp.$$"
trap 'rm -rf "$TMP"' EXIT
mkdir -p "$(dirname "$DIR")"
log "debootstrap $SUITE into $TMP (takes a few minutes)"
debootstrap --variant=minbase --include="$PACKAGES" "$SUITE" "$TMP" "$MIRROR" >&2
echo "$WANT" >"$TMP/.extwatch-stamp"
rm -rf "$DIR"
mv "$TMP" "$DIR"
trap - EXIT
echo "$DIR"
