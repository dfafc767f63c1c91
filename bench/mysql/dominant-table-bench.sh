#!/usr/bin/env bash
# The "one dominant table" shape of issue 18: a ~40 MB database whose 400,000-row `orders` (one
# secondary key) is nearly all of it, plus three small tables (bench/workloads/
# mysql-dominant-table.sh), copied from MariaDB server A to server B by Ferry and by
# `mysqldump | mysql`. Prints the median wall time of each and Ferry's ratio to mysqldump|mysql
# (goal: at most 0.4).
#
# Usage: bench/mysql/dominant-table-bench.sh      (from the repository root)
#   BENCH_RUNS=5           runs per tool (median), interleaved round by round
#   FERRY_BEFORE=/path     another ferry binary (e.g. a release build of an older commit), measured
#                          in the same rounds as "ferry (before)"
#   BENCH_RELOAD=1         rebuild the source database even if it exists
#   FERRY_BIN=/path        the ferry binary to measure (default: a release build of this tree)
# Ferry's row is the release `ferry apply --auto-approve` of a one-copy plan: refresh, plan,
# claims, copy, finish (keys), checksum verify, swap and state commit all count.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
RUNS="${BENCH_RUNS:-5}"
export FERRY_TEST_RUNTIME="${FERRY_TEST_RUNTIME:-$ROOT/.build-test-servers}"
scripts/mysql-servers.sh start >/dev/null
# shellcheck disable=SC1091
source "$FERRY_TEST_RUNTIME/mysql-servers.env"
export MYSQL_PWD="$FERRY_TEST_MYSQL_PASSWORD"   # clients read it from the environment, never argv
PORT_A="${FERRY_TEST_MYSQL_A##*:}"; PORT_B="${FERRY_TEST_MYSQL_B##*:}"
CLIENT=(mariadb --no-defaults -h127.0.0.1 -uferry)
WORK="$FERRY_TEST_RUNTIME/bench-dominant"; mkdir -p "$WORK"

if [ "${BENCH_RELOAD:-0}" = 1 ] || ! "${CLIENT[@]}" -P"$PORT_A" -e 'SELECT 1 FROM dominant.regions LIMIT 1' >/dev/null 2>&1; then
  echo "loading the workload into server A..."
  "${CLIENT[@]}" -P"$PORT_A" -e 'DROP DATABASE IF EXISTS dominant'
  bash "$ROOT/bench/workloads/mysql-dominant-table.sh" | "${CLIENT[@]}" -P"$PORT_A" >/dev/null
fi
size=$("${CLIENT[@]}" -P"$PORT_A" -N -e "SELECT round(sum(data_length+index_length)/1048576,1) FROM information_schema.tables WHERE table_schema='dominant'")
echo "source: dominant on :$PORT_A, $size MiB (information_schema), copies to :$PORT_B"

if [ -z "${FERRY_BIN:-}" ]; then swift build -c release --product ferry >/dev/null; fi
FERRY="${FERRY_BIN:-$ROOT/.build/release/ferry}"
plan_dir() { # NAME TARGETDB: a project directory of its own (its own state) with a one-copy plan
  local dir="$WORK/$1/plan"; mkdir -p "$dir"
  cat > "$dir/dominant.json" <<JSON
{ "ferry": 1,
  "instances": {
    "a": { "engine": "mysql", "url": "$FERRY_TEST_MYSQL_A", "password": { "env": "FERRY_TEST_MYSQL_PASSWORD" }, "maxConnections": 6 },
    "b": { "engine": "mysql", "url": "$FERRY_TEST_MYSQL_B", "password": { "env": "FERRY_TEST_MYSQL_PASSWORD" }, "maxConnections": 6 } },
  "copies": { "dominant": { "from": "a", "to": "b", "databases": { "dominant": "$2" }, "onExisting": "replace", "rerun": "always" } } }
JSON
  echo "$dir"
}
NOW_DIR=$(plan_dir now dominant_ferry)
(cd "$NOW_DIR/.." && "$FERRY" state keep 0 >/dev/null)
if [ -n "${FERRY_BEFORE:-}" ]; then
  BEFORE_DIR=$(plan_dir before dominant_ferry_before)
  (cd "$BEFORE_DIR/.." && "$FERRY_BEFORE" state keep 0 >/dev/null)
fi
ferry_cmd() { # BINARY PLANDIR
  (cd "$2/.." && "$1" apply --auto-approve "$2" >/dev/null)
}
dump_cmd() {
  "${CLIENT[@]}" -P"$PORT_B" -e 'DROP DATABASE IF EXISTS dominant_dump; CREATE DATABASE dominant_dump'
  mysqldump --no-defaults -h127.0.0.1 -P"$PORT_A" -uferry --single-transaction --routines --triggers dominant \
    | "${CLIENT[@]}" -P"$PORT_B" dominant_dump
}

declare -A TIMES
measure_once() { # NAME CMD...
  local name=$1; shift
  local start end
  start=$(date +%s.%N)
  "$@"
  end=$(date +%s.%N)
  TIMES[$name]+="$(echo "$end - $start" | bc) "
}
median() { tr ' ' '\n' | grep . | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

NAMES=(ferry "mysqldump|mysql")
[ -n "${FERRY_BEFORE:-}" ] && NAMES=("ferry (before)" "${NAMES[@]}")
for round in $(seq 1 "$RUNS"); do
  echo "round $round of $RUNS..."
  [ -n "${FERRY_BEFORE:-}" ] && measure_once "ferry (before)" ferry_cmd "$FERRY_BEFORE" "$BEFORE_DIR"
  measure_once ferry ferry_cmd "$FERRY" "$NOW_DIR"
  measure_once "mysqldump|mysql" dump_cmd
done
declare -A WALL
for name in "${NAMES[@]}"; do
  WALL[$name]=$(echo "${TIMES[$name]}" | median)
  printf '%-18s median %6.2f s   (runs: %s)\n' "$name" "${WALL[$name]}" "${TIMES[$name]}"
done

# Contents check: every table of the Ferry copies equals the source, keys included.
for t in orders customers products regions; do
  a=$("${CLIENT[@]}" -P"$PORT_A" -N -e "CHECKSUM TABLE dominant.$t" | cut -f2)
  for copy in dominant_ferry ${FERRY_BEFORE:+dominant_ferry_before}; do
    b=$("${CLIENT[@]}" -P"$PORT_B" -N -e "CHECKSUM TABLE $copy.$t" | cut -f2)
    [ "$a" = "$b" ] || { echo "MISMATCH in $copy.$t: $a vs $b" >&2; exit 1; }
  done
done
keys=$("${CLIENT[@]}" -P"$PORT_B" -N -e "SELECT COUNT(*) FROM information_schema.STATISTICS WHERE TABLE_SCHEMA='dominant_ferry' AND INDEX_NAME='customer_created'")
[ "$keys" -gt 0 ] || { echo "the copy lacks orders' secondary key" >&2; exit 1; }
echo "ferry copies checked: every table's CHECKSUM matches the source, and orders has its key"

for name in "${NAMES[@]}"; do
  [[ "$name" = ferry* ]] || continue
  printf '%-18s / mysqldump|mysql: %5.2fx   (goal: at most 0.40x)\n' "$name" "$(echo "${WALL[$name]} / ${WALL["mysqldump|mysql"]}" | bc -l)"
done
