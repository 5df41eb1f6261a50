#!/usr/bin/env bash
# WebDAV test server: Debian's nginx with the dav and dav_ext modules, configured in a private
# directory so it never touches /etc/nginx or a system nginx.
#   webdav.sh install        apt-get install nginx-light + dav_ext module (skipped if present)
#   webdav.sh start          prints the URL (http://127.0.0.1:PORT/) on stdout
#   webdav.sh stop           stops only the nginx this script started, removes its data
#                            (ZUFS_KEEP_DATA=1 keeps it for the next start)
# Env: ZUFS_WEBDAV_PORT (default 18180), ZUFS_SERVERS_DIR (default /tmp/zufs-servers).
set -euo pipefail
. "$(dirname "$0")/lib.sh"

PORT="${ZUFS_WEBDAV_PORT:-18180}"
DIR="${ZUFS_SERVERS_DIR:-/tmp/zufs-servers}/webdav-$PORT"
MODULE=/usr/lib/nginx/modules/ngx_http_dav_ext_module.so

install() {
  if command -v nginx >/dev/null && [ -f "$MODULE" ]; then
    echo "webdav: nginx $(nginx -v 2>&1 | sed 's/.*nginx\///') with dav_ext already installed" >&2
    return
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends nginx-light libnginx-mod-http-dav-ext >/dev/null
  # Debian starts the packaged nginx on port 80; the tests never use it.
  if command -v systemctl >/dev/null; then systemctl disable --now nginx >/dev/null 2>&1 || true; fi
}

start() {
  if [ -f "$DIR/nginx.pid" ] && kill -0 "$(cat "$DIR/nginx.pid")" 2>/dev/null; then
    echo "http://127.0.0.1:$PORT/"
    return
  fi
  mkdir -p "$DIR/data" "$DIR/tmp"
  cat >"$DIR/nginx.conf" <<CONF
load_module $MODULE;
daemon on;
user root;
worker_processes 1;
pid $DIR/nginx.pid;
error_log $DIR/error.log warn;
events { worker_connections 256; }
http {
  access_log off;
  client_body_temp_path $DIR/tmp/body;
  proxy_temp_path $DIR/tmp/proxy;
  fastcgi_temp_path $DIR/tmp/fastcgi;
  uwsgi_temp_path $DIR/tmp/uwsgi;
  scgi_temp_path $DIR/tmp/scgi;
  server {
    listen 127.0.0.1:$PORT;
    root $DIR/data;
    client_max_body_size 0;
    client_body_buffer_size 1m;
    dav_methods PUT DELETE MKCOL COPY MOVE;
    dav_ext_methods PROPFIND OPTIONS;
    dav_access user:rw group:rw all:r;
    create_full_put_path on;
    autoindex on;
    log_not_found off;
  }
}
CONF
  nginx -c "$DIR/nginx.conf" -p "$DIR" -e "$DIR/error.log"
  for _ in $(seq 50); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; then
      echo "http://127.0.0.1:$PORT/"
      return
    fi
    sleep 0.1
  done
  echo "webdav: nginx did not listen on $PORT; see $DIR/error.log" >&2
  cat "$DIR/error.log" >&2 || true
  exit 1
}

stop() {
  stop_pid "$DIR/nginx.pid" QUIT 50
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
