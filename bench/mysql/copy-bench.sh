#!/usr/bin/env bash
# Copies the ~335 MB, 10-table "bench" database from MariaDB server A to server B with Ferry,
# `mysqldump | mysql`, and mydumper + myloader (2 threads, then also with -r 100000), and prints
# the median wall time and peak memory (RSS of the client processes) of each, with ratios.
#
# Usage: bench/mysql/copy-bench.sh            (from the repository root)
#   BENCH_RUNS=3        runs per tool (median)
#   BENCH_SCALE=1       divide every row count of the workload by this (10 = ~34 MB, for a quick run)
# Ferry's row is the release `ferry apply --auto-approve` of a one-copy plan: refresh, plan,
# claims, copy, checksum verify, swap and state commit all count (checkpoints not kept).
#   BENCH_RELOAD=1      rebuild the source database even if it exists
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
RUNS="${BENCH_RUNS:-3}"
SCALE="${BENCH_SCALE:-1}"
export FERRY_TEST_RUNTIME="${FERRY_TEST_RUNTIME:-$ROOT/.build-test-servers}"
scripts/mysql-servers.sh start >/dev/null
# shellcheck disable=SC1091
source "$FERRY_TEST_RUNTIME/mysql-servers.env"
export MYSQL_PWD="$FERRY_TEST_MYSQL_PASSWORD"   # clients read it from the environment, never argv
PORT_A="${FERRY_TEST_MYSQL_A##*:}"; PORT_B="${FERRY_TEST_MYSQL_B##*:}"
CLIENT=(mariadb --no-defaults -h127.0.0.1 -uferry)
WORK="$FERRY_TEST_RUNTIME/bench"; mkdir -p "$WORK"
WORKLOAD="$ROOT/../shared/workloads/mysql-300mb-10tables.sh"
[ -f "$WORKLOAD" ] || WORKLOAD=/work/shared/workloads/mysql-300mb-10tables.sh

if ! command -v mydumper >/dev/null; then
  DEBIAN_FRONTEND=noninteractive apt-get install -y mydumper >/dev/null 2>&1 || echo "(mydumper not installable; skipped)"
fi

# Source database, at the requested scale.
marker="$WORK/loaded-scale"
if [ "${BENCH_RELOAD:-0}" = 1 ] || [ "$(cat "$marker" 2>/dev/null)" != "$SCALE" ] \
   || ! "${CLIENT[@]}" -P"$PORT_A" -e 'SELECT 1 FROM bench.orders LIMIT 1' >/dev/null 2>&1; then
  echo "loading the workload into server A (scale 1/$SCALE)..."
  "${CLIENT[@]}" -P"$PORT_A" -e 'DROP DATABASE IF EXISTS bench'
  bash "$WORKLOAD" | perl -pe 's/seq_1_to_(\d+)/"seq_1_to_".int($1\/'"$SCALE"')/ge' | "${CLIENT[@]}" -P"$PORT_A" >/dev/null
  echo "$SCALE" > "$marker"
fi
size=$("${CLIENT[@]}" -P"$PORT_A" -N -e "SELECT round(sum(data_length+index_length)/1048576,1) FROM information_schema.tables WHERE table_schema='bench'")
echo "source: bench on :$PORT_A, $size MiB (information_schema), copies to :$PORT_B"

# Ferry.
swift build -c release --product ferry >/dev/null
PLANDIR="$WORK/plan"; mkdir -p "$PLANDIR"
cat > "$PLANDIR/bench.json" <<JSON
{ "ferry": 1,
  "instances": {
    "a": { "engine": "mysql", "url": "$FERRY_TEST_MYSQL_A", "password": { "env": "FERRY_TEST_MYSQL_PASSWORD" }, "maxConnections": 6 },
    "b": { "engine": "mysql", "url": "$FERRY_TEST_MYSQL_B", "password": { "env": "FERRY_TEST_MYSQL_PASSWORD" }, "maxConnections": 6 } },
  "copies": { "bench": { "from": "a", "to": "b", "databases": { "bench": "bench_ferry" }, "onExisting": "replace", "rerun": "always" } } }
JSON
(cd "$WORK" && "$ROOT/.build/release/ferry" state keep 0 >/dev/null)
ferry_cmd() { (cd "$WORK" && /usr/bin/time -f "%M" -o "$WORK/rss-one" "$ROOT/.build/release/ferry" apply --auto-approve "$PLANDIR" >/dev/null); }

dump_cmd() {
  "${CLIENT[@]}" -P"$PORT_B" -e 'DROP DATABASE IF EXISTS bench_dump; CREATE DATABASE bench_dump'
  /usr/bin/time -f "%M" -o "$WORK/rss-dump" mysqldump --no-defaults -h127.0.0.1 -P"$PORT_A" -uferry \
      --single-transaction --routines --triggers bench \
    | /usr/bin/time -f "%M" -o "$WORK/rss-load" "${CLIENT[@]}" -P"$PORT_B" bench_dump
}

mydumper_cmd() { # extra mydumper args
  rm -rf "$WORK/mydumper-out"
  "${CLIENT[@]}" -P"$PORT_B" -e 'DROP DATABASE IF EXISTS bench_myl'
  /usr/bin/time -f "%M" -o "$WORK/rss-dump" mydumper -h 127.0.0.1 -P "$PORT_A" -u ferry -p "$MYSQL_PWD" -B bench \
      -o "$WORK/mydumper-out" -t 2 "$@" >/dev/null 2>&1
  /usr/bin/time -f "%M" -o "$WORK/rss-load" myloader -h 127.0.0.1 -P "$PORT_B" -u ferry -p "$MYSQL_PWD" \
      -d "$WORK/mydumper-out" -B bench_myl -t 2 -o >/dev/null 2>&1
}

# measure NAME CMD...: runs CMD $RUNS times; records wall seconds and peak RSS (KiB).
declare -A WALL RSS
measure() {
  local name=$1; shift
  local times=() rsses=()
  for _ in $(seq 1 "$RUNS"); do
    rm -f "$WORK/rss-dump" "$WORK/rss-load" "$WORK/rss-one"
    local start end
    start=$(date +%s.%N)
    "$@"
    end=$(date +%s.%N)
    times+=("$(echo "$end - $start" | bc)")
    local r=0
    for f in "$WORK/rss-one" "$WORK/rss-dump" "$WORK/rss-load"; do
      [ -f "$f" ] && r=$((r + $(tail -1 "$f")))
    done
    rsses+=("$r")
  done
  WALL[$name]=$(printf '%s\n' "${times[@]}" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
  RSS[$name]=$(printf '%s\n' "${rsses[@]}" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
  printf '%-28s median %7.2f s   peak RSS %8d KiB   (runs: %s)\n' "$name" "${WALL[$name]}" "${RSS[$name]}" "${times[*]}"
}

R=.build/release
measure ferry ferry_cmd
measure "mysqldump|mysql" dump_cmd
if command -v mydumper >/dev/null; then
  measure "mydumper+myloader -t2" mydumper_cmd
  measure "mydumper -r100000+myloader" mydumper_cmd -r 100000
fi

# Contents check: every table of the Ferry copy equals the source.
for t in $("${CLIENT[@]}" -P"$PORT_A" -N -e "SELECT table_name FROM information_schema.tables WHERE table_schema='bench' ORDER BY 1"); do
  a=$("${CLIENT[@]}" -P"$PORT_A" -N -e "CHECKSUM TABLE bench.$t" | cut -f2)
  b=$("${CLIENT[@]}" -P"$PORT_B" -N -e "CHECKSUM TABLE bench_ferry.$t" | cut -f2)
  [ "$a" = "$b" ] || { echo "MISMATCH in $t: $a vs $b" >&2; exit 1; }
done
echo "ferry copy checked: every table's CHECKSUM matches the source"

echo "ratios (other / ferry; above 1 means ferry is faster or smaller):"
for k in "${!WALL[@]}"; do
  [ "$k" = ferry ] && continue
  printf '  %-28s time %5.2fx   memory %6.2fx\n' "$k" "$(echo "${WALL[$k]} / ${WALL[ferry]}" | bc -l)" "$(echo "${RSS[$k]} / ${RSS[ferry]}" | bc -l)"
done
