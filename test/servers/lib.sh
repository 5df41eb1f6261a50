# Shared by the test-server scripts (sourced): stopping the one process a script started.

# stop_pid PIDFILE SIGNAL TENTHS: send SIGNAL to the pid in PIDFILE, wait up to TENTHS × 0.1 s for
# it to exit, then SIGKILL it. Does nothing when PIDFILE is absent.
stop_pid() {
  local pidfile=$1 signal=$2 tenths=$3 pid
  [ -f "$pidfile" ] || return 0
  pid="$(cat "$pidfile")"
  kill "-$signal" "$pid" 2>/dev/null || true
  for _ in $(seq "$tenths"); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$pid" 2>/dev/null || true
}
