#!/bin/bash
# The `vitest` suite, run inside the VM (as root) by test/vm/run.sh: the host's vitest e2e files
# (test/e2e/tools.test.ts, test/e2e/differential.test.ts) through zuf instead of FUSE, on
# zufs-local and zufs-redis. `zufs serve --daemon` (dist/src/zus/cli.js) registers the zufs-* types;
# ZUFS_TEST_TRANSPORT=zuf makes test/helpers/mount.ts mount with mount(8) -t zufs-<store> -o config=.
# Redis runs on the HOST (run.sh starts it and passes ZUFS_VM_REDIS_PORT; vmrun.sh -p forwards the
# guest's hostlo:PORT to it). Node and vitest come from the host root over 9p.
# The scratch dir (TMPDIR: mountpoints, the local volumes, the differential test's reference tree)
# is ext4 on a loop device, like the host's /tmp: the guest's tmpfs (6.1) has no user.* xattrs.
# Trimmed for TCG (30-100x slower than the host): the differential test runs the first 1,000 of
# its 2,500 seeded operations (ZUFS_DIFF_OPS; same seed and op mix, every errno kind still hit; the
# 2,500 did not finish on redis within 600 s), and each test and hook may take 300 s instead of
# vitest's 5 s / 10 s defaults. The tools tests run in full.
. "$(dirname "$0")/guest-lib.sh"
CLI=$ROOT/dist/src/zus/cli.js
SLOG=/tmp/zusd-vitest.log
VITEST=$ROOT/node_modules/vitest/vitest.mjs
[ -f "$CLI" ] || { echo "no $CLI: run npm run build first"; exit 1; }
[ -f "$VITEST" ] || { echo "no $VITEST: run npm ci first"; exit 1; }
[ -n "${ZUFS_VM_REDIS_PORT:-}" ] || { echo "ZUFS_VM_REDIS_PORT is not set (run.sh starts redis-server on the host)"; exit 1; }
REDIS_URL=redis://hostlo:$ZUFS_VM_REDIS_PORT/0
t redis-reachable timeout 20 node -e "
  const s = require('net').connect($ZUFS_VM_REDIS_PORT, 'hostlo', () => s.write('PING\r\n'));
  s.on('data', (d) => { process.exit(String(d).startsWith('+PONG') ? 0 : 1); });
  s.on('error', (e) => { console.error(e.message); process.exit(1); });"

SCRATCH=/mnt/vitest-scratch
mkdir -p $SCRATCH && truncate -s 512M /tmp/scratch.img && mkfs.ext4 -q -F /tmp/scratch.img \
  && mount -o loop /tmp/scratch.img $SCRATCH || { echo "cannot make the ext4 scratch dir"; exit 1; }

# zufs serve's cold start (about a minute under TCG) overlaps vitest's own start: the helper waits
# for the zufs-* types (ZUFS_TEST_SERVE_WAIT_MS) before its first mount
note "vitest: starting zufs serve and vitest"
s0=$(date +%s)
( timeout 300 node "$CLI" serve --daemon --log-file $SLOG > /tmp/serve.out 2>&1; echo $? > /tmp/serve.rc
  note "vitest: zufs serve registered after $(( $(date +%s) - s0 )) s" ) &
SERVE_LAUNCH=$!
( cd "$ROOT" && TMPDIR=$SCRATCH ZUFS_TEST_TRANSPORT=zuf ZUFS_TEST_SERVE_LOG=$SLOG ZUFS_TEST_SERVE_WAIT_MS=240000 \
    REDIS_URL=$REDIS_URL ZUFS_DIFF_OPS=${ZUFS_DIFF_OPS:-1000} NO_COLOR=1 \
    timeout 900 node "$VITEST" run --reporter=verbose --testTimeout=300000 --hookTimeout=300000 \
      test/e2e/tools.test.ts test/e2e/differential.test.ts ) 2>&1 \
  | tee /tmp/vitest.out | tee -a "$PROGRESS"
vrc=${PIPESTATUS[0]}
note "vitest: exited rc=$vrc after $(( $(date +%s) - s0 )) s"
wait $SERVE_LAUNCH
cat /tmp/serve.out
SERVE_PID=$(sed -n 's/^zusd \([0-9]*\) serving.*/\1/p' /tmp/serve.out)
if [ "$(cat /tmp/serve.rc)" = 0 ] && [ -n "$SERVE_PID" ]; then ok serve-daemon
else bad serve-daemon "rc=$(cat /tmp/serve.rc)"; echo "---- serve log ----"; tail -30 $SLOG; fi
if [ "$vrc" = 0 ]; then ok vitest-e2e-through-zuf; else bad vitest-e2e-through-zuf "vitest rc=$vrc"; fi

t no-zufs-mounts-left sh -c "! grep -q ' zufs-' /proc/mounts"
# SIGTERM -> BREAK_ALL -> the daemon exits (it is orphaned: running means alive and not a zombie)
alive() { [ -e /proc/$1 ] && ! grep -q '^State:.*Z' /proc/$1/status 2>/dev/null; }
if [ -n "$SERVE_PID" ]; then
  kill -TERM "$SERVE_PID"
  for _ in $(seq 1 300); do alive "$SERVE_PID" || break; sleep 0.2; done
  if alive "$SERVE_PID"; then bad serve-sigterm-exit "zusd $SERVE_PID still running 60 s after SIGTERM"; kill -9 "$SERVE_PID"; sleep 1
  else ok serve-sigterm-exit; fi
fi
t umount-zuf-root umount /sys/fs/zuf
umount $SCRATCH
echo "---- zusd (serve) log: mounts and errors ----"; grep -E 'mounted|refused|failed|error|BREAK_ALL|stopped' $SLOG | cut -c1-240 | tail -40
echo "SUMMARY vitest: $PASS passed, $FAIL failed${FAILED:+ (failed:$FAILED)}"
[ $FAIL = 0 ]
