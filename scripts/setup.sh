#!/usr/bin/env bash
# Installs what building and testing extwatch needs on a Debian machine (idempotent).
#   scripts/setup.sh          build dependencies only
#   scripts/setup.sh --test   plus the real tools test fixtures are built with, and the cached
#                             Debian trixie root (systemd 257) that conformance tests run
set -euo pipefail
cd "$(dirname "$0")/.."
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
pkgs=(build-essential pkg-config libssl-dev)
if [ "${1:-}" = "--test" ]; then
  pkgs+=(squashfs-tools erofs-utils cryptsetup-bin fdisk attr libcap2-bin openssl debootstrap
         util-linux time hyperfine systemd squashfs-tools-ng tar)
fi
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi
command -v cargo >/dev/null || { echo "setup: cargo (rustup) is required" >&2; exit 2; }
if [ "${1:-}" = "--test" ]; then
  bash scripts/trixie-root.sh >/dev/null
fi
