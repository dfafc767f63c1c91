#!/usr/bin/env bash
# Starts (or stops) the Redis engine's test servers on 127.0.0.1: two throwaway redis-servers
# (A: no password, B: requirepass) and HTTP, FTP and S3-compatible (moto) endpoints serving one
# directory, then writes $FERRY_TEST_RUNTIME/redis-servers.env for the tests.
# Usage: scripts/redis-servers.sh start|stop|status
set -euo pipefail
cd "$(dirname "$0")/.."
RT="${FERRY_TEST_RUNTIME:-$PWD/.build-test-servers}"
RUN="$RT/redis"
SERVE="$RUN/serve"
ENV_FILE="$RT/redis-servers.env"
PORT_A=63791 PORT_B=63792 PORT_HTTP=63793 PORT_FTP=63794 PORT_S3=63795
PASSWORD_B="ferry-test-b"   # a throwaway password for a loopback-only test server
FTP_USER=ferry FTP_PASSWORD="ferry-ftp"
S3_BUCKET=ferry-test

install_missing() {
  local need=()
  command -v redis-server >/dev/null || need+=(redis-server)
  command -v redis-cli >/dev/null || need+=(redis-tools)
  if [ ${#need[@]} -gt 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}"
  fi
  python3 -c 'import pyftpdlib' 2>/dev/null || python3 -m pip install -q pyftpdlib
  command -v moto_server >/dev/null || python3 -m pip install -q 'moto[server]'
}

alive() { [ -f "$RUN/$1.pid" ] && kill -0 "$(cat "$RUN/$1.pid")" 2>/dev/null; }

wait_port() {
  for _ in $(seq 1 100); do
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
    sleep 0.1
  done
  echo "port $1 did not open" >&2; return 1
}

start_redis() { # name port [password]
  local name=$1 port=$2 pass=${3:-}
  alive "$name" && return 0
  mkdir -p "$RUN/$name"
  local args=(--port "$port" --bind 127.0.0.1 --save "" --appendonly no --dir "$RUN/$name"
              --daemonize yes --repl-diskless-sync-delay 0 --pidfile "$RUN/$name.pid" --logfile "$RUN/$name.log" --databases 16)
  [ -n "$pass" ] && args+=(--requirepass "$pass")
  redis-server "${args[@]}"
  wait_port "$port"
}

start_bg() { # name port command...
  local name=$1 port=$2; shift 2
  alive "$name" && return 0
  nohup "$@" >"$RUN/$name.log" 2>&1 &
  echo $! >"$RUN/$name.pid"
  wait_port "$port"
}

start() {
  install_missing
  mkdir -p "$SERVE"
  start_redis redis-a "$PORT_A"
  start_redis redis-b "$PORT_B" "$PASSWORD_B"
  start_bg http "$PORT_HTTP" python3 -m http.server "$PORT_HTTP" --bind 127.0.0.1 --directory "$SERVE"
  start_bg ftp "$PORT_FTP" python3 "$PWD/scripts/redis/ftp_server.py" "$PORT_FTP" "$SERVE" "$FTP_USER" "$FTP_PASSWORD"
  start_bg s3 "$PORT_S3" moto_server -H 127.0.0.1 -p "$PORT_S3"
  cat >"$ENV_FILE" <<ENV
export FERRY_TEST_REDIS_A=redis://127.0.0.1:$PORT_A
export FERRY_TEST_REDIS_B=redis://127.0.0.1:$PORT_B
export FERRY_TEST_REDIS_B_PASSWORD=$PASSWORD_B
export FERRY_TEST_SERVE_DIR=$SERVE
export FERRY_TEST_HTTP=http://127.0.0.1:$PORT_HTTP
export FERRY_TEST_FTP=ftp://127.0.0.1:$PORT_FTP
export FERRY_TEST_FTP_USER=$FTP_USER
export FERRY_TEST_FTP_PASSWORD=$FTP_PASSWORD
export FERRY_TEST_S3_ENDPOINT=http://127.0.0.1:$PORT_S3
export FERRY_TEST_S3_BUCKET=$S3_BUCKET
ENV
  echo "redis test servers running; variables in $ENV_FILE"
}

stop() {
  for name in redis-a redis-b http ftp s3; do
    if alive "$name"; then kill "$(cat "$RUN/$name.pid")" 2>/dev/null || true; fi
    rm -f "$RUN/$name.pid"
  done
}

status() {
  for name in redis-a redis-b http ftp s3; do
    if alive "$name"; then echo "$name: running"; else echo "$name: stopped"; fi
  done
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) status ;;
  *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
