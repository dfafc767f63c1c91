#!/usr/bin/env bash
# Compares `ferry apply` of RDB imports with Redis's own loader, file by file, over a directory of
# RDB files. For each FILE in DIR:
#   - the reference: a throwaway redis-server started on FILE (the server's own loader);
#   - Ferry: a plan importing every database the reference holds into the same database number
#     of an empty throwaway redis-server (`sourceDatabase`), or, when the reference refuses the
#     file, importing the whole file into database 0;
#   - the verdict: both servers' `DEBUG DIGEST` (every key, type, value, and whether it expires,
#     per database) equal, or both refused (Ferry with ImportError and the target left empty).
# Prints one tab-separated line per file (file, redis, ferry, verdict) and a summary; exits 1
# when any file's verdict is not `same` or `both-refused`.
# Usage: scripts/rdb-conformance.sh DIR [FERRY_BINARY]
# Ports: FERRY_TEST_REDIS_PORT_BASE (default 63791) + 1000 and + 1001 (clear of the test servers' + 0..9).
set -euo pipefail
DIR="${1:?usage: scripts/rdb-conformance.sh DIR [FERRY_BINARY]}"
DIR="$(cd "$DIR" && pwd)"
cd "$(dirname "$0")/.."
FERRY="${2:-$PWD/.build/debug/ferry}"
[ -x "$FERRY" ] || { echo "no ferry binary at $FERRY: run swift build first" >&2; exit 2; }
BASE="${FERRY_TEST_REDIS_PORT_BASE:-63791}"
REF_PORT=$((BASE + 1000)) TARGET_PORT=$((BASE + 1001))
WORK="$(mktemp -d)"
cleanup() {
  redis-cli -p "$REF_PORT" shutdown nosave >/dev/null 2>&1 || true
  redis-cli -p "$TARGET_PORT" shutdown nosave >/dev/null 2>&1 || true
  rm -rf "$WORK"
}
trap cleanup EXIT

cli() { local port=$1; shift; redis-cli -p "$port" "$@"; }
wait_up() { for _ in $(seq 1 100); do cli "$1" ping >/dev/null 2>&1 && return 0; kill -0 "$2" 2>/dev/null || return 1; sleep 0.05; done; return 1; }
databases() { cli "$1" info keyspace | tr -d '\r' | sed -n 's/^db\([0-9]*\):.*/\1/p'; }

mkdir -p "$WORK/target"
redis-server --port "$TARGET_PORT" --bind 127.0.0.1 --dir "$WORK/target" --save '' --appendonly no \
  --enable-debug-command yes --daemonize no >"$WORK/target.log" 2>&1 &
wait_up "$TARGET_PORT" $! || { echo "the target redis-server did not start" >&2; exit 2; }

same=0 refused=0 bad=0 total=0
printf 'file\tredis\tferry\tverdict\n'
for file in "$DIR"/*; do
  [ -f "$file" ] || continue
  case "$file" in *.tsv|*.md) continue ;; esac
  name="$(basename "$file")"
  total=$((total + 1))
  ref="$WORK/ref"; rm -rf "$ref"; mkdir -p "$ref"
  cp "$file" "$ref/dump.rdb"
  redis-server --port "$REF_PORT" --bind 127.0.0.1 --dir "$ref" --dbfilename dump.rdb --save '' --appendonly no \
    --enable-debug-command yes --daemonize no >"$ref/log" 2>&1 &
  pid=$!
  if wait_up "$REF_PORT" "$pid"; then redis=loads; else redis=refuses; wait "$pid" 2>/dev/null || true; fi
  cli "$TARGET_PORT" flushall >/dev/null
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
    "$TARGET_PORT" "$imports" >"$project/plans/main.json"
  (cd "$project" && "$FERRY" state keep 0 >/dev/null 2>&1 || true)
  if (cd "$project" && NO_COLOR=1 "$FERRY" apply --auto-approve >"$project/out" 2>&1); then ferry=imports; else ferry=refuses; fi
  verdict=DIFFERENT
  if [ "$redis" = loads ] && [ "$ferry" = imports ]; then
    [ "$(cli "$REF_PORT" debug digest)" = "$(cli "$TARGET_PORT" debug digest)" ] && verdict=same
  elif [ "$redis" = refuses ] && [ "$ferry" = refuses ]; then
    if grep -q ImportError "$project/out" && [ -z "$(databases "$TARGET_PORT")" ]; then verdict=both-refused; else verdict=UNCLEAR-REFUSAL; fi
  fi
  case "$verdict" in same) same=$((same + 1)) ;; both-refused) refused=$((refused + 1)) ;; *) bad=$((bad + 1))
    { echo "== $name: redis $redis, ferry $ferry"; grep -m3 -E 'error|ImportError|VerifyFailed' "$project/out" || true; } >>"$WORK/details" ;; esac
  printf '%s\t%s\t%s\t%s\n' "$name" "$redis" "$ferry" "$verdict"
  cli "$REF_PORT" shutdown nosave >/dev/null 2>&1 || true
  wait "$pid" 2>/dev/null || true
done
echo "# $total files: $same same, $refused refused by both, $bad otherwise"
[ -f "$WORK/details" ] && cat "$WORK/details" >&2
[ "$bad" -eq 0 ]
