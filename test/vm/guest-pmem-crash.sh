#!/bin/bash
# Guest side of test/vm/pmem-crash.sh (read it first). Runs as root inside the VM with a qemu NVDIMM,
# the host's private redis at hostlo:$ZUFS_VM_REDIS_PORT and the host state dir $PMEM_STATE (9p,
# cache=none) holding the ack logs (log-K), the checked states (base-K) and the results.
#   guest-pmem-crash.sh kill N          N trials in this boot: serve, mount (replay), check, writer, kill -9 zusd
#   guest-pmem-crash.sh poweroff K L    boot K: serve, mount (replay), check trial K-1; then (L=0) the
#                                       writer of trial K runs until the host kills the VM
. "$(dirname "$0")/guest-lib.sh"
CLI=$ROOT/test/vm/.build/zufs-cli.js
H=$ROOT/test/vm/.build/pmem-crash-helper
S=${PMEM_STATE:?}
M=/mnt/pc
NF=3
MODE=$1
CFG=/tmp/pmem-crash.yaml
RES=$S/results
mkdir -p $M
res() { echo "$*"; echo "$(date +%T) $*" >> $RES; }
die() { res "FAIL $*"; [ -n "${SLOG:-}" ] && { echo "---- zusd log (tail) ----"; tail -30 "$SLOG"; }; exit 1; }

# /dev/pmem0 in fsdax mode: the namespace is made once; the mode lives in the NVDIMM's host file
if [ "$(cat /sys/block/pmem0/queue/dax 2> /dev/null)" != 1 ]; then
  ndctl create-namespace -f -e namespace0.0 --mode=fsdax > /tmp/ndctl.out 2>&1 || { cat /tmp/ndctl.out; die "ndctl create-namespace"; }
fi
[ -b /dev/pmem0 ] && [ "$(cat /sys/block/pmem0/queue/dax)" = 1 ] || die "no DAX /dev/pmem0 ($(ls /sys/block))"

# config FLUSH_DELAY: write-back on t1 = the pmem device; the flush delay changes from trial to trial
config() {
  cat > $CFG <<EOF
mounts:
  - name: pmemcrash
    url: "redis://hostlo:$ZUFS_VM_REDIS_PORT/0?volume=pmemcrash-$MODE"
    tiers:
      t1: /dev/pmem0
      writeback: true
      flush_delay: $1
EOF
}
DELAYS=(20ms 300ms 2s)

serve() {   # LOG: zufs serve --daemon; sets SERVE_PID
  SLOG=$1
  local out
  out=$(timeout 300 node "$CLI" serve --daemon --log-file "$SLOG" 2>&1) || die "zufs serve: $out"
  SERVE_PID=$(echo "$out" | sed -n 's/^zusd \([0-9]*\) serving.*/\1/p')
  [ -n "$SERVE_PID" ] || die "zufs serve printed no pid: $out"
}
mount_fs() {
  local t0=$(date +%s%N)
  timeout 300 mount -t zufs-redis -o config=$CFG none $M 2> /tmp/mount.err || die "mount: $(cat /tmp/mount.err)"
  echo "mounted (journal replay included) in $(( ($(date +%s%N) - t0) / 1000000 )) ms; $(grep -ci replay "$SLOG") replay lines in the zusd log"
}
check() {   # K: check the writes of trial K (over base-K), save the result as base-(K+1)
  local k=$1 out
  out=$(timeout 600 "$H" check $M "$S/log-$k" "$S/base-$k" $NF "$PMEM_SALT" "$S/base-$((k + 1))" 2>&1)
  local crc=$?
  echo "$out" | head -40
  echo "$out" | sed "s/^/  trial $k: /" | head -40 >> $RES
  if [ $crc = 0 ]; then ok "trial-$k-check"; res "ok trial-$k-check"; else bad "trial-$k-check"; die "trial $k check rc=$crc"; fi
}
writer() {   # K: the writer of trial K (ids K*10^7 ...)
  "$H" writer $M "$S/log-$1" $NF "$PMEM_SALT" $(( $1 * 10000000 )) "$RANDOM$RANDOM"
}
alive() { [ -e /proc/$1 ] && ! grep -q '^State:.*Z' /proc/$1/status 2> /dev/null; }
stop_serve() {
  timeout 60 umount $M || die "umount"
  kill -TERM "$SERVE_PID"
  for _ in $(seq 1 300); do alive "$SERVE_PID" || break; sleep 0.2; done
  if alive "$SERVE_PID"; then   # where it is stuck, for the report
    grep -E '^(State|Threads)' /proc/$SERVE_PID/status
    for t in /proc/$SERVE_PID/task/*; do echo "task ${t##*/} $(cat $t/comm) $(grep ^State $t/status | tr -s '\t ' ' ') wchan=$(cat $t/wchan)"; cat $t/stack 2> /dev/null | head -8; done
    ls -l /proc/$SERVE_PID/fd 2> /dev/null | awk '{ print $NF }' | sort | uniq -c | sort -rn | head
    die "zusd $SERVE_PID still running 60 s after SIGTERM"
  fi
  timeout 30 umount /sys/fs/zuf || die "umount /sys/fs/zuf"
}

case $MODE in
kill)
  N=$2
  for k in $(seq 1 $((N + 1))); do
    t0=$(date +%s)
    config "${DELAYS[$((k % 3))]}"
    serve "$S/zusd-$k.log"
    mount_fs
    check $((k - 1))
    if [ $k -gt $N ]; then stop_serve; break; fi
    writer $k > /tmp/writer.out 2>&1 &
    WPID=$!
    d=$(( RANDOM % 5000 ))
    sleep "$(printf '%d.%03d' $((d / 1000)) $((d % 1000)))"
    kill -9 "$SERVE_PID"
    # the writer's op in flight and the next ones fail (EIO) once zusd is gone: it must end by itself
    for _ in $(seq 1 300); do alive $WPID || break; sleep 0.2; done
    if alive $WPID; then kill -9 $WPID; wait $WPID 2> /dev/null; die "trial $k: the writer still runs 60 s after zusd was killed"; fi
    wait $WPID 2> /dev/null
    res "trial $k: zusd $SERVE_PID killed -9 ${d} ms after the writer started, flush_delay ${DELAYS[$((k % 3))]}; $(grep -c '^A' "$S/log-$k") acks; writer: $(tail -1 "$S/log-$k")"
    timeout 60 umount $M || die "trial $k: umount after the kill"
    echo "trial $k took $(( $(date +%s) - t0 )) s"
  done
  ;;
poweroff)
  K=$2 LAST=$3
  config "${DELAYS[$((K % 3))]}"
  serve "$S/zusd-$K.log"
  mount_fs
  check $((K - 1))
  if [ "$LAST" = 1 ]; then stop_serve; exit $((FAIL > 0)); fi
  res "boot $K: writer starts (flush_delay ${DELAYS[$((K % 3))]})"
  writer $K
  die "boot $K: the writer ended before the power-off: $(tail -2 "$S/log-$K")"
  ;;
esac
echo "SUMMARY pmem-crash $MODE: $PASS passed, $FAIL failed${FAILED:+ (failed:$FAILED)}"
[ $FAIL = 0 ]
