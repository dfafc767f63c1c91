#!/usr/bin/env bash
# Ferry's own CPU for one Redis copy and one RDB import, two builds side by side: the servers'
# work is the same for both, so on a shared, noisy machine the client's CPU time (user + sys,
# from the kernel's accounting through GNU time) says what a change to Ferry's own code saved
# where wall time cannot.
# Loads bench/workloads/redis-1m-keys.py (KEYS_TOTAL keys, default 300,000) into a throwaway
# server, then runs `ferry apply` of a one-resource plan (checksum copy of database 0 into
# another throwaway server; RDB import of the same data) from a fresh state into an empty
# target, RUNS times per build, the two builds in turn (A B A B ...), and prints each build's
# median CPU and wall seconds and the median of the pairs' CPU ratios A/B.
# Usage: A=path/to/ferry B=path/to/other/ferry [RUNS=9] [KEYS_TOTAL=300000] [BENCH_PORT=64901]
#        bench/redis/cpu-ab.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
: "${A:?A=ferry binary}" "${B:?B=ferry binary to compare with}"
RUNS="${RUNS:-9}"
RT="${FERRY_TEST_RUNTIME:-$PWD/.build-test-servers}/bench-redis-cpu"
SRC="${BENCH_PORT:-64901}"; DST=$((SRC + 1))
mkdir -p "$RT"
stop_server() { redis-cli -p "$1" shutdown nosave >/dev/null 2>&1 || true; }
cleanup() { stop_server "$SRC"; stop_server "$DST"; }
trap cleanup EXIT
cleanup; sleep 0.3
for port in "$SRC" "$DST"; do
  mkdir -p "$RT/$port"; rm -f "$RT/$port/dump.rdb"
  redis-server --port "$port" --bind 127.0.0.1 --save "" --appendonly no --dir "$RT/$port" --daemonize yes \
    --pidfile "$RT/$port/redis.pid" --logfile "$RT/$port/redis.log" --repl-diskless-sync-delay 0
  for _ in $(seq 1 200); do redis-cli -p "$port" ping >/dev/null 2>&1 && break; sleep 0.05; done
done
python3 bench/workloads/redis-1m-keys.py "${KEYS_TOTAL:-300000}" | redis-cli -p "$SRC" --pipe >/dev/null
redis-cli -p "$SRC" --rdb "$RT/dump.rdb" >/dev/null 2>&1
echo "source: $(redis-cli -p "$SRC" dbsize) keys; load average $(cut -d' ' -f1-3 /proc/loadavg)"

INSTANCES="\"src\": { \"engine\": \"redis\", \"url\": \"redis://127.0.0.1:$SRC\" }, \"dst\": { \"engine\": \"redis\", \"url\": \"redis://127.0.0.1:$DST\" }"
plan_of() {
  case "$1" in
    copy) echo "{ \"ferry\": 1, \"instances\": { $INSTANCES }, \"copies\": { \"c\": { \"from\": \"src\", \"to\": \"dst\", \"databases\": [\"0\"] } } }" ;;
    import) echo "{ \"ferry\": 1, \"instances\": { $INSTANCES }, \"imports\": { \"i\": { \"into\": \"dst\", \"database\": \"0\", \"from\": \"../dump.rdb\" } } }" ;;
  esac
}
one() { # kind build binary -> "cpu wall"
  local dir="$RT/$1-$2"
  rm -rf "$dir/.ferry"; mkdir -p "$dir/plans"; plan_of "$1" > "$dir/plans/bench.json"
  [ -f "$dir/dump.rdb" ] || cp "$RT/dump.rdb" "$dir/dump.rdb"
  redis-cli -p "$DST" flushall >/dev/null
  (cd "$dir" && /usr/bin/time -f "%U %S %e" -o "$dir/time" "$3" apply --auto-approve >"$dir/log" 2>&1) || { cat "$dir/log"; exit 1; }
  [ "$(redis-cli -p "$DST" dbsize)" -gt 0 ] || { echo "$1 with $2 left the target empty" >&2; cat "$dir/log"; exit 1; }
  awk '{ printf "%.3f %.3f\n", $1 + $2, $3 }' "$dir/time"
}
median() { sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
for kind in copy import; do
  one "$kind" A "$A" >/dev/null; one "$kind" B "$B" >/dev/null   # warm-up, not counted
  : > "$RT/$kind.rows"
  for _ in $(seq 1 "$RUNS"); do
    one "$kind" A "$A" > "$RT/a"; one "$kind" B "$B" > "$RT/b"
    read -r ca wa < "$RT/a"; read -r cb wb < "$RT/b"
    echo "$ca $wa $cb $wb" >> "$RT/$kind.rows"
  done
  printf '%-7s A cpu %s s wall %s s | B cpu %s s wall %s s | cpu A/B %s (median of %s pairs)\n' "$kind" \
    "$(cut -d' ' -f1 "$RT/$kind.rows" | median)" "$(cut -d' ' -f2 "$RT/$kind.rows" | median)" \
    "$(cut -d' ' -f3 "$RT/$kind.rows" | median)" "$(cut -d' ' -f4 "$RT/$kind.rows" | median)" \
    "$(awk '{ printf "%.3f\n", $1 / $3 }' "$RT/$kind.rows" | median)" "$RUNS"
done
