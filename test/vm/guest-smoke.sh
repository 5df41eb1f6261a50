#!/bin/bash
# Quick guest check: zuf root, zusd, one mount, a file. For debugging the harness.
. "$(dirname "$0")/guest-lib.sh"
set -x
start_zusd || exit 1
cat /sys/fs/zuf/state /sys/fs/zuf/registered_fs
mkdir -p /mnt/z && mount -t zufs-mem -o config=/etc/zufs/none.yaml none /mnt/z || { cat $ZUSD_LOG; exit 1; }
grep zufs /proc/mounts
echo hello > /mnt/z/a && cat /mnt/z/a && ls -la /mnt/z && stat /mnt/z/a
cat /sys/fs/zuf/stats
umount /mnt/z
stop_zusd; cat $ZUSD_LOG
umount /sys/fs/zuf
