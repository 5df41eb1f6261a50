#!/bin/bash
# Async replies, run inside the VM: on zufs-slow, LOOKUP of "slow*" and XATTR_GET of user.slow
# take 500 ms in the server, which answers -EZUFS_ASYNC after 50 ms and completes later with
# ZU_IOC_ASYNC_DONE. Two channels must then serve 16 parallel slow lookups in about one delay,
# payloads must arrive intact, a killed waiter and a killed server must not hang anything.
. "$(dirname "$0")/guest-lib.sh"
M=/mnt/slow
start_zusd || exit 1
mkdir -p $M
t mount mount -t zufs-slow none $M
now() { date +%s.%N; }
t parallel-create sh -c "for i in \$(seq 1 16); do echo v\$i > $M/slow\$i & done; wait; [ \$(ls $M | wc -l) = 16 ] && [ \"\$(cat $M/slow7)\" = v7 ]"
# the same 16 parallel lookups without the delay give the process-spawning cost of TCG
par() {   # `wait` with pids: a bare wait would also wait for zusd
  local pids="" i
  for i in $(seq 1 16); do (stat $M/$1-missing-$i 2>&1 | grep -q 'No such file' || touch /tmp/lookup-bad) & pids+=" $!"; done
  wait $pids
}
s=$(now); par fast; base=$(echo "$(now) - $s" | bc)
s=$(now); par slow; el=$(echo "$(now) - $s" | bc)
echo "16 parallel lookups over 2 channels: ${base}s without delay, ${el}s with a 500 ms server delay each (synchronous: >= 4 s more)"
t parallel-slow-lookups [ ! -e /tmp/lookup-bad ]
t async-overlaps sh -c "[ \$(echo '$el - $base < 2.5' | bc) = 1 ]"
t async-counted sh -c "[ \$(sed -n 's/^async_ops //p' /sys/fs/zuf/stats) -ge 16 ]"
t async-payload sh -c "setfattr -n user.slow -v payload-through-async $M/slow1 && [ \"\$(getfattr --only-values -n user.slow $M/slow1)\" = payload-through-async ]"
t fast-op-meanwhile sh -c "stat $M/slow-missing-x >/dev/null 2>&1 & sleep 0.1; [ \"\$(cat $M/slow2)\" = v2 ]; r=\$?; wait; exit \$r"
t killed-waiter sh -c "stat $M/slow-missing-k >/dev/null 2>&1 & p=\$!; sleep 0.2; kill -9 \$p; wait \$p; true"
sleep 1
t after-kill-still-works sh -c "[ \"\$(cat $M/slow3)\" = v3 ]"
grep -E 'async_ops|bad_replies' /sys/fs/zuf/stats
stat $M/slow-missing-d > /tmp/d.out 2>&1 &
W=$!
sleep 0.3
kill -9 $ZUSD_PID; wait $ZUSD_PID 2>/dev/null
t parked-op-fails-on-server-death sh -c "for i in \$(seq 1 50); do kill -0 $W 2>/dev/null || break; sleep 0.1; done; ! kill -0 $W 2>/dev/null && grep -q 'Input/output error' /tmp/d.out"
t umount timeout 30 umount $M
t umount-zuf-root umount /sys/fs/zuf
echo "SUMMARY async: $PASS passed, $FAIL failed${FAILED:+ (failed:$FAILED)}"
[ $FAIL = 0 ]
