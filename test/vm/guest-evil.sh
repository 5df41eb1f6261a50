#!/bin/bash
# Hardening test, run inside the VM: a hostile server (evil-zusd.c) breaks every reply rule; each
# broken reply must surface as EIO (never a crash, hang or wrong data), the counters must show
# it, and umount + server exit + rmmod must still work (run.sh checks rmmod and dmesg).
. "$(dirname "$0")/guest-lib.sh"
M=/mnt/evil
mountpoint -q /sys/fs/zuf || mount -t zuf nodev /sys/fs/zuf
"$ROOT/test/vm/.build/evil-zusd" /sys/fs/zuf > /tmp/evil.out 2> /tmp/evil.err &
EVIL=$!
for _ in $(seq 1 100); do grep -q ready /tmp/evil.out 2>/dev/null && break; sleep 0.1; done
mkdir -p $M
t mount mount -t zufs-evil none $M
t wrong-sb-key-refused sh -c "! grep -q 'wrong key succeeded' /tmp/evil.err"
eio() { local n=$1; shift; if out=$(timeout 30 "$@" 2>&1); then bad "$n" "succeeded: $out"; elif echo "$out" | grep -q 'Input/output error'; then ok "$n"; else bad "$n" "$out"; fi; }
t good-lookup stat $M/good
for name in baddpp pastend unaligned badpool t1pool apppool badtype zeroino bigerr poserr restartsys badlen; do
  eio "reply-$name" stat $M/$name
done
t legit-enoent sh -c "stat $M/nothing 2>&1 | grep -q 'No such file'"
eio read-past-request cat $M/good
eio readdir-corrupt ls $M
t statfs-clamped sh -c "[ \$(stat -f -c %f $M) -le \$(stat -f -c %b $M) ]"
t enosys-create sh -c "! touch $M/new 2>/tmp/e && grep -q 'Function not implemented' /tmp/e"
grep -E 'bad_replies|channels' /sys/fs/zuf/stats
t bad-replies-counted sh -c "[ \$(sed -n 's/^bad_replies //p' /sys/fs/zuf/stats) -ge 14 ]"
t umount umount $M
kill -TERM $EVIL; wait $EVIL 2>/dev/null
t umount-zuf-root umount /sys/fs/zuf
echo "SUMMARY evil: $PASS passed, $FAIL failed${FAILED:+ (failed:$FAILED)}"
[ $FAIL = 0 ]
