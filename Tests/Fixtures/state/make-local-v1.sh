#!/usr/bin/env bash
# Writes Tests/Fixtures/state/local-v1: a project whose state directory was made by the ferry
# built from the commit named in local-v1/MADE-BY (before the state backend protocol), and the
# answers that ferry gave on it (expected/*.txt, the project's path written ROOT). The test
# LocalStateCompatibilityTests replays the same commands with today's ferry on a copy and
# compares. Usage: make-local-v1.sh FERRY_BINARY (run from the repository root).
set -euo pipefail
ferry=$(realpath "$1")
here=$(cd "$(dirname "$0")" && pwd)
out="$here/local-v1"
work=/tmp/ferry-fixture-local-v1
rm -rf "$work" "$out"
mkdir -p "$work/plans/data" "$out/expected"
cd "$work"
export TZ=UTC NO_COLOR=1
cat > plans/main.json <<'PLAN'
{
  "ferry": 1,
  "instances": {
    "a": { "engine": "sqlite", "path": "../var/a" },
    "b": { "engine": "sqlite", "path": "../var/b" }
  },
  "imports": {
    "seed": { "into": "a", "database": "app", "from": "data/seed.sql", "onExisting": "replace" }
  },
  "copies": {
    "to-b": { "from": "a", "to": "b", "databases": { "app": "app_copy" }, "onExisting": "replace" }
  },
  "backups": {
    "nightly": { "of": "a", "databases": ["app"], "to": "../var/backups", "keep": 2 }
  }
}
PLAN
seed() { printf 'CREATE TABLE users(id INTEGER PRIMARY KEY, name TEXT NOT NULL);\nINSERT INTO users VALUES %s;\n' "$1" > plans/data/seed.sql; }
# 1: create everything. 2: replace (source changed). 3: a failing import, rolled back (exit 3).
seed "(1, 'ada'), (2, 'grace')";                 "$ferry" apply --auto-approve
seed "(1, 'ada'), (2, 'grace'), (3, 'frances')"; "$ferry" apply --auto-approve
seed "(1, 'ada'), (2, 'grace'), (3, 'frances')"; echo "INSERT INTO missing VALUES (1);" >> plans/data/seed.sql
"$ferry" apply --auto-approve && exit 1 || test $? -eq 3
# 4: an on-demand backup set. 5: retention raised. 6: a run killed after its first swap.
seed "(1, 'ada'), (2, 'grace'), (3, 'frances')"; "$ferry" backup nightly
"$ferry" state keep 2
cp var/a/app.db /tmp/ferry-fixture-a-before.db
seed "(1, 'ada'), (2, 'grace'), (3, 'frances'), (4, 'hedy')"
FERRY_TEST_KILL_AT=after-swapDone "$ferry" apply --auto-approve && exit 1 || test $? -eq 137
# A lock of a process on another host is never taken over: the fixture's is removed, as after
# `ferry unlock ID`, so that the copy reads the same on any machine.
rm -f .ferry/state.lock
cmp -s var/a/app.db /tmp/ferry-fixture-a-before.db && { echo "the killed run did not swap"; exit 1; }
# The answers of this ferry, before and after `ferry recover`.
answer() { local name=$1; shift; { "$ferry" "$@" 2>&1; echo "exit $?"; } | sed "s#$work#ROOT#g" > "$out/expected/$name.txt" || true; }
snapshot() {
  local p=$1
  answer "$p-state-list" state list
  for addr in import.seed copy.to-b backup.nightly; do answer "$p-state-show-$addr" state show "$addr"; done
  answer "$p-runs" runs
  answer "$p-status" status
  for run in $(ls .ferry/runs); do answer "$p-status-$run" status "$run"; done
}
cp -a "$work" /tmp/ferry-fixture-local-v1.made
snapshot before
answer recover recover
snapshot after
cmp var/a/app.db /tmp/ferry-fixture-a-before.db
# The fixture is the project as it was before the answers (recover changed it).
rm -rf "$work"; mv /tmp/ferry-fixture-local-v1.made "$work"
mkdir -p "$out"
cp -a "$work/plans" "$work/var" "$out/"
cp -a "$work/.ferry" "$out/dot-ferry"
sqlite3 /tmp/ferry-fixture-a-before.db "SELECT id, name FROM users ORDER BY id" > "$out/expected/a-app-before-killed-run.txt"
git -C "$here" rev-parse HEAD > "$out/MADE-BY"
rm -f /tmp/ferry-fixture-a-before.db
echo "wrote $out"
