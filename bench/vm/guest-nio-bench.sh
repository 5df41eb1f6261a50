#!/bin/bash
# Runs INSIDE the VM (root), started by bench/vm/run-nio.sh through test/vm/vmrun.sh -P 512M!4G:
# cached reads on three targets in one boot, all backed by guest RAM:
#   zuf   zufs-redis through `zufs serve` + mount(8), tiers t1 = /dev/pmem0 (NIO reads)
#   fuse  the same server code and store over FUSE (`zufs mount --transport fuse`), t1 = a
#         /dev/shm file of the pmem0 size (pmem0 is held exclusively by the zuf mount)
#   ext4  ext4 -o dax: on /dev/pmem1 (a second range of the same emulated pmem, run-nio.sh's
#         default) in the same rounds as zuf and fuse; or, with EXT4_SAME_DEV=1 (one range), on
#         /dev/pmem0 itself, made after the zuf rounds (mkfs over the zuf t1)
# Workloads (bench/vm/nioread.c, pinned to CPU 0): rand4k (4 KiB random pread, fixed sequence) and
# seq1m (1 MiB sequential pread) of a FILEMIB file that was read once after being written, and
# rand4kw (4 KiB random pwrite at rand4k's offsets, no fsync: on zuf an NIO write into t1 and one
# PUT_MULTY). Both gateways run with write-back tiers (writes land in t1, uploaded to Redis later).
# With pmem1: phase A, ROUNDS rounds of zuf, fuse and ext4, order rotating. With EXT4_SAME_DEV=1:
# phase A = zuf and fuse, phase B = ext4 and fuse (fuse again as a drift check between the phases).
# One "BENCH {...}" JSON line per run, with counter deltas.
set -u
# bash reads a script as it runs it: run a private copy, so an edit of the tree cannot change it mid-run
if [ -z "${NIO_SNAPSHOT:-}" ]; then
  export NIO_SNAPSHOT=1 ROOT=$(cd "$(dirname "$0")/../.." && pwd)
  cp "$0" /tmp/guest-nio-bench.sh && exec bash /tmp/guest-nio-bench.sh "$@"
fi
. "$ROOT/test/vm/guest-lib.sh"
B=$ROOT/bench/vm/.build-nio
PROGRESS=$B/guest.log
CLI=$B/zufs-cli.js; NIOREAD=$B/nioread
ROUNDS=${ROUNDS:-5}; SECS=${SECS:-1}; FILEMIB=${FILEMIB:-32}
PMEM=/dev/pmem0; PY=/usr/bin/python3
say() { echo "# $(cut -d' ' -f1 /proc/uptime)s $*"; note "nio-bench: $*"; }
say "guest $(uname -r), cpus $(nproc), $(for d in /sys/block/pmem*; do echo "${d##*/} $(( $(cat $d/size) / 2048 )) MiB dax=$(cat $d/queue/dax)"; done | paste -sd, -)"
mkdir -p /mnt/zuf /mnt/fuse /mnt/ext4 /tmp/cfg

# ---- redis + the two servers ----
REDIS_PORT=$((20000 + RANDOM % 20000))
redis-server --port $REDIS_PORT --bind 127.0.0.1 --save '' --appendonly no --protected-mode no \
  --daemonize yes --pidfile /tmp/redis.pid --logfile /tmp/redis.log
for _ in $(seq 1 100); do redis-cli -p $REDIS_PORT ping 2>/dev/null | grep -q PONG && break; sleep 0.1; done
PMEM_MIB=$(( $(cat /sys/block/pmem0/size) / 2048 ))
dd if=/dev/zero of=$PMEM bs=1M count=4 conv=fsync status=none
cat > /tmp/cfg/zuf.yaml <<EOF
mounts:
  - name: bzuf
    url: "redis://127.0.0.1:$REDIS_PORT/0?volume=bzuf"
    tiers:
      t1: $PMEM
      writeback: true
EOF
cat > /tmp/cfg/fuse.yaml <<EOF
daemon:
  log_level: warn
mounts:
  - name: bfuse
    url: "redis://127.0.0.1:$REDIS_PORT/0?volume=bfuse"
    mountpoint: /mnt/fuse
    tiers:
      t1: /dev/shm/bench-fuse-t1
      t1_size: ${PMEM_MIB}MiB
      writeback: true
EOF
out=$(timeout 300 node "$CLI" serve --daemon --log-file /tmp/zusd-serve.log 2>&1)
SERVE_PID=$(echo "$out" | sed -n 's/^zusd \([0-9]*\) serving.*/\1/p')
[ -n "$SERVE_PID" ] || { echo "BENCH-ERROR zufs serve: $out"; tail -20 /tmp/zusd-serve.log; }
mount -t zufs-redis -o config=/tmp/cfg/zuf.yaml none /mnt/zuf 2>/tmp/zm.err || { echo "BENCH-ERROR zuf mount: $(cat /tmp/zm.err)"; tail -20 /tmp/zusd-serve.log; }
say "zuf mounted: $(grep ' /mnt/zuf ' /proc/mounts)"
grep -q '^fuse ' /proc/modules || modprobe fuse 2>/dev/null
node "$CLI" mount --transport fuse /tmp/cfg/fuse.yaml /mnt/fuse > /tmp/fuse-zusd.log 2>&1 &
FUSE_PID=$!
for _ in $(seq 1 900); do grep -q ' /mnt/fuse fuse' /proc/mounts && break; kill -0 $FUSE_PID 2>/dev/null || break; sleep 0.2; done
grep -q ' /mnt/fuse fuse' /proc/mounts || { echo "BENCH-ERROR fuse mount failed"; tail -20 /tmp/fuse-zusd.log; }
say "fuse mounted: $(grep ' /mnt/fuse ' /proc/mounts)"

# ---- counters ----
# zuf: [round_trips, bytes_to_server, bytes_from_server, bytes_from_t1, cross_cpu, channel_waits, nio_pages_hit, nio_gets,
#       bytes_to_t1, nio_puts]
zuf_stats() {
  awk '$1=="op"{rt+=$3} $1=="bytes_to_server"{bt=$2} $1=="bytes_from_server"{bf=$2} $1=="bytes_from_t1"{b1=$2}
       $1=="cross_cpu"{cc=$2} $1=="channel_waits"{cw=$2} $1=="nio_pages_hit"{nh=$2} $1=="nio_gets"{ng=$2}
       $1=="bytes_to_t1"{b2=$2} $1=="nio_puts"{np=$2}
       END{printf "[%.0f,%.0f,%.0f,%.0f,%.0f,%.0f,%.0f,%.0f,%.0f,%.0f]", rt, bt, bf, b1, cc, cw, nh, ng, b2, np}' /sys/fs/zuf/stats
}
# FUSE requests served on MOUNTPOINT so far, per op (zusd control sockets, as `zufs status --json`)
srv_ops() { $PY "$ROOT/test/vm/zusd-status.py" ops "$1"; }

# ---- fixtures: the same FILEMIB bytes on each target, read once ----
head -c $((FILEMIB * 1048576)) /dev/urandom > /tmp/src
fixture() { cp /tmp/src /mnt/$1/f && sync && cat /mnt/$1/f > /dev/null && cmp -s /tmp/src /mnt/$1/f || echo "BENCH-ERROR fixture $1"; }
fixture zuf; fixture fuse
say "fixtures ready ($FILEMIB MiB, read once)"

# run PHASE ROUND TARGET WORKLOAD
run() {
  local ph=$1 r=$2 t=$3 w=$4 zb=null za=null fb=null fa=null out rc
  [ "$t" = zuf ] && zb=$(zuf_stats)
  [ "$t" = fuse ] && fb=$(srv_ops /mnt/fuse)
  out=$("$NIOREAD" -c 0 $w /mnt/$t/f $SECS 2> /tmp/nr.err); rc=$?
  [ "$t" = zuf ] && za=$(zuf_stats)
  [ "$t" = fuse ] && fa=$(srv_ops /mnt/fuse)
  [ -s /tmp/nr.err ] && note "nioread $t $w: $(cat /tmp/nr.err)"
  echo "BENCH {\"phase\":\"$ph\",\"round\":$r,\"target\":\"$t\",\"workload\":\"$w\",\"rc\":$rc,\"load\":[${out:-null}],\"zuf_before\":$zb,\"zuf_after\":$za,\"fuse_before\":${fb:-null},\"fuse_after\":${fa:-null},\"stderr\":\"$(tr -d '"\\' < /tmp/nr.err | tr '\n' ' ')\"}"
}
phase() {  # phase NAME TARGET...: a warm-up run each (round 0), then ROUNDS rounds, target order rotating
  local ph=$1 r k n; shift; local ts=("$@"); n=${#ts[@]}
  for t in "${ts[@]}"; do for w in rand4k seq1m rand4kw; do S=$SECS; SECS=0.3; run $ph 0 $t $w; SECS=$S; done; done
  for r in $(seq 1 "$ROUNDS"); do
    say "phase $ph round $r"
    for k in $(seq 0 $((n - 1))); do t=${ts[$(( (r + k) % n ))]}; for w in rand4k seq1m rand4kw; do run $ph $r $t $w; done; done
  done
}
ext4_up() {  # ext4_up DEV: ext4 -o dax on DEV at /mnt/ext4 with the fixture
  mkfs.ext4 -q -F -b 4096 $1 && mount -o dax $1 /mnt/ext4 || echo "BENCH-ERROR ext4 -o dax on $1"
  say "ext4 mounted: $(grep ' /mnt/ext4 ' /proc/mounts)"
  fixture ext4
}
if [ "${EXT4_SAME_DEV:-0}" != 1 ] && [ -b /dev/pmem1 ]; then
  ext4_up /dev/pmem1
  phase A zuf fuse ext4
else
  phase A zuf fuse
fi
say "zuf stats after phase A: $(grep -E '^(nio_|bytes_from|cross_cpu)' /sys/fs/zuf/stats | tr '\n' ' ')"

umount /mnt/zuf || echo "BENCH-ERROR umount zuf"
if ! mountpoint -q /mnt/ext4; then   # EXT4_SAME_DEV=1: ext4 -o dax on pmem0, once zuf let it go
  ext4_up $PMEM
  phase B ext4 fuse
fi

umount /mnt/ext4
umount /mnt/fuse; kill -TERM $FUSE_PID 2>/dev/null; wait $FUSE_PID 2>/dev/null
kill -TERM "$SERVE_PID" 2>/dev/null
for _ in $(seq 1 150); do [ -e /proc/$SERVE_PID ] || break; sleep 0.2; done
umount /sys/fs/zuf 2>/dev/null
[ -f /tmp/redis.pid ] && kill "$(cat /tmp/redis.pid)" 2>/dev/null
grep -iE 'error|grab|nio|t1' /tmp/zusd-serve.log | tail -5 | sed 's/^/# zusd: /'
tail -3 /tmp/fuse-zusd.log | sed 's/^/# fuse-zusd: /'
say "done"
exit 0
