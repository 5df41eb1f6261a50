#!/usr/bin/env bash
# S3 test server: MinIO built with `go install` from the Go module proxy at a pinned commit
# (MinIO publishes no semver tags, so the proxy serves it as a pseudo-version), single drive.
#   s3.sh install            go install into $BIN (skipped if that exact build is present)
#   s3.sh start              prints the endpoint URL (http://127.0.0.1:PORT) on stdout; the bucket
#                            `zufs-test` exists; credentials are ZUFS_S3_ACCESS_KEY/ZUFS_S3_SECRET_KEY
#   s3.sh stop               stops only the minio this script started, removes its data
#                            (ZUFS_KEEP_DATA=1 keeps it for the next start)
# Env: ZUFS_S3_PORT (default 19000), ZUFS_SERVERS_DIR (default /tmp/zufs-servers),
#      ZUFS_SERVERS_BIN (default /usr/local/bin).
set -euo pipefail
. "$(dirname "$0")/lib.sh"

VERSION=v0.0.0-20260212201848-7aac2a2c5b7c
PORT="${ZUFS_S3_PORT:-19000}"
DIR="${ZUFS_SERVERS_DIR:-/tmp/zufs-servers}/s3-$PORT"
BIN="${ZUFS_SERVERS_BIN:-/usr/local/bin}"
EXE="$BIN/minio"
# Fixed test credentials: this server only ever listens on loopback and holds throwaway data.
ACCESS_KEY="${ZUFS_S3_ACCESS_KEY:-zufstest}"
SECRET_KEY="${ZUFS_S3_SECRET_KEY:-zufstestsecret}"
BUCKET=zufs-test

install() {
  if [ -x "$EXE" ] && go version -m "$EXE" 2>/dev/null | grep "mod[[:space:]]*github.com/minio/minio[[:space:]]*$VERSION" > /dev/null; then
    echo "s3: minio $VERSION already installed at $EXE" >&2
    return
  fi
  command -v go >/dev/null || { echo "s3: go is required to build MinIO" >&2; exit 1; }
  mkdir -p "$BIN"
  GOBIN="$BIN" GOTOOLCHAIN=local go install "github.com/minio/minio@$VERSION"
  echo "s3: installed minio $VERSION at $EXE" >&2
}

start() {
  if [ -f "$DIR/minio.pid" ] && kill -0 "$(cat "$DIR/minio.pid")" 2>/dev/null; then
    echo "http://127.0.0.1:$PORT"
    return
  fi
  [ -x "$EXE" ] || { echo "s3: minio not installed; run $0 install" >&2; exit 1; }
  mkdir -p "$DIR/data/$BUCKET" "$DIR/config"
  # A directory made before the first start is adopted as a bucket, so no client is needed here.
  MINIO_ROOT_USER="$ACCESS_KEY" MINIO_ROOT_PASSWORD="$SECRET_KEY" \
  MINIO_BROWSER=off MINIO_UPDATE=off MINIO_CALLHOME_ENABLE=off \
    nohup "$EXE" server "$DIR/data" --config-dir "$DIR/config" --address "127.0.0.1:$PORT" --quiet \
      >"$DIR/minio.log" 2>&1 </dev/null &
  echo $! >"$DIR/minio.pid"
  for _ in $(seq 200); do
    # health/ready answers 200 before the object layer is up; an anonymous request on the bucket
    # answers 503 until it is, then 403.
    code="$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PORT/$BUCKET/" || true)"
    if [ "$code" = 403 ] || [ "$code" = 200 ]; then
      echo "http://127.0.0.1:$PORT"
      return
    fi
    kill -0 "$(cat "$DIR/minio.pid")" 2>/dev/null || break
    sleep 0.1
  done
  echo "s3: minio did not become ready on $PORT; log follows" >&2
  cat "$DIR/minio.log" >&2 || true
  exit 1
}

stop() {
  stop_pid "$DIR/minio.pid" TERM 100
  # ZUFS_KEEP_DATA=1: a later start on the same port and ZUFS_SERVERS_DIR serves the same data
  # (outage tests stop a server under a mount and start it again).
  [ "${ZUFS_KEEP_DATA:-}" = 1 ] || rm -rf "$DIR"
}

case "${1:-}" in
  install) install ;;
  start) start ;;
  stop) stop ;;
  *) echo "usage: $0 install|start|stop" >&2; exit 2 ;;
esac
