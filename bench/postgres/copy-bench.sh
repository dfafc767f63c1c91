#!/usr/bin/env bash
# Copies a 20-table database ("bench", ~3.9 GB at scale 1, ~1 GB at BENCH_SCALE=4: the issue's
# workload; 389 MB at 10) from PostgreSQL test cluster A to B with
# Ferry (checksum verify, then `verify: count`), `pg_dump -Fc | pg_restore`, `pg_dump -Fd -j2` +
# `pg_restore -j2`, and `pgcopydb clone --table-jobs 2 --index-jobs 2` when Debian's pgcopydb is
# installed; interleaved rounds, and prints the median wall time and peak memory (max RSS of the
# client processes, from /usr/bin/time) of each, with ratios against Ferry.
#
# Usage: bench/postgres/copy-bench.sh          (from the repository root)
#   BENCH_RUNS=5      rounds (median)
#   BENCH_SCALE=1     divide every row count by this (4 = ~1 GB, 10 = 389 MB)
#   BENCH_RELOAD=1    rebuild the source database even if it exists at this scale
#   BENCH_FERRY_BEFORE=1  also a Ferry row with its index builds after all data
#                     (FERRY_PG_INDEXES_WHILE_LOADING=0: "ferry_after_data"), for before/after
# Ferry's row is the release `ferry apply --auto-approve` (built here; FERRY_BIN=path times
# another binary) of a one-copy plan into a database that does not exist: refresh, plan, claims,
# copy, verify, swap and state commit all count.
# Besides wall time, each row reports CPU seconds: the client's (user + system of the tool and
# the children it waited for, from /usr/bin/time) and both servers' (user + system of each
# postmaster and its children, live and reaped, from /proc/PID/stat), which a machine shared
# with other work disturbs far less than wall time.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
RUNS="${BENCH_RUNS:-5}"
SCALE="${BENCH_SCALE:-1}"
export FERRY_TEST_RUNTIME="${FERRY_TEST_RUNTIME:-$ROOT/.build-test-servers}"
scripts/postgres-servers.sh start >/dev/null
# shellcheck disable=SC1091
source "$FERRY_TEST_RUNTIME/postgres-servers.env"
export PGPASSWORD="$FERRY_TEST_PG_PASSWORD"   # clients read it from the environment, never argv
PORT_A=$(echo "$FERRY_TEST_PG_A" | sed -E 's#.*:([0-9]+)/.*#\1#')
PORT_B=$(echo "$FERRY_TEST_PG_B" | sed -E 's#.*:([0-9]+)/.*#\1#')
BIN="$FERRY_TEST_PG_BIN"
PSQL_A=("$BIN/psql" -X -q -h 127.0.0.1 -p "$PORT_A" -U ferry)
PSQL_B=("$BIN/psql" -X -q -h 127.0.0.1 -p "$PORT_B" -U ferry)
FERRY="${FERRY_BIN:-}"
if [ -z "$FERRY" ]; then
  swift build -c release --product ferry >/dev/null
  FERRY=$ROOT/.build/release/ferry
fi
WORK="$FERRY_TEST_RUNTIME/bench-postgres"; mkdir -p "$WORK"

if ! command -v pgcopydb >/dev/null; then
  DEBIAN_FRONTEND=noninteractive apt-get install -y pgcopydb >/dev/null 2>&1 || echo "(pgcopydb not installable; skipped)"
fi

# The workload: 20 tables of mixed types (ints, text, numeric, timestamptz, jsonb, bytea), a
# primary key each and a secondary index on half of them; table k holds (k + 1) shares of rows.
marker="$WORK/loaded-scale"
if [ "${BENCH_RELOAD:-0}" = 1 ] || [ "$(cat "$marker" 2>/dev/null)" != "$SCALE" ] \
   || ! "${PSQL_A[@]}" -d bench -c 'SELECT 1 FROM t20 LIMIT 1' >/dev/null 2>&1; then
  echo "loading the workload into cluster A (scale 1/$SCALE)..."
  "${PSQL_A[@]}" -d postgres -c 'DROP DATABASE IF EXISTS bench WITH (FORCE)' -c 'CREATE DATABASE bench'
  for k in $(seq 1 20); do
    rows=$(( 47000 * (k + 1) / SCALE ))
    "${PSQL_A[@]}" -d bench -v ON_ERROR_STOP=1 <<SQL
CREATE TABLE t$k (id bigint PRIMARY KEY, a integer, b text, c numeric(18,4), d timestamptz, e jsonb, f bytea);
INSERT INTO t$k SELECT g, g % 1000, md5(g::text) || repeat('x', g % 200), g * 1.5, '2026-01-01'::timestamptz + g * interval '1 second',
  jsonb_build_object('k', g, 'tag', 'v' || (g % 97)), decode(md5(g::text), 'hex') FROM generate_series(1, $rows) g;
$( [ $((k % 2)) = 0 ] && echo "CREATE INDEX t${k}_a ON t$k (a, b);" )
SQL
  done
  "${PSQL_A[@]}" -d bench -c 'VACUUM ANALYZE'
  echo "$SCALE" > "$marker"
fi
SIZE=$("${PSQL_A[@]}" -d postgres -A -t -c "SELECT pg_size_pretty(pg_database_size('bench'))")
echo "source: bench on cluster A, $SIZE"

reset_target() { "${PSQL_B[@]}" -d postgres -c "DROP DATABASE IF EXISTS $1 WITH (FORCE)" >/dev/null; }

TICKS=$(getconf CLK_TCK)
# server_ticks DATA_DIR: CPU ticks (user + system) a cluster has used so far: its postmaster's
# own and reaped children's (fields 14-17 of /proc/PID/stat) plus every live child's (14-15).
server_ticks() {
  cat /proc/[0-9]*/stat 2>/dev/null | sed -E 's/^([0-9]+) \(.*\) /\1 /' |
    awk -v pm="$(head -1 "$1/postmaster.pid")" '
      # $1 pid, $2 state, $3 ppid, ..., $13 utime, $14 stime, $15 cutime, $16 cstime
      $1 == pm { t += $13 + $14 + $15 + $16 } $3 == pm { t += $13 + $14 } END { print t + 0 }'
}
servers_ticks() { echo $(( $(server_ticks "$FERRY_TEST_PG_DATA_A") + $(server_ticks "$FERRY_TEST_PG_DATA_B") )); }

# run NAME COMMAND...: wall seconds, max RSS (KiB), client CPU seconds and both servers' CPU
# seconds of the command, appended to $WORK/NAME.times.
run() {
  local name=$1; shift
  local start end before after
  before=$(servers_ticks)
  start=$(date +%s.%N)
  /usr/bin/time -f "%M %U %S" -o "$WORK/$name.rss" "$@" >"$WORK/$name.log" 2>&1 || { echo "$name failed: see $WORK/$name.log" >&2; tail -5 "$WORK/$name.log" >&2; return 1; }
  end=$(date +%s.%N)
  after=$(servers_ticks)
  read -r rss user sys < "$WORK/$name.rss"
  echo "$(echo "$end - $start" | bc) $rss $(echo "$user + $sys" | bc) $(echo "($after - $before) / $TICKS" | bc -l)" >> "$WORK/$name.times"
}

ferry_plan() { # dir target verify
  mkdir -p "$1/plans"
  cat > "$1/plans/main.json" <<JSON
{ "ferry": 1,
  "instances": {
    "a": { "engine": "postgres", "url": "$FERRY_TEST_PG_A", "password": { "env": "PGPASSWORD" } },
    "b": { "engine": "postgres", "url": "$FERRY_TEST_PG_B", "password": { "env": "PGPASSWORD" } } },
  "copies": { "bench": { "from": "a", "to": "b", "databases": { "bench": "$2" }, "verify": "$3" } } }
JSON
}

tools=(ferry ferry_count pgdump_fc pgdump_fd)
[ "${BENCH_FERRY_BEFORE:-0}" = 1 ] && tools+=(ferry_after_data)
command -v pgcopydb >/dev/null && tools+=(pgcopydb)
for t in "${tools[@]}"; do rm -f "$WORK/$t.times"; done
for round in $(seq 1 "$RUNS"); do
  echo "round $round/$RUNS"
  for t in "${tools[@]}"; do
    reset_target "bench_$t"
    case $t in
      ferry|ferry_count)
        dir="$WORK/plan-$t"; rm -rf "$dir"
        ferry_plan "$dir" "bench_$t" "$([ $t = ferry ] && echo checksum || echo count)"
        (cd "$dir" && run "$t" "$FERRY" apply --auto-approve) ;;
      ferry_after_data)
        dir="$WORK/plan-$t"; rm -rf "$dir"
        ferry_plan "$dir" "bench_$t" checksum
        (cd "$dir" && FERRY_PG_INDEXES_WHILE_LOADING=0 run "$t" "$FERRY" apply --auto-approve) ;;
      pgdump_fc)
        "${PSQL_B[@]}" -d postgres -c "CREATE DATABASE bench_$t" >/dev/null
        run "$t" bash -c "'$BIN/pg_dump' -Fc -h 127.0.0.1 -p $PORT_A -U ferry bench | '$BIN/pg_restore' -h 127.0.0.1 -p $PORT_B -U ferry -d bench_$t" ;;
      pgdump_fd)
        "${PSQL_B[@]}" -d postgres -c "CREATE DATABASE bench_$t" >/dev/null
        rm -rf "$WORK/fd"
        run "$t" bash -c "'$BIN/pg_dump' -Fd -j2 -f '$WORK/fd' -h 127.0.0.1 -p $PORT_A -U ferry bench && '$BIN/pg_restore' -j2 -h 127.0.0.1 -p $PORT_B -U ferry -d bench_$t '$WORK/fd'" ;;
      pgcopydb)
        "${PSQL_B[@]}" -d postgres -c "CREATE DATABASE bench_$t" >/dev/null
        rm -rf "$WORK/pgcopydb"
        run "$t" pgcopydb clone --dir "$WORK/pgcopydb" --table-jobs 2 --index-jobs 2 \
          --source "postgres://ferry@127.0.0.1:$PORT_A/bench" --target "postgres://ferry@127.0.0.1:$PORT_B/bench_$t" ;;
    esac
  done
done
for t in "${tools[@]}"; do reset_target "bench_$t"; done

median() { sort -n | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }
ferry_time=$(cut -d' ' -f1 "$WORK/ferry.times" | median)
printf '%-16s %10s %12s %10s %12s %12s\n' tool "median s" "peak RSS MB" "vs ferry" "client CPU s" "server CPU s"
for t in "${tools[@]}"; do
  s=$(cut -d' ' -f1 "$WORK/$t.times" | median)
  m=$(cut -d' ' -f2 "$WORK/$t.times" | median)
  c=$(cut -d' ' -f3 "$WORK/$t.times" | median)
  v=$(cut -d' ' -f4 "$WORK/$t.times" | median)
  printf '%-16s %10.2f %12.1f %9.2fx %12.2f %12.2f\n' "$t" "$s" "$(echo "$m / 1024" | bc -l)" "$(echo "$s / $ferry_time" | bc -l)" "$c" "$v"
done
echo "(each round's rows: $WORK/TOOL.times: wall s, peak RSS KiB, client CPU s, servers' CPU s)"
