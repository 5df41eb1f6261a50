#!/bin/bash
# The zuf VM suite, CI entry point: `bash test/vm/run.sh` from anywhere.
# Builds zuf.ko (Debian 6.1 headers, W=1 -Werror) and the bundled zusd, then boots Debian's 6.1
# kernel under qemu TCG once per suite (e2e, crash, evil, async, serve) with the host root over 9p, loads zuf.ko,
# runs the suite, rmmods zuf (a failed unload fails the run) and fails on any BUG/WARNING/Oops
# in dmesg. Exit status: 0 only if every suite passed. SUITES="e2e" limits the run.
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT" || exit 2
bash test/vm/build.sh || { echo "run.sh: build failed" >&2; exit 2; }
KVER=$(ls -d /lib/modules/6.1.*-amd64 2>/dev/null | sort -V | tail -1 | xargs -r basename)
[ -n "$KVER" ] || { echo "run.sh: no Debian 6.1 kernel in /lib/modules (apt-get install linux-image-amd64)" >&2; exit 2; }
ART=${ARTIFACTS:-$(mktemp -d /tmp/zuf-vm.XXXXXX)}
rc=0; summary=""
for suite in ${SUITES:-e2e crash evil async serve}; do
  echo "==== zuf VM suite: $suite (kernel $KVER, artifacts $ART/$suite) ===="
  start=$(date +%s)
  bash test/vm/vmrun.sh -k "$KVER" -m kernel/zuf.ko -u -c 2 -r 2G -t "${VM_SUITE_TIMEOUT:-1200}" -o "$ART/$suite" -- bash test/vm/guest-$suite.sh
  src=$?
  if [ -f "$ART/$suite/dmesg" ]; then
    if grep -E 'BUG:|WARNING:|Oops|Call Trace|general protection|blocked for more than|UBSAN|KASAN' "$ART/$suite/dmesg"; then
      echo "run.sh: $suite: kernel log shows the problems above" >&2
      [ $src = 0 ] && src=1
    fi
  else
    echo "run.sh: $suite: no dmesg captured" >&2
    [ $src = 0 ] && src=125
  fi
  summary+="$suite=rc$src($(( $(date +%s) - start ))s) "
  [ $src = 0 ] || rc=$src
done
echo "==== zuf VM suites: $summary==> exit $rc"
exit $rc
