#!/usr/bin/env bash
# A throwaway PostgreSQL server for tests, in a directory of its own, on
# 127.0.0.1 and a free port, with trust authentication (loopback only).
# Runs as the unprivileged `postgres` user when called as root (initdb
# refuses root), else as the caller.
#
#   pg_server.sh start DIR     initdb (first time) + start; prints the DSN
#   pg_server.sh stop DIR      fast shutdown (connections are cut)
#   pg_server.sh restart DIR   start again on the same port and data
#   pg_server.sh destroy DIR   stop and remove DIR
#
# The DSN is postgresql://gantry@127.0.0.1:PORT/gantry (superuser gantry).
# fsync is off: the tests stop the server cleanly, never pull its power.
# As root, every folder above DIR must be reachable by the postgres user
# (e.g. DIR made by mktemp -d directly under /tmp).
set -euo pipefail
cmd=${1:?usage: pg_server.sh start|stop|restart|destroy DIR}
dir=${2:?usage: pg_server.sh start|stop|restart|destroy DIR}
bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1 || true)
if [[ -z "$bin" || ! -x "$bin/initdb" ]]; then
  echo "pg_server.sh: PostgreSQL is not installed (deploy/install-deps.sh installs it)" >&2
  exit 1
fi
as_pg() {
  if [[ $(id -u) -eq 0 ]]; then runuser -u postgres -- "$@"; else "$@"; fi
}
start() {
  local port
  port=$(cat "$dir/port")
  as_pg "$bin/pg_ctl" -D "$dir/data" -l "$dir/log" -w -t 60 \
    -o "-p $port -k $dir -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200" \
    start >/dev/null
}
case "$cmd" in
  start)
    mkdir -p "$dir"
    if [[ $(id -u) -eq 0 ]]; then chown postgres: "$dir"; fi
    chmod 700 "$dir"
    if [[ ! -f "$dir/port" ]]; then
      /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])' >"$dir/port.tmp"
      mv "$dir/port.tmp" "$dir/port"
      as_pg "$bin/initdb" -D "$dir/data" -U gantry --auth=trust -E UTF8 --no-sync >"$dir/initdb.log" 2>&1 \
        || { cat "$dir/initdb.log" >&2; exit 1; }
      start
      as_pg "$bin/createdb" -h 127.0.0.1 -p "$(cat "$dir/port")" -U gantry gantry
    else
      start
    fi
    echo "postgresql://gantry@127.0.0.1:$(cat "$dir/port")/gantry"
    ;;
  stop) as_pg "$bin/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null ;;
  restart) start ;;
  destroy)
    as_pg "$bin/pg_ctl" -D "$dir/data" -m immediate -w stop >/dev/null 2>&1 || true
    rm -rf "$dir"
    ;;
  *) echo "pg_server.sh: unknown command $cmd" >&2; exit 2 ;;
esac
