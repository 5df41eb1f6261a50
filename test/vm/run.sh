#!/bin/bash
# The zuf VM suite, CI entry point: `bash test/vm/run.sh` from anywhere.
# Builds zuf.ko (Debian 6.1 headers, W=1 -Werror) and the bundled zusd, then boots Debian's 6.1
# kernel under qemu TCG once per suite (e2e, crash, evil, async, serve, vitest, nio) with the host root over 9p,
# loads zuf.ko, runs the suite, rmmods zuf (a failed unload fails the run) and fails on any
# BUG/WARNING/Oops in dmesg. The vitest suite (the host's vitest e2e files through zuf on local,
# redis, redis with /dev/shm tiers and redis with t1 on pmem) gets a private redis-server on the
# host, reached from the guest through vmrun.sh -p, stopped afterwards.
# The vitest and nio suites boot with 4 GiB and emulated pmem: a 64 MiB /dev/pmem0
# (memmap=64M!4G, DAX) as zufs-redis's t1 member, so zuf.ko reads from it (NIO); the nio suite
# runs redis-server inside the guest.
# Exit status: 0 only if every suite passed. SUITES="e2e" limits the run.
# The pmem-crash suite is test/vm/pmem-crash.sh (its own boots, NVDIMM file and host redis) with
# short trial counts (PMEM_CRASH_KILL_TRIALS=6, PMEM_CRASH_POWEROFF_TRIALS=2).
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT" || exit 2
bash test/vm/build.sh || { echo "run.sh: build failed" >&2; exit 2; }
KVER=$(ls -d /lib/modules/6.1.*-amd64 2>/dev/null | sort -V | tail -1 | xargs -r basename)
[ -n "$KVER" ] || { echo "run.sh: no Debian 6.1 kernel in /lib/modules (apt-get install linux-image-amd64)" >&2; exit 2; }
ART=${ARTIFACTS:-$(mktemp -d /tmp/zuf-vm.XXXXXX)}

# a private redis-server on a free host port for the vitest suite; only this pid is ever stopped
REDIS_PID=""; REDIS_DIR=""
start_host_redis() {
  command -v redis-server > /dev/null || { echo "run.sh: vitest suite needs redis-server on the host" >&2; return 1; }
  REDIS_PORT=$(node -e "const s = require('net').createServer().listen(0, '127.0.0.1', () => { console.log(s.address().port); s.close(); })")
  REDIS_DIR=$(mktemp -d /tmp/zuf-vm-redis.XXXXXX)
  redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --dir "$REDIS_DIR" --save '' --appendonly no \
    --protected-mode no --loglevel warning --logfile "$REDIS_DIR/redis.log" &
  REDIS_PID=$!
  for _ in $(seq 1 100); do
    redis-cli -p "$REDIS_PORT" ping 2> /dev/null | grep -q PONG && return 0
    kill -0 "$REDIS_PID" 2> /dev/null || break
    sleep 0.1
  done
  echo "run.sh: redis-server did not start on port $REDIS_PORT" >&2; cat "$REDIS_DIR/redis.log" >&2; return 1
}
stop_host_redis() {
  [ -n "$REDIS_PID" ] && kill "$REDIS_PID" 2> /dev/null && wait "$REDIS_PID" 2> /dev/null
  [ -n "$REDIS_DIR" ] && rm -rf "$REDIS_DIR"
  REDIS_PID=""; REDIS_DIR=""
}
trap stop_host_redis EXIT

rc=0; summary=""
for suite in ${SUITES:-e2e crash evil async serve vitest nio}; do
  echo "==== zuf VM suite: $suite (kernel $KVER, artifacts $ART/$suite) ===="
  [ "$suite" = pmem-crash ] && { echo "(pmem-crash runs after the other suites)"; continue; }
  start=$(date +%s)
  extra=(); mem=2G; tmo=1200
  if [ "$suite" = nio ]; then
    # memmap=64M!4G: in the high RAM of a 4 GiB pc guest (4G-5G); never !3G (PCI hole, writes lost)
    mem=4G; extra=(-P "${NIO_PMEM:-64M!4G}" -M ext4 -M loop)
  fi
  if [ "$suite" = vitest ]; then
    # ext4 on a loop device: the guest's scratch dir, a local disk like the host's /tmp (tmpfs on 6.1 has no user xattrs)
    # and the pmem t1 of the redis+nio store, as in the nio suite
    mem=4G; tmo=1500
    if start_host_redis; then extra=(-P "${NIO_PMEM:-64M!4G}" -M ext4 -M loop -p "$REDIS_PORT" -e "ZUFS_VM_REDIS_PORT=$REDIS_PORT")
    else summary+="$suite=rc2(no redis) "; rc=2; stop_host_redis; continue; fi
  fi
  bash test/vm/vmrun.sh -k "$KVER" -m kernel/zuf.ko -u -c 2 -r "$mem" -t "${VM_SUITE_TIMEOUT:-$tmo}" -o "$ART/$suite" "${extra[@]}" -- bash test/vm/guest-$suite.sh
  src=$?
  [ "$suite" = vitest ] && stop_host_redis
  if [ -f "$ART/$suite/dmesg" ]; then
    if grep -E 'BUG:|WARNING:|Oops|Call Trace|general protection|blocked for more than|UBSAN|KASAN' "$ART/$suite/dmesg"; then
      echo "run.sh: $suite: kernel log shows the problems above" >&2
      [ $src = 0 ] && src=1
    fi
  else
    echo "run.sh: $suite: no dmesg captured" >&2
    [ $src = 0 ] && src=125
  fi
  summary+="$suite=rc$src($(( $(date +%s) - start ))s) "
  [ $src = 0 ] || rc=$src
done
# pmem-crash (in the default set, last): its own driver, several boots, an NVDIMM file and its own host redis
if [[ " ${SUITES:-pmem-crash} " == *" pmem-crash "* ]]; then
  echo "==== zuf VM suite: pmem-crash (kernel $KVER, artifacts $ART/pmem-crash) ===="
  start=$(date +%s)
  SKIP_BUILD=1 KVER=$KVER ARTIFACTS=$ART/pmem-crash KILL_TRIALS=${PMEM_CRASH_KILL_TRIALS:-6} POWEROFF_TRIALS=${PMEM_CRASH_POWEROFF_TRIALS:-2} \
    timeout "${VM_SUITE_TIMEOUT:-1200}" bash test/vm/pmem-crash.sh both
  src=$?; summary+="pmem-crash=rc$src($(( $(date +%s) - start ))s) "; [ $src = 0 ] || rc=$src
fi
echo "==== zuf VM suites: $summary==> exit $rc"
exit $rc
