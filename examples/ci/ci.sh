#!/usr/bin/env bash
# The steps of examples/ci/github-actions.yml and examples/ci/.gitlab-ci.yml, runnable anywhere
# (the test suite runs them: Tests/FerryEndToEndTests/CIExampleTests.swift, so that the example
# cannot rot). `plan` and `apply` read no variable of any CI service; `fetch` reads GitLab's.
#
#   ci.sh plan    pull request: plan against the shared state, write the plan as Markdown
#                 (plan.md, for the PR comment) and save it (ferry.plan, an artifact)
#   ci.sh apply   merge: apply the pull request's saved plan (FERRY_PLAN_FILE, default ferry.plan,
#                 the plan job's artifact) with JSON Lines on stdout (apply.jsonl), waiting up to
#                 FERRY_LOCK_TIMEOUT for a run elsewhere to finish. Without a saved plan it
#                 refuses (exit 1): a merge applies what was reviewed, never a fresh plan. A saved
#                 plan that no longer holds (the state, the plan files or the databases changed
#                 since) is PlanStale, exit 1, nothing changed: run the PR's plan job again.
#   ci.sh fetch   merge, on GitLab CI: put the saved plan of the merge request this pipeline's
#                 commit merged at FERRY_PLAN_FILE (its ferry-plan job's artifact), through the
#                 GitLab API (CI_API_V4_URL, CI_PROJECT_ID, CI_COMMIT_SHA). The merge request is
#                 looked up with FERRY_GITLAB_TOKEN (a project access token with read_api: the job
#                 token may not list merge requests), else read from the merge commit's message
#                 ("See merge request group/project!IID", GitLab's default); the artifact is
#                 downloaded with the job token (CI_JOB_TOKEN); needs curl, and jq with the token.
#                 No merge request or no artifact:
#                 exit 1, and `apply` then refuses too. (GitHub: the workflow's steps do this.)
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
fetch)
    plan_file=${FERRY_PLAN_FILE:-ferry.plan}
    : "${CI_API_V4_URL:?ci.sh fetch runs in a GitLab CI job (CI_API_V4_URL is not set)}"
    : "${CI_PROJECT_ID:?}" "${CI_COMMIT_SHA:?}"
    api="$CI_API_V4_URL/projects/$CI_PROJECT_ID"
    iid=""
    if [ -n "${FERRY_GITLAB_TOKEN:-}" ]; then
        # The merged merge request whose merge (or squash) commit this is.
        iid=$(curl -fsS --header "PRIVATE-TOKEN: $FERRY_GITLAB_TOKEN" "$api/repository/commits/$CI_COMMIT_SHA/merge_requests" \
              | jq -r '[.[] | select(.state == "merged")][0].iid // empty') || iid=""
    fi
    if [ -z "$iid" ]; then
        iid=$(printf '%s\n' "${CI_COMMIT_MESSAGE:-}" | sed -n 's/^See merge request .*!\([0-9][0-9]*\)$/\1/p' | tail -n 1)
    fi
    if [ -z "$iid" ]; then
        echo "fetch: no merge request merged $CI_COMMIT_SHA: nothing reviewed to apply" >&2
        exit 1
    fi
    # The last successful ferry-plan job of the merge request's pipelines (ref refs/merge-requests/IID/head).
    ref="refs%2Fmerge-requests%2F$iid%2Fhead"
    rm -f "$plan_file"
    if ! curl -fsS --header "JOB-TOKEN: ${CI_JOB_TOKEN:?}" -o "$plan_file" \
         "$api/jobs/artifacts/$ref/raw/examples/ci/ferry.plan?job=ferry-plan"; then
        rm -f "$plan_file"
        echo "fetch: merge request !$iid has no saved plan (its ferry-plan job's artifact): run its pipeline; nothing was applied" >&2
        exit 1
    fi
    echo "fetch: the saved plan of merge request !$iid is $plan_file" >&2
    ;;
*)
    echo "usage: ci.sh plan|apply|fetch" >&2
    exit 64
    ;;
esac
