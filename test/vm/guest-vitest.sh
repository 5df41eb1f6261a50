#!/bin/bash
# The `vitest` suite, run inside the VM (as root) by test/vm/run.sh: the host's vitest e2e files
# (test/e2e/tools.test.ts, test/e2e/differential.test.ts) through zuf instead of FUSE, on
# zufs-local, zufs-redis, zufs-redis with tiers (t1 a /dev/shm file, t2 a file, write-back: zuf
# copies through the op buffers) and zufs-redis with t1 on the emulated pmem /dev/pmem0 (run.sh
# boots this suite with -r 4G -P 64M!4G; ZUFS_TEST_T1_DEVICE names it to test/e2e/stores.ts):
# there zuf.ko reads cached chunks straight from t1 (NIO: GET_MULTY, ZU_IOC_UNMAP). The files run
# one at a time (--no-file-parallelism): both use /dev/pmem0, one mount at a time, each mount on a
# freshly wiped device. After the run /sys/fs/zuf/stats must show NIO reads (nio_gets and
# nio_pages_hit above 0), else the pmem store tested nothing new.
# `zufs serve` (dist/src/zus/cli.js) registers the zufs-* types;
# ZUFS_TEST_TRANSPORT=zuf makes test/helpers/mount.ts mount with mount(8) -t zufs-<store> -o config=.
# Redis runs on the HOST (run.sh starts it and passes ZUFS_VM_REDIS_PORT; vmrun.sh -p forwards the
# guest's hostlo:PORT to it). Node and vitest come from the host root over 9p.
# The scratch dir (TMPDIR: mountpoints, the local volumes, t2 files, the differential test's
# reference tree) is ext4 on a loop device, like the host's /tmp: the guest's tmpfs (6.1) has no
# user.* xattrs.
# Trimmed for TCG (30-100x slower than the host): the differential test runs the first 600 of
# its 2,500 seeded operations (ZUFS_DIFF_OPS; same seed and op mix, every errno kind still hit; the
# 2,500 did not finish on redis within 600 s), and time limits are 5x the host's
# (ZUFS_TEST_TIMEOUT_SCALE; 300 s where the host uses vitest's 5 s / 10 s defaults). The tools
# tests run in full. Both files on the four stores took 417 s and 583 s in two runs under TCG
# (vitest is capped at 1200 s).
. "$(dirname "$0")/guest-lib.sh"
CLI=$ROOT/dist/src/zus/cli.js
SLOG=/tmp/zusd-vitest.log
VITEST=$ROOT/node_modules/vitest/vitest.mjs
[ -f "$CLI" ] || { echo "no $CLI: run npm run build first"; exit 1; }
[ -f "$VITEST" ] || { echo "no $VITEST: run npm ci first"; exit 1; }
[ -n "${ZUFS_VM_REDIS_PORT:-}" ] || { echo "ZUFS_VM_REDIS_PORT is not set (run.sh starts redis-server on the host)"; exit 1; }
REDIS_URL=redis://hostlo:$ZUFS_VM_REDIS_PORT/0
t redis-reachable sh -c "timeout 20 redis-cli -h hostlo -p $ZUFS_VM_REDIS_PORT ping | grep -q PONG"

# the pmem store's t1: a DAX block device (the store wipes its device table before each mount)
PMEM=/dev/pmem0
t pmem0-dax sh -c "test -b $PMEM && grep -qx 1 /sys/block/pmem0/queue/dax"

SCRATCH=/mnt/vitest-scratch
mkdir -p $SCRATCH && truncate -s 512M /tmp/scratch.img && mkfs.ext4 -q -F /tmp/scratch.img \
  && mount -o loop /tmp/scratch.img $SCRATCH || { echo "cannot make the ext4 scratch dir"; exit 1; }

# `zufs serve` in the foreground (one cold node start: --daemon costs a second one, and the serve
# suite covers it). Its start (one to two minutes under TCG) overlaps vitest's own: the helper waits
# for the zufs-* types (ZUFS_TEST_SERVE_WAIT_MS) before its first mount.
note "vitest: starting zufs serve and vitest"
s0=$(date +%s)
node "$CLI" serve > $SLOG 2>&1 &
SERVE_PID=$!
( for _ in $(seq 1 1500); do grep -qw zufs-local /proc/filesystems && break; sleep 0.2; done
  note "vitest: zufs serve registered after $(( $(date +%s) - s0 )) s" ) &
( cd "$ROOT" && TMPDIR=$SCRATCH ZUFS_TEST_TRANSPORT=zuf ZUFS_TEST_SERVE_LOG=$SLOG ZUFS_TEST_SERVE_WAIT_MS=240000 ZUFS_TEST_TIMEOUT_SCALE=5 \
    REDIS_URL=$REDIS_URL ZUFS_DIFF_OPS=${ZUFS_DIFF_OPS:-600} ZUFS_TEST_T1_DEVICE=$PMEM NO_COLOR=1 \
    timeout ${VITEST_TIMEOUT:-1200} node "$VITEST" run --reporter=verbose --testTimeout=300000 --hookTimeout=300000 --no-file-parallelism \
      test/e2e/tools.test.ts test/e2e/differential.test.ts ) 2>&1 \
  | tee /tmp/vitest.out | while IFS= read -r l; do note "$l"; done
vrc=${PIPESTATUS[0]}
note "vitest: exited rc=$vrc after $(( $(date +%s) - s0 )) s"
cat /tmp/vitest.out
if kill -0 $SERVE_PID 2>/dev/null; then ok serve-running; else bad serve-running "zufs serve exited: $(tail -5 $SLOG)"; fi
if [ "$vrc" = 0 ]; then ok vitest-e2e-through-zuf; else bad vitest-e2e-through-zuf "vitest rc=$vrc"; fi

# the pmem store must have read through NIO: zusd gave zuf.ko t1 block numbers (nio_gets) and
# zuf.ko served pages from them without a round trip (nio_pages_hit)
grep -vE '^op ' /sys/fs/zuf/stats > /tmp/zuf-stats
echo "---- /sys/fs/zuf/stats (after vitest) ----"; tr '\n' ' ' < /tmp/zuf-stats; echo
stat_of() { awk -v k="$1" '$1 == k { print $2; f = 1 } END { if (!f) print 0 }' /tmp/zuf-stats; }
NIO_GETS=$(stat_of nio_gets); NIO_HIT=$(stat_of nio_pages_hit)
note "vitest: nio_gets $NIO_GETS nio_pages_hit $NIO_HIT nio_pages_mapped $(stat_of nio_pages_mapped) nio_unmapped $(stat_of nio_unmapped) nio_fallback $(stat_of nio_fallback)"
if [ "$NIO_GETS" -gt 0 ] 2>/dev/null; then ok nio-gets; else bad nio-gets "nio_gets $NIO_GETS: the pmem store made no NIO read"; fi
if [ "$NIO_HIT" -gt 0 ] 2>/dev/null; then ok nio-pages-hit; else bad nio-pages-hit "nio_pages_hit $NIO_HIT"; fi
t nio-on-in-zusd-log sh -c "[ \$(grep -c 'NIO reads on, writes on: t1 $PMEM grabbed by the kernel' $SLOG) -ge 2 ]"

t no-zufs-mounts-left sh -c "! grep -q ' zufs-' /proc/mounts"
for m in $(awk '$3 ~ /^zufs-/ { print $2 }' /proc/mounts); do umount "$m" || umount -l "$m"; done   # so rmmod can tell
# SIGTERM -> BREAK_ALL -> zusd exits
kill -TERM $SERVE_PID
for _ in $(seq 1 300); do kill -0 $SERVE_PID 2>/dev/null || break; sleep 0.2; done
if kill -0 $SERVE_PID 2>/dev/null; then bad serve-sigterm-exit "zusd $SERVE_PID still running 60 s after SIGTERM"; kill -9 $SERVE_PID
else ok serve-sigterm-exit; fi
wait $SERVE_PID
t umount-zuf-root umount /sys/fs/zuf
umount $SCRATCH
echo "---- zusd (serve) log: mounts, NIO and errors ----"; grep -E 'mounted|refused|failed|error|BREAK_ALL|stopped|NIO' $SLOG | cut -c1-240 | tail -40
echo "SUMMARY vitest: $PASS passed, $FAIL failed${FAILED:+ (failed:$FAILED)}"
[ $FAIL = 0 ]
