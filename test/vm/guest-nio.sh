#!/bin/bash
# The `nio` suite, run inside the VM (as root) by test/vm/run.sh, which boots it with -r 4G and
# vmrun.sh -P 64M!4G: a 64 MiB emulated DAX /dev/pmem0. NIO reads (zus_api 1.1): zufs-redis with
# `tiers: t1: /dev/pmem0` through `zufs serve` + mount(8); zusd grabs the device (ZU_IOC_GRAB_PMEM),
# answers GET_MULTY with t1 block numbers, zuf.ko copies cached pages straight from pmem and keeps
# the block map per inode until ZU_IOC_UNMAP. Checks (a) data identity, (b) a cached second pass
# makes zero server round trips and counts nio_pages_hit, (c) a working set larger than t1 stays
# correct and revokes mappings (nio_unmapped), (d) truncate/extend, overwrite in place,
# unlink+recreate never show stale pmem bytes, (f) t1 on a /dev/shm file (no NIO) still works with
# nio_gets 0, (w) NIO writes with write-back tiers: random, unaligned, appending and sparse writes
# land in t1 with PUT_MULTY (no WRITE op), read back right at once, after a remount (drained to
# Redis) and on a file larger than t1 (revocations under writers), (m) mappings map t1 blocks
# (dax_faults): they see NIO writes at once, a truncate zaps their ptes (later faults see the new
# bytes), a private mapping's store stays private, a mapping larger than t1 reads right; stores
# through a shared mapping reach read(2) after msync, fault again after it, never grow the file,
# survive eviction pressure while open (pinned), are committed by munmap and survive a remount,
# (p) a peer gateway (no tiers) sees write(2)s and mapped stores once closed, with write-back held,
# (t) t2 on a loop device, taken over by the kernel's t2 engine: a working set larger than t1 and
# smaller than t1 + t2 read twice, the second pass with no store read, t2 moved by the kernel only,
# (e) kill -9 of zusd while
# readers loop on a cached file: data or EIO, umount works,
# the device is released (run.sh then checks rmmod and dmesg). Redis is a redis-server inside the
# guest, as in guest-serve.sh. Exit 1 on any failure.
# bash reads a script as it runs it: run a private copy, so an edit of the tree cannot change it mid-run
if [ -z "${NIO_SNAPSHOT:-}" ]; then
  ROOT=$(cd "$(dirname "$0")/../.." && pwd); export ROOT NIO_SNAPSHOT=1
  cp "$0" /tmp/guest-nio.sh && exec bash /tmp/guest-nio.sh "$@"
fi
. "$ROOT/test/vm/guest-lib.sh"
CLI=$ROOT/test/vm/.build/zufs-cli.js
PROBE=$ROOT/test/vm/.build/zuf-probe
SLOG=/tmp/zusd-nio.log
CFG=/tmp/zufs-nio
M=/mnt/zn
PMEM=/dev/pmem0
mkdir -p $CFG $M /mnt/p
[ -f "$CLI" ] && [ -x "$PROBE" ] || { echo "no $CLI or $PROBE: test/vm/build.sh makes them"; exit 1; }
alive() { [ -e /proc/$1 ] && ! grep -q '^State:.*Z' /proc/$1/status 2>/dev/null; }

# ---- counters ----
# snap FILE: /sys/fs/zuf/stats as "name value" lines, plus "rt" = the sum of the per-op round trips
snap() { awk '$1 == "op" { rt += $3; next } NF == 2 { print $1, $2 } END { printf "rt %.0f\n", rt }' /sys/fs/zuf/stats > "$1"; }
val() { awk -v k="$1" '$1 == k { print $2; f = 1 } END { if (!f) print 0 }' "$2"; }
dlt() { echo $(( $(val "$1" "$3") - $(val "$1" "$2") )); }   # dlt NAME BEFORE AFTER
# pv KEY "OUTPUT": a value from zuf-probe pread-check's "key value key value ..." line
pv() { echo "$2" | awk -v k="$1" '{ for (i = 1; i < NF; i += 2) if ($i == k) { print $(i + 1); f = 1 } } END { if (!f) print "none" }'; }
# srvnio KEY: zusd's NIO counters (`zufs status`: maps, unmaps, unmapErrors) from its control socket
srvnio() { python3 "$ROOT/test/vm/zusd-status.py" nio "$1"; }
# probe NAME ARGS...: runs zuf-probe pread-check, keeps its output line in $PO, ok/bad on its rc
probe() { local n=$1; shift; PO=$(timeout 300 "$PROBE" pread-check "$@" 2>&1); local r=$?; echo "  $n: $PO"
  if [ $r = 0 ] && [ "$(pv eio "$PO")" = 0 ]; then ok "$n"; else bad "$n" "rc=$r $PO"; fi; }
# check NAME COND-TEXT: a numeric condition on values already computed, reported with them
check() { local n=$1; shift; if [ "$@" ] 2>/dev/null; then ok "$n"; else bad "$n" "$*"; fi; }
# tl NAME CMD...: as t, with a 600 s cap (the working set moves ~100 MiB through TCG)
tl() { local n=$1; shift; if out=$(timeout 600 "$@" 2>&1); then ok "$n"; else bad "$n" "$(echo "$out" | tail -3)"; fi; }
# busy DEV: someone holds DEV exclusively (open O_EXCL fails with EBUSY)
cat > /tmp/busy.py <<'P'
import os, sys
try: os.close(os.open(sys.argv[1], os.O_RDONLY | os.O_EXCL))
except OSError as e: sys.exit(0 if e.errno == 16 else 2)
sys.exit(1)
P

# ---- 1. the emulated pmem device: DAX, and ext4 -o dax on it ----
note "nio: pmem"
t pmem0-present test -b $PMEM
t pmem0-dax grep -qx 1 /sys/block/pmem0/queue/dax
PMEM_BYTES=$(( $(cat /sys/block/pmem0/size 2>/dev/null || echo 0) * 512 ))
echo "pmem0: $PMEM_BYTES bytes; $(grep -i 'persistent' /proc/iomem | tr '\n' ' ')"
t pmem0-ext4-dax sh -c "mkfs.ext4 -q -F -b 4096 $PMEM && mount -o dax $PMEM /mnt/p && grep -q ' /mnt/p ext4 .*dax=always' /proc/mounts \
  && head -c 3000000 /dev/urandom > /tmp/px && cp /tmp/px /mnt/p/x && sync && umount /mnt/p && mount -o dax $PMEM /mnt/p && cmp /tmp/px /mnt/p/x && umount /mnt/p"
mountpoint -q /mnt/p && umount /mnt/p
# zufs must find a fresh device (no table at offset 0): wipe ext4's first blocks
t pmem0-wipe dd if=/dev/zero of=$PMEM bs=1M count=4 conv=fsync status=none

# ---- 2. redis-server + zufs serve ----
REDIS_PORT=$((20000 + RANDOM % 20000))
command -v redis-server > /dev/null || { echo "no redis-server in the host root"; exit 1; }
redis-server --port $REDIS_PORT --bind 127.0.0.1 --save '' --appendonly no --protected-mode no \
  --daemonize yes --pidfile /tmp/redis.pid --logfile /tmp/redis.log
for _ in $(seq 1 100); do redis-cli -p $REDIS_PORT ping 2>/dev/null | grep -q PONG && break; sleep 0.1; done
t redis-up sh -c "redis-cli -p $REDIS_PORT ping | grep -q PONG"
# nio_cfg FILE [KEY: VALUE]...: $CFG/FILE with the `nio` mount (volume nio1, t1 on $PMEM, 256 KiB
# chunks) and these further `tiers:` keys; every config of that mount comes from here
nio_cfg() {
  local f=$CFG/$1; shift
  printf 'mounts:\n  - name: nio\n    url: "redis://127.0.0.1:%s/0?volume=nio1"\n    chunk_size: 256KiB\n    tiers:\n      t1: %s\n' \
    "$REDIS_PORT" "$PMEM" > "$f"
  for kv in "$@"; do printf '      %s\n' "$kv" >> "$f"; done
}
# 256 KiB chunks: a t1 slot per chunk, ~220 slots in 64 MiB after the journal
nio_cfg nio.yaml
# (w) the same mount (name, store: the tier table names its store) with write-back: NIO writes
nio_cfg nio-wb.yaml "writeback: true"
# (f) the same store type with t1 on a shared-memory file: no DAX block device, so no NIO
cat > $CFG/shm.yaml <<EOF
mounts:
  - name: nioshm
    url: "redis://127.0.0.1:$REDIS_PORT/0?volume=nio2"
    chunk_size: 256KiB
    tiers:
      t1: /dev/shm/zufs-nio-t1
      t1_size: 64MiB
EOF

# test data, made while zufs serve starts (guest tmpfs: the reference copies)
WS_MIB=$(( PMEM_BYTES * 3 / 2 / 1048576 )); [ $WS_MIB -ge 16 ] || WS_MIB=96
(
  head -c 1048576 /dev/urandom > /tmp/f1
  head -c 1000123 /dev/urandom > /tmp/odd
  head -c 8388608 /dev/urandom > /tmp/f8
  head -c 2097152 /dev/urandom > /tmp/g; head -c 2097152 /dev/urandom > /tmp/gnew
  head -c 1048576 /dev/urandom > /tmp/k
  head -c 2097152 /dev/urandom > /tmp/s
  head -c $((WS_MIB * 1048576)) /dev/urandom > /tmp/ws
) &
PREP_PID=$!

note "nio: zufs format + serve"
t zufs-format sh -c "timeout 180 node $CLI format --t1 $PMEM --label nio > /tmp/format.out 2>&1; rc=\$?; cat /tmp/format.out; [ \$rc = 0 ] && grep -q 't1 $PMEM' /tmp/format.out"
cat /tmp/format.out
out=$(timeout 180 node "$CLI" serve --daemon --log-file $SLOG 2>&1); src=$?
echo "$out"
SERVE_PID=$(echo "$out" | sed -n 's/^zusd \([0-9]*\) serving.*/\1/p')
if [ $src != 0 ] || [ -z "$SERVE_PID" ]; then bad serve-daemon "rc=$src: $out"; cat $SLOG; exit 1; fi
ok serve-daemon
wait $PREP_PID
snap /tmp/s-mount0
t nio-mount mount -t zufs-redis -o config=$CFG/nio.yaml none $M
if ! mountpoint -q $M; then echo "---- serve log ----"; tail -30 $SLOG; echo "SUMMARY nio: $PASS passed, $FAIL failed (failed:$FAILED)"; exit 1; fi
t nio-log-on grep -q "NIO reads on, writes off (write-through tiers.*: t1 $PMEM grabbed by the kernel" $SLOG
t pmem0-held-by-kernel python3 /tmp/busy.py $PMEM   # GRAB_PMEM: the kernel holds the t1 device exclusively

# ---- (a) data identity ----
note "nio: a"
t a-write-cmp-1m sh -c "cp /tmp/f1 $M/f1 && cmp /tmp/f1 $M/f1"
t a-write-cmp-odd sh -c "cp /tmp/odd $M/odd && cmp /tmp/odd $M/odd && [ \$(stat -c %s $M/odd) = 1000123 ]"
t a-cmp-again sh -c "cmp /tmp/f1 $M/f1 && cmp /tmp/odd $M/odd"
probe a-pread-4k-random $M/odd /tmp/odd 4096 500 0
probe a-pread-unaligned-bs $M/odd /tmp/odd 5000 0 0
t a-umount umount $M
t a-remount mount -t zufs-redis -o config=$CFG/nio.yaml none $M
t a-cmp-after-remount sh -c "cmp /tmp/f1 $M/f1 && cmp /tmp/odd $M/odd"

# ---- (b) a cached file: the second pass makes no round trip ----
note "nio: b"
t b-write-8m sh -c "cp /tmp/f8 $M/f8 && sync"
probe b-pass1-seq $M/f8 /tmp/f8 4096 0 0; P1=$PO
echo "  pass 1: nio_gets $(pv nio_gets "$P1") nio_pages_mapped $(pv nio_pages_mapped "$P1") nio_fallback $(pv nio_fallback "$P1") rt $(pv rt "$P1")"
check b-pass1-nio-gets "$(pv nio_gets "$P1")" -gt 0
check b-pass1-pages-mapped "$(pv nio_pages_mapped "$P1")" -gt 0
probe b-pass2-random-4k $M/f8 /tmp/f8 4096 2048 0; P2=$PO
echo "  pass 2: rt $(pv rt "$P2") nio_pages_hit $(pv nio_pages_hit "$P2") bytes_from_t1 $(pv bytes_from_t1 "$P2") bytes_from_server $(pv bytes_from_server "$P2")"
check b-pass2-zero-round-trips "$(pv rt "$P2")" = 0
check b-pass2-nio-pages-hit "$(pv nio_pages_hit "$P2")" -ge 2048
check b-pass2-bytes-from-t1 "$(pv bytes_from_t1 "$P2")" = "$(pv bytes "$P2")"
check b-pass2-no-op-buffer-copy "$(pv bytes_from_server "$P2")" = 0
probe b-pass3-seq $M/f8 /tmp/f8 4096 0 0; P3=$PO
check b-pass3-zero-round-trips "$(pv rt "$P3")" = 0
t b-cmp sh -c "cmp /tmp/f8 $M/f8"

# ---- (c) a working set larger than t1, read twice ----
note "nio: c (${WS_MIB} MiB working set, pmem0 $((PMEM_BYTES / 1048576)) MiB)"
snap /tmp/s-c0; SU0=$(srvnio unmaps)
tl c-write-ws sh -c "cp /tmp/ws $M/ws"
probe c-pass1-seq-1m $M/ws /tmp/ws 1048576 0 0
probe c-pass2-seq-1m $M/ws /tmp/ws 1048576 0 0
probe c-random-4k $M/ws /tmp/ws 4096 1000 0
tl c-sha256 sh -c "[ \"\$(sha256sum < $M/ws)\" = \"\$(sha256sum < /tmp/ws)\" ]"
t c-small-files-intact sh -c "cmp /tmp/f8 $M/f8 && cmp /tmp/f1 $M/f1"
snap /tmp/s-c1; SU1=$(srvnio unmaps)
echo "  c: nio_unmapped +$(dlt nio_unmapped /tmp/s-c0 /tmp/s-c1) nio_gets +$(dlt nio_gets /tmp/s-c0 /tmp/s-c1) nio_fallback +$(dlt nio_fallback /tmp/s-c0 /tmp/s-c1); zusd ZU_IOC_UNMAP calls $SU0 -> $SU1, unmapErrors $(srvnio unmapErrors)"
check c-server-unmaps "${SU1:-none}" -gt "${SU0:-none}"
check c-nio-unmapped "$(dlt nio_unmapped /tmp/s-c0 /tmp/s-c1)" -gt 0

# ---- (d) no stale pmem bytes ----
note "nio: d"
warm() { cat "$1" > /dev/null && cat "$1" > /dev/null; }
# truncate then extend: the tail reads zeros
warm $M/f8
head -c 100000 /tmp/f8 > /tmp/f8t
t d-truncate sh -c "truncate -s 100000 $M/f8 && [ \$(stat -c %s $M/f8) = 100000 ] && cmp /tmp/f8t $M/f8"
truncate -s 8M /tmp/f8t
t d-extend sh -c "truncate -s 8M $M/f8 && cmp /tmp/f8t $M/f8"
probe d-extend-pread $M/f8 /tmp/f8t 4096 0 0
t d-extend-cmp-again sh -c "cmp /tmp/f8t $M/f8"
# overwrite in place (not page aligned, across a chunk boundary) of a cached file
warm $M/f1
head -c 70000 /dev/urandom > /tmp/patch
dd if=/tmp/patch of=/tmp/f1 bs=70000 count=1 seek=250000 oflag=seek_bytes conv=notrunc status=none
t d-overwrite sh -c "dd if=/tmp/patch of=$M/f1 bs=70000 count=1 seek=250000 oflag=seek_bytes conv=notrunc status=none && cmp /tmp/f1 $M/f1"
probe d-overwrite-pread $M/f1 /tmp/f1 4096 0 0
dd if=/tmp/patch of=/tmp/f1 bs=4096 seek=10 conv=notrunc status=none
t d-overwrite-aligned sh -c "dd if=/tmp/patch of=$M/f1 bs=4096 seek=10 conv=notrunc status=none && cmp /tmp/f1 $M/f1"
# unlink + recreate with the same name; an fd kept on the old inode never shows the new file's bytes
cp /tmp/g $M/g && warm $M/g
t d-unlink-recreate bash -c "exec 3< $M/g; rm $M/g && cp /tmp/gnew $M/g && cmp /tmp/gnew $M/g && cat $M/g > /dev/null \
  && { cat <&3 > /tmp/gold 2>/dev/null; ! cmp -s /tmp/gold /tmp/gnew; }"
t d-recreate-cmp sh -c "cmp /tmp/gnew $M/g"
probe d-recreate-pread $M/g /tmp/gnew 4096 0 0
# rename over a cached file
cp /tmp/f1 $M/r1 && cp /tmp/gnew $M/r2 && warm $M/r2
t d-rename-over sh -c "mv $M/r1 $M/r2 && cmp /tmp/f1 $M/r2"

# ---- (t) t2 through the kernel's t2 engine ----
note "nio: t"
mountpoint -q $M && umount $M
truncate -s 96M /tmp/t2.img
LOOP=$(losetup -f --show /tmp/t2.img)
t t-loop test -b "$LOOP"
t t-format sh -c "timeout 180 node $CLI format --force --t1 $PMEM --t2 $LOOP --label nio > /tmp/format-t.out 2>&1 || { cat /tmp/format-t.out; false; }"
nio_cfg t2.yaml "t2: $LOOP"
srvtiers() { python3 "$ROOT/test/vm/zusd-status.py" tiers $CFG/t2.yaml "$1"; }
t t-mount mount -t zufs-redis -o config=$CFG/t2.yaml none $M
t t-log-engine-on grep -q "t2 engine on: $LOOP held by the kernel" $SLOG
t t-loop-held-by-kernel python3 /tmp/busy.py $LOOP
snap /tmp/s-t0; R0=$(srvtiers storeReads)
tl t-pass1 sh -c "[ \"\$(sha256sum < $M/ws)\" = \"\$(sha256sum < /tmp/ws)\" ]"
snap /tmp/s-t1; R1=$(srvtiers storeReads)
tl t-pass2 sh -c "[ \"\$(sha256sum < $M/ws)\" = \"\$(sha256sum < /tmp/ws)\" ]"
snap /tmp/s-t2; R2=$(srvtiers storeReads)
echo "  t: store reads pass 1 +$((R1 - R0)) pass 2 +$((R2 - R1)); kernel t2 bytes written $(dlt t2_bytes_written /tmp/s-t0 /tmp/s-t1) / $(dlt t2_bytes_written /tmp/s-t1 /tmp/s-t2), read $(dlt t2_bytes_read /tmp/s-t0 /tmp/s-t1) / $(dlt t2_bytes_read /tmp/s-t1 /tmp/s-t2); t2 hits $(srvtiers t2 | tr -d '\n')"
check t-tier-counters "$R0" != none
check t-pass1-store-reads "$((R1 - R0))" -gt 0
check t-pass1-kernel-spills "$(dlt t2_bytes_written /tmp/s-t0 /tmp/s-t1)" -gt 0
check t-pass2-no-store-reads "$((R2 - R1))" = 0
check t-pass2-kernel-fills-from-t2 "$(dlt t2_bytes_read /tmp/s-t1 /tmp/s-t2)" -gt 0
t t-umount umount $M
t t-loop-released sh -c "! python3 /tmp/busy.py $LOOP"
# back to t1 alone for what follows (everything was flushed at umount)
t t-reformat-t1 sh -c "timeout 180 node $CLI format --force --t1 $PMEM --label nio > /tmp/format-t.out 2>&1 || { cat /tmp/format-t.out; false; }"
losetup -d $LOOP

# ---- (f) NIO off: t1 on a /dev/shm file ----
note "nio: f"
mountpoint -q $M && umount $M   # (d) left the pmem mount there, unless (t) ran
snap /tmp/s-f0
t f-mount-shm mount -t zufs-redis -o config=$CFG/shm.yaml none $M
t f-log-nio-off sh -c "grep 'NIO reads off' $SLOG | tail -1 | grep -q ."
t f-write-cmp sh -c "cp /tmp/s $M/s && cmp /tmp/s $M/s"
probe f-pass2 $M/s /tmp/s 4096 512 0; PF=$PO
t f-cmp-again sh -c "cmp /tmp/s $M/s"
snap /tmp/s-f1
echo "  f: nio_gets +$(dlt nio_gets /tmp/s-f0 /tmp/s-f1), round trips in the cached pass $(pv rt "$PF")"
check f-nio-gets-zero "$(dlt nio_gets /tmp/s-f0 /tmp/s-f1)" = 0
check f-reads-go-to-server "$(pv rt "$PF")" -gt 0
t f-umount umount $M

# ---- (w) NIO writes (write-back tiers) ----
note "nio: w"
# rw.py FILE REF BS N SEED [UNALIGNED]: N pwrites of BS random bytes at pseudo-random offsets inside
# FILE's size, the same into REF; UNALIGNED: offsets and lengths not page aligned
cat > /tmp/rw.py <<'P'
import os, random, sys
f, ref, bs, n, seed = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
unaligned = len(sys.argv) > 6
r = random.Random(seed)
a, b = os.open(f, os.O_WRONLY), os.open(ref, os.O_WRONLY)
size = os.fstat(a).st_size
for _ in range(n):
    ln = r.randrange(1, 3 * bs) if unaligned else bs
    off = r.randrange(0, size - ln) if unaligned else r.randrange(0, size // bs) * bs
    data = r.randbytes(ln)
    if os.pwrite(a, data, off) != ln or os.pwrite(b, data, off) != ln:
        sys.exit("short write")
os.close(a); os.close(b)
P
t w-mount-wb mount -t zufs-redis -o config=$CFG/nio-wb.yaml none $M
t w-log-writes-on grep -q "NIO reads on, writes on: t1 $PMEM" $SLOG
snap /tmp/s-w0
t w-cp-new-file sh -c "cp /tmp/f8 $M/w8 && cmp /tmp/f8 $M/w8"
snap /tmp/s-w1
echo "  w (cp 8 MiB): nio_puts +$(dlt nio_puts /tmp/s-w0 /tmp/s-w1) bytes_to_t1 +$(dlt bytes_to_t1 /tmp/s-w0 /tmp/s-w1) bytes_to_server +$(dlt bytes_to_server /tmp/s-w0 /tmp/s-w1) nio_fallback +$(dlt nio_fallback /tmp/s-w0 /tmp/s-w1)"
check w-cp-bytes-to-t1 "$(dlt bytes_to_t1 /tmp/s-w0 /tmp/s-w1)" = 8388608
check w-cp-no-op-buffer-copy "$(dlt bytes_to_server /tmp/s-w0 /tmp/s-w1)" = 0
cp /tmp/f8 /tmp/w8
cat $M/w8 > /dev/null
snap /tmp/s-w2
t w-random-4k python3 /tmp/rw.py $M/w8 /tmp/w8 4096 400 1
snap /tmp/s-w3
echo "  w (400 random 4 KiB writes on a cached file): nio_puts +$(dlt nio_puts /tmp/s-w2 /tmp/s-w3) nio_gets +$(dlt nio_gets /tmp/s-w2 /tmp/s-w3) rt +$(dlt rt /tmp/s-w2 /tmp/s-w3) bytes_to_t1 +$(dlt bytes_to_t1 /tmp/s-w2 /tmp/s-w3) bytes_to_server +$(dlt bytes_to_server /tmp/s-w2 /tmp/s-w3)"
check w-random-4k-puts "$(dlt nio_puts /tmp/s-w2 /tmp/s-w3)" = 400
check w-random-4k-round-trips "$(dlt rt /tmp/s-w2 /tmp/s-w3)" -le $((400 + 400 / 4))
check w-random-4k-no-op-buffer-copy "$(dlt bytes_to_server /tmp/s-w2 /tmp/s-w3)" = 0
t w-random-4k-cmp cmp /tmp/w8 $M/w8
probe w-random-4k-pread $M/w8 /tmp/w8 4096 0 0
t w-unaligned python3 /tmp/rw.py $M/w8 /tmp/w8 4096 300 2 unaligned
t w-unaligned-cmp cmp /tmp/w8 $M/w8
t w-append sh -c "cat /tmp/odd >> $M/w8 && cat /tmp/odd >> /tmp/w8 && cmp /tmp/w8 $M/w8"
# past EOF: the gap reads zeros, in the page the write starts in too
t w-sparse sh -c "dd if=/tmp/patch of=$M/w8 bs=1000 count=3 seek=9500000 oflag=seek_bytes conv=notrunc status=none \
  && dd if=/tmp/patch of=/tmp/w8 bs=1000 count=3 seek=9500000 oflag=seek_bytes conv=notrunc status=none && cmp /tmp/w8 $M/w8"
t w-truncate-write sh -c "truncate -s 5000 $M/w8 && truncate -s 5000 /tmp/w8 && printf abc | dd of=$M/w8 bs=1 seek=4094 conv=notrunc status=none \
  && printf abc | dd of=/tmp/w8 bs=1 seek=4094 conv=notrunc status=none && cmp /tmp/w8 $M/w8"
t w-umount-drains umount $M
t w-remount mount -t zufs-redis -o config=$CFG/nio-wb.yaml none $M
t w-cmp-after-remount cmp /tmp/w8 $M/w8
# a file larger than t1: writes fill chunks that evict others (revocations while writers run)
snap /tmp/s-w4
tl w-ws-random-writes python3 /tmp/rw.py $M/ws /tmp/ws 4096 200 3
tl w-ws-sha256 sh -c "[ \"\$(sha256sum < $M/ws)\" = \"\$(sha256sum < /tmp/ws)\" ]"
snap /tmp/s-w5
echo "  w (ws): nio_puts +$(dlt nio_puts /tmp/s-w4 /tmp/s-w5) nio_put_stale +$(dlt nio_put_stale /tmp/s-w4 /tmp/s-w5) nio_unmapped +$(dlt nio_unmapped /tmp/s-w4 /tmp/s-w5); zusd puts $(srvnio puts) stale $(srvnio putsStale)"
t w-umount umount $M
t w-remount-2 mount -t zufs-redis -o config=$CFG/nio-wb.yaml none $M
tl w-ws-after-remount sh -c "[ \"\$(sha256sum < $M/ws)\" = \"\$(sha256sum < /tmp/ws)\" ] && cmp /tmp/w8 $M/w8 && cmp /tmp/f1 $M/f1"

# ---- (m) DAX mappings of t1 blocks ----
note "nio: m"
# mm.py FILE REF: checks mappings of FILE against REF (a copy elsewhere) and keeps REF in step
cat > /tmp/mm.py <<'P'
import mmap, os, sys
f, ref = sys.argv[1], sys.argv[2]
def want(off, n):
    with open(ref, 'rb') as r:
        r.seek(off); return r.read(n)
def both(off, data):
    for p in (f, ref):
        fd = os.open(p, os.O_WRONLY); os.pwrite(fd, data, off); os.close(fd)
ro = os.open(f, os.O_RDONLY)
size = os.fstat(ro).st_size
m = mmap.mmap(ro, size, flags=mmap.MAP_SHARED, prot=mmap.PROT_READ)
assert m[:] == want(0, size), 'shared read-only mapping != file'
both(5000, b'written through write(2) while mapped')
assert m[5000:5037] == b'written through write(2) while mapped', 'mapping does not see an NIO write'
rw = os.open(f, os.O_RDWR)
os.ftruncate(rw, 8192); os.truncate(ref, 8192)
both(8192, os.urandom(size - 8192))       # the same size again, new bytes past 8 KiB
assert m[:] == want(0, size), 'after truncate + rewrite the old mapping shows stale bytes'
p = mmap.mmap(ro, size, flags=mmap.MAP_PRIVATE, prot=mmap.PROT_READ | mmap.PROT_WRITE)
p[100:107] = b'private'
assert p[100:107] == b'private' and os.pread(rw, 7, 100) == want(100, 7) != b'private', 'a private store reached the file'
m.close(); p.close(); os.close(ro); os.close(rw)
print('ok')
P
snap /tmp/s-m0
t m-mappings sh -c "cp /tmp/f1 $M/m1 && cp /tmp/f1 /tmp/m1 && cat $M/m1 > /dev/null && python3 /tmp/mm.py $M/m1 /tmp/m1"
t m-file-after sh -c "cmp /tmp/m1 $M/m1"
t m-probe-mmap-read sh -c "[ \"\$($PROBE mmap-read $M/m1 5000 37)\" = 'written through write(2) while mapped' ]"
snap /tmp/s-m1
echo "  m: dax_faults +$(dlt dax_faults /tmp/s-m0 /tmp/s-m1) nio_unmapped +$(dlt nio_unmapped /tmp/s-m0 /tmp/s-m1)"
check m-dax-faults "$(dlt dax_faults /tmp/s-m0 /tmp/s-m1)" -gt 0
# stores through shared mappings (dax_opens, dax_commits)
# mw.py FILE REF BIG: stores, msync, stores again; a store left open while BIG (larger than t1) is
# read whole; a store left for munmap to commit; REF gets the same bytes
cat > /tmp/mw.py <<'P'
import mmap, os, sys
f, ref, big = sys.argv[1], sys.argv[2], sys.argv[3]
fd = os.open(f, os.O_RDWR); size = os.fstat(fd).st_size
m = mmap.mmap(fd, size, flags=mmap.MAP_SHARED, prot=mmap.PROT_READ | mmap.PROT_WRITE)
edits = [(10, b'first store'), (size // 2, b'middle store'), (size - 5, b'tail!')]
def store(off, data):
    m[off:off + len(data)] = data; edits.append((off, data))
for off, data in list(edits): m[off:off + len(data)] = data
m.flush()
for off, data in edits: assert os.pread(fd, len(data), off) == data, f'read(2) after msync misses the store at {off}'
store(12, b'again'); m.flush()
assert os.pread(fd, 5, 12) == b'again', 'a store after msync did not reach read(2) at the next msync'
store(size // 4, b'open while t1 turns over')
with open(big, 'rb') as b:
    while b.read(1 << 20): pass
m.flush()
assert os.pread(fd, 24, size // 4) == b'open while t1 turns over', 'a store open during eviction pressure was lost'
store(size // 3, b'left for munmap')
m.close()
assert os.pread(fd, 15, size // 3) == b'left for munmap', 'munmap did not commit'
assert os.fstat(fd).st_size == size, 'stores through a mapping changed the size'
os.close(fd)
r = os.open(ref, os.O_WRONLY)
for off, data in edits: os.pwrite(r, data, off)
os.close(r)
print('ok')
P
snap /tmp/s-m2
cp /tmp/odd /tmp/mw && cp /tmp/odd $M/mw
tl m-shared-stores python3 /tmp/mw.py $M/mw /tmp/mw $M/ws
t m-shared-cmp cmp /tmp/mw $M/mw
snap /tmp/s-m3
echo "  m (shared stores): dax_opens +$(dlt dax_opens /tmp/s-m2 /tmp/s-m3) dax_commits +$(dlt dax_commits /tmp/s-m2 /tmp/s-m3) dax_faults +$(dlt dax_faults /tmp/s-m2 /tmp/s-m3)"
check m-dax-opens "$(dlt dax_opens /tmp/s-m2 /tmp/s-m3)" -ge 6
check m-dax-commits "$(dlt dax_commits /tmp/s-m2 /tmp/s-m3)" -ge 4
t m-probe-mmap-write sh -c "$PROBE mmap-write $M/mw 4096 probe-store && [ \"\$(dd if=$M/mw bs=1 skip=4096 count=11 status=none)\" = probe-store ]"
printf probe-store | dd of=/tmp/mw bs=1 seek=4096 conv=notrunc status=none
t m-umount umount $M
t m-remount mount -t zufs-redis -o config=$CFG/nio-wb.yaml none $M
t m-shared-after-remount cmp /tmp/mw $M/mw
# a mapping of a file larger than t1, read whole (faults evict chunks the mapping still maps)
tl m-ws-mapped python3 -c "import mmap, hashlib, sys
fd = open('$M/ws', 'rb'); m = mmap.mmap(fd.fileno(), 0, prot=mmap.PROT_READ)
sys.exit(0 if hashlib.sha256(m[:]).hexdigest() == hashlib.sha256(open('/tmp/ws', 'rb').read()).hexdigest() else 1)"
t w-umount-2 umount $M

# ---- (p) a peer gateway sees what was written once it is closed (close-to-open) ----
# write-back held back (flush_delay 1h): only a close's sync uploads, so each "peer sees" below
# depends on it, and the "not yet" checks show the hold is real. The peer mounts the same volume
# through zuf with no tiers: it reads the store. The mapping's fd is closed before its stores: only
# munmap commits them, and only the file's last put (release) can sync them for the peer.
note "nio: p"
nio_cfg nio-held.yaml "writeback: true" "flush_delay: 1h"
cat > $CFG/peer.yaml <<EOF
mounts:
  - name: peer
    url: "redis://127.0.0.1:$REDIS_PORT/0?volume=nio1"
    chunk_size: 256KiB
EOF
PEER=/mnt/zpeer; mkdir -p $PEER
t p-mount mount -t zufs-redis -o config=$CFG/nio-held.yaml none $M
t p-mount-peer mount -t zufs-redis -o config=$CFG/peer.yaml none $PEER
cat > /tmp/peer.py <<'P'
import mmap, os, sys
f, peer = sys.argv[1], sys.argv[2]
def seen(off, data):
    with open(peer, 'rb') as p: return os.pread(p.fileno(), len(data), off) == data
w = os.open(f, os.O_RDWR)
os.pwrite(w, b'written, still open', 200)
assert not seen(200, b'written, still open'), 'the peer saw a write before its close (the hold does not hold)'
os.close(w)
assert seen(200, b'written, still open'), 'the peer does not see a write(2) after its close'
w = os.open(f, os.O_RDWR)
m = mmap.mmap(w, 0, flags=mmap.MAP_SHARED, prot=mmap.PROT_READ | mmap.PROT_WRITE)
os.close(w)
m[300:318] = b'stored after close'
assert not seen(300, b'stored after close'), 'the peer saw a store before munmap'
m.close()
assert seen(300, b'stored after close'), 'the peer does not see stores munmap committed after the fd was closed'
print('ok')
P
t p-peer-close-to-open python3 /tmp/peer.py $M/mw $PEER/mw
printf 'written, still open' | dd of=/tmp/mw bs=1 seek=200 conv=notrunc status=none
printf 'stored after close' | dd of=/tmp/mw bs=1 seek=300 conv=notrunc status=none
t p-peer-cmp cmp /tmp/mw $PEER/mw
t p-umount-peer umount $PEER
t p-umount umount $M

# ---- (e) kill -9 of zusd while readers loop on a cached file ----
note "nio: e"
t e-remount-pmem mount -t zufs-redis -o config=$CFG/nio.yaml none $M
t e-seed sh -c "cp /tmp/k $M/k && cmp /tmp/k $M/k && cmp /tmp/k $M/k"
for i in 1 2; do ( timeout 120 "$PROBE" pread-check $M/k /tmp/k 4096 256 25 > /tmp/kr.$i 2>&1; echo $? > /tmp/kr.$i.rc ) & done
sleep 3
t e-server-alive-before test -d /proc/$SERVE_PID
kill -9 "$SERVE_PID"
for _ in $(seq 1 50); do alive "$SERVE_PID" || break; sleep 0.2; done
echo "  zusd killed; zuf state: $(cat /sys/fs/zuf/state 2>/dev/null)"
for _ in $(seq 1 300); do [ -f /tmp/kr.1.rc ] && [ -f /tmp/kr.2.rc ] && break; sleep 0.2; done
for i in 1 2; do echo "  reader $i: rc $(cat /tmp/kr.$i.rc 2>/dev/null) $(cat /tmp/kr.$i 2>/dev/null)"; done
t e-readers-ended sh -c "[ -f /tmp/kr.1.rc ] && [ -f /tmp/kr.2.rc ]"
t e-readers-data-or-eio sh -c "[ \$(cat /tmp/kr.1.rc) = 0 ] && [ \$(cat /tmp/kr.2.rc) = 0 ]"
PK=$(timeout 60 "$PROBE" pread-check $M/k /tmp/k 4096 64 0 2>&1); echo "  read after the kill: rc $? $PK"
t e-read-after-kill-data-or-eio sh -c "timeout 60 $PROBE pread-check $M/k /tmp/k 4096 64 0 > /dev/null"
t e-umount timeout 60 umount $M
echo "---- /sys/fs/zuf/stats (end) ----"; grep -vE '^op ' /sys/fs/zuf/stats | tr '\n' ' '; echo
t e-umount-zuf-root timeout 60 umount /sys/fs/zuf
t e-pmem0-released sh -c "! python3 /tmp/busy.py $PMEM && mkfs.ext4 -q -F -b 4096 $PMEM && mount -o dax $PMEM /mnt/p && umount /mnt/p"

[ -f /tmp/redis.pid ] && kill "$(cat /tmp/redis.pid)" 2>/dev/null
echo "---- zusd (serve) log: tiers, pmem, NIO ----"; grep -iE 'tier|pmem|t1|nio|grab|unmap|mounted|refused|error' $SLOG | cut -c1-240 | tail -25
echo "SUMMARY nio: $PASS passed, $FAIL failed${FAILED:+ (failed:$FAILED)}"
[ $FAIL = 0 ]
