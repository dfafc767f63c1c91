#!/usr/bin/env bash
# The steps of examples/ci/github-actions.yml, runnable anywhere (the test suite runs them:
# Tests/FerryEndToEndTests/CIExampleTests.swift, so that the example cannot rot).
#
#   ci.sh plan    pull request: plan against the shared state, write the plan as Markdown
#                 (plan.md, for the PR comment) and save it (ferry.plan, an artifact)
#   ci.sh apply   merge: apply the pull request's saved plan (FERRY_PLAN_FILE, default ferry.plan,
#                 the plan job's artifact) with JSON Lines on stdout (apply.jsonl), waiting up to
#                 FERRY_LOCK_TIMEOUT for a run elsewhere to finish. Without a saved plan it
#                 refuses (exit 1): a merge applies what was reviewed, never a fresh plan. A saved
#                 plan that no longer holds (the state, the plan files or the databases changed
#                 since) is PlanStale, exit 1, nothing changed: run the PR's plan job again.
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
    if [ ! -f "$plan_file" ]; then
        echo "apply: no saved plan $plan_file: the merge applies the plan reviewed on the pull request (its ferry-plan artifact); nothing was applied" >&2
        exit 1
    fi
    status=0
    "$FERRY" apply "$plan_file" --auto-approve --state "$FERRY_STATE" --format json --lock-timeout "$LOCK_TIMEOUT" > apply.jsonl || status=$?
    # The last line is the outcome, with the exit code; print it for the job's log.
    tail -n 1 apply.jsonl >&2 || true
    exit "$status"
    ;;
*)
    echo "usage: ci.sh plan|apply" >&2
    exit 64
    ;;
esac
