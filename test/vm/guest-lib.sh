# Shared helpers of the guest-side scripts (sourced; runs inside the VM as root).
ROOT=${ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
ZUSD_LOG=/tmp/zusd.log
PASS=0; FAIL=0; FAILED=""
# progress also goes to the shared work dir (9p, uncached): `tail -f test/vm/.build/guest.log` on the host
PROGRESS=$ROOT/test/vm/.build/guest.log
note() { echo "$(cut -d' ' -f1 /proc/uptime) $*" >> "$PROGRESS" 2>/dev/null; }
ok()   { PASS=$((PASS+1)); echo "ok   $1"; note "ok $1"; }
bad()  { FAIL=$((FAIL+1)); FAILED="$FAILED $1"; echo "FAIL $1${2:+: $2}"; note "FAIL $1 ${2:-}"; }
# t NAME CMD...: a test is a command that must succeed (with a 120 s cap so nothing hangs the run)
t() { local n=$1; shift; if out=$(timeout 120 "$@" 2>&1); then ok "$n"; else bad "$n" "$(echo "$out" | tail -3)"; fi; }

start_zusd() {
  mountpoint -q /sys/fs/zuf || mount -t zuf nodev /sys/fs/zuf
  : > $ZUSD_LOG
  node "$ROOT/test/vm/.build/zusd-vm.js" /sys/fs/zuf > /tmp/zusd.out 2>> $ZUSD_LOG &
  ZUSD_PID=$!
  for _ in $(seq 1 600); do
    grep -q ready /tmp/zusd.out 2>/dev/null && return 0
    kill -0 $ZUSD_PID 2>/dev/null || { echo "zusd died:"; cat $ZUSD_LOG; return 1; }
    sleep 0.2
  done
  echo "zusd not ready after 120 s"; cat $ZUSD_LOG; return 1
}

stop_zusd() {
  kill -TERM $ZUSD_PID 2>/dev/null
  for _ in $(seq 1 300); do kill -0 $ZUSD_PID 2>/dev/null || break; sleep 0.2; done
  if kill -0 $ZUSD_PID 2>/dev/null; then echo "zusd did not exit on SIGTERM (BREAK_ALL)"; kill -9 $ZUSD_PID; return 1; fi
  wait $ZUSD_PID 2>/dev/null
  return 0
}
