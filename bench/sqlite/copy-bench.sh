#!/usr/bin/env bash
# Copy benchmark for the SQLite engine: one run compares, on the same source database,
#   cp + sync | sqlite3 .backup | sqlite3 VACUUM INTO | Ferry's copy (copy + checksum verify + swap)
# REPS repetitions each; prints median wall time and median peak RSS, and the ratios
# Ferry / cp+sync and Ferry / .backup.
#
# Usage: bench/sqlite/copy-bench.sh            # the ~1 GB workload
#        SCALE=0.2 bench/sqlite/copy-bench.sh  # ~200 MB (row counts scaled)
#        REPS=5 (default)
#
# Ferry's row runs the release `ferry apply --auto-approve` on a plan with two
# SQLite instances and one copy (checksum verification on): refresh, plan, claims, shadow,
# copy, verify, swap, state commit, all timed.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
REPS=${REPS:-5}
SCALE=${SCALE:-1}
WORKLOAD=${WORKLOAD:-$ROOT/bench/workloads/sqlite-1gb.sql}
CACHE=$ROOT/.build-bench/sqlite
WORK=$CACHE/run
mkdir -p "$CACHE"

command -v sqlite3 >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq sqlite3 >/dev/null; }
[ -x /usr/bin/time ] || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq time >/dev/null; }

SRC=$CACHE/src-$SCALE.db
if [ ! -f "$SRC" ]; then
  echo "building workload (scale $SCALE) into $SRC ..."
  # Scale every row count of the workload's recursive CTEs.
  python3 - "$WORKLOAD" "$SCALE" > "$CACHE/workload-$SCALE.sql" <<'PY'
import re, sys
text = open(sys.argv[1]).read()
scale = float(sys.argv[2])
print(re.sub(r"WHERE x < (\d+)", lambda m: "WHERE x < %d" % max(1, int(int(m.group(1)) * scale)), text))
PY
  rm -f "$SRC.tmp"
  sqlite3 "$SRC.tmp" < "$CACHE/workload-$SCALE.sql"
  mv "$SRC.tmp" "$SRC"
fi
SIZE=$(stat -c %s "$SRC")
echo "source: $SRC ($SIZE bytes), $REPS repetitions each"

run_case() { # name, command... ; appends "seconds rss_kb" lines to $WORK/NAME.times
  local name=$1; shift
  /usr/bin/time -f "%e %M" -o "$WORK/time.out" "$@" >"$WORK/$name.log" 2>&1 || { echo "$name failed:"; tail -20 "$WORK/$name.log"; exit 1; }
  cat "$WORK/time.out" >> "$WORK/$name.times"
}

rm -rf "$WORK"; mkdir -p "$WORK"
# Ferry's plan: instance a holds src.db (a hard link to the cached source), instance b is the target.
PLAN=$WORK/plan
mkdir -p "$PLAN/A" "$PLAN/plans"
ln "$SRC" "$PLAN/A/src.db"
cat > "$PLAN/plans/copy.json" <<'JSON'
{"ferry":1,"instances":{"a":{"engine":"sqlite","path":"../A"},"b":{"engine":"sqlite","path":"../B"}},"copies":{"c":{"from":"a","to":"b","databases":["src"],"onExisting":"replace","rerun":"always"}}}
JSON
# Ferry: the real CLI, plan + claims + copy + checksum verify + swap + commit.
swift build -c release --product ferry >/dev/null
FERRY_BIN=$(swift build -c release --show-bin-path)/ferry
FERRY_MODE=cli
echo "ferry row: $FERRY_MODE"

# Warm the page cache the same way for everyone.
cat "$SRC" > /dev/null

for rep in $(seq "$REPS"); do
  rm -f "$WORK/dst.db"; sync
  run_case cp_sync sh -c "cp '$SRC' '$WORK/dst.db' && sync"
  rm -f "$WORK/dst.db"; sync
  # The same, but syncing only the copy (the system-wide sync also waits for other processes' writes).
  run_case cp_sync_file sh -c "cp '$SRC' '$WORK/dst.db' && sync '$WORK/dst.db'"
  rm -f "$WORK/dst.db"; sync
  run_case sqlite3_backup sqlite3 "$SRC" ".backup '$WORK/dst.db'"
  rm -f "$WORK/dst.db"; sync
  run_case sqlite3_vacuum_into sqlite3 "$SRC" "VACUUM INTO '$WORK/dst.db'"
  rm -f "$WORK/dst.db"; rm -rf "$PLAN/B" "$PLAN/.ferry"; sync
  run_case ferry sh -c "cd '$PLAN' && '$FERRY_BIN' apply --auto-approve plans"
  cmp -s "$SRC" "$PLAN/B/src.db" || { echo "ferry's copy differs from the source!"; exit 1; }
done

median() { sort -n | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
printf "\n%-22s %12s %14s\n" "method" "median s" "median peakRSS"
declare -A T
for name in cp_sync cp_sync_file sqlite3_backup sqlite3_vacuum_into ferry; do
  t=$(awk '{print $1}' "$WORK/$name.times" | median)
  m=$(awk '{print $2}' "$WORK/$name.times" | median)
  T[$name]=$t
  label=$name; [ "$name" = ferry ] && label="ferry ($FERRY_MODE)"
  printf "%-22s %12s %11s MB\n" "$label" "$t" "$(awk -v k="$m" 'BEGIN{printf "%.1f", k/1024}')"
done
awk -v f="${T[ferry]}" -v c="${T[cp_sync]}" -v cf="${T[cp_sync_file]}" -v b="${T[sqlite3_backup]}" \
  'BEGIN { printf "\nferry / (cp+sync)      = %.2f   (goal <= 1.5)\nferry / (cp+sync file) = %.2f\nferry / .backup        = %.2f   (goal <= 0.5)\n", f/c, f/cf, f/b }'
