#!/usr/bin/env bash
# Object-store mounts side by side: zufs (layout: native) vs s3fs and rclone mount (Debian packages),
# on one MinIO and one nginx WebDAV server started here (test/servers/*.sh, private ports/dir).
# Shapes: 256 MiB sequential write (dd bs=1M, timed until the mount is unmounted and its daemon has
# exited, i.e. every byte is in the store) and read (fresh mount, so no page cache / VFS cache);
# 1,000 x 4 KiB files written (same end point) and read (fresh mount); `ls -f | wc -l` of a prefix
# holding 10,000 objects created beforehand through the S3 API (rclone copy) / on the WebDAV
# server's disk, on a fresh mount. Rounds are interleaved across targets.
# Usage: bash bench/objects/run.sh            (env: ROUNDS=3 BIG_MIB=256 SMALL_N=1000 LIST_N=10000;
#   TARGETS to run a subset, e.g. "zufs-webdav rclone-webdav": only the servers they need start;
#   ZUFS_CLI=path/to/cli.js to run another build of zusd; targets zufsB-s3 / zufsB-webdav run the
#   build at ZUFS_CLI_B alongside, for an A/B under the same load — raw rows only, not in the report)
# Needs: root, /dev/fuse, `npm run build` done, apt-get install -y s3fs rclone, minio + nginx (test/servers).
set -uo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
ROUNDS=${ROUNDS:-3}; BIG_MIB=${BIG_MIB:-256}; SMALL_N=${SMALL_N:-1000}; LIST_N=${LIST_N:-10000}
TARGETS=${TARGETS:-"zufs-s3 s3fs-s3 rclone-s3 zufs-webdav rclone-webdav"}
export ZUFS_SERVERS_DIR=${ZUFS_SERVERS_DIR:-/tmp/zufs-bench-objects}
export ZUFS_S3_PORT=${ZUFS_S3_PORT:-19740} ZUFS_WEBDAV_PORT=${ZUFS_WEBDAV_PORT:-18740}
RUN=bench-$(date +%Y%m%d%H%M%S)-$$
W=$ZUFS_SERVERS_DIR/work-$RUN; mkdir -p "$W"
RAW=$W/raw.tsv; : > "$RAW"
log() { echo "[$(date +%T)] $*" >&2; }

ZUFS_CLI=${ZUFS_CLI:-dist/src/zus/cli.js}
S3URL=http://127.0.0.1:0 DAVURL=http://127.0.0.1:0/
if [[ $TARGETS == *s3* ]]; then S3URL=$(bash test/servers/s3.sh start) || { echo "MinIO did not start" >&2; exit 1; }; fi
if [[ $TARGETS == *webdav* ]]; then DAVURL=$(bash test/servers/webdav.sh start) || { echo "nginx WebDAV did not start" >&2; exit 1; }; fi
DAVDATA=$ZUFS_SERVERS_DIR/webdav-$ZUFS_WEBDAV_PORT/data
S3DATA=$ZUFS_SERVERS_DIR/s3-$ZUFS_S3_PORT/data
log "S3 $S3URL  WebDAV $DAVURL  run $RUN  work $W"

printf 'zufstestsecret' > "$W/secret"; chmod 600 "$W/secret"
printf 'zufstest:zufstestsecret\n' > "$W/s3fs.passwd"; chmod 600 "$W/s3fs.passwd"
DAVHOSTPORT=${DAVURL#http://}; DAVHOSTPORT=${DAVHOSTPORT%/}
cat > "$W/rclone.conf" <<RC
[s3]
type = s3
provider = Minio
access_key_id = zufstest
secret_access_key = zufstestsecret
endpoint = $S3URL
region = us-east-1
force_path_style = true

[dav]
type = webdav
url = $DAVURL
vendor = other
RC
# Debian rclone 1.60 refuses every S3 remote when AWS_CA_BUNDLE is set (LoadCustomCABundleError);
# this sandbox sets it for its own proxy, and MinIO here is plain http, so drop it for rclone.
unset AWS_CA_BUNDLE
RCPORT=${RCPORT:-15740}
RCLONE_MOUNT_OPTS=(--config "$W/rclone.conf" --vfs-cache-mode writes --vfs-write-back 0s --rc --rc-addr "127.0.0.1:$RCPORT" --rc-no-auth)

# ---- fixtures -------------------------------------------------------------------------------------
log "seeding $LIST_N objects for the listing shape"
mkdir -p "$W/seed"; for ((i = 0; i < LIST_N; i++)); do printf 'x' > "$W/seed/o$i"; done
t0=$(date +%s%N)
if [[ $TARGETS == *s3* ]]; then
  rclone --config "$W/rclone.conf" copy "$W/seed" "s3:zufs-test/$RUN/list" --transfers 32 --checkers 32 --no-check-dest -q || log "rclone seed copy failed"
  log "S3 seed: $(( ($(date +%s%N) - t0) / 1000000 )) ms"
fi
if [[ $TARGETS == *webdav* ]]; then mkdir -p "$DAVDATA/$RUN/list"; cp -r "$W/seed/." "$DAVDATA/$RUN/list/"; fi
head -c $((BIG_MIB * 1024 * 1024)) /dev/urandom > "$W/big.src"
SMALLDATA=$(head -c 4096 /dev/zero | tr '\0' 'a')

# ---- mounting -------------------------------------------------------------------------------------
PID=""; MNT=""
waitmount() { # $1 mountpoint $2 pid
  for ((k = 0; k < 600; k++)); do
    mountpoint -q "$1" && return 0
    kill -0 "$2" 2>/dev/null || return 1
    sleep 0.05
  done; return 1
}
# mount TARGET SUBPATH (SUBPATH under the run prefix, e.g. "zufs-s3" or "list")
do_mount() {
  local t=$1 sub=$2 n=$((++MOUNTSEQ))
  MNT=$W/mnt-$n; mkdir -p "$MNT"; local lg=$W/mount-$n-$t.log
  case $t in
    zufs-s3|zufs-webdav|zufsB-s3|zufsB-webdav)
      local url cli=$ZUFS_CLI
      [[ $t == zufsB-* ]] && cli=$ZUFS_CLI_B
      if [[ $t == *-s3 ]]; then url="s3://zufs-test/$RUN/$sub/"; else url="webdav://$DAVHOSTPORT/$RUN/$sub/"; fi
      { echo "mounts:"; echo "  - name: b$n"; echo "    url: $url"; echo "    layout: native"
        if [[ $t == *-s3 ]]; then echo "    endpoint: $S3URL"; echo "    access_key_id: zufstest"; echo "    password_file: $W/secret"; fi
      } > "$W/zufs-$n.yaml"
      node "$cli" mount --transport fuse "$W/zufs-$n.yaml" "$MNT" > "$lg" 2>&1 &
      PID=$! ;;
    s3fs-s3)
      s3fs "zufs-test:/$RUN/$sub" "$MNT" -f -o "url=$S3URL,use_path_request_style,passwd_file=$W/s3fs.passwd" > "$lg" 2>&1 &
      PID=$! ;;
    rclone-s3)
      rclone mount "s3:zufs-test/$RUN/$sub" "$MNT" "${RCLONE_MOUNT_OPTS[@]}" --cache-dir "$W/rc-cache-$n" > "$lg" 2>&1 &
      PID=$! ;;
    rclone-webdav)
      rclone mount "dav:$RUN/$sub" "$MNT" "${RCLONE_MOUNT_OPTS[@]}" --cache-dir "$W/rc-cache-$n" > "$lg" 2>&1 &
      PID=$! ;;
  esac
  if ! waitmount "$MNT" "$PID"; then
    log "$t: mount failed: $(tail -c 400 "$lg" | tr '\n' ' ')"
    kill "$PID" 2>/dev/null; wait "$PID" 2>/dev/null; return 1
  fi
}
# rclone uploads after close, its vfs/stats can read 0 queued just after a close, and it does not
# finish pending uploads when unmounted (files go missing). So before unmounting a written mount
# wait until the store itself holds the data, read straight from the servers' data directories
# (MinIO and nginx rename complete objects into place). zufs and s3fs upload during close, so for
# them this check passes at once; it is applied to every target alike and bounds at 5 min.
settle() { # $1 target $2 sub $3 big|small
  local d st=0
  if [[ $1 == *webdav ]]; then d=$DAVDATA/$RUN/$2; else d=$S3DATA/zufs-test/$RUN/$2; fi
  for ((k = 0; k < 6000; k++)); do
    if [[ $3 == big ]]; then
      if [[ $1 == *webdav ]]; then [[ $(stat -c %s "$d/big" 2>/dev/null) == $((BIG_MIB * 1048576)) ]] && return 0
      else [[ -f $d/big/xl.meta ]] && return 0; fi
    else
      [[ $(ls "$d/small" 2>/dev/null | wc -l) -ge $SMALL_N ]] && return 0
    fi
    sleep 0.05
  done; log "$1 $2 $3: data did not reach the store"
}
# unmount and wait until the daemon has exited
do_umount() {
  fusermount -u "$MNT" 2>/dev/null || fusermount3 -u "$MNT" 2>/dev/null || { sleep 0.5; fusermount -u -z "$MNT"; }
  for ((k = 0; k < 3000; k++)); do kill -0 "$PID" 2>/dev/null || break; sleep 0.05; done
  kill -0 "$PID" 2>/dev/null && { log "pid $PID still alive after unmount; killing"; kill "$PID"; }
  wait "$PID" 2>/dev/null; PID=""
}
MOUNTSEQ=0
now() { date +%s%N; }
rec() { printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$4" "$5" "$6" >> "$RAW"; log "round $1 $2 $3: $4 ms ($5) $6"; }

prep_dir() { # WebDAV collections must exist before a mount of them
  [[ $1 == *webdav ]] && mkdir -p "$DAVDATA/$RUN/$2"; true
}

one_round() {
  local r=$1 t=$2 sub="$2-r$1" t0 ms ok note n bytes i
  prep_dir "$t" "$sub"
  # big write
  if do_mount "$t" "$sub"; then
    t0=$(now); ok=ok; note=""
    dd if="$W/big.src" of="$MNT/big" bs=1M 2>"$W/dd.err" || { ok=fail; note=$(tail -1 "$W/dd.err"); }
    [[ $ok == ok ]] && settle "$t" "$sub" big; do_umount; ms=$(( ($(now) - t0) / 1000000 )); rec "$r" "$t" big_write "$ms" "$ok" "$note"
  else rec "$r" "$t" big_write "" fail "mount failed"; fi
  # big read (fresh mount)
  if do_mount "$t" "$sub"; then
    t0=$(now); ok=ok; note=""
    if ! cmp -s "$W/big.src" "$MNT/big"; then ok=fail; note="content differs or unreadable"; fi
    ms=$(( ($(now) - t0) / 1000000 )); do_umount; rec "$r" "$t" big_read "$ms" "$ok" "$note"
  else rec "$r" "$t" big_read "" fail "mount failed"; fi
  # small write
  if do_mount "$t" "$sub"; then
    t0=$(now); ok=ok; note=""
    mkdir "$MNT/small" || { ok=fail; note="mkdir failed"; }
    for ((i = 0; i < SMALL_N; i++)); do printf '%s' "$SMALLDATA" > "$MNT/small/f$i" || { ok=fail; note="write f$i failed"; break; }; done
    [[ $ok == ok ]] && settle "$t" "$sub" small; do_umount; ms=$(( ($(now) - t0) / 1000000 )); rec "$r" "$t" small_write "$ms" "$ok" "$note"
  else rec "$r" "$t" small_write "" fail "mount failed"; fi
  # small read (fresh mount)
  if do_mount "$t" "$sub"; then
    t0=$(now); ok=ok; note=""
    bytes=$(cat "$MNT"/small/f* | wc -c); [[ $bytes == $((SMALL_N * 4096)) ]] || { ok=fail; note="read $bytes bytes; $(ls "$MNT/small" | wc -l) listed; $(cat "$MNT"/small/f* 2>&1 >/dev/null | head -1)"; }
    ms=$(( ($(now) - t0) / 1000000 )); do_umount; rec "$r" "$t" small_read "$ms" "$ok" "$note"
  else rec "$r" "$t" small_read "" fail "mount failed"; fi
  # listing (fresh mount of the seeded prefix)
  if do_mount "$t" list; then
    t0=$(now); ok=ok
    n=$(ls -f "$MNT" | wc -l)
    ms=$(( ($(now) - t0) / 1000000 )); do_umount
    [[ $n -ge $LIST_N ]] || ok=fail
    rec "$r" "$t" list "$ms" "$ok" "$n entries"
  else rec "$r" "$t" list "" fail "mount failed"; fi
}

START=$(date +%s)
for ((r = 1; r <= ROUNDS; r++)); do
  # interleave: rotate the target order each round
  read -r -a ts <<< "$TARGETS"; nt=${#ts[@]}
  for ((j = 0; j < nt; j++)); do one_round "$r" "${ts[$(( (j + r - 1) % nt ))]}"; done
done
WALL=$(( $(date +%s) - START ))

# ---- clean up: fixtures in the stores, servers ------------------------------------------------------
rm -rf "$W/big.src" "$W/seed" "$DAVDATA/$RUN" "$W"/rc-cache-*
[[ $TARGETS == *s3* ]] && { rclone --config "$W/rclone.conf" purge "s3:zufs-test/$RUN" -q 2>/dev/null || true; }
if [[ ${KEEP_SERVERS:-0} != 1 ]]; then
  [[ $TARGETS == *s3* ]] && bash test/servers/s3.sh stop >/dev/null 2>&1
  [[ $TARGETS == *webdav* ]] && bash test/servers/webdav.sh stop >/dev/null 2>&1
fi

node bench/objects/report.mjs "$RAW" "$ROUNDS" "$BIG_MIB" "$SMALL_N" "$LIST_N" "$WALL" "$(rclone version | head -1)" "$(dpkg-query -W -f '${Version}' s3fs)" "$(git rev-parse --short HEAD)"
