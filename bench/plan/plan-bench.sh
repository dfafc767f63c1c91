#!/usr/bin/env bash
# Planning speed: `ferry validate` and `ferry plan` on generated plans of 500 and 5,000
# resources against local SQLite instances (no servers), release build, median of 5 runs.
# Reports both times and their ratio: planning should grow linearly (ratio about 10) and
# plan 5,000 resources in well under a second.
set -euo pipefail
cd "$(dirname "$0")/../.."
swift build -c release --product ferry >/dev/null
ferry="$PWD/.build/release/ferry"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

generate() { # N DIR: N/2 imports and N/2 copies reading them, over 10 instances
  python3 - "$1" "$2" <<'PY'
import json, os, sys
n, d = int(sys.argv[1]), sys.argv[2]
os.makedirs(f"{d}/plans/data", exist_ok=True)
open(f"{d}/plans/data/seed.sql", "w").write("CREATE TABLE t(x);\n")
inst = {f"i{k}": {"engine": "sqlite", "path": f"../var/i{k}"} for k in range(10)}
imports = {f"imp{k}": {"into": f"i{k % 5}", "database": f"db{k}", "from": "data/seed.sql"} for k in range(n // 2)}
copies = {f"cp{k}": {"from": f"i{k % 5}", "to": f"i{5 + k % 5}", "databases": {f"db{k}": f"copy{k}"}} for k in range(n - n // 2)}
json.dump({"ferry": 1, "instances": inst, "imports": imports, "copies": copies}, open(f"{d}/plans/main.json", "w"), indent=1)
PY
}

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
time_ms() { # DIR CMD...: median wall ms of 5 runs
  local dir="$1"; shift
  for _ in 1 2 3 4 5; do
    local start end
    start=$(date +%s%N)
    (cd "$dir" && "$@" >/dev/null 2>&1) || [ $? -eq 2 ]
    end=$(date +%s%N)
    echo $(( (end - start) / 1000000 ))
  done | median
}

declare -A result
for n in 500 5000; do
  generate "$n" "$work/p$n"
  result[validate$n]=$(time_ms "$work/p$n" "$ferry" validate)
  result[plan$n]=$(time_ms "$work/p$n" "$ferry" plan --no-color --detailed-exitcode)
done
printf '%-10s %10s %10s %8s\n' "command" "500 (ms)" "5000 (ms)" "ratio"
for c in validate plan; do
  a=${result[${c}500]}; b=${result[${c}5000]}
  printf '%-10s %10s %10s %8s\n' "$c" "$a" "$b" "$(awk -v a="$a" -v b="$b" 'BEGIN { printf "%.1f", (a > 0 ? b / a : 0) }')"
done
