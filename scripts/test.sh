#!/usr/bin/env bash
# Runs the whole test suite: installs what it needs, starts two throwaway servers of each
# engine on 127.0.0.1, runs `swift test`, and stops the servers again.
# Works from any checkout, a 0700 directory too (servers that run as their own user keep their
# data where that user can reach it: scripts/lib/server-home.sh). A step that fails says which.
# Usage: scripts/test.sh [extra swift test arguments]
set -euo pipefail
cd "$(dirname "$0")/.."
trap 'code=$?; echo "scripts/test.sh: \`$BASH_COMMAND\` failed (exit $code)" >&2; exit $code' ERR

# The tests read the clients' output as UTF-8 (mariadb picks its character set from the locale:
# with none set it prints names like `tä` in latin1). A caller's own locale is kept.
if [ -z "${LC_ALL:-}${LC_CTYPE:-}${LANG:-}" ]; then export LANG=C.UTF-8; fi

scripts/install-deps.sh

export FERRY_TEST_RUNTIME="${FERRY_TEST_RUNTIME:-$PWD/.build-test-servers}"
mkdir -p "$FERRY_TEST_RUNTIME"

started=()
cleanup() {
  for s in "${started[@]}"; do "scripts/$s" stop || true; done
}
trap cleanup EXIT

for s in mysql-servers.sh postgres-servers.sh redis-servers.sh storage-servers.sh; do
  if [ -x "scripts/$s" ]; then
    "scripts/$s" start
    started+=("$s")
    # Each server script writes the variables the tests read.
    # shellcheck disable=SC1090
    source "$FERRY_TEST_RUNTIME/${s%.sh}.env"
  fi
done

swift build --build-tests
# The Redis engine suite uses many numbered databases of the two test servers; it runs alone,
# after everything else (which includes the serialized CLI tests on the same servers).
swift test --skip-build --skip FerryRedisTests "$@"
swift test --skip-build --filter FerryRedisTests "$@"
