#!/usr/bin/env bash
# Redis copy and RDB import benchmark: Ferry against the peers a user would pick, in one run.
# Loads bench/workloads/redis-1m-keys.py (1,000,000 mixed keys) into a throwaway server, then:
#   ferry copy      Ferry's copy into a shadow db of another server: with the source's default
#                   repl-diskless-sync-delay (5 s) and no RDB persistence, pipelined
#                   SCAN+DUMP+PTTL -> RESTORE; with the delay at 0 (the "diskless src" row), the
#                   source's snapshot (replication full sync) streamed as RESTOREs
#   ferry import    Ferry's streamed RDB import (RESTORE payloads) of `redis-cli --rdb` output
#   py dump loop    a pipelined Python SCAN+DUMP+RESTORE loop
#   migrate         SCAN + MIGRATE ... COPY REPLACE KEYS in batches of 1,000
#   restart load    loading the same RDB file by restarting a redis-server
# Ferry's rows are the release `ferry apply --auto-approve` of a one-resource plan (refresh, plan,
# claims, shadow db, load, verify with per-key digests, SWAPDB, state commit), all timed.
# Usage: bench/redis/bench.sh   (WORKLOAD=path to override the workload script)
#   KEYS_TOTAL=N     N keys instead of 1,000,000 (same proportions)
#   FERRY_BINARY=P   time this ferry binary instead of building the release one
#   BEFORE=P         also time the checksum copy and the RDB import with the ferry binary P (an
#                    earlier build), interleaved with the current one: before and after, one run
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
RT="${FERRY_TEST_RUNTIME:-$PWD/.build-test-servers}/bench-redis"
WORKLOAD="${WORKLOAD:-$ROOT/bench/workloads/redis-1m-keys.py}"
SRC="${BENCH_PORT:-63801}"; DST=$((SRC + 1)) RESTART=$((SRC + 2))   # BENCH_PORT: the first of three ports
mkdir -p "$RT"
pids=()
start_server() { # port dir [extra]
  local port=$1 dir=$2; shift 2
  mkdir -p "$dir"
  [ "$port" = "$RESTART" ] || rm -f "$dir/dump.rdb"   # a file left by an earlier run would be loaded
  redis-server --port "$port" --bind 127.0.0.1 --save "" --appendonly no --dir "$dir" --daemonize yes \
    --pidfile "$dir/redis.pid" --logfile "$dir/redis.log" --repl-diskless-sync-delay 0 "$@"
  for _ in $(seq 1 200); do redis-cli -p "$port" ping >/dev/null 2>&1 && return 0; sleep 0.05; done
  echo "server on $port did not start" >&2; exit 1
}
stop_server() { redis-cli -p "$1" shutdown nosave >/dev/null 2>&1 || true; }
cleanup() { for p in $SRC $DST $RESTART; do stop_server $p; done; }
trap cleanup EXIT
cleanup; sleep 0.3

start_server $SRC "$RT/src"
start_server $DST "$RT/dst"
echo "loading the workload ($(basename "$WORKLOAD")) ..."
python3 "$WORKLOAD" ${KEYS_TOTAL:+"$KEYS_TOTAL"} | redis-cli -p $SRC --pipe >/dev/null
KEYS=$(redis-cli -p $SRC dbsize)
redis-cli -p $SRC --rdb "$RT/dump.rdb" >/dev/null 2>&1
# Timed runs see the source's default delay before it streams a snapshot (Ferry then reads it
# with SCAN, since this server keeps no RDB file).
redis-cli -p $SRC config set repl-diskless-sync-delay 5 >/dev/null
echo "source: $KEYS keys, RDB $(du -h "$RT/dump.rdb" | cut -f1)"

if [ -n "${FERRY_BINARY:-}" ]; then FERRY="$FERRY_BINARY"; else
  swift build -c release --product ferry >/dev/null
  FERRY="$ROOT/.build/release/ferry"
fi
echo "load average before the timed runs: $(cut -d' ' -f1-3 /proc/loadavg)"

results=()
rate() { python3 -c "import sys; print('%.0f' % (float(sys.argv[1]) / float(sys.argv[2])))" "$1" "$2"; }
record() { # name keys seconds rss
  results+=("$1|$2|$3|$(rate "$2" "$3")|$4")
}
flushdst() { redis-cli -p $DST flushall >/dev/null; }

ferry_row() { # name plan-json label [binary]
  local dir="$RT/ferry-$1" binary="${4:-$FERRY}"
  rm -rf "$dir"; mkdir -p "$dir/plans"
  cp "$RT/dump.rdb" "$dir/dump.rdb"
  printf '%s\n' "$2" > "$dir/plans/bench.json"
  (cd "$dir" && "$FERRY" state keep 0 >/dev/null)
  flushdst
  (cd "$dir" && /usr/bin/time -f "%e %M" -o "$dir/time" "$binary" apply --auto-approve >"$dir/log" 2>&1) \
    || { cat "$dir/log"; exit 1; }
  read -r s r < "$dir/time"
  record "$3" "$(redis-cli -p $DST dbsize)" "$s" "$r"
}
INSTANCES="\"src\": { \"engine\": \"redis\", \"url\": \"redis://127.0.0.1:$SRC\" }, \"dst\": { \"engine\": \"redis\", \"url\": \"redis://127.0.0.1:$DST\" }"
COPY_PLAN="{ \"ferry\": 1, \"instances\": { $INSTANCES }, \"copies\": { \"c\": { \"from\": \"src\", \"to\": \"dst\", \"databases\": [\"0\"] } } }"
IMPORT_PLAN="{ \"ferry\": 1, \"instances\": { $INSTANCES }, \"imports\": { \"i\": { \"into\": \"dst\", \"database\": \"0\", \"from\": \"../dump.rdb\" } } }"
ferry_row copy "$COPY_PLAN" "ferry copy"
if [ -n "${BEFORE:-}" ]; then
  ferry_row copybefore "$COPY_PLAN" "ferry copy (before)" "$BEFORE"
  ferry_row copyagain "$COPY_PLAN" "ferry copy (again)"
  ferry_row importbefore "$IMPORT_PLAN" "ferry rdb import (before)" "$BEFORE"
fi
ferry_row copycount "{ \"ferry\": 1, \"instances\": { $INSTANCES }, \"copies\": { \"c\": { \"from\": \"src\", \"to\": \"dst\", \"databases\": [\"0\"], \"verify\": \"count\" } } }" "ferry copy (count)"
# The same copy from a source that streams snapshots straight to replicas without waiting
# (repl-diskless-sync-delay 0): serializing on the source overlaps loading on the target.
redis-cli -p $SRC config set repl-diskless-sync-delay 0 >/dev/null
ferry_row copydiskless "{ \"ferry\": 1, \"instances\": { $INSTANCES }, \"copies\": { \"c\": { \"from\": \"src\", \"to\": \"dst\", \"databases\": [\"0\"], \"verify\": \"count\" } } }" "ferry copy (count, diskless src)"
redis-cli -p $SRC config set repl-diskless-sync-delay 5 >/dev/null
ferry_row import "$IMPORT_PLAN" "ferry rdb import"

for mode in dump migrate; do
  flushdst
  out=$(python3 bench/redis/pyloop.py $mode $SRC $DST 1)
  read -r k s r < <(echo "$out" | sed -E 's/keys=([0-9]+) seconds=([0-9.]+) peak_rss_kb=([0-9]+)/\1 \2 \3/')
  record "python $mode loop" "$k" "$s" "$r"
done

# Loading by restart: time from starting redis-server on the file until it answers with all keys.
mkdir -p "$RT/restart"; cp "$RT/dump.rdb" "$RT/restart/dump.rdb"
t0=$(date +%s.%N)
start_server $RESTART "$RT/restart" --dbfilename dump.rdb
while [ "$(redis-cli -p $RESTART info persistence | grep -c '^loading:0')" != 1 ]; do sleep 0.01; done
t1=$(date +%s.%N)
k=$(redis-cli -p $RESTART dbsize)
rss=$(( $(redis-cli -p $RESTART info memory | grep '^used_memory_rss:' | cut -d: -f2 | tr -d '\r') / 1024 ))
record "restart with rdb" "$k" "$(python3 -c "print('%.3f' % ($t1 - $t0))")" "$rss"

echo
printf '%-32s %10s %9s %10s %8s %12s\n' peer keys seconds keys/s "vs ferry" "peak RSS KiB"
copy_rate=$(echo "${results[0]}" | cut -d'|' -f4)
for line in "${results[@]}"; do
  IFS='|' read -r name k s r rss <<<"$line"
  printf '%-32s %10s %9s %10s %8s %12s\n' "$name" "$k" "$s" "$r" "$(python3 -c "print('%.2fx' % ($copy_rate / $r))")" "$rss"
done
echo "(vs ferry = ferry copy keys/s divided by the peer's; restart RSS is the server's, others the client's)"
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
