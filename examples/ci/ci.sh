#!/usr/bin/env bash
# The steps of examples/ci/github-actions.yml, runnable anywhere (the test suite runs them:
# Tests/FerryEndToEndTests/CIExampleTests.swift, so that the example cannot rot).
#
#   ci.sh plan    pull request: plan against the shared state, write the plan as Markdown
#                 (plan.md, for the PR comment) and save it (ferry.plan, an artifact)
#   ci.sh apply   merge: apply the saved plan (FERRY_PLAN_FILE, default ferry.plan; plans/ when
#                 there is none) with JSON Lines on stdout (apply.jsonl), waiting up to
#                 FERRY_LOCK_TIMEOUT for a run elsewhere to finish
#
# Environment: FERRY (the binary, default ferry), FERRY_STATE (postgres://user@host:port/db?schema=ferry;
# its password in PGPASSWORD or ~/.pgpass, never in the url of a CI log), FERRY_LOCK_TIMEOUT
# (default 5m), and what plans/ reads (CI_PG_SOURCE_URL, CI_PG_TARGET_URL, CI_PG_PASSWORD). Exit: ferry's (SPEC §7); plan exits 0 both with and without changes.
set -euo pipefail
cd "$(dirname "$0")"
FERRY=${FERRY:-ferry}
: "${FERRY_STATE:?set FERRY_STATE to the shared state, postgres://user@host:port/db?schema=ferry}"
LOCK_TIMEOUT=${FERRY_LOCK_TIMEOUT:-5m}

case "${1:-}" in
plan)
    status=0
    "$FERRY" plan plans --state "$FERRY_STATE" --format markdown --detailed-exitcode --out ferry.plan > plan.md || status=$?
    # 0: no changes, 2: changes (both fine for a PR); 1: the plan has errors (plan.md says which).
    if [ "$status" -eq 1 ]; then exit 1; fi
    echo "plan: $( [ "$status" -eq 2 ] && echo changes || echo 'no changes' ) (plan.md, ferry.plan)" >&2
    ;;
apply)
    plan_file=${FERRY_PLAN_FILE:-ferry.plan}
    if [ -f "$plan_file" ]; then
        target=$plan_file
    else
        target=plans
    fi
    status=0
    "$FERRY" apply "$target" --auto-approve --state "$FERRY_STATE" --format json --lock-timeout "$LOCK_TIMEOUT" > apply.jsonl || status=$?
    # The last line is the outcome, with the exit code; print it for the job's log.
    tail -n 1 apply.jsonl >&2 || true
    exit "$status"
    ;;
*)
    echo "usage: ci.sh plan|apply" >&2
    exit 64
    ;;
esac
