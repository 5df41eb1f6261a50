#!/usr/bin/env bash
# Quickstart on Debian 12: installs what zufs needs, builds it, mounts the embedded local store
# (no server needed), writes and reads a file through it, unmounts, remounts and shows the file is kept.
set -euo pipefail
cd "$(dirname "$0")/.."
MNT="${1:-/tmp/zufs-demo}"
SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"

if ! command -v fusermount3 >/dev/null || ! command -v setfacl >/dev/null || ! command -v getfattr >/dev/null; then
  $SUDO apt-get update -q
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends fuse3 acl attr
fi
if ! node -e 'process.exit(Number(process.versions.node.split(".")[0]) >= 20 ? 0 : 1)' 2>/dev/null; then
  echo "zufs needs Node.js 20 or newer (node --version: $(node --version 2>/dev/null || echo none))." >&2
  echo "On Debian 12: install it from nodejs.org or NodeSource, then run this again." >&2
  exit 1
fi
[ -d node_modules ] || npm ci --no-fund --no-audit
npm run -s build

ZUFS="node dist/src/zus/cli.js"
mountpoint -q "$MNT" 2>/dev/null && $SUDO $ZUFS umount "$MNT"
mkdir -p "$MNT"
echo "== mounting the embedded local store at $MNT"
$SUDO $ZUFS mount --daemon "$MNT"
echo "hello from zufs, $(date -u +%FT%TZ)" | $SUDO tee "$MNT/hello.txt" >/dev/null
$SUDO mkdir -p "$MNT/docs" && $SUDO cp README.md "$MNT/docs/"
echo "== ls -la $MNT"; ls -la "$MNT"
echo "== cat $MNT/hello.txt"; cat "$MNT/hello.txt"
echo "== zufs status"; $SUDO $ZUFS status
echo "== unmount and mount again: the data is kept"
$SUDO $ZUFS umount "$MNT"
$SUDO $ZUFS mount --daemon "$MNT"
cat "$MNT/hello.txt"
cmp README.md "$MNT/docs/README.md" && echo "docs/README.md: identical"
$SUDO $ZUFS umount "$MNT"
echo "== done (the volume lives in /var/lib/zufs/default when run as root)"
