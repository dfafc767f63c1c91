#!/usr/bin/env bash
# Two throwaway MariaDB servers on 127.0.0.1 for Ferry's MySQL tests and benchmarks.
# Usage: scripts/mysql-servers.sh start|stop|status|clean   (clean: stop and remove all data)
#        scripts/mysql-servers.sh start-extra NAME PORT [--log-bin] [--tmpfs SIZE] | kill-extra NAME | stop-extra NAME
# start-extra starts one more throwaway server (data in mysql-NAME beside a and b, same `ferry`
# user and password) and prints its URL; tests that break a server (kill-extra: SIGKILL) use it so
# the two shared servers stay up; with --log-bin it writes a binary log (log_bin_trust_function_creators
# stays off, the server's default), for tests of what a binary log refuses; with --tmpfs SIZE its
# whole directory is a tmpfs of that size (root only; it prints `dir: PATH` first), for tests of a
# server whose disk fills up. stop-extra stops it and removes its data (and unmounts the tmpfs).
# Data lives under $FERRY_TEST_RUNTIME/mysql-a and mysql-b (default ./.build-test-servers), or, when
# the `mysql` user cannot enter that directory (a checkout in a 0700 directory such as /root or a
# `mktemp -d`), under /var/tmp/ferry-test-servers-HASH, linked from $FERRY_TEST_RUNTIME/mysql-data.
# A server that fails to install or start is reported with the last lines of its log.
# `start` writes $FERRY_TEST_RUNTIME/mysql-servers.env with FERRY_TEST_MYSQL_A/B (URLs without
# password) and FERRY_TEST_MYSQL_PASSWORD (the password of the `ferry` admin user; tests pass it
# by environment reference). Idempotent: a running server is left alone.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNTIME="${FERRY_TEST_RUNTIME:-$PWD/.build-test-servers}"
mkdir -p "$RUNTIME"
RUNTIME="$(cd "$RUNTIME" && pwd)"
# shellcheck source=scripts/lib/server-home.sh
source scripts/lib/server-home.sh
PORT_A="${FERRY_TEST_MYSQL_PORT_A:-23061}"
PORT_B="${FERRY_TEST_MYSQL_PORT_B:-23062}"
USER_NAME=ferry
PASSWORD_FILE="$RUNTIME/mysql-password"

# The directory of server NAME's data, socket and logs (see the header).
server_dir() { echo "$MYSQL_HOME/mysql-$1"; }

install_if_missing() {
  if ! command -v mariadbd >/dev/null || ! command -v mariadb-install-db >/dev/null \
     || ! command -v mariadb >/dev/null || [ ! -e /usr/include/mariadb/mysql.h ]; then
    apt-get update
    DEBIAN_FRONTEND=noninteractive apt-get install -y mariadb-server mariadb-client libmariadb-dev
  fi
}

password() {
  if [ ! -s "$PASSWORD_FILE" ]; then
    (umask 077; head -c 18 /dev/urandom | base64 | tr -d '/+=' > "$PASSWORD_FILE")
  fi
  cat "$PASSWORD_FILE"
}

is_up() { # name port
  local dir; dir=$(server_dir "$1")
  [ -S "$dir/mysqld.sock" ] && mariadb --no-defaults --protocol=socket -S "$dir/mysqld.sock" -uroot \
    -e 'SELECT 1' >/dev/null 2>&1
}

# information_schema.DISKS: how Ferry reads the free storage of a MariaDB server.
install_disks() { # name
  mariadb --no-defaults --protocol=socket -S "$(server_dir "$1")/mysqld.sock" -uroot \
    -e "INSTALL PLUGIN IF NOT EXISTS DISKS SONAME 'disks'" >/dev/null 2>&1 \
    || echo "warning: the disks plugin is missing on mariadb $1; Ferry will not know its free storage" >&2
}

start_one() { # name port [--log-bin]
  local name=$1 port=$2 dir; dir=$(server_dir "$1")
  local binlog=--skip-log-bin
  if [ "${3:-}" = --log-bin ]; then binlog="--log-bin=$dir/data/binlog --server-id=1"; fi
  if is_up "$name" "$port"; then install_disks "$name"; return 0; fi
  mkdir -p "$dir"
  if [ ! -d "$dir/data/mysql" ]; then
    rm -rf "$dir/data"
    chown mysql:mysql "$dir" 2>/dev/null || true
    # Its temporary files in the server's own directory: a caller's TMPDIR the `mysql` user
    # cannot write failed it (Errcode: 13; fresh tester round 63's setup).
    mkdir -p "$dir/tmp"; chown mysql:mysql "$dir/tmp" 2>/dev/null || true
    TMPDIR="$dir/tmp" mariadb-install-db --no-defaults --user=mysql --datadir="$dir/data" \
      --auth-root-authentication-method=socket --skip-test-db >"$dir/install.log" 2>&1 \
      || fail_with_log "mariadb $name: mariadb-install-db failed in $dir/data" "$dir/install.log"
  fi
  mkdir -p "$dir/tmp"
  chown -R mysql:mysql "$dir" 2>/dev/null || [ "$(id -u)" -ne 0 ]
  # Its own tmpdir: other programs' clean-ups of /tmp cannot delete a query's temporary table.
  # Small buffers: the machine has 2 cores and other work runs beside the servers.
  mariadbd --no-defaults --user=mysql --datadir="$dir/data" --socket="$dir/mysqld.sock" \
    --pid-file="$dir/mysqld.pid" --port="$port" --bind-address=127.0.0.1 --tmpdir="$dir/tmp" \
    --log-error="$dir/error.log" --local-infile=ON --innodb-buffer-pool-size=256M \
    --innodb-log-file-size=128M --innodb-flush-log-at-trx-commit=2 --skip-name-resolve \
    --max-connections=100 --performance-schema=OFF $binlog >/dev/null 2>&1 &
  local i server=$!
  for i in $(seq 1 300); do
    if is_up "$name" "$port"; then break; fi
    kill -0 "$server" 2>/dev/null || break   # it exited: its log says why
    sleep 0.1
  done
  is_up "$name" "$port" || fail_with_log "mariadb $name did not start on port $port" "$dir/error.log"
  local pw; pw=$(password)
  mariadb --no-defaults --protocol=socket -S "$dir/mysqld.sock" -uroot <<SQL
CREATE USER IF NOT EXISTS '$USER_NAME'@'127.0.0.1' IDENTIFIED BY '$pw';
CREATE USER IF NOT EXISTS '$USER_NAME'@'localhost' IDENTIFIED BY '$pw';
ALTER USER '$USER_NAME'@'127.0.0.1' IDENTIFIED BY '$pw';
ALTER USER '$USER_NAME'@'localhost' IDENTIFIED BY '$pw';
GRANT ALL PRIVILEGES ON *.* TO '$USER_NAME'@'127.0.0.1' WITH GRANT OPTION;
GRANT ALL PRIVILEGES ON *.* TO '$USER_NAME'@'localhost' WITH GRANT OPTION;
SQL
  install_disks "$name"
}

stop_one() {
  local dir; dir=$(server_dir "$1")
  [ -f "$dir/mysqld.pid" ] || return 0
  local pid; pid=$(cat "$dir/mysqld.pid" 2>/dev/null || true)
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
    kill "$pid"
    for _ in $(seq 1 300); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    # A server that cannot shut down in 30 s (one whose disk is full waits for room) is killed:
    # a test's server must not outlive its test.
    if kill -0 "$pid" 2>/dev/null; then
      kill -9 "$pid" 2>/dev/null || true
      for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
    fi
  fi
  rm -f "$dir/mysqld.pid"
}

case "${1:-}" in start) install_if_missing ;; start-extra) install_if_missing >/dev/null ;; esac
MYSQL_HOME=$(server_home mysql "$RUNTIME")

case "${1:-}" in
  start)
    start_one a "$PORT_A"
    start_one b "$PORT_B"
    {
      echo "export FERRY_TEST_MYSQL_A=mysql://$USER_NAME@127.0.0.1:$PORT_A"
      echo "export FERRY_TEST_MYSQL_B=mysql://$USER_NAME@127.0.0.1:$PORT_B"
      echo "export FERRY_TEST_MYSQL_PASSWORD=$(password)"
      echo "export FERRY_TEST_MYSQL_SOCKET_A=$(server_dir a)/mysqld.sock"
      echo "export FERRY_TEST_MYSQL_SOCKET_B=$(server_dir b)/mysqld.sock"
    } > "$RUNTIME/mysql-servers.env"
    chmod 600 "$RUNTIME/mysql-servers.env"
    echo "mariadb servers up on 127.0.0.1:$PORT_A and :$PORT_B ($RUNTIME/mysql-servers.env)"
    ;;
  stop)
    stop_one a; stop_one b
    # Extra servers a test left running (start-extra) stop too.
    for pidfile in "$MYSQL_HOME"/mysql-*/mysqld.pid; do
      [ -e "$pidfile" ] || continue
      extra=$(basename "$(dirname "$pidfile")"); extra=${extra#mysql-}
      stop_one "$extra"
    done
    ;;
  clean)
    # Stops every server and removes their data, wherever it lives (/var/tmp too).
    "$0" stop
    rm -rf "${MYSQL_HOME:?}"/mysql-*
    if [ "$MYSQL_HOME" != "$RUNTIME" ]; then rm -rf "${MYSQL_HOME:?}"; fi
    rm -f "$RUNTIME"/mysql-*
    ;;
  status)
    for s in a b; do
      if is_up "$s" 0; then echo "mysql-$s: running"; else echo "mysql-$s: stopped"; fi
    done
    ;;
  start-extra)
    usage="usage: $0 start-extra NAME PORT [--log-bin] [--tmpfs SIZE]"
    name="${2:?$usage}"; port="${3:?$usage}"
    case "$name" in a|b|*[!a-z0-9-]*) echo "extra server names are [a-z0-9-], not a or b" >&2; exit 2 ;; esac
    shift 3
    logbin=""; tmpfs=""
    while [ $# -gt 0 ]; do
      case "$1" in
        --log-bin) logbin=--log-bin; shift ;;
        # The server's whole directory (data, tmpdir, logs) on a tmpfs of SIZE (mount's size=,
        # e.g. 320m; the server itself takes about 160 MB): a disk that fills up. Root only.
        --tmpfs) tmpfs="${2:?$usage}"; shift 2 ;;
        *) echo "start-extra: unknown option $1" >&2; exit 2 ;;
      esac
    done
    if [ -n "$tmpfs" ]; then
      dir=$(server_dir "$name")
      mkdir -p "$dir"
      if ! mountpoint -q "$dir"; then
        mount -t tmpfs -o "size=$tmpfs" tmpfs "$dir" 2>/dev/null \
          || { echo "start-extra: cannot mount a tmpfs at $dir (needs root and mount rights)" >&2; exit 3; }
      fi
      echo "dir: $dir"
    fi
    start_one "$name" "$port" "$logbin"
    echo "mysql://$USER_NAME@127.0.0.1:$port"
    ;;
  kill-extra)
    name="${2:?usage: $0 kill-extra NAME}"
    pid=$(cat "$(server_dir "$name")/mysqld.pid" 2>/dev/null || true)
    if [ -n "$pid" ]; then
      kill -9 "$pid" 2>/dev/null || true
      for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
    fi
    ;;
  stop-extra)
    name="${2:?usage: $0 stop-extra NAME}"
    case "$name" in a|b|*[!a-z0-9-]*) echo "extra server names are [a-z0-9-], not a or b" >&2; exit 2 ;; esac
    stop_one "$name"
    dir="${MYSQL_HOME:?}/mysql-$name"
    if mountpoint -q "$dir" 2>/dev/null; then umount "$dir" || umount -l "$dir"; fi
    rm -rf "$dir"
    ;;
  *) echo "usage: $0 start|stop|status|clean|start-extra NAME PORT [--log-bin] [--tmpfs SIZE]|kill-extra NAME|stop-extra NAME" >&2; exit 2 ;;
esac
