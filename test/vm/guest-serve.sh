#!/bin/bash
# The `serve` suite, run inside the VM (as root) by test/vm/run.sh: the PRODUCT path. `zufs serve
# --daemon` (src/zus/cli.ts bundled by build.sh into one file, as node loading dist/ module by
# module over 9p takes minutes under TCG) mounts the zuf root, registers the
# zufs-* types; mount(8) -t zufs-local / zufs-redis -o config=FILE; a focused e2e on each; zufs-local
# persistence across umount/mount; `zufs status`; SIGTERM -> BREAK_ALL -> exit. Redis is a
# throw-away redis-server inside the guest (the host root is the guest's root, so the host's
# binary is here; no network needed). Exit 1 on any failure.
. "$(dirname "$0")/guest-lib.sh"
CLI=$ROOT/test/vm/.build/zufs-cli.js
SLOG=/tmp/zusd-serve.log
CFG=/tmp/zufs-serve
mkdir -p $CFG /mnt/zl /mnt/zr
[ -f "$CLI" ] || { echo "no $CLI: test/vm/build.sh makes it"; exit 1; }

# ---- the store servers ----
REDIS_PORT=$((20000 + RANDOM % 20000))
if command -v redis-server > /dev/null; then
  redis-server --port $REDIS_PORT --bind 127.0.0.1 --save '' --appendonly no --protected-mode no \
    --daemonize yes --pidfile /tmp/redis.pid --logfile /tmp/redis.log
  for _ in $(seq 1 100); do redis-cli -p $REDIS_PORT ping 2>/dev/null | grep -q PONG && break; sleep 0.1; done
  t redis-up sh -c "redis-cli -p $REDIS_PORT ping | grep -q PONG"
  HAVE_REDIS=1
else
  echo "SKIP zufs-redis: no redis-server in the host root"; HAVE_REDIS=0
fi
cat > $CFG/local.yaml <<EOF
mounts:
  - name: vlocal
    url: "local:///tmp/zufs-local-vol"
EOF
cat > $CFG/redis.yaml <<EOF
mounts:
  - name: vredis
    url: "redis://127.0.0.1:$REDIS_PORT/0?volume=vm1"
EOF

# test data, prepared while zufs serve starts (a snapshot: the repo may change under a live run)
SNAP=/tmp/snap
(
  mkdir -p $SNAP && (cd "$ROOT" && tar -cf - src/zus kernel/*.h test/vm/*.sh) | tar -C $SNAP -xf -
  chmod 0750 $SNAP/src; ln -s ../kernel $SNAP/src/klink
  tar -C $SNAP -cf /tmp/in.tar .
  head -c 1000000 /dev/urandom > /tmp/big
) &
PREP_PID=$!

# ---- zufs serve --daemon: returns once the types are registered ----
note "serve: starting zufs serve"
s0=$(date +%s)
out=$(timeout 180 node "$CLI" serve --daemon --log-file $SLOG 2>&1); src=$?
echo "$out"
SERVE_PID=$(echo "$out" | sed -n 's/^zusd \([0-9]*\) serving.*/\1/p')
if [ $src != 0 ] || [ -z "$SERVE_PID" ]; then
  bad serve-daemon "rc=$src: $out"; echo "---- serve log ----"; cat $SLOG; exit 1
fi
ok serve-daemon
echo "zufs serve registered after $(( $(date +%s) - s0 )) s (pid $SERVE_PID)"; note "serve: registered after $(( $(date +%s) - s0 )) s"
t zuf-root-mounted sh -c "grep -q ' /sys/fs/zuf zuf ' /proc/mounts"
t types-registered sh -c "for f in zufs-mem zufs-local zufs-redis zufs-mongo zufs-s3 zufs-webdav; do grep -qw \$f /proc/filesystems || { echo missing \$f; exit 1; }; done"

wait $PREP_PID
# alive: running, not a zombie (the daemon is orphaned; PID 1 reaps it)
alive() { [ -e /proc/$1 ] && ! grep -q '^State:.*Z' /proc/$1/status 2>/dev/null; }


# e2e TAG MOUNTPOINT: a focused POSIX run on a mounted zufs-* fs
e2e() {
  local x=$1 M=$2
  t $x-create-write-read sh -c "echo hello-$x > $M/a && [ \"\$(cat $M/a)\" = hello-$x ]"
  t $x-stat sh -c "[ \$(stat -c %s $M/a) = $(( ${#x} + 7 )) ] && [ \"\$(stat -c %F $M/a)\" = 'regular file' ]"
  t $x-append sh -c "echo more >> $M/a && [ \"\$(tail -1 $M/a)\" = more ]"
  t $x-big-write-read sh -c "cp /tmp/big $M/big && cmp /tmp/big $M/big && [ \$(stat -c %s $M/big) = 1000000 ]"
  t $x-chmod sh -c "chmod 0640 $M/a && [ \$(stat -c %a $M/a) = 640 ]"
  t $x-truncate sh -c "truncate -s 3 $M/a && [ \"\$(cat $M/a)\" = hel ]"
  t $x-mkdir-p sh -c "mkdir -p $M/d1/d2/d3 && [ -d $M/d1/d2/d3 ] && [ \$(stat -c %h $M/d1) = 3 ]"
  t $x-cp-a-tree cp -a $SNAP $M/tree
  t $x-diff-r-tree diff -r $SNAP $M/tree
  t $x-cp-a-modes sh -c "[ \"\$(cd $SNAP && find . -printf '%p %m %y\n' | sort)\" = \"\$(cd $M/tree && find . -printf '%p %m %y\n' | sort)\" ]"
  t $x-tar-extract sh -c "mkdir $M/untar && tar -C $M/untar -xf /tmp/in.tar && diff -r $SNAP $M/untar"
  t $x-tar-roundtrip sh -c "tar -C $M/untar -cf /tmp/out-$x.tar . && [ \"\$(tar -tvf /tmp/in.tar | sort)\" = \"\$(tar -tvf /tmp/out-$x.tar | sort)\" ]"
  echo r1 > $M/r1; echo r2 > $M/r2
  t $x-rename sh -c "mv $M/r1 $M/r1b && [ \"\$(cat $M/r1b)\" = r1 ] && [ ! -e $M/r1 ]"
  t $x-rename-over sh -c "mv $M/r1b $M/r2 && [ \"\$(cat $M/r2)\" = r1 ]"
  t $x-rename-dir sh -c "mv $M/d1 $M/d1x && [ -d $M/d1x/d2/d3 ]"
  t $x-hardlink sh -c "ln $M/r2 $M/r2h && [ \$(stat -c %h $M/r2) = 2 ] && [ \$(stat -c %i $M/r2) = \$(stat -c %i $M/r2h) ]"
  t $x-symlink sh -c "ln -s d1x/d2 $M/sl && [ \"\$(readlink $M/sl)\" = d1x/d2 ] && [ -d $M/sl/d3 ]"
  t $x-xattr sh -c "setfattr -n user.color -v blue $M/r2 && [ \"\$(getfattr --only-values -n user.color $M/r2)\" = blue ] && getfattr -d $M/r2 | grep -q user.color && setfattr -x user.color $M/r2 && ! getfattr -n user.color $M/r2 2>/dev/null"
  t $x-acl sh -c "setfacl -m u:65534:r $M/r2 && getfacl -cn $M/r2 2>/dev/null | grep -qx 'user:65534:r--' && setfacl -b $M/r2 && ! getfacl -cn $M/r2 2>/dev/null | grep -q '^user:65534'"
  t $x-unlink sh -c "rm $M/r2h && [ \$(stat -c %h $M/r2) = 1 ] && [ ! -e $M/r2h ]"
  t $x-statfs sh -c "df $M > /dev/null"
  t $x-readdir sh -c "[ \"\$(ls $M | sort | tr '\n' ' ')\" = 'a big d1x r2 sl tree untar ' ]"
  t $x-rm-rf sh -c "rm -rf $M/untar && [ ! -e $M/untar ]"
}

# e2e_lite TAG MOUNTPOINT: the same POSIX checks without the tree copies, for stores whose servers
# run inside the TCG guest (FerretDB, MinIO: tens of times slower there than on the host)
e2e_lite() {
  local x=$1 M=$2
  head -c 100000 /tmp/big > /tmp/small
  t $x-create-write-read sh -c "echo hello-$x > $M/a && [ \"\$(cat $M/a)\" = hello-$x ]"
  t $x-append-truncate sh -c "echo more >> $M/a && [ \"\$(tail -1 $M/a)\" = more ] && truncate -s 3 $M/a && [ \"\$(cat $M/a)\" = hel ]"
  t $x-100k-write-read sh -c "cp /tmp/small $M/small && cmp /tmp/small $M/small && [ \$(stat -c %s $M/small) = 100000 ]"
  t $x-dd-notrunc sh -c "printf XYZ | dd of=$M/small bs=1 seek=5000 conv=notrunc status=none && [ \"\$(dd if=$M/small bs=1 skip=5000 count=3 status=none)\" = XYZ ]"
  t $x-chmod sh -c "chmod 0640 $M/a && [ \$(stat -c %a $M/a) = 640 ]"
  t $x-mkdir-rename sh -c "mkdir -p $M/d1/d2 && mv $M/a $M/d1/d2/a2 && [ \"\$(cat $M/d1/d2/a2)\" = hel ] && mv $M/d1 $M/d1x && [ -f $M/d1x/d2/a2 ]"
  t $x-links sh -c "ln $M/small $M/small-h && [ \$(stat -c %h $M/small) = 2 ] && ln -s d1x/d2 $M/sl && [ -f $M/sl/a2 ] && rm $M/small-h && [ \$(stat -c %h $M/small) = 1 ]"
  t $x-xattr sh -c "setfattr -n user.k -v v1 $M/small && [ \"\$(getfattr --only-values -n user.k $M/small)\" = v1 ]"
  t $x-readdir sh -c "[ \"\$(ls $M | sort | tr '\n' ' ')\" = 'd1x sl small ' ]"
  t $x-rm-rf sh -c "rm -rf $M/d1x $M/sl $M/small && [ -z \"\$(ls $M)\" ]"
}

# ---- zufs-local ----
note "serve: zufs-local"
t local-mount mount -t zufs-local -o config=$CFG/local.yaml none /mnt/zl
t local-proc-mounts grep -q "^none /mnt/zl zufs-local .*config=$CFG/local.yaml" /proc/mounts
if mountpoint -q /mnt/zl; then
  e2e local /mnt/zl
  find /mnt/zl -printf '%p %s %m %y\n' | sort > /tmp/local-before
  t local-umount umount /mnt/zl
  t local-remount mount -t zufs-local -o config=$CFG/local.yaml none /mnt/zl
  t local-persist-listing sh -c "[ \"\$(find /mnt/zl -printf '%p %s %m %y\n' | sort)\" = \"\$(cat /tmp/local-before)\" ]"
  t local-persist-data sh -c "cmp /tmp/big /mnt/zl/big && diff -r $SNAP /mnt/zl/tree && [ \"\$(cat /mnt/zl/a)\" = hel ] && [ \"\$(readlink /mnt/zl/sl)\" = d1x/d2 ]"
  t local-umount-2 umount /mnt/zl
else
  echo "zufs-local not mounted; serve log:"; tail -20 $SLOG
fi
t local-bad-config sh -c "! mount -t zufs-local -o config=$CFG/redis.yaml none /mnt/zl 2>/dev/null && ! mountpoint -q /mnt/zl"

# ---- zufs-redis ----
if [ $HAVE_REDIS = 1 ]; then
  note "serve: zufs-redis"
  t redis-mount mount -t zufs-redis -o config=$CFG/redis.yaml none /mnt/zr
  if mountpoint -q /mnt/zr; then
    # `zufs status` (a cold node start: slow under TCG) runs alongside the redis e2e, on the other CPU
    ( s=$(date +%s); node "$CLI" status > /tmp/status.txt 2>&1; note "serve: zufs status took $(( $(date +%s) - s )) s" ) &
    STATUS_PID=$!
    e2e redis /mnt/zr
    t redis-keys-in-store sh -c "[ \$(redis-cli -p $REDIS_PORT --scan --pattern '*vm1*' | wc -l) -gt 0 ]"
    t redis-umount umount /mnt/zr
    t redis-remount-persist sh -c "mount -t zufs-redis -o config=$CFG/redis.yaml none /mnt/zr && cmp /tmp/big /mnt/zr/big && diff -r $SNAP /mnt/zr/tree"
    # zufs status while a mount was live: the zuf transport with per-CPU channels
    wait $STATUS_PID; cat /tmp/status.txt
    t status-zuf-transport grep -q "transport zuf" /tmp/status.txt
    t status-channels sh -c "grep -qE 'channels:.* cpu0=[1-9]' /tmp/status.txt && grep -qE 'channels:.* cpu1=[1-9]' /tmp/status.txt"
    t status-op-names grep -qE 'ops: .*(LOOKUP|READ|WRITE)=[1-9]' /tmp/status.txt
    t status-pid grep -q "^zusd $SERVE_PID " /tmp/status.txt
    t redis-umount-2 umount /mnt/zr
  else
    echo "zufs-redis not mounted; serve log:"; tail -20 $SLOG
  fi
fi
# ---- two gateways on one redis volume: zuf (this kernel, `tiers:` write-back) and a FUSE zusd ----
# What another gateway changes reaches the zuf kernel's dcache (names_gen), attributes (the shared
# zus_inode) and data; a close on zuf makes written bytes reach the store at once (ZUFS_SF_CLOSE),
# so the peer's next open sees them although flush_delay is long.
# wait_for TAG COND: COND (a shell test) turns true within 10 s (the change feed is asynchronous)
wait_for() { t "$1" sh -c "for i in \$(seq 1 100); do $2 && exit 0; sleep 0.1; done; exit 1"; }
if [ $HAVE_REDIS = 1 ]; then
  note "serve: peer gateways"
  modprobe fuse 2> /dev/null
  mkdir -p /mnt/pa /mnt/pb
  for g in a b; do
    cat > $CFG/peer-$g.yaml <<EOF
mounts:
  - name: peer$g
    url: "redis://127.0.0.1:$REDIS_PORT/0?volume=peers"
    mountpoint: /mnt/p$g
    tiers: { t1: /dev/shm/peer-$g.t1, t1_size: 64MiB, writeback: true, flush_delay: 30s }
EOF
  done
  t peer-zuf-mount mount -t zufs-redis -o config=$CFG/peer-a.yaml none /mnt/pa
  t peer-fuse-mount sh -c "timeout 300 node $CLI mount -t fuse -d --log-file /tmp/peer-b.log $CFG/peer-b.yaml && mountpoint -q /mnt/pb"
  if mountpoint -q /mnt/pa && mountpoint -q /mnt/pb; then
    t peer-negative-cached sh -c "[ ! -e /mnt/pa/n1 ] && [ ! -e /mnt/pa/n1 ]"
    echo from-b > /mnt/pb/n1
    wait_for peer-name-created '[ "$(cat /mnt/pa/n1 2>/dev/null)" = from-b ]'
    chmod 0600 /mnt/pb/n1
    wait_for peer-attr-changed '[ "$(stat -c %a /mnt/pa/n1)" = 600 ]'
    mv /mnt/pb/n1 /mnt/pb/n2
    wait_for peer-renamed '[ ! -e /mnt/pa/n1 ] && [ "$(cat /mnt/pa/n2 2>/dev/null)" = from-b ]'
    echo new-from-b > /mnt/pb/n2
    wait_for peer-data-changed '[ "$(cat /mnt/pa/n2)" = new-from-b ]'
    rm /mnt/pb/n2
    wait_for peer-unlinked '[ ! -e /mnt/pa/n2 ]'
    # zuf -> FUSE, close-to-open: no waiting (flush_delay is 30 s: only the close can upload)
    echo old > /mnt/pa/c1
    wait_for peer-zuf-file-seen '[ "$(cat /mnt/pb/c1 2>/dev/null)" = old ]'
    t peer-zuf-close-to-open sh -c 'echo zuf-new > /mnt/pa/c1 && [ "$(cat /mnt/pb/c1)" = zuf-new ]'
    # a program stores through a shared mapping on zuf, msyncs, unmaps and closes: the peer's
    # next open reads the stored bytes from the store
    head -c 8192 /dev/zero > /mnt/pa/m1
    wait_for peer-mmap-file-seen '[ "$(stat -c %s /mnt/pb/m1 2>/dev/null)" = 8192 ]'
    t peer-mmap-close-to-open sh -c "$ROOT/test/vm/.build/zuf-probe mmap-write /mnt/pa/m1 5000 mapped-bytes && [ \"\$(dd if=/mnt/pb/m1 bs=1 skip=5000 count=12 status=none)\" = mapped-bytes ]"
    t peer-fuse-umount umount /mnt/pb
    t peer-zuf-umount umount /mnt/pa
  else
    echo "peer gateways not mounted; logs:"; tail -20 $SLOG; tail -20 /tmp/peer-b.log
  fi
fi

# ---- zufs-mongo, zufs-webdav, zufs-s3: real servers inside the guest (FerretDB, nginx WebDAV,
# MinIO from the host root, started by test/servers/*.sh on the guest's loopback) ----
export ZUFS_SERVERS_DIR=/tmp/zufs-vm-servers
SRV=$ROOT/test/servers
mkdir -p /mnt/zs
# store TAG FS-TYPE CONFIG-LINES...: mount -t FS-TYPE with a one-mount config, e2e_lite, umount
store() {
  local x=$1 fst=$2; shift 2
  { echo "mounts:"; echo "  - name: v$x"; for l in "$@"; do echo "    $l"; done; } > $CFG/$x.yaml
  note "serve: $fst ($x)"
  t $x-mount mount -t $fst -o config=$CFG/$x.yaml none /mnt/zs
  if mountpoint -q /mnt/zs; then
    e2e_lite $x /mnt/zs
    t $x-umount umount /mnt/zs
  else
    echo "$fst not mounted; serve log:"; tail -20 $SLOG
  fi
}
# native TAG FS-TYPE CONFIG-LINES...: a native layout is refused at mount with EOPNOTSUPP and a log
# line naming the mount (it stages files between open and close, which zuf does not carry yet)
native() {
  local x=$1 fst=$2; shift 2
  { echo "mounts:"; echo "  - name: n$x"; echo "    layout: native"; for l in "$@"; do echo "    $l"; done; } > $CFG/n$x.yaml
  t n$x-refused sh -c "! mount -t $fst -o config=$CFG/n$x.yaml none /mnt/zs 2>/tmp/n$x.err && ! mountpoint -q /mnt/zs && grep -q 'n$x: the native layout needs open/close' $SLOG"
}
redis_meta() { echo "meta_url: \"redis://127.0.0.1:$REDIS_PORT/0?volume=meta-$1\""; }

if [ -x /usr/local/bin/ferretdb ] && MONGO=$(bash $SRV/ferretdb.sh start 2>/tmp/ferretdb.err); then
  MONGO=${MONGO%/}
  store mongo zufs-mongo "url: \"$MONGO/zvm\""
  native mongo zufs-mongo "url: \"$MONGO/zvmnative\""
  bash $SRV/ferretdb.sh stop > /dev/null 2>&1
else
  echo "SKIP zufs-mongo: no FerretDB in the host root (test/servers/ferretdb.sh install): $(tail -2 /tmp/ferretdb.err 2>/dev/null)"
fi

if [ $HAVE_REDIS = 1 ] && DAV=$(bash $SRV/webdav.sh start 2>/tmp/webdav.err); then
  DAVU="webdav://${DAV#http://}"
  store dav zufs-webdav "url: \"${DAVU%/}/zvm/\"" "$(redis_meta dav)"
  native dav zufs-webdav "url: \"${DAVU%/}/zvmnative/\""
  bash $SRV/webdav.sh stop > /dev/null 2>&1
else
  echo "SKIP zufs-webdav: $(tail -2 /tmp/webdav.err 2>/dev/null)"
fi

if [ $HAVE_REDIS = 1 ] && [ -x /usr/local/bin/minio ] && S3=$(bash $SRV/s3.sh start 2>/tmp/s3.err); then
  printf '%s' "${ZUFS_S3_SECRET_KEY:-zufstestsecret}" > $CFG/s3.secret; chmod 600 $CFG/s3.secret
  S3KEYS=("endpoint: \"$S3\"" "region: us-east-1" "access_key_id: ${ZUFS_S3_ACCESS_KEY:-zufstest}" "password_file: $CFG/s3.secret")
  store s3 zufs-s3 "url: \"s3://zufs-test/zvm/\"" "${S3KEYS[@]}" "$(redis_meta s3)"
  native s3 zufs-s3 "url: \"s3://zufs-test/zvmnative/\"" "${S3KEYS[@]}"
  bash $SRV/s3.sh stop > /dev/null 2>&1
else
  echo "SKIP zufs-s3: no MinIO in the host root (test/servers/s3.sh install) or no redis: $(tail -2 /tmp/s3.err 2>/dev/null)"
fi

t no-zufs-mounts-left sh -c "! grep -q ' zufs-' /proc/mounts"

# ---- stop: SIGTERM -> BREAK_ALL -> the daemon exits ----
note "serve: stopping"
kill -TERM "$SERVE_PID"
for _ in $(seq 1 300); do alive "$SERVE_PID" || break; sleep 0.2; done
if alive "$SERVE_PID"; then bad serve-sigterm-exit "zusd $SERVE_PID still running 60 s after SIGTERM"; kill -9 "$SERVE_PID"; sleep 1
else ok serve-sigterm-exit; fi
t serve-log-break-all grep -q "BREAK_ALL and exit" $SLOG
t serve-log-stopped grep -q "zusd (zuf) stopped" $SLOG
t no-control-socket sh -c "! ls /run/zufs/zusd.$SERVE_PID.sock 2>/dev/null"
t umount-zuf-root umount /sys/fs/zuf
[ -f /tmp/redis.pid ] && kill "$(cat /tmp/redis.pid)" 2>/dev/null
echo "---- zusd (serve) log: mounts ----"; grep -E 'mounted|refused|BREAK_ALL|stopped' $SLOG | cut -c1-240
echo "SUMMARY serve: $PASS passed, $FAIL failed${FAILED:+ (failed:$FAILED)}"
[ $FAIL = 0 ]
