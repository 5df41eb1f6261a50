#!/bin/bash
# zuf vs FUSE vs tmpfs in ONE qemu TCG boot (Debian 6.1 guest, -smp 2, init_on_alloc=0,
# -cpu max,-erms as in /work/shared/reference/tcg-baseline.md). Host entry point:
#   sudo bash bench/vm/run.sh            (ROUNDS=5 SECS=1 by default)
# Builds zuf.ko + the bundled zuf server (test/vm/build.sh), dist/ (npm run build, unless
# NO_NPM_BUILD=1), bench/cfuse/load.c -> bench/vm/.build/load; boots the VM with
# bench/vm/guest-bench.sh; writes bench/results/zuf-<date>.json and bench/results/zuf-latest.md.
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT" || exit 2
BUILD_NOTE=""
if [ "${NO_BUILD:-0}" != 1 ] && ! bash test/vm/build.sh; then
  [ -f kernel/zuf.ko ] && [ -f test/vm/.build/zusd-vm.js ] || { echo "bench/vm: build failed" >&2; exit 2; }
  BUILD_NOTE+="test/vm/build.sh failed: used the existing kernel/zuf.ko and test/vm/.build; "
fi
if [ "${NO_NPM_BUILD:-0}" != 1 ] && ! npm run -s build; then
  [ -f dist/src/zus/cli.js ] || { echo "bench/vm: npm run build failed" >&2; exit 2; }
  BUILD_NOTE+="npm run build failed: used the existing dist/; "
fi
[ -n "$BUILD_NOTE" ] && echo "bench/vm: WARNING: $BUILD_NOTE" >&2
# snapshot what the guest runs, so a concurrent rebuild of the shared tree cannot change it mid-run
mkdir -p bench/vm/.build bench/results
cp kernel/zuf.ko test/vm/.build/{zusd-vm,zuf-worker,zufs-cli,notify-worker,channel-worker}.js bench/vm/.build/ || exit 2
gcc -O2 -Wall -o bench/vm/.build/load bench/cfuse/load.c || exit 2
gcc -O2 -Wall -Werror -o bench/vm/.build/nullop bench/vm/nullop.c || exit 2
KVER=$(ls -d /lib/modules/6.1.*-amd64 2>/dev/null | sort -V | tail -1 | xargs -r basename)
[ -n "$KVER" ] || { echo "bench/vm: no Debian 6.1 kernel" >&2; exit 2; }
STAMP=$(date -u +%Y%m%d-%H%M)
ART=${ARTIFACTS:-$(mktemp -d /tmp/zuf-bench.XXXXXX)}
mkdir -p "$ART"; RAW=$ART/raw.txt
echo "bench/vm: kernel $KVER, artifacts $ART, ROUNDS=${ROUNDS:-5} SECS=${SECS:-1}"
start=$(date +%s)
bash test/vm/vmrun.sh -k "$KVER" -m bench/vm/.build/zuf.ko -M fuse -c 2 -r 2G -t "${VM_TIMEOUT:-900}" \
  -a "init_on_alloc=0" -q "-cpu max,-erms" -o "$ART/vm" \
  -e "ROUNDS=${ROUNDS:-5}" -e "SECS=${SECS:-1}" -e "WARMUP=${WARMUP:-1}" -e "WORKLOADS=${WORKLOADS:-getxattr fstat stat creat randread randwrite}" \
  -e "SWEEP=${SWEEP:-getxattr randwrite}" -e "BUILD_NOTE=$BUILD_NOTE" \
  -- bash bench/vm/guest-bench.sh > "$RAW" 2> "$ART/stderr.txt"
vrc=$?
echo "bench/vm: VM exited rc=$vrc after $(( $(date +%s) - start ))s"
grep '^#\|BENCH-ERROR' "$RAW"
tail -5 "$ART/stderr.txt" >&2
python3 bench/vm/report.py "$RAW" "bench/results/zuf-${RESULT_TAG:-}$STAMP.json" "${RESULT_MD:-bench/results/zuf-latest.md}" \
  --kver "$KVER" --vmrc "$vrc" --cmd "bash bench/vm/run.sh" --secs "${SECS:-1}"
