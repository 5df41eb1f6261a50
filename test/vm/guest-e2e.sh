#!/bin/bash
# The zuf e2e suite, run inside the VM (as root) by test/vm/run.sh: zuf root + zusd (zufs-mem),
# then POSIX behaviour through the mount. Prints one line per test and a summary; exit 1 on failure.
. "$(dirname "$0")/guest-lib.sh"
P=$ROOT/test/vm/.build/zuf-probe
M=/mnt/zuf
start_zusd || exit 1
mkdir -p $M
t mount mount -t zufs-mem -o config=/etc/zufs/e2e.yaml,volume=e2e none $M
t proc-mounts-shows-config grep -q "zufs-mem rw,relatime,config=/etc/zufs/e2e.yaml,volume=e2e" /proc/mounts
mountpoint -q $M || { echo "not mounted; zusd log:"; cat $ZUSD_LOG; exit 1; }

# create / write / read / stat
t create-write-read sh -c "echo hello-zuf > $M/a && [ \"\$(cat $M/a)\" = hello-zuf ]"
t stat-size sh -c "[ \$(stat -c %s $M/a) = 10 ]"
t append sh -c "echo more >> $M/a && [ \"\$(tail -1 $M/a)\" = more ] && [ \$(stat -c %s $M/a) = 15 ]"
head -c 5000000 /dev/urandom > /tmp/big
t big-write-split-io cp /tmp/big $M/big
t big-read-back cmp /tmp/big $M/big
t big-size sh -c "[ \$(stat -c %s $M/big) = 5000000 ]"
t dd-offsets sh -c "dd if=/tmp/big of=$M/big bs=4096 seek=100 skip=7 count=3 conv=notrunc status=none && dd if=$M/big bs=4096 skip=100 count=3 status=none > /tmp/o1 && dd if=/tmp/big bs=4096 skip=7 count=3 status=none > /tmp/o2 && cmp /tmp/o1 /tmp/o2 && [ \$(stat -c %s $M/big) = 5000000 ]"
t chmod sh -c "chmod 0640 $M/a && [ \$(stat -c %a $M/a) = 640 ]"
t write-clears-suid sh -c "echo s > $M/suid && chmod 4757 $M/suid && setpriv --reuid=65534 --regid=65534 --clear-groups sh -c 'echo x >> $M/suid' && [ \$(stat -c %a $M/suid) = 757 ]"
t chown sh -c "chown 1234:5678 $M/a && [ \"\$(stat -c %u:%g $M/a)\" = 1234:5678 ]"
t utimes sh -c "touch -d '2001-02-03 04:05:06' $M/a && [ \$(stat -c %Y $M/a) = \$(date -d '2001-02-03 04:05:06' +%s) ]"
t truncate-shrink sh -c "truncate -s 3 $M/a && [ \"\$(cat $M/a)\" = hel ]"
t truncate-grow sh -c "truncate -s 8192 $M/a && [ \$(stat -c %s $M/a) = 8192 ] && [ \$(tail -c 100 $M/a | tr -d '\\0' | wc -c) = 0 ]"
t fsync sync $M/a
t syncfs sync -f $M/a
t statfs sh -c "stat -f -c %b $M | grep -qv '^0$' && df $M > /dev/null"

# directories
t mkdir-p mkdir -p $M/d1/d2/d3
t dir-nlink sh -c "[ \$(stat -c %h $M/d1) = 3 ]"
t rmdir-notempty sh -c "! rmdir $M/d1/d2 2>/tmp/err && grep -q 'not empty' /tmp/err"
t rmdir sh -c "rmdir $M/d1/d2/d3 && [ ! -e $M/d1/d2/d3 ]"
t mkdir-exists sh -c "! mkdir $M/d1 2>/dev/null"

# rename
echo r1 > $M/r1; echo r2 > $M/r2
t rename-file sh -c "mv $M/r1 $M/r1b && [ \"\$(cat $M/r1b)\" = r1 ] && [ ! -e $M/r1 ]"
t rename-over sh -c "mv $M/r1b $M/r2 && [ \"\$(cat $M/r2)\" = r1 ]"
t rename-dir sh -c "mv $M/d1 $M/d1x && [ -d $M/d1x/d2 ]"
echo x > $M/x; echo y > $M/y
t rename-noreplace sh -c "[ \"\$($P rename noreplace $M/x $M/y)\" = EEXIST ] && [ \"\$(cat $M/y)\" = y ]"
t rename-exchange sh -c "$P rename exchange $M/x $M/y && [ \"\$(cat $M/x)\" = y ] && [ \"\$(cat $M/y)\" = x ]"
t rename-cross-dir sh -c "mv $M/x $M/d1x/d2/x && [ \"\$(cat $M/d1x/d2/x)\" = y ]"

# links
t hardlink sh -c "ln $M/y $M/y2 && [ \$(stat -c %h $M/y) = 2 ] && [ \$(stat -c %i $M/y) = \$(stat -c %i $M/y2) ]"
t unlink sh -c "rm $M/y2 && [ \$(stat -c %h $M/y) = 1 ] && [ ! -e $M/y2 ]"
t unlink-open-file sh -c "exec 3<$M/y; rm $M/y; [ \"\$(cat <&3)\" = x ]"
t symlink-short sh -c "ln -s target-short $M/s1 && [ \"\$(readlink $M/s1)\" = target-short ]"
long=$(printf 'long/%.0s' $(seq 1 60))target
t symlink-long sh -c "ln -s $long $M/s2 && [ \"\$(readlink $M/s2)\" = $long ]"
t symlink-follow sh -c "ln -s d1x $M/s3 && [ -d $M/s3/d2 ] && [ \"\$(cat $M/s3/d2/x)\" = y ]"
t mkfifo sh -c "mkfifo $M/fifo && [ \"\$(stat -c %F $M/fifo)\" = fifo ]"

# xattrs
t xattr-set-get sh -c "setfattr -n user.color -v blue $M/r2 && [ \"\$(getfattr --only-values -n user.color $M/r2)\" = blue ]"
t xattr-list sh -c "setfattr -n user.size -v L $M/r2 && getfattr -d $M/r2 | grep -q user.size"
t xattr-remove sh -c "setfattr -x user.color $M/r2 && ! getfattr -n user.color $M/r2 2>/dev/null"
t xattr-missing sh -c "getfattr -n user.nope $M/r2 2>&1 | grep -q 'No such attribute'"

# POSIX ACLs (SB_POSIXACL): stored by the server as system.posix_acl_*, enforced by generic_permission
NB="setpriv --reuid=65534 --regid=65534 --clear-groups"
echo secret > $M/acl; chmod 0600 $M/acl
t acl-none-denied sh -c "! $NB cat $M/acl 2>/dev/null"
t acl-grant-read sh -c "setfacl -m u:65534:r $M/acl && [ \"\$($NB cat $M/acl)\" = secret ]"
t acl-getfacl-entry sh -c "getfacl -cn $M/acl 2>/dev/null | grep -qx 'user:65534:r--' && getfacl -cn $M/acl 2>/dev/null | grep -qx 'mask::r--'"
t acl-mask-in-mode sh -c "[ \$(stat -c %A $M/acl) = -rw-r----- ]"
t acl-no-write sh -c "! $NB sh -c 'echo w >> $M/acl' 2>/dev/null"
t acl-remove-denies sh -c "setfacl -x u:65534 $M/acl && ! $NB cat $M/acl 2>/dev/null && [ \$(stat -c %A $M/acl) = -rw------- ]"
t acl-chmod-masks sh -c "setfacl -m u:65534:r $M/acl && $NB cat $M/acl >/dev/null && chmod 0600 $M/acl && ! $NB cat $M/acl 2>/dev/null && getfacl -cn $M/acl 2>/dev/null | grep -qx 'mask::---'"
t acl-remove-all sh -c "setfacl -b $M/acl && [ -z \"\$(getfacl -cn $M/acl 2>/dev/null | grep -E '^(user:[0-9]|mask)')\" ]"
mkdir $M/acld
t acl-default-set sh -c "setfacl -d -m u:65534:rw $M/acld && getfacl -cn -d $M/acld 2>/dev/null | grep -qx 'user:65534:rw-'"
t acl-default-inherited sh -c "(umask 077; echo inh > $M/acld/f) && getfacl -cn $M/acld/f 2>/dev/null | grep -q '^user:65534:rw-' && [ \$(stat -c %A $M/acld/f) = -rw-rw-r-- ] && $NB sh -c 'echo w >> $M/acld/f'"
t acl-default-inherited-dir sh -c "mkdir $M/acld/sub && getfacl -cn -d $M/acld/sub 2>/dev/null | grep -qx 'user:65534:rw-' && getfacl -cn $M/acld/sub 2>/dev/null | grep -q '^user:65534:rw-'"
echo s > $M/sg; chown 65534:0 $M/sg; chmod 2664 $M/sg
t acl-set-drops-sgid-outside-group sh -c "$NB setfacl -m u:1:r $M/sg && [ \$(stat -c %a $M/sg) = 664 ] && getfacl -cn $M/sg 2>/dev/null | grep -qx 'user:1:r--'"
t acl-set-keeps-sgid-privileged sh -c "chmod 2664 $M/sg && setfacl -m u:2:r $M/sg && [ \$(stat -c %a $M/sg) = 2664 ]"
t acl-umask-once sh -c "(umask 027; : > $M/um) && [ \$(stat -c %a $M/um) = 640 ] && (umask 027; mkdir $M/umd) && [ \$(stat -c %a $M/umd) = 750 ]"

# sparse files, ioctl
t fallocate sh -c "fallocate -l 1M $M/fa && [ \$(stat -c %s $M/fa) = 1048576 ]"
t punch-hole sh -c "fallocate -p -o 0 -l 65536 $M/fa && [ \$(stat -c %s $M/fa) = 1048576 ]"
t seek-data-hole sh -c "printf abc | dd of=$M/sp bs=1 seek=3000000 status=none && r=\$($P seek $M/sp hole 0) && d=\$($P seek $M/sp data 0) && echo hole=\$r data=\$d && [ \$d -gt 0 ] && [ \$d -le 3000000 ] && [ \$r -lt \$d ]"
t ioctl-getflags sh -c "r=\$($P getflags $M/r2); echo \$r; case \$r in flags*|ENOTTY|EOPNOTSUPP) true;; *) false;; esac"

# mmap through the page cache (mmap.c), kept coherent with read(2)/write(2)
printf 'hello-mmap-world' > $M/mm
t mmap-read sh -c "[ \"\$($P mmap-read $M/mm 6 4)\" = mmap ]"
t mmap-shared-write-msync sh -c "$P mmap-write $M/mm 0 HELLO && [ \"\$(cat $M/mm)\" = HELLO-mmap-world ]"
t mmap-sees-write2 sh -c "$P mmap-read $M/mm 0 5 >/dev/null && printf J | dd of=$M/mm bs=1 seek=0 conv=notrunc status=none && [ \"\$($P mmap-read $M/mm 0 5)\" = JELLO ]"
t mmap-private-cow sh -c "[ \"\$($P mmap-cow $M/mm 0 ZZ | tr '\n' ' ')\" = 'ZZ JE ' ] && [ \"\$(cat $M/mm)\" = JELLO-mmap-world ]"
t mmap-write-then-truncate sh -c "$P mmap-write $M/mm 10 WORLD && truncate -s 12 $M/mm && [ \"\$(cat $M/mm)\" = JELLO-mmapWO ] && [ \"\$($P mmap-read $M/mm 6 6)\" = mmapWO ]"
t mmap-big-file sh -c "cp /tmp/big $M/mbig && $P mmap-read $M/mbig 0 5000000 | cmp - /tmp/big"
t exec-from-mount sh -c "cp /bin/echo $M/echo && chmod 755 $M/echo && [ \"\$($M/echo exec-ok)\" = exec-ok ]"

# flock (kernel-local locks: one gateway per zuf mount)
t flock-excludes sh -c "flock $M/lk sleep 3 & sleep 1; ! flock -n $M/lk true; r=\$?; wait; [ \$r = 0 ] && flock -n $M/lk true"

# readdir of many entries
t many-create sh -c "mkdir $M/many && cd $M/many && for i in \$(seq 1 1500); do : > file-with-a-longer-name-\$i; done"
t many-readdir sh -c "[ \$(ls $M/many | wc -l) = 1500 ] && [ \$(ls $M/many | sort -u | wc -l) = 1500 ]"
t many-find sh -c "[ \$(find $M/many -type f | wc -l) = 1500 ]"
t many-rm sh -c "rm -rf $M/many && [ ! -e $M/many ]"

# trees: cp -a + diff -r, tar round trip (on a snapshot: the repo may change under a live run)
SNAP=/tmp/snap
mkdir -p $SNAP && (cd "$ROOT" && tar -cf - src kernel/*.c kernel/*.h test/vm/*.sh) | tar -C $SNAP -xf -
t cp-a-tree cp -a $SNAP $M/tree
t diff-r-tree diff -r $SNAP $M/tree
t cp-a-preserves-mode-times sh -c "[ \"\$(cd $SNAP && find . -printf '%p %m %T@\n' | sort)\" = \"\$(cd $M/tree && find . -printf '%p %m %T@\n' | sort)\" ]"
tar -C $SNAP -cf /tmp/in.tar .
t tar-extract sh -c "mkdir $M/untar && tar -C $M/untar -xf /tmp/in.tar"
t tar-diff diff -r $SNAP $M/untar
t tar-roundtrip sh -c "tar -C $M/untar -cf /tmp/out.tar . && [ \"\$(tar -tvf /tmp/in.tar | sort)\" = \"\$(tar -tvf /tmp/out.tar | sort)\" ]"
t rm-rf-tree sh -c "rm -rf $M/tree $M/untar && [ -z \"\$(ls $M | grep -E '^(tree|untar)$')\" ]"

# git: index and packs are mmap'd
t git-init-commit sh -c "cd $M && git init -q repo && cd repo && cp -a $SNAP/src . && git add -A && git -c user.name=t -c user.email=t@e commit -q -m one && git -c user.name=t -c user.email=t@e commit -q --allow-empty -m two && [ \$(git rev-list --count HEAD) = 2 ]"
t git-gc-fsck sh -c "cd $M/repo && git gc -q && git fsck --no-progress 2>&1 && git status --porcelain | wc -l | grep -qx 0"
t git-clone sh -c "git clone -q $M/repo $M/clone && diff -r -x .git $M/repo $M/clone"

# concurrency: more application threads than channels (the wait queue path), both CPUs
t parallel-writers sh -c "for i in 1 2 3 4 5 6 7 8; do dd if=/tmp/big of=$M/par\$i bs=64k status=none & done; wait"
t parallel-readers sh -c "rm -f /tmp/mismatch; for i in 1 2 3 4 5 6 7 8; do (cmp -s /tmp/big $M/par\$i || touch /tmp/mismatch) & done; wait; [ ! -e /tmp/mismatch ]"
t parallel-verify sh -c "for i in 1 2 3 4 5 6 7 8; do cmp /tmp/big $M/par\$i || exit 1; done; rm $M/par*"
t parallel-metadata sh -c "for i in 1 2 3 4; do (mkdir $M/pm\$i && for j in \$(seq 1 100); do echo \$j > $M/pm\$i/f\$j; done) & done; wait; [ \$(find $M/pm* -type f | wc -l) = 400 ]"
t channel-waits-used sh -c "grep -q '^channel_waits [1-9]' /sys/fs/zuf/stats"

# structural counts (not distorted by TCG): server round trips per operation
rt() { awk '$1 == "op" { n += $3 } END { print n + 0 }' /sys/fs/zuf/stats; }
echo data > $M/rtfile; stat $M/rtfile > /dev/null
b=$(rt); for i in $(seq 1 50); do stat $M/rtfile > /dev/null; done; a=$(rt)
t getattr-zero-round-trips [ $((a - b)) = 0 ]
b=$(rt); dd if=/dev/zero of=$M/rtfile bs=4096 count=1 conv=notrunc status=none; a=$(rt)
t write-4k-one-round-trip [ $((a - b)) = 1 ]
b=$(rt); dd if=$M/rtfile of=/dev/null bs=4096 count=1 status=none; a=$(rt)
echo "read 4 KiB (count=1): $((a - b)) round trips"
t read-4k-at-most-two [ $((a - b)) -le 2 ]
b=$(rt); : > $M/rtnew; a=$(rt)
echo "create: $((a - b)) round trips (negative LOOKUP + NEW_INODE)"
t create-two-round-trips [ $((a - b)) = 2 ]

# kernel counters
cat /sys/fs/zuf/stats
t stats-round-trips sh -c "grep -q '^op LOOKUP [1-9]' /sys/fs/zuf/stats && grep -q '^op WRITE [1-9]' /sys/fs/zuf/stats"
t stats-no-bad-replies grep -q '^bad_replies 0$' /sys/fs/zuf/stats
t stats-getattr-local sh -c "grep -q '^zi_getattr [1-9]' /sys/fs/zuf/stats"

t umount umount $M
if stop_zusd; then ok zusd-break-all; else bad zusd-break-all "zusd did not exit after BREAK_ALL"; fi
t umount-zuf-root umount /sys/fs/zuf
echo "---- zusd log ----"; tail -5 $ZUSD_LOG
echo "SUMMARY e2e: $PASS passed, $FAIL failed${FAILED:+ (failed:$FAILED)}"
[ $FAIL = 0 ]
