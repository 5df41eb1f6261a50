#!/bin/bash
# NIO reads: zuf (t1 on emulated pmem) vs FUSE vs ext4 -o dax, cached reads, in ONE qemu TCG boot
# (Debian 6.1 guest, -smp 2, -m 4G, init_on_alloc=0, -cpu max,-erms as bench/vm/run.sh) with two
# emulated DAX pmem ranges in the guest's high RAM (4G-5G): /dev/pmem0 = memmap=448M!4G (zuf's t1)
# and /dev/pmem1 = memmap=448M!4608M (ext4 -o dax), apart so e820 does not merge them; all three
# targets run in the same rounds. EXT4_SAME_DEV=1: one range (512M!4G), ext4 -o dax on pmem0
# after the zuf rounds (phase B). Host entry point:
#   bash bench/vm/run-nio.sh            (ROUNDS=5 SECS=1 FILEMIB=32 by default)
# Builds zuf.ko + the bundled CLI (test/vm/build.sh, unless NO_BUILD=1) and bench/vm/nioread.c,
# snapshots them into bench/vm/.build-nio, boots the VM with bench/vm/guest-nio-bench.sh and
# writes bench/results/nio-<date>.json and bench/results/nio-latest.md (bench/vm/report-nio.py).
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT" || exit 2
BUILD_NOTE=""
if [ "${NO_BUILD:-0}" != 1 ] && ! bash test/vm/build.sh; then
  [ -f kernel/zuf.ko ] && [ -f test/vm/.build/zufs-cli.js ] || { echo "bench/vm: build failed" >&2; exit 2; }
  BUILD_NOTE+="test/vm/build.sh failed: used the existing kernel/zuf.ko and test/vm/.build; "
fi
[ -n "$BUILD_NOTE" ] && echo "bench/vm: WARNING: $BUILD_NOTE" >&2
B=bench/vm/.build-nio
rm -rf "$B" && mkdir -p "$B" bench/results
cp kernel/zuf.ko test/vm/.build/{zufs-cli,zuf-worker,notify-worker,channel-worker}.js "$B"/ || exit 2
gcc -O2 -Wall -Werror -o "$B/nioread" bench/vm/nioread.c || exit 2
KVER=$(ls -d /lib/modules/6.1.*-amd64 2>/dev/null | sort -V | tail -1 | xargs -r basename)
[ -n "$KVER" ] || { echo "bench/vm: no Debian 6.1 kernel" >&2; exit 2; }
STAMP=$(date -u +%Y%m%d-%H%M)
ART=${ARTIFACTS:-$(mktemp -d /tmp/zuf-nio-bench.XXXXXX)}
mkdir -p "$ART"; RAW=$ART/raw.txt
echo "bench/vm (nio): kernel $KVER, artifacts $ART, ROUNDS=${ROUNDS:-5} SECS=${SECS:-1} FILEMIB=${FILEMIB:-32}"
if [ "${EXT4_SAME_DEV:-0}" = 1 ]; then PM=(-P "${NIO_PMEM:-512M!4G}"); else PM=(-P "${NIO_PMEM:-448M!4G}" -P "${NIO_PMEM2:-448M!4608M}"); fi
start=$(date +%s)
bash test/vm/vmrun.sh -k "$KVER" -m "$B/zuf.ko" -M fuse -M ext4 -c 2 -r 4G "${PM[@]}" \
  -t "${VM_TIMEOUT:-1500}" -a "init_on_alloc=0" -q "-cpu max,-erms" -o "$ART/vm" \
  -e "ROUNDS=${ROUNDS:-5}" -e "SECS=${SECS:-1}" -e "FILEMIB=${FILEMIB:-32}" -e "EXT4_SAME_DEV=${EXT4_SAME_DEV:-0}" \
  -- bash bench/vm/guest-nio-bench.sh > "$RAW" 2> "$ART/stderr.txt"
vrc=$?
echo "bench/vm (nio): VM exited rc=$vrc after $(( $(date +%s) - start ))s"
grep '^#\|BENCH-ERROR' "$RAW"
tail -5 "$ART/stderr.txt" >&2
if grep -E 'BUG:|WARNING:|Oops|Call Trace' "$ART/vm/dmesg" 2>/dev/null; then echo "bench/vm (nio): kernel log shows the problems above" >&2; fi
python3 bench/vm/report-nio.py "$RAW" "bench/results/nio-${RESULT_TAG:-}$STAMP.json" "${RESULT_MD:-bench/results/nio-latest.md}" \
  --kver "$KVER" --vmrc "$vrc" --cmd "bash bench/vm/run-nio.sh" --secs "${SECS:-1}" --filemib "${FILEMIB:-32}"
