#!/bin/bash
# Async replies, run inside the VM: on zufs-slow, LOOKUP of "slow*" and XATTR_GET of user.slow
# take 2 s in the server, which answers -EZUFS_ASYNC after 50 ms and completes later with
# ZU_IOC_ASYNC_DONE. Two channels must then hold more parked slow lookups than there are channels
# while a fast op still completes, payloads must arrive intact, a killed waiter and a killed server
# must not hang anything. (No timing assertion: the machine is shared; the checks are orderings
# and counters.)
# Then dynamic channels: a synchronous server starting with one channel per CPU grows the busy
# CPU's channels on the kernel's ZUFS_M_ADD_CHANNEL requests, up to its limit.
. "$(dirname "$0")/guest-lib.sh"
M=/mnt/slow
export ZUF_MAX_CHANNELS=1	# first part: async replies alone free the channels
export SLOW_MS=2000
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
echo "16 parallel lookups over 2 channels: ${base}s without delay, ${el}s with a 2 s server delay each (synchronous: >= 16 s more)"
t parallel-slow-lookups [ ! -e /tmp/lookup-bad ]
# 8 slow lookups parked at once on 2 channels: async_ops grows by 8 while none has returned yet,
# and a fast op completes meanwhile
overlap() {
  local a0 pids="" i n
  a0=$(sed -n 's/^async_ops //p' /sys/fs/zuf/stats)
  for i in $(seq 1 8); do stat $M/slow-ov-$i > /dev/null 2>&1 & pids+=" $!"; done
  for _ in $(seq 1 300); do
    n=$(( $(sed -n 's/^async_ops //p' /sys/fs/zuf/stats) - a0 ))
    [ $n -ge 8 ] && break
    sleep 0.02
  done
  alive=0; for p in $pids; do kill -0 $p 2>/dev/null && alive=$((alive + 1)); done
  fast=$(cat $M/slow2)
  alive2=0; for p in $pids; do kill -0 $p 2>/dev/null && alive2=$((alive2 + 1)); done
  wait $pids
  echo "parked at once: $n answered async, $alive waiting then; fast op read '$fast' with $alive2 still waiting"
  [ $n -ge 8 ] && [ $alive = 8 ] && [ "$fast" = v2 ] && [ $alive2 -ge 1 ]
}
if overlap; then ok async-overlaps; else bad async-overlaps "fewer than 8 lookups parked at once, or the fast op waited for them"; fi
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
t parked-op-fails-on-server-death sh -c "for i in \$(seq 1 50); do kill -0 $W 2>/dev/null || break; sleep 0.1; done; cat /tmp/d.out; ! kill -0 $W 2>/dev/null && grep -q 'Input/output error' /tmp/d.out"
t umount timeout 30 umount $M

# dynamic channels: ops slower than ASYNC_MS never happen here, so each lookup holds its channel
stat_of() { sed -n "s/^$1 //p" /sys/fs/zuf/stats; }
export ZUF_MAX_CHANNELS=3 ASYNC_MS=600000
start_zusd || exit 1
t remount mount -t zufs-slow none $M
ch0=$(stat_of channels); asked0=$(stat_of channels_asked); added0=$(stat_of channels_added)
echo "before: channels $ch0 (asked $asked0, added $added0)"
grow() {
  local pids="" i
  for i in $(seq 1 8); do (taskset -c 0 stat $M/slow-grow-$i 2>&1 | grep -q 'No such file' || touch /tmp/grow-bad) & pids+=" $!"; done
  wait $pids
}
grow; grow
ch=$(stat_of channels); asked=$(stat_of channels_asked); added=$(stat_of channels_added)
echo "after 2 x 8 slow lookups on CPU 0: channels $ch (asked $((asked - asked0)), added $((added - added0)))"
grep -E 'channel [0-9]+ added|no channel added' $ZUSD_LOG | head -5
t grow-lookups-correct [ ! -e /tmp/grow-bad ]
t grow-asked [ $((asked - asked0)) -ge 1 ]
# the server answers ADD_CHANNEL once its new ZT is registered: that may land after the lookups
for _ in $(seq 1 300); do [ $(stat_of channels_added) -gt $added0 ] && break; sleep 0.1; done
ch=$(stat_of channels); added=$(stat_of channels_added)
echo "then: channels $ch, added $((added - added0))"
t grow-added sh -c "[ $((added - added0)) -ge 1 ] && [ $ch -gt $ch0 ]"
t grow-within-limit [ $ch -le $((ch0 + 2)) ]	# CPU 0 grows from 1 to at most 3
t grow-logged grep -q 'channel [0-9]* added' $ZUSD_LOG
t umount-grown timeout 30 umount $M
if stop_zusd; then ok zusd-stops; else bad zusd-stops "zusd did not exit after BREAK_ALL"; fi
t umount-zuf-root umount /sys/fs/zuf
echo "SUMMARY async: $PASS passed, $FAIL failed${FAILED:+ (failed:$FAILED)}"
[ $FAIL = 0 ]
