#!/bin/bash
# Server-crash test, run inside the VM: kill -9 zusd during I/O. Pending and later ops must fail
# with EIO (never hang), umount of the mount and of the zuf root must work, a new zusd must be
# able to register and serve again; run.sh then checks that rmmod works and dmesg is clean.
. "$(dirname "$0")/guest-lib.sh"
M=/mnt/zuf
start_zusd || exit 1
mkdir -p $M
t mount mount -t zufs-mem none $M
t seed sh -c "echo before > $M/a && mkdir $M/d && echo in-d > $M/d/f"

# writers and readers in flight when the server dies
( dd if=/dev/zero of=$M/w1 bs=64k count=1000000 2> /tmp/dd1.err; echo $? > /tmp/dd1.rc ) &
( dd if=/dev/zero of=$M/w2 bs=1M count=1000000 2> /tmp/dd2.err; echo $? > /tmp/dd2.rc ) &
( while cat $M/a > /dev/null 2>/tmp/rd.err; do :; done; echo done > /tmp/rd.rc ) &
sleep 3
t writers-running sh -c "[ \$(stat -c %s $M/w1) -gt 0 ]"
kill -9 $ZUSD_PID
wait $ZUSD_PID 2>/dev/null
echo "zusd killed; state: $(cat /sys/fs/zuf/state)"

for i in $(seq 1 150); do [ -f /tmp/dd1.rc ] && [ -f /tmp/dd2.rc ] && [ -f /tmp/rd.rc ] && break; sleep 0.2; done
t inflight-writers-ended sh -c "[ -f /tmp/dd1.rc ] && [ -f /tmp/dd2.rc ]"
t inflight-writers-eio sh -c "[ \$(cat /tmp/dd1.rc) != 0 ] && grep -q 'Input/output error' /tmp/dd1.err && grep -q 'Input/output error' /tmp/dd2.err"
t inflight-reader-ended sh -c "[ -f /tmp/rd.rc ] && grep -q 'Input/output error' /tmp/rd.err"
t later-read-eio sh -c "! timeout 20 cat $M/d/f 2>/tmp/e && grep -q 'Input/output error' /tmp/e"
t later-create-eio sh -c "! timeout 20 touch $M/new 2>/tmp/e && grep -q 'Input/output error' /tmp/e"
t later-readdir-eio sh -c "! timeout 20 ls $M 2>/tmp/e && grep -q 'Input/output error' /tmp/e"
t stat-from-zus-inode stat $M
cat /sys/fs/zuf/stats | grep -E 'dead_server|bad_replies|channels'
t dead-server-counted sh -c "grep -q '^dead_server [1-9]' /sys/fs/zuf/stats"
t umount-after-crash timeout 30 umount $M
t mount-without-server sh -c "! timeout 30 mount -t zufs-mem none $M 2>/dev/null"

# a new server registers the same fs type again and serves
if start_zusd; then ok restart-zusd; else bad restart-zusd; fi
t remount mount -t zufs-mem none $M
t works-again sh -c "echo after > $M/b && [ \"\$(cat $M/b)\" = after ]"
t umount-again umount $M
if stop_zusd; then ok stop-after-restart; else bad stop-after-restart; fi
t umount-zuf-root umount /sys/fs/zuf
echo "SUMMARY crash: $PASS passed, $FAIL failed${FAILED:+ (failed:$FAILED)}"
[ $FAIL = 0 ]
