#!/usr/bin/env bash
# Starts (or stops) the Redis engine's test servers on 127.0.0.1: two throwaway redis-servers
# (A: no password, B: requirepass) and HTTP, FTP and S3-compatible (moto) endpoints serving one
# directory, HTTPS (a throwaway CA's certificate for 127.0.0.1 and localhost, plus one issued for
# another name), S3 behind a TLS proxy and a TLS redis-server, then writes
# $FERRY_TEST_RUNTIME/redis-servers.env for the tests (SSL_CERT_FILE names the throwaway CA).
# Ports are FERRY_TEST_REDIS_PORT_BASE (default 63791) + 0..9.
# A server that fails to start is reported with the last lines of its log.
# Usage: scripts/redis-servers.sh start|stop|status
#        scripts/redis-servers.sh start-extra NAME PORT | kill-extra NAME
# start-extra starts one more throwaway redis-server (no password, nothing persisted, data in
# redis/extra-NAME) and prints its URL; a test that restarts a server (kill-extra: SIGKILL, then
# start-extra again: an empty server with a new run_id) uses it so that A and B stay up.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/lib/server-home.sh
source scripts/lib/server-home.sh
RT="${FERRY_TEST_RUNTIME:-$PWD/.build-test-servers}"
RUN="$RT/redis"
SERVE="$RUN/serve"
ENV_FILE="$RT/redis-servers.env"
BASE="${FERRY_TEST_REDIS_PORT_BASE:-63791}"
case "$BASE" in ''|*[!0-9]*) echo "redis-servers.sh: port base '$BASE' is not a number" >&2; exit 2 ;; esac
if [ "$BASE" -lt 1024 ] || [ $((BASE + 9)) -gt 65535 ]; then
  # The servers take ports BASE..BASE+9; a port past 65535 failed deep in a server's start.
  echo "redis-servers.sh: port base $BASE gives ports $BASE..$((BASE + 9)); they must lie in 1024..65535 (set FERRY_TEST_REDIS_PORT_BASE lower)" >&2
  exit 2
fi
PORT_A=$BASE PORT_B=$((BASE + 1)) PORT_HTTP=$((BASE + 2)) PORT_FTP=$((BASE + 3)) PORT_S3=$((BASE + 4))
PORT_HTTPS=$((BASE + 5)) PORT_S3_TLS=$((BASE + 6)) PORT_REDIS_TLS=$((BASE + 7)) PORT_HTTPS_WRONG=$((BASE + 8))
PORT_HTTPS_UNTRUSTED=$((BASE + 9))
TLS="$RUN/tls"
NAMES="redis-a redis-b redis-tls http https https-wrong https-untrusted ftp s3 s3-tls"
PASSWORD_B="ferry-test-b"   # a throwaway password for a loopback-only test server
FTP_USER=ferry FTP_PASSWORD="ferry-ftp"
S3_BUCKET=ferry-test

install_missing() {
  local need=()
  command -v redis-server >/dev/null || need+=(redis-server)
  command -v redis-cli >/dev/null || need+=(redis-tools)
  command -v openssl >/dev/null || need+=(openssl)
  if [ ${#need[@]} -gt 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}"
  fi
  python_tools
}

# The Python that runs the FTP server, and moto's S3 server: python3 and moto_server when python3
# has pyftpdlib and moto_server is on PATH; otherwise a virtual environment under $RT/python with
# both from PyPI, made once (Debian's own python3 refuses `pip install` outside one, and Debian 12
# has no python3-moto). FERRY_TEST_PYTHON_VENV=1 uses the virtual environment in any case.
PYTHON=python3 MOTO=moto_server
python_tools() {
  if [ -z "${FERRY_TEST_PYTHON_VENV:-}" ] && python3 -c 'import pyftpdlib' 2>/dev/null \
     && command -v moto_server >/dev/null; then
    return 0
  fi
  local venv="$RT/python"
  if [ ! -x "$venv/bin/moto_server" ] || ! "$venv/bin/python3" -c 'import pyftpdlib' 2>/dev/null; then
    echo "installing pyftpdlib and moto[server] from PyPI into $venv"
    mkdir -p "$RT"
    python3 -m venv "$venv" >"$RT/python-venv.log" 2>&1 \
      || fail_with_log "python3 -m venv $venv failed (Debian: apt-get install python3-venv)" "$RT/python-venv.log"
    "$venv/bin/python3" -m pip install -q pyftpdlib==2.2.0 'moto[server]==5.2.5' >>"$RT/python-venv.log" 2>&1 \
      || fail_with_log "pip install pyftpdlib==2.2.0 'moto[server]==5.2.5' failed" "$RT/python-venv.log"
  fi
  PYTHON="$venv/bin/python3" MOTO="$venv/bin/moto_server"
}

alive() { [ -f "$RUN/$1.pid" ] && kill -0 "$(cat "$RUN/$1.pid")" 2>/dev/null; }

wait_port() {
  for _ in $(seq 1 100); do
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
    sleep 0.1
  done
  return 1
}

start_redis() { # name port [password]
  local name=$1 port=$2 pass=${3:-}
  alive "$name" && return 0
  mkdir -p "$RUN/$name"
  local args=(--port "$port" --bind 127.0.0.1 --save "" --appendonly no --dir "$RUN/$name"
              --daemonize yes --repl-diskless-sync-delay 0 --pidfile "$RUN/$name.pid" --logfile "$RUN/$name.log" --databases 16)
  [ -n "$pass" ] && args+=(--requirepass "$pass")
  redis-server "${args[@]}" >>"$RUN/$name.log" 2>&1 || fail_with_log "redis $name did not start" "$RUN/$name.log"
  wait_port "$port" || fail_with_log "redis $name did not open port $port" "$RUN/$name.log"
}

# A throwaway CA, a server certificate for 127.0.0.1 and localhost, one for another name, and a
# self-signed one for 127.0.0.1 that no trusted CA issued.
make_certs() { # each file only when missing: running servers keep the CA they were started with
  mkdir -p "$TLS"
  if [ ! -f "$TLS/ca.crt" ]; then
    rm -f "$TLS/server.crt" "$TLS/wrong.crt"   # certificates of a former CA
    openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=Ferry test CA" \
      -keyout "$TLS/ca.key" -out "$TLS/ca.crt" 2>/dev/null
  fi
  local name san
  for name in server wrong; do
    [ -f "$TLS/$name.crt" ] && continue
    if [ "$name" = server ]; then san="subjectAltName=IP:127.0.0.1,DNS:localhost"; else san="subjectAltName=DNS:wrong.invalid"; fi
    openssl req -newkey rsa:2048 -nodes -subj "/CN=$name" -keyout "$TLS/$name.key" -out "$TLS/$name.csr" 2>/dev/null
    openssl x509 -req -in "$TLS/$name.csr" -CA "$TLS/ca.crt" -CAkey "$TLS/ca.key" -CAcreateserial -days 3650 \
      -extfile <(printf '%s\n' "$san") -out "$TLS/$name.crt" 2>/dev/null
  done
  [ -f "$TLS/untrusted.crt" ] || openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=untrusted" \
    -addext "subjectAltName=IP:127.0.0.1" -keyout "$TLS/untrusted.key" -out "$TLS/untrusted.crt" 2>/dev/null
  chmod 600 "$TLS"/*.key
}

start_redis_tls() { # name port
  local name=$1 port=$2
  alive "$name" && return 0
  mkdir -p "$RUN/$name"
  redis-server --port 0 --tls-port "$port" --bind 127.0.0.1 --save "" --appendonly no --dir "$RUN/$name" \
    --tls-cert-file "$TLS/server.crt" --tls-key-file "$TLS/server.key" --tls-ca-cert-file "$TLS/ca.crt" \
    --tls-auth-clients no --repl-diskless-sync-delay 0 --daemonize yes --pidfile "$RUN/$name.pid" --logfile "$RUN/$name.log" --databases 16 \
    || { echo "this redis-server has no TLS support; rediss tests will fail" >&2; return 0; }
  wait_port "$port" || fail_with_log "redis $name did not open port $port" "$RUN/$name.log"
}

start_bg() { # name port command...
  local name=$1 port=$2; shift 2
  alive "$name" && return 0
  nohup "$@" >"$RUN/$name.log" 2>&1 &
  echo $! >"$RUN/$name.pid"
  wait_port "$port" || fail_with_log "$name did not open port $port" "$RUN/$name.log"
}

start() {
  install_missing
  mkdir -p "$SERVE"
  start_redis redis-a "$PORT_A"
  start_redis redis-b "$PORT_B" "$PASSWORD_B"
  start_bg http "$PORT_HTTP" python3 -m http.server "$PORT_HTTP" --bind 127.0.0.1 --directory "$SERVE"
  start_bg ftp "$PORT_FTP" "$PYTHON" "$PWD/scripts/redis/ftp_server.py" "$PORT_FTP" "$SERVE" "$FTP_USER" "$FTP_PASSWORD"
  start_bg s3 "$PORT_S3" "$MOTO" -H 127.0.0.1 -p "$PORT_S3"
  make_certs
  start_redis_tls redis-tls "$PORT_REDIS_TLS"
  start_bg https "$PORT_HTTPS" python3 "$PWD/scripts/redis/https_server.py" "$PORT_HTTPS" "$SERVE" "$TLS/server.crt" "$TLS/server.key"
  start_bg https-wrong "$PORT_HTTPS_WRONG" python3 "$PWD/scripts/redis/https_server.py" "$PORT_HTTPS_WRONG" "$SERVE" "$TLS/wrong.crt" "$TLS/wrong.key"
  start_bg https-untrusted "$PORT_HTTPS_UNTRUSTED" python3 "$PWD/scripts/redis/https_server.py" "$PORT_HTTPS_UNTRUSTED" "$SERVE" "$TLS/untrusted.crt" "$TLS/untrusted.key"
  start_bg s3-tls "$PORT_S3_TLS" python3 "$PWD/scripts/redis/tls_proxy.py" "$PORT_S3_TLS" "$PORT_S3" "$TLS/server.crt" "$TLS/server.key"
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
export FERRY_TEST_HTTPS=https://127.0.0.1:$PORT_HTTPS
export FERRY_TEST_HTTPS_LOCALHOST=https://localhost:$PORT_HTTPS
export FERRY_TEST_HTTPS_WRONG_NAME=https://127.0.0.1:$PORT_HTTPS_WRONG
export FERRY_TEST_HTTPS_UNTRUSTED=https://127.0.0.1:$PORT_HTTPS_UNTRUSTED
export FERRY_TEST_S3_TLS_ENDPOINT=https://127.0.0.1:$PORT_S3_TLS
export FERRY_TEST_REDIS_TLS=rediss://127.0.0.1:$PORT_REDIS_TLS
export SSL_CERT_FILE=$TLS/ca.crt
ENV
  echo "redis test servers running; variables in $ENV_FILE"
}

stop() {
  for name in $NAMES; do
    if alive "$name"; then kill "$(cat "$RUN/$name.pid")" 2>/dev/null || true; fi
    rm -f "$RUN/$name.pid"
  done
}

status() {
  for name in $NAMES; do
    if alive "$name"; then echo "$name: running"; else echo "$name: stopped"; fi
  done
}

start_extra() { # name port
  local name="extra-$1"
  install_missing
  start_redis "$name" "$2"
  echo "redis://127.0.0.1:$2"
}

kill_extra() { # name
  local name="extra-$1"
  if alive "$name"; then kill -9 "$(cat "$RUN/$name.pid")" 2>/dev/null || true; fi
  rm -f "$RUN/$name.pid"
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) status ;;
  start-extra) start_extra "${2:?name}" "${3:?port}" ;;
  kill-extra) kill_extra "${2:?name}" ;;
  *) echo "usage: $0 start|stop|status|start-extra NAME PORT|kill-extra NAME" >&2; exit 2 ;;
esac
