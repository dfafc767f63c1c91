#!/usr/bin/env bash
# Two throwaway PostgreSQL clusters on 127.0.0.1 for Ferry's PostgreSQL tests and benchmarks.
# Usage: scripts/postgres-servers.sh start|stop|status|clean   (clean: stop and remove all data)
#        scripts/postgres-servers.sh start-extra NAME PORT [--tls] [--max-connections N] [--newer] | kill-extra NAME | stop-extra NAME
#   a further throwaway cluster `postgres-NAME` (same roles and password) for the tests that kill
#   a server: kill-extra SIGKILLs its postmaster and every backend at once (a crash; its next
#   start-extra recovers from its WAL). With --tls it serves TLS (`ssl=on`) with a server
#   certificate for DNS:localhost only (not IP:127.0.0.1, so that `sslmode=verify-full` to
#   127.0.0.1 is a name mismatch) signed by a test CA made once per cluster with openssl; it
#   prints `tls ca: PATH` (that CA) and `tls other ca: PATH` (a second CA that signed nothing).
#   With --max-connections N the server takes N connections in all, none reserved (a cap the
#   server itself enforces: "sorry, too many clients already").
#   With --newer it runs PostgreSQL 16.2, newer than Debian 12's 15, from the `pgserver` wheel
#   on PyPI (its bundled server and client programs, installed once into a venv beside the
#   clusters' data), and prints `bin: PATH` (its bin directory: pg_dump 16 for FERRY_PG_BIN):
#   the cross-version tests (issue 19: an older target, a client older than the server).
# Ports: FERRY_TEST_PG_PORT_A / FERRY_TEST_PG_PORT_B (default 25432 / 25433: below Linux's
# ephemeral port range, as the MariaDB test servers are).
# The clusters run as the `postgres` user when we are root (initdb refuses root), else as us.
# Data lives under $FERRY_TEST_RUNTIME/postgres-a and postgres-b (default ./.build-test-servers),
# or, when `postgres` cannot enter that directory (a checkout in a 0700 directory such as /root),
# under /var/tmp/ferry-test-servers-HASH, linked from $FERRY_TEST_RUNTIME/postgres-data.
# TCP connections authenticate with SCRAM-SHA-256 passwords; the cluster's own Unix socket (in its
# 0700 directory) trusts its owner, for this script only.
# Roles: `ferry` (superuser, what the tests connect as) and `ferry_plain` (LOGIN CREATEDB, no
# superuser: the non-superuser tests), one password for both.
# `start` writes $FERRY_TEST_RUNTIME/postgres-servers.env with FERRY_TEST_PG_A/B (URLs without
# password), FERRY_TEST_PG_PASSWORD, FERRY_TEST_PG_PLAIN_USER and FERRY_TEST_PG_BIN (the server's
# bin directory: pg_ctl, psql). Idempotent: a running cluster is left alone. A cluster that fails
# to start is reported with the last lines of its log.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNTIME="${FERRY_TEST_RUNTIME:-$PWD/.build-test-servers}"
mkdir -p "$RUNTIME"
RUNTIME="$(cd "$RUNTIME" && pwd)"
# shellcheck source=scripts/lib/server-home.sh
source scripts/lib/server-home.sh
PORT_A="${FERRY_TEST_PG_PORT_A:-25432}"
PORT_B="${FERRY_TEST_PG_PORT_B:-25433}"
USER_NAME=ferry
PLAIN_USER=ferry_plain
PASSWORD_FILE="$RUNTIME/postgres-password"

# The newest server's bin directory (Debian keeps them per major version).
pg_bin() { ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1; }

install_if_missing() {
  local bin; bin=$(pg_bin)
  if [ -z "$bin" ] || [ ! -x "$bin/initdb" ] || ! command -v psql >/dev/null || ! command -v pg_dump >/dev/null \
     || ! command -v pg_restore >/dev/null || [ ! -e /usr/include/postgresql/libpq-fe.h ]; then
    apt-get update
    DEBIAN_FRONTEND=noninteractive apt-get install -y postgresql postgresql-client libpq-dev
  fi
}

password() {
  if [ ! -s "$PASSWORD_FILE" ]; then
    (umask 077; head -c 18 /dev/urandom | base64 | tr -d '/+=' > "$PASSWORD_FILE")
  fi
  cat "$PASSWORD_FILE"
}

server_dir() { echo "$PG_HOME/postgres-$1"; }

# PostgreSQL 16.2 from PyPI's `pgserver` wheel (manylinux; server, libraries and client
# programs in one tree), in a venv the clusters' owner can read; its bin directory on stdout.
NEWER_WHEEL='pgserver==0.1.4'
newer_bin() {
  local venv="$PG_HOME/pg-newer-venv"
  local bin="$venv/lib/python3*/site-packages/pgserver/pginstall/bin"
  # shellcheck disable=SC2086
  if ! ls -d $bin >/dev/null 2>&1 || [ ! -x "$(ls -d $bin)/initdb" ]; then
    rm -rf "$venv"
    { python3 -m venv "$venv" && "$venv/bin/python3" -m pip install -q --no-deps "$NEWER_WHEEL"; } >"$PG_HOME/pg-newer-venv.log" 2>&1 \
      || fail_with_log "postgres: cannot install $NEWER_WHEEL from PyPI into $venv" "$PG_HOME/pg-newer-venv.log"
    chmod -R a+rX "$venv"
  fi
  # shellcheck disable=SC2086
  ls -d $bin
}

# Runs a command as the clusters' owner.
as_owner() {
  if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

# psql on the cluster's own socket, as its bootstrap superuser.
local_psql() { # name, psql args...
  local dir; dir=$(server_dir "$1"); shift
  as_owner "$BIN/psql" -X -q -v ON_ERROR_STOP=1 -h "$dir/run" -p "$PORT" -U postgres -d postgres "$@"
}

is_up() { # name port
  local dir; dir=$(server_dir "$1")
  [ -d "$dir/run" ] && as_owner "$BIN/pg_isready" -q -h "$dir/run" -p "$2" >/dev/null 2>&1
}

# A test CA and a server certificate for DNS:localhost in $dir/tls (once), the key the cluster
# owner's alone (PostgreSQL refuses a key others can read), and a second CA that signed nothing.
make_tls() { # dir
  local tls="$1/tls"
  [ -s "$tls/server.crt" ] && [ -s "$tls/other-ca.crt" ] && return 0
  command -v openssl >/dev/null || { apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y openssl; }
  mkdir -p "$tls"
  (
    cd "$tls" || exit 1
    openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=Ferry test CA" -keyout ca.key -out ca.crt
    openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=Ferry other CA" -keyout other-ca.key -out other-ca.crt
    openssl req -newkey rsa:2048 -nodes -subj "/CN=localhost" -keyout server.key -out server.csr
    printf 'subjectAltName=DNS:localhost\n' > server.ext
    openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 3650 -extfile server.ext -out server.crt
  ) >"$1/tls.log" 2>&1 || fail_with_log "postgres: cannot make the test certificates in $tls" "$1/tls.log"
  chmod 0600 "$tls"/*.key
  chmod 0644 "$tls"/*.crt
  if [ "$(id -u)" -eq 0 ]; then chown -R postgres:postgres "$tls"; fi
  chmod 0755 "$tls"
}

start_one() { # name port [--tls] [--max-connections N]
  local name=$1 port=$2 dir; dir=$(server_dir "$1")
  local extra_options="" max_connections=100
  PORT=$port
  shift 2
  while [ $# -gt 0 ]; do
    case "$1" in
      --tls)
        make_tls "$dir"
        extra_options="$extra_options -c ssl=on -c ssl_cert_file=$dir/tls/server.crt -c ssl_key_file=$dir/tls/server.key" ;;
      --max-connections)
        max_connections=$2; shift
        extra_options="$extra_options -c superuser_reserved_connections=0" ;;
      --newer)
        BIN=$(newer_bin) ;;
      *) echo "unknown option $1" >&2; exit 2 ;;
    esac
    shift
  done
  if ! is_up "$name" "$port"; then
    mkdir -p "$dir"
    if [ "$(id -u)" -eq 0 ]; then chown postgres:postgres "$dir"; fi
    chmod 0700 "$dir"
    if [ ! -f "$dir/data/PG_VERSION" ]; then
      as_owner rm -rf "$dir/data"
      as_owner "$BIN/initdb" -D "$dir/data" -U postgres --auth-local=trust --auth-host=scram-sha-256 \
        --encoding=UTF8 --locale=C.UTF-8 >"$dir/initdb.log" 2>&1 \
        || fail_with_log "postgres $name: initdb failed in $dir/data" "$dir/initdb.log"
    fi
    as_owner mkdir -p "$dir/run"
    # Small buffers: the machine has 2 cores and other work runs beside the servers. No fsync:
    # the clusters are thrown away; a killed server still recovers from its WAL.
    as_owner "$BIN/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 start -o \
      "-c port=$port -c listen_addresses=127.0.0.1 -c unix_socket_directories=$dir/run -c unix_socket_permissions=0700 -c shared_buffers=128MB -c max_connections=$max_connections -c fsync=off -c full_page_writes=off -c synchronous_commit=off -c max_wal_size=1GB -c password_encryption=scram-sha-256$extra_options" \
      >/dev/null 2>&1 || fail_with_log "postgres $name did not start on port $port" "$dir/server.log"
  fi
  local pw; pw=$(password)
  local_psql "$name" <<SQL
SELECT format('CREATE ROLE %I', '$USER_NAME') WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '$USER_NAME') \gexec
SELECT format('CREATE ROLE %I', '$PLAIN_USER') WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '$PLAIN_USER') \gexec
ALTER ROLE $USER_NAME LOGIN SUPERUSER PASSWORD '$pw';
ALTER ROLE $PLAIN_USER LOGIN CREATEDB NOSUPERUSER PASSWORD '$pw';
SQL
}

stop_one() { # name
  local dir; dir=$(server_dir "$1")
  [ -f "$dir/data/postmaster.pid" ] || return 0
  as_owner "$BIN/pg_ctl" -D "$dir/data" -m fast -w -t 60 stop >/dev/null 2>&1 || true
}

case "${1:-}" in start) install_if_missing ;; esac
BIN=$(pg_bin)
[ -n "$BIN" ] || { echo "no PostgreSQL server installed (/usr/lib/postgresql/*/bin); run: $0 start" >&2; exit 1; }
PG_HOME=$(server_home postgres "$RUNTIME")
PORT=0

case "${1:-}" in
  start)
    start_one a "$PORT_A"
    start_one b "$PORT_B"
    {
      echo "export FERRY_TEST_PG_A=postgres://$USER_NAME@127.0.0.1:$PORT_A/postgres"
      echo "export FERRY_TEST_PG_B=postgres://$USER_NAME@127.0.0.1:$PORT_B/postgres"
      echo "export FERRY_TEST_PG_PASSWORD=$(password)"
      echo "export FERRY_TEST_PG_PLAIN_USER=$PLAIN_USER"
      echo "export FERRY_TEST_PG_BIN=$BIN"
      echo "export FERRY_TEST_PG_DATA_A=$(server_dir a)/data"
      echo "export FERRY_TEST_PG_DATA_B=$(server_dir b)/data"
    } > "$RUNTIME/postgres-servers.env"
    chmod 600 "$RUNTIME/postgres-servers.env"
    echo "postgres servers up on 127.0.0.1:$PORT_A and :$PORT_B ($RUNTIME/postgres-servers.env)"
    ;;
  stop)
    stop_one a; stop_one b
    ;;
  clean)
    "$0" stop
    rm -rf "${PG_HOME:?}"/postgres-a "${PG_HOME:?}"/postgres-b
    rm -f "$RUNTIME"/postgres-password "$RUNTIME"/postgres-servers.env
    ;;
  status)
    for s in a b; do
      port=$PORT_A; [ "$s" = b ] && port=$PORT_B
      if is_up "$s" "$port"; then echo "postgres-$s: running"; else echo "postgres-$s: stopped"; fi
    done
    ;;
  start-extra)
    [ -n "${2:-}" ] && [ -n "${3:-}" ] || { echo "usage: $0 start-extra NAME PORT [--tls] [--max-connections N] [--newer]" >&2; exit 2; }
    install_if_missing
    start_one "${@:2}"
    echo "postgres-$2 up on 127.0.0.1:$3"
    echo "bin: $BIN"
    if [ -s "$(server_dir "$2")/tls/ca.crt" ]; then
      echo "tls ca: $(server_dir "$2")/tls/ca.crt"
      echo "tls other ca: $(server_dir "$2")/tls/other-ca.crt"
    fi
    ;;
  kill-extra)
    [ -n "${2:-}" ] || { echo "usage: $0 kill-extra NAME" >&2; exit 2; }
    pidfile="$(server_dir "$2")/data/postmaster.pid"
    [ -f "$pidfile" ] || { echo "postgres-$2 is not running" >&2; exit 1; }
    pid=$(head -n 1 "$pidfile")
    # Its backends first (by parent pid, never by name), then the postmaster: all of them die
    # before any can notice the others went.
    children=$(ps -o pid= --ppid "$pid" || true)
    kill -KILL $children "$pid" 2>/dev/null || true
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
    echo "postgres-$2 killed (postmaster $pid)"
    ;;
  stop-extra)
    [ -n "${2:-}" ] || { echo "usage: $0 stop-extra NAME" >&2; exit 2; }
    # A cluster of the newer server stops with its own pg_ctl.
    if [ -f "$(server_dir "$2")/data/PG_VERSION" ] && [ "$(cat "$(server_dir "$2")/data/PG_VERSION")" != "$("$BIN/pg_ctl" --version | sed 's/[^0-9]*\([0-9]*\).*/\1/')" ]; then
      BIN=$(newer_bin)
    fi
    stop_one "$2"
    ;;
  *) echo "usage: $0 start|stop|status|clean|start-extra NAME PORT [--tls] [--max-connections N] [--newer]|kill-extra NAME|stop-extra NAME" >&2; exit 2 ;;
esac
