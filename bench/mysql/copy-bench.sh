#!/usr/bin/env bash
# Copies the ~335 MB, 10-table "bench" database from MariaDB server A to server B with Ferry,
# `mysqldump | mysql`, and mydumper + myloader (2 threads, then also with -r 100000), and prints
# the median wall time and peak memory (RSS of the client processes) of each, with ratios.
#
# Usage: bench/mysql/copy-bench.sh            (from the repository root)
#   BENCH_RUNS=5        runs per tool (median)
#   BENCH_SCALE=1       divide every row count of the workload by this (10 = ~34 MB, for a quick run)
# Ferry's row is the release `ferry apply --auto-approve` of a one-copy plan: refresh, plan,
# claims, copy, checksum verify, swap and state commit all count (checkpoints not kept). A second
# Ferry row verifies row counts only (`"verify": "count"`), as the peers verify nothing.
#   BENCH_RELOAD=1      rebuild the source database even if it exists
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
RUNS="${BENCH_RUNS:-5}"
SCALE="${BENCH_SCALE:-1}"
export FERRY_TEST_RUNTIME="${FERRY_TEST_RUNTIME:-$ROOT/.build-test-servers}"
scripts/mysql-servers.sh start >/dev/null
# shellcheck disable=SC1091
source "$FERRY_TEST_RUNTIME/mysql-servers.env"
export MYSQL_PWD="$FERRY_TEST_MYSQL_PASSWORD"   # clients read it from the environment, never argv
PORT_A="${FERRY_TEST_MYSQL_A##*:}"; PORT_B="${FERRY_TEST_MYSQL_B##*:}"
CLIENT=(mariadb --no-defaults -h127.0.0.1 -uferry)
WORK="$FERRY_TEST_RUNTIME/bench"; mkdir -p "$WORK"
WORKLOAD="$ROOT/bench/workloads/mysql-300mb-10tables.sh"

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
# The same copy with `verify: count` (row counts only): like for like with the peers, which verify nothing.
COUNTDIR="$WORK/count/plan"; mkdir -p "$COUNTDIR"   # its own project directory: its own state
sed -e 's/"rerun": "always" }/"rerun": "always", "verify": "count" }/' -e 's/"bench_ferry"/"bench_ferry_count"/' \
  "$PLANDIR/bench.json" > "$COUNTDIR/bench.json"
for d in "$WORK" "$WORK/count"; do (cd "$d" && "$ROOT/.build/release/ferry" state keep 0 >/dev/null); done
ferry_cmd() { # plan directory (state lives beside it)
  (cd "$1/.." && /usr/bin/time -f "%M" -o "$WORK/rss-one" "$ROOT/.build/release/ferry" apply --auto-approve "$1" >/dev/null)
}

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

# One run of every tool per round, RUNS rounds: this machine's speed drifts over minutes, and
# interleaving gives every tool the same share of slow and fast periods.
declare -A WALL RSS TIMES RSSES
NAMES=()
measure_once() { # NAME CMD...: one run; records wall seconds and peak RSS (KiB)
  local name=$1; shift
  rm -f "$WORK/rss-dump" "$WORK/rss-load" "$WORK/rss-one"
  local start end r=0
  start=$(date +%s.%N)
  "$@"
  end=$(date +%s.%N)
  for f in "$WORK/rss-one" "$WORK/rss-dump" "$WORK/rss-load"; do
    [ -f "$f" ] && r=$((r + $(tail -1 "$f")))
  done
  TIMES[$name]+="$(echo "$end - $start" | bc) "
  RSSES[$name]+="$r "
}
median() { tr ' ' '\n' | grep . | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

NAMES=(ferry "ferry verify:count" "mysqldump|mysql")
command -v mydumper >/dev/null && NAMES+=("mydumper+myloader -t2" "mydumper -r100000+myloader")
for round in $(seq 1 "$RUNS"); do
  echo "round $round of $RUNS..."
  measure_once ferry ferry_cmd "$PLANDIR"
  measure_once "ferry verify:count" ferry_cmd "$COUNTDIR"
  measure_once "mysqldump|mysql" dump_cmd
  if command -v mydumper >/dev/null; then
    measure_once "mydumper+myloader -t2" mydumper_cmd
    measure_once "mydumper -r100000+myloader" mydumper_cmd -r 100000
  fi
done
for name in "${NAMES[@]}"; do
  WALL[$name]=$(echo "${TIMES[$name]}" | median)
  RSS[$name]=$(echo "${RSSES[$name]}" | median)
  printf '%-28s median %7.2f s   peak RSS %8d KiB   (runs: %s)\n' "$name" "${WALL[$name]}" "${RSS[$name]}" "${TIMES[$name]}"
done

# Contents check: every table of the Ferry copy equals the source.
for t in $("${CLIENT[@]}" -P"$PORT_A" -N -e "SELECT table_name FROM information_schema.tables WHERE table_schema='bench' ORDER BY 1"); do
  a=$("${CLIENT[@]}" -P"$PORT_A" -N -e "CHECKSUM TABLE bench.$t" | cut -f2)
  for copy in bench_ferry bench_ferry_count; do
    b=$("${CLIENT[@]}" -P"$PORT_B" -N -e "CHECKSUM TABLE $copy.$t" | cut -f2)
    [ "$a" = "$b" ] || { echo "MISMATCH in $copy.$t: $a vs $b" >&2; exit 1; }
  done
done
echo "ferry copies checked: every table's CHECKSUM matches the source (both Ferry rows)"

for f in ferry "ferry verify:count"; do
  echo "ratios (other / $f; above 1 means ferry is faster or smaller):"
  for k in "${NAMES[@]}"; do
    [[ "$k" = ferry* ]] && continue
    printf '  %-28s time %5.2fx   memory %6.2fx\n' "$k" "$(echo "${WALL[$k]} / ${WALL[$f]}" | bc -l)" "$(echo "${RSS[$k]} / ${RSS[$f]}" | bc -l)"
  done
done
