#!/bin/bash
# Runs INSIDE the VM (root), started by bench/vm/run.sh through test/vm/vmrun.sh.
# Three targets in one boot: tmpfs, zuf (zuf.ko + test/vm/.build/zusd-vm.js serving zufs-mem) and
# FUSE (the bundled CLI, bench/vm/.build/zufs-cli.js mount --transport fuse memory://b, attr_timeout 0s). Both servers use
# the in-memory backend. Every workload is bench/cfuse/load.c (compiled on the host), pinned with
# -c CPU. Rounds are interleaved, target order rotating each round. Emits one JSON line per run
# ("BENCH {...}") with load's result and the counter deltas; the host turns them into tables.
set -u
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
. "$ROOT/test/vm/guest-lib.sh"
PROGRESS=$ROOT/bench/vm/.build/guest.log
# as guest-lib.sh's start_zusd, but the server snapshotted by run.sh into bench/vm/.build
start_zusd() {
  mountpoint -q /sys/fs/zuf || mount -t zuf nodev /sys/fs/zuf
  : > $ZUSD_LOG
  node "$ROOT/bench/vm/.build/zusd-vm.js" /sys/fs/zuf > /tmp/zusd.out 2>> $ZUSD_LOG &
  ZUSD_PID=$!
  for _ in $(seq 1 600); do
    grep -q ready /tmp/zusd.out 2>/dev/null && return 0
    kill -0 $ZUSD_PID 2>/dev/null || { echo "zusd died:"; cat $ZUSD_LOG; return 1; }
    sleep 0.2
  done
  echo "zusd not ready after 120 s"; cat $ZUSD_LOG; return 1
}
LOAD=${LOAD:-$ROOT/bench/vm/.build/load}; NULLOP=$ROOT/bench/vm/.build/nullop
ROUNDS=${ROUNDS:-5}; SECS=${SECS:-1}; FILEBYTES=${FILEBYTES:-8388608}
PY=/usr/bin/python3
T0=$(cut -d' ' -f1 /proc/uptime)
say() { echo "# $(cut -d' ' -f1 /proc/uptime)s $*"; note "bench: $*"; }

say "guest $(uname -r), cmdline: $(cat /proc/cmdline | tr ' ' '\n' | grep -E 'init_on_alloc' | tr '\n' ' ')cpus $(nproc)"
grep -m1 -o 'flags.*' /proc/cpuinfo | grep -qw erms && say "cpu has erms" || say "cpu: no erms"

# ---- tmpfs ----
mkdir -p /mnt/tmpfs /mnt/zuf /mnt/fuse
mount -t tmpfs -o size=512m tmpfs /mnt/tmpfs

# ---- zuf ----
grep -q '^zuf ' /proc/modules || insmod "$ROOT/bench/vm/.build/zuf.ko"
[ -n "${BUILD_NOTE:-}" ] && say "WARNING: $BUILD_NOTE"
start_zusd || { echo "BENCH-ERROR zusd-vm did not start"; }
mount -t zufs-mem none /mnt/zuf 2>/tmp/zm.err || mount -t zufs-mem -o volume=bench none /mnt/zuf \
  || { echo "BENCH-ERROR zuf mount: $(cat /tmp/zm.err)"; tail -5 $ZUSD_LOG; }
say "zuf mounted: $(grep ' /mnt/zuf ' /proc/mounts)"

# ---- FUSE (zusd, memory backend, attr cache off) ----
grep -q '^fuse ' /proc/modules || modprobe fuse 2>/dev/null
cat > /tmp/fuse-bench.yaml <<Y
daemon:
  log_level: warn
mounts:
  - name: b
    url: memory://b
    mountpoint: /mnt/fuse
    attr_timeout: 0s
Y
node "$ROOT/bench/vm/.build/zufs-cli.js" mount --transport fuse /tmp/fuse-bench.yaml /mnt/fuse > /tmp/fuse-zusd.log 2>&1 &
FUSE_PID=$!
for _ in $(seq 1 900); do grep -q ' /mnt/fuse fuse' /proc/mounts && break; kill -0 $FUSE_PID 2>/dev/null || break; sleep 0.2; done
grep -q ' /mnt/fuse fuse' /proc/mounts || { echo "BENCH-ERROR fuse mount failed"; tail -20 /tmp/fuse-zusd.log; }
say "fuse mounted: $(grep ' /mnt/fuse ' /proc/mounts)"

# FUSE requests served so far on /mnt/fuse (zusd control socket, the same data as `zufs status --json`)
fuse_ops() {
  $PY - <<'P'
import socket, json, glob
tot = 0; ops = {}
for p in glob.glob('/run/zufs/zusd.*.sock'):
    try:
        s = socket.socket(socket.AF_UNIX); s.settimeout(10); s.connect(p)
        s.sendall(b'{"cmd":"status"}\n'); d = b''
        while True:
            c = s.recv(65536)
            if not c: break
            d += c
        for m in json.loads(d)['status']['mounts']:
            if m['mountpoint'] == '/mnt/fuse':
                ops = m['stats']['ops']
    except Exception as e:
        pass
print(json.dumps(ops))
P
}
zuf_stats() {  # round_trips bytes_to bytes_from cross_cpu channel_waits zi_getattr
  awk '$1=="op"{rt+=$3} $1=="bytes_to_server"{bt=$2} $1=="bytes_from_server"{bf=$2}
       $1=="cross_cpu"{cc=$2} $1=="channel_waits"{cw=$2} $1=="zi_getattr"{zg=$2}
       END{printf "[%.0f,%.0f,%.0f,%.0f,%.0f,%.0f]", rt, bt, bf, cc, cw, zg}' /sys/fs/zuf/stats
}
zuf_ops() { awk '$1=="op"{printf "%s%s:%.0f", (n++?",":""), "\"" $2 "\"", $3} END{}' /sys/fs/zuf/stats | sed 's/^/{/;s/$/}/'; }

# ---- fixtures: files for stat/fstat and the 4 KiB random I/O ----
for t in tmpfs zuf fuse; do
  d=/mnt/$t
  mkdir -p $d/c0 $d/c1
  : > $d/statf
  "$LOAD" seqwrite $d/io0 $FILEBYTES > /dev/null || echo "BENCH-ERROR seqwrite $t"
  "$LOAD" seqwrite $d/io1 $FILEBYTES > /dev/null || echo "BENCH-ERROR seqwrite $t io1"
done
say "fixtures ready"

# run ROUND TARGET WORKLOAD THREADS: THREADS load processes, process i pinned to CPU i
run() {
  local r=$1 t=$2 w=$3 n=$4 d=/mnt/$2 i pids="" zb za fb fa ob oa out bin=""
  [ "$t" = zuf ] && { zb=$(zuf_stats); ob=$(zuf_ops); }
  [ "$t" = fuse ] && fb=$(fuse_ops)
  for i in $(seq 0 $((n - 1))); do
    case $w in
      getxattr) bin=$NULLOP; args="$d/statf $SECS";;
      fstat) args="fstat $d/statf $SECS";;
      stat) args="stat $d/statf $SECS";;
      creat) args="creat $d/c$i $SECS";;
      randread) args="randread $d/io$i $SECS";;
      randwrite) args="randwrite $d/io$i $SECS";;
    esac
    "${bin:-$LOAD}" -c $i $args > /tmp/load.$i.out 2> /tmp/load.$i.err &
    pids="$pids $!"
  done
  local rc=0; for p in $pids; do wait $p || rc=1; done
  [ "$t" = zuf ] && { za=$(zuf_stats); oa=$(zuf_ops); }
  [ "$t" = fuse ] && fa=$(fuse_ops)
  out=$(cat /tmp/load.*.out | paste -sd, -)
  for i in $(seq 0 $((n - 1))); do [ -s /tmp/load.$i.err ] && note "load $t $w: $(cat /tmp/load.$i.err)"; done
  echo "BENCH {\"round\":$r,\"target\":\"$t\",\"workload\":\"$w\",\"threads\":$n,\"rc\":$rc,\"load\":[$out],\"zuf_before\":${zb:-null},\"zuf_after\":${za:-null},\"zuf_ops_before\":${ob:-null},\"zuf_ops_after\":${oa:-null},\"fuse_before\":${fb:-null},\"fuse_after\":${fa:-null},\"stderr\":\"$(cat /tmp/load.*.err | tr -d '"\\' | tr '\n' ' ')\"}"
  rm -f /tmp/load.*.out /tmp/load.*.err
}

TARGETS=(tmpfs zuf fuse)
WORKLOADS=(${WORKLOADS:-getxattr fstat stat creat randread randwrite})
SWEEP=(${SWEEP:-getxattr randwrite})
if [ "${WARMUP:-1}" = 1 ]; then   # round 0: every target and workload once, short; dropped by report.py
  say "warm-up round 0"; S=$SECS; SECS=0.3
  for t in "${TARGETS[@]}"; do for w in "${WORKLOADS[@]}"; do run 0 $t $w 1 > /dev/null; done; done
  SECS=$S
fi
for r in $(seq 1 "$ROUNDS"); do
  say "round $r"
  for k in 0 1 2; do
    t=${TARGETS[$(( (r + k) % 3 ))]}
    for w in "${WORKLOADS[@]}"; do run $r $t $w 1; done
    for w in "${SWEEP[@]}"; do run $r $t $w 2; done
  done
done
say "done in $(echo "$(cut -d' ' -f1 /proc/uptime) - $T0" | bc 2>/dev/null)s"
cat /sys/fs/zuf/stats | sed 's/^/# zufstats /'

umount /mnt/fuse; kill -TERM $FUSE_PID 2>/dev/null; wait $FUSE_PID 2>/dev/null
umount /mnt/zuf; stop_zusd; umount /sys/fs/zuf
umount /mnt/tmpfs
tail -3 /tmp/fuse-zusd.log | sed 's/^/# fuse-zusd: /'
exit 0
