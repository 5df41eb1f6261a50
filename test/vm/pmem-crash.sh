#!/bin/bash
# Crash trials with emulated pmem (host driver): a writer does fsync'd writes on a zufs-redis mount
# served through zuf.ko by `zufs serve`, with `tiers:` t1 on a qemu NVDIMM (/dev/pmem0, fsdax) and
# write-back on, and
#   kill     : zusd is killed -9 at a random point, N times in one boot (restart + remount replays
#              the t1 journal, then the check)
#   poweroff : the VM is powered off hard (qemu killed -9 by this script) at a random point, once per
#              boot; the next boot mounts (replay) and checks; a last boot only checks.
# After every crash: every fsync-acknowledged byte is there, and every byte of every file is either
# what the acknowledged writes (over the state checked after the previous crash) make of it or what
# the one write in flight put there — nothing else (the checker is `check` in the C helper below).
# The NVDIMM is a host file (it persists across the hard power-off), the store a private
# redis-server on the host (forwarded with vmrun.sh -p; only its own pid is ever stopped), the
# acknowledgement log a file in a host dir mounted over 9p (cache=none: a write has reached the host
# when it returns, so it survives the kill of qemu).
#
# usage: test/vm/pmem-crash.sh [kill|poweroff|both]     (default both)
#   KILL_TRIALS / POWEROFF_TRIALS (or TRIALS for both; default 50 each), SKIP_BUILD=1 (run.sh has
#   built), ARTIFACTS=DIR (kept: state, logs, consoles), KVER. Exit 0 only if every trial passed.
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT" || exit 2
MODES=${1:-both}; [ "$MODES" = both ] && MODES="kill poweroff"
KILL_TRIALS=${KILL_TRIALS:-${TRIALS:-50}}
POWEROFF_TRIALS=${POWEROFF_TRIALS:-${TRIALS:-50}}
if [ -z "${SKIP_BUILD:-}" ]; then bash test/vm/build.sh || { echo "pmem-crash: build failed" >&2; exit 2; }; fi
KVER=${KVER:-$(ls -d /lib/modules/6.1.*-amd64 2>/dev/null | sort -V | tail -1 | xargs -r basename)}
[ -n "$KVER" ] || { echo "pmem-crash: no Debian 6.1 kernel in /lib/modules" >&2; exit 2; }
if ! command -v ndctl > /dev/null; then   # the guest runs the host's ndctl over 9p (the namespace's fsdax mode)
  echo "SKIP pmem-crash: no ndctl on the host (apt-get install ndctl)"; exit 0
fi
command -v redis-server > /dev/null || { echo "pmem-crash: needs redis-server on the host" >&2; exit 2; }
ART=${ARTIFACTS:-$(mktemp -d /tmp/zuf-pmem-crash.XXXXXX)}
mkdir -p "$ART"
HELPER=$ROOT/test/vm/.build/pmem-crash-helper

# ---- the writer and the checker (run in the guest) ----
cat > "$ART/pmem-crash-helper.c" <<'EOF'
// writer: fsync'd writes of random size and place to DIR/f0..f{N-1}; before each write an intent line
//   "I id file off len", after its fsync returned "A id" (an error: "E id errno", then exit), each
//   line written and fsync'd to LOG before going on. The bytes of write `id` at file offset p are
//   cbyte(id, p), never 0.
// check: rebuilds what DIR must hold from BASE (the files as checked after the previous crash) and
//   the acknowledged writes of LOG; the one write in flight (intent, no ack) may be there in whole,
//   in part or not at all. Anything else is reported byte range by byte range. With SNAP, copies the
//   checked files there (the next check's BASE).
#define _GNU_SOURCE
#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAXF 8
#define MAXOFF (1u << 20)
static uint64_t salt;

static uint64_t mix(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}
static uint8_t cbyte(uint64_t id, uint64_t p) {
  uint64_t v = mix(salt ^ mix(id * 0x100000001b3ULL + (p >> 3)));
  return (uint8_t)((v >> ((p & 7) * 8)) % 255 + 1);
}
static void logline(int fd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void logline(int fd, const char *fmt, ...) {
  char b[128];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(b, sizeof b, fmt, ap);
  va_end(ap);
  if (write(fd, b, n) != n || fsync(fd) != 0) { perror("writer: ack log"); exit(3); }
}
static uint64_t rng;
static uint64_t rnd(void) { rng ^= rng << 13; rng ^= rng >> 7; rng ^= rng << 17; return rng; }

static int writer(int argc, char **argv) {
  if (argc != 8) { fprintf(stderr, "writer DIR LOG NFILES SALT FIRSTID RNGSEED\n"); return 2; }
  const char *dir = argv[2], *log = argv[3];
  int nf = atoi(argv[4]);
  salt = strtoull(argv[5], 0, 0);
  uint64_t id = strtoull(argv[6], 0, 0);
  rng = mix(strtoull(argv[7], 0, 0)) | 1;
  if (nf < 1 || nf > MAXF) return 2;
  int lfd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0644);
  if (lfd < 0) { perror(log); return 2; }
  logline(lfd, "S %llu %s\n", (unsigned long long)id, argv[7]);
  int fds[MAXF];
  uint64_t end[MAXF];
  for (int f = 0; f < nf; f++) {
    char p[4096];
    snprintf(p, sizeof p, "%s/f%d", dir, f);
    fds[f] = open(p, O_RDWR | O_CREAT, 0644);
    if (fds[f] < 0) { logline(lfd, "E open f%d %d\n", f, errno); return 1; }
    struct stat st;
    end[f] = fstat(fds[f], &st) == 0 ? (uint64_t)st.st_size : 0;
  }
  static uint8_t buf[1 << 18];
  for (;; id++) {
    int f = rnd() % nf;
    uint64_t r = rnd() % 100, len, off;
    len = 1 + rnd() % (r < 50 ? 4096 : r < 80 ? 65536 : sizeof buf);
    r = rnd() % 100;
    off = r < 30 && end[f] < 2 * MAXOFF ? end[f] : rnd() % MAXOFF;   // append (files stay below ~2.3 MiB), or anywhere below 1 MiB
    if (rnd() % 3 == 0) off &= ~4095ULL;          // page aligned now and then
    for (uint64_t i = 0; i < len; i++) buf[i] = cbyte(id, off + i);
    logline(lfd, "I %llu %d %llu %llu\n", (unsigned long long)id, f, (unsigned long long)off, (unsigned long long)len);
    for (uint64_t done = 0; done < len;) {
      ssize_t n = pwrite(fds[f], buf + done, len - done, off + done);
      if (n <= 0) { logline(lfd, "E %llu write %d\n", (unsigned long long)id, n < 0 ? errno : 0); return 1; }
      done += n;
    }
    if (fsync(fds[f]) != 0) { logline(lfd, "E %llu fsync %d\n", (unsigned long long)id, errno); return 1; }
    logline(lfd, "A %llu\n", (unsigned long long)id);
    if (off + len > end[f]) end[f] = off + len;
  }
}

struct file { uint8_t *b; int64_t *own; uint64_t size, cap; };
static void grow(struct file *m, uint64_t n) {
  if (n <= m->cap) return;
  uint64_t c = n + (1 << 20);
  m->b = realloc(m->b, c); m->own = realloc(m->own, c * sizeof *m->own);
  if (!m->b || !m->own) { perror("realloc"); exit(2); }
  memset(m->b + m->cap, 0, c - m->cap);
  for (uint64_t i = m->cap; i < c; i++) m->own[i] = -2;   // -2: a hole (zeros), -1: BASE's byte
  m->cap = c;
}
static int readall(const char *path, struct file *m) {   // 0, or -1 with errno (ENOENT: no file)
  int fd = open(path, O_RDONLY);
  if (fd < 0) return -1;
  struct stat st;
  if (fstat(fd, &st) != 0) { close(fd); return -1; }
  grow(m, st.st_size + 1);
  uint64_t done = 0;
  for (;;) {
    grow(m, done + 65536);
    ssize_t n = pread(fd, m->b + done, 65536, done);
    if (n < 0) { int e = errno; close(fd); errno = e; return -1; }
    if (n == 0) break;
    done += n;
  }
  close(fd);
  m->size = done;
  return 0;
}
struct w { uint64_t id, off, len; int f, acked; };

static int check(int argc, char **argv) {
  if (argc != 7 && argc != 8) { fprintf(stderr, "check DIR LOG BASE NFILES SALT [SNAP]\n"); return 2; }
  const char *dir = argv[2], *log = argv[3], *base = argv[4], *snap = argc == 8 ? argv[7] : 0;
  int nf = atoi(argv[5]);
  salt = strtoull(argv[6], 0, 0);
  struct file model[MAXF] = {0}, got[MAXF] = {0};
  char p[4096];
  for (int f = 0; f < nf; f++) {
    snprintf(p, sizeof p, "%s/f%d", base, f);
    if (readall(p, &model[f]) != 0 && errno != ENOENT) { perror(p); return 2; }
    for (uint64_t i = 0; i < model[f].size; i++) model[f].own[i] = -1;
  }
  struct w *ws = 0;
  size_t nw = 0, cap = 0, acked = 0, errs = 0;
  FILE *lf = fopen(log, "r");
  char line[256];
  while (lf && fgets(line, sizeof line, lf)) {
    unsigned long long id, off, len; int f;
    if (sscanf(line, "I %llu %d %llu %llu", &id, &f, &off, &len) == 4) {
      if (nw && !ws[nw - 1].acked) { fprintf(stderr, "LOG: write %llu issued while %llu was not acknowledged\n", id, (unsigned long long)ws[nw - 1].id); return 2; }
      if (nw == cap) { cap = cap ? cap * 2 : 1024; ws = realloc(ws, cap * sizeof *ws); }
      ws[nw++] = (struct w){ id, off, len, f, 0 };
    } else if (sscanf(line, "A %llu", &id) == 1) {
      if (!nw || ws[nw - 1].id != id || ws[nw - 1].acked) { fprintf(stderr, "LOG: ack %llu out of order\n", id); return 2; }
      struct w *x = &ws[nw - 1];
      x->acked = 1; acked++;
      struct file *m = &model[x->f];
      grow(m, x->off + x->len);
      for (uint64_t i = x->off; i < x->off + x->len; i++) { m->b[i] = cbyte(x->id, i); m->own[i] = x->id; }
      if (x->off + x->len > m->size) m->size = x->off + x->len;
    } else if (line[0] == 'E') errs++;
  }
  if (lf) fclose(lf);
  struct w *fly = nw && !ws[nw - 1].acked ? &ws[nw - 1] : 0;
  int bad = 0;
  uint64_t bytes = 0, flyhit = 0;
  for (int f = 0; f < nf; f++) {
    struct file *m = &model[f], *g = &got[f];
    snprintf(p, sizeof p, "%s/f%d", dir, f);
    if (readall(p, g) != 0) {
      if (errno == ENOENT && m->size == 0) continue;
      fprintf(stderr, "FAIL f%d: cannot read it (%s) but it must hold %llu bytes\n", f, strerror(errno), (unsigned long long)m->size);
      bad++; continue;
    }
    uint64_t lo = m->size, hi = m->size;
    if (fly && fly->f == f && fly->off + fly->len > hi) hi = fly->off + fly->len;
    if (g->size < lo || g->size > hi) {
      fprintf(stderr, "FAIL f%d: size %llu, expected %llu%s%llu\n", f, (unsigned long long)g->size, (unsigned long long)lo,
              hi > lo ? " up to " : " (in-flight write elsewhere) ", (unsigned long long)hi);
      bad++;
    }
    grow(m, g->size); grow(g, m->size);
    uint64_t n = g->size > m->size ? g->size : m->size;
    int runs = 0;
    for (uint64_t i = 0; i < n; i++) {
      uint8_t a = g->b[i], e = m->b[i];
      int inflight = fly && fly->f == f && i >= fly->off && i < fly->off + fly->len;
      if (inflight && a == cbyte(fly->id, i)) { if (a != e) flyhit++; continue; }
      if (a == e) continue;
      uint64_t s = i;       // a run of wrong bytes: describe it by its first byte
      int64_t own = m->own[i];
      while (i + 1 < n && g->b[i + 1] != m->b[i + 1] && m->own[i + 1] == own &&
             !(fly && fly->f == f && i + 1 >= fly->off && i + 1 < fly->off + fly->len && g->b[i + 1] == cbyte(fly->id, i + 1))) i++;
      bad++;
      if (++runs > 12) continue;
      const char *what = own >= 0 ? "ACKNOWLEDGED write lost" : own == -1 ? "old (previously checked) bytes changed" : "bytes where nothing was written";
      long long from = -1;   // which issued write, if any, put the byte that is there
      for (size_t k = nw; k-- > 0;)
        if (ws[k].f == f && s >= ws[k].off && s < ws[k].off + ws[k].len && cbyte(ws[k].id, s) == a) { from = (long long)ws[k].id; break; }
      char by[48] = "";
      if (own >= 0) snprintf(by, sizeof by, " (by write %lld)", (long long)own);
      fprintf(stderr, "FAIL f%d [%llu, %llu) (%llu bytes): %s%s; at %llu: got 0x%02x, want 0x%02x (%s)\n", f,
              (unsigned long long)s, (unsigned long long)i + 1, (unsigned long long)(i + 1 - s), what, by,
              (unsigned long long)s, a, e, from >= 0 ? "an older write's byte" : a == 0 ? "zeros" : "no logged write's byte");
      if (from >= 0) fprintf(stderr, "     (that byte matches write %lld of this log)\n", from);
    }
    if (runs > 12) fprintf(stderr, "FAIL f%d: ... %d wrong runs in all\n", f, runs);
    bytes += g->size;
  }
  printf("check %s: %zu writes logged, %zu acknowledged, %zu errors; in flight: %s", log, nw, acked, errs,
         fly ? "" : "none");
  if (fly) printf("write %llu (f%d +%llu len %llu): %llu of its bytes differ from before and landed", (unsigned long long)fly->id, fly->f,
                  (unsigned long long)fly->off, (unsigned long long)fly->len, (unsigned long long)flyhit);
  printf("; %llu bytes in %d files; %s\n", (unsigned long long)bytes, nf, bad ? "FAILED" : "ok");
  if (bad) return 1;
  if (snap) {
    mkdir(snap, 0755);
    for (int f = 0; f < nf; f++) {
      if (!got[f].b) continue;
      snprintf(p, sizeof p, "%s/f%d", snap, f);
      int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0644);
      if (fd < 0 || write(fd, got[f].b, got[f].size) != (ssize_t)got[f].size || fsync(fd) != 0) { perror(p); return 2; }
      close(fd);
    }
  }
  return 0;
}

int main(int argc, char **argv) {
  if (argc > 1 && !strcmp(argv[1], "writer")) return writer(argc, argv);
  if (argc > 1 && !strcmp(argv[1], "check")) return check(argc, argv);
  fprintf(stderr, "usage: %s writer|check ...\n", argv[0]);
  return 2;
}
EOF
gcc -O2 -Wall -Werror -o "$HELPER" "$ART/pmem-crash-helper.c" || { echo "pmem-crash: helper build failed" >&2; exit 2; }

# ---- a private redis-server on a free host port; only this pid is ever stopped ----
REDIS_PID=""; REDIS_DIR=""; VMPID=""
REDIS_PORT=$(node -e "const s = require('net').createServer().listen(0, '127.0.0.1', () => { console.log(s.address().port); s.close(); })")
REDIS_DIR=$(mktemp -d /tmp/zuf-pmem-redis.XXXXXX)
cleanup() {
  [ -n "$VMPID" ] && kill "$VMPID" 2> /dev/null
  [ -n "$REDIS_PID" ] && kill "$REDIS_PID" 2> /dev/null && wait "$REDIS_PID" 2> /dev/null
  [ -n "$REDIS_DIR" ] && rm -rf "$REDIS_DIR"
  [ -n "${IMGDIR:-}" ] && rm -rf "$IMGDIR"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --dir "$REDIS_DIR" --save '' --appendonly no \
  --protected-mode no --loglevel warning --logfile "$REDIS_DIR/redis.log" &
REDIS_PID=$!
for _ in $(seq 1 100); do redis-cli -p "$REDIS_PORT" ping 2> /dev/null | grep -q PONG && break; sleep 0.1; done
redis-cli -p "$REDIS_PORT" ping 2> /dev/null | grep -q PONG || { echo "pmem-crash: redis-server did not start" >&2; cat "$REDIS_DIR/redis.log" >&2; exit 2; }

IMGDIR=$(mktemp -d /tmp/zuf-pmem-img.XXXXXX)
SALT=$(( (RANDOM << 30) ^ (RANDOM << 15) ^ RANDOM ))
KERNEL_BAD='BUG:|WARNING:|Oops|Call Trace|general protection|blocked for more than|UBSAN|KASAN'
rc=0; summary=""

# vm MODE STATE IMG EXTRA-ARGS... -- guest args: one boot with the NVDIMM (qemu pid in STATE/qemu.pid)
vm() {
  local state=$1 img=$2; shift 2
  rm -f "$state/qemu.pid"
  bash test/vm/vmrun.sh -k "$KVER" -m kernel/zuf.ko -M nfit -M nd_pmem -c 2 -r 2G,slots=2,maxmem=4G -w "$state" \
    -p "$REDIS_PORT" -e "ZUFS_VM_REDIS_PORT=$REDIS_PORT" -e "PMEM_STATE=$state" -e "PMEM_SALT=$SALT" \
    -q "-machine pc,nvdimm=on -object memory-backend-file,id=pm0,share=on,mem-path=$img,size=256M -device nvdimm,id=nv0,memdev=pm0 -pidfile $state/qemu.pid" \
    "$@"
}
kernel_clean() {   # FILE: no kernel problem in a dmesg / console log
  if grep -E "$KERNEL_BAD" "$1"; then echo "pmem-crash: kernel log $1 shows the problems above" >&2; return 1; fi
}

for mode in $MODES; do
  state=$ART/$mode; mkdir -p "$state"
  img=$IMGDIR/$mode.img; rm -f "$img"; truncate -s 256M "$img"
  start=$(date +%s)
  case $mode in
  kill)
    echo "==== pmem-crash kill: $KILL_TRIALS trials in one boot (state $state) ===="
    vm "$state" "$img" -u -o "$state/vm" -t $(( 600 + KILL_TRIALS * 180 )) -- bash test/vm/guest-pmem-crash.sh kill "$KILL_TRIALS" \
      > "$state/vm.out" 2> "$state/vm.err" &
    VMPID=$!; wait $VMPID; mrc=$?; VMPID=""   # in the background: a TERM to this script stops the VM at once
    cat "$state/vm.out"; tail -40 "$state/vm.err" >&2
    if [ -f "$state/vm/dmesg" ]; then kernel_clean "$state/vm/dmesg" || { [ $mrc = 0 ] && mrc=1; }
    else echo "pmem-crash: kill: no dmesg captured" >&2; [ $mrc = 0 ] && mrc=125; fi
    passed=$(grep -c '^ok   trial-.*-check' "$state/vm.out")
    summary+="kill=rc$mrc($passed/$((KILL_TRIALS + 1)) checks passed, $(( $(date +%s) - start ))s) "
    ;;
  poweroff)
    echo "==== pmem-crash poweroff: $POWEROFF_TRIALS boots killed hard + 1 checking boot (state $state) ===="
    mrc=0; passed=0
    for k in $(seq 1 $(( POWEROFF_TRIALS + 1 ))); do
      t0=$(date +%s)
      last=$([ "$k" -gt "$POWEROFF_TRIALS" ] && echo 1 || echo 0)
      mkdir -p "$state/boot-$k"
      vm "$state" "$img" -o "$state/boot-$k" -t 900 $([ "$last" = 1 ] && echo -u) -- \
        bash test/vm/guest-pmem-crash.sh poweroff "$k" "$last" > "$state/boot-$k/vm.out" 2> "$state/boot-$k/vm.err" &
      VMPID=$!
      if [ "$last" = 0 ]; then
        # the writer logs its first line when it starts: then power off at a random point 0.2-8 s later
        while kill -0 $VMPID 2> /dev/null && [ ! -s "$state/log-$k" ]; do sleep 0.2; done
        if [ -s "$state/log-$k" ]; then
          d=$(( 200 + RANDOM % 7800 ))
          sleep "$(printf '%d.%03d' $((d / 1000)) $((d % 1000)))"
          qp=$(cat "$state/qemu.pid" 2> /dev/null)
          if [ -n "$qp" ] && kill -0 "$qp" 2> /dev/null; then
            kill -9 "$qp"; echo "boot $k: qemu $qp killed -9 ${d} ms after the writer started ($(grep -c '^A' "$state/log-$k") acks logged)"
          fi
        fi
      fi
      wait $VMPID; brc=$?; VMPID=""
      kernel_clean "$state/boot-$k/console.log" || brc=1
      # a boot passed when its check passed and (but the last) its writer ran until the power-off
      # (the guest never ends such a boot by itself: vmrun finds no exit status)
      ok=1
      grep -q "ok trial-$((k - 1))-check\$" "$state/results" || ok=0
      if [ "$last" = 0 ]; then
        [ -s "$state/log-$k" ] && grep -q 'no exit status from guest' "$state/boot-$k/vm.err" || ok=0
      else
        [ $brc = 0 ] || ok=0
      fi
      if [ $ok = 0 ]; then
        echo "pmem-crash: poweroff boot $k failed (vmrun rc=$brc); results, guest stdout and stderr:" >&2
        tail -30 "$state/results" >&2; cat "$state/boot-$k/vm.out" >&2; tail -60 "$state/boot-$k/vm.err" >&2
        mrc=1; break
      fi
      passed=$((passed + 1))
      grep "^  trial $((k - 1)): check" "$state/results" | tail -1
      echo "boot $k done in $(( $(date +%s) - t0 )) s"
    done
    summary+="poweroff=rc$mrc($passed/$((POWEROFF_TRIALS + 1)) boots passed, $(( $(date +%s) - start ))s) "
    ;;
  *) echo "pmem-crash: unknown mode $mode (kill|poweroff|both)" >&2; exit 2;;
  esac
  [ $mrc = 0 ] || rc=$mrc
done
echo "==== pmem-crash: $summary==> exit $rc (artifacts $ART)"
exit $rc
