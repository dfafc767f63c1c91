#!/usr/bin/env bash
# Installs the Debian packages Ferry needs, only those that are missing, and says which.
#
# Usage: scripts/install-deps.sh [--build | --test] [--dry-run]
#   --build    only what `swift build` links against (the quickstart needs nothing more)
#   --test     that, plus the test servers and tools (default; scripts/test.sh uses it)
#   --dry-run  print what would be installed and change nothing
# FERRY_DPKG_ADMINDIR reads the installed packages from another dpkg database directory (its
# `status` file) instead of /var/lib/dpkg: the tests use it to show what a fresh machine gets.
# `apt-get update` runs only when something is to be installed. Exit 1 when installing fails.
set -euo pipefail

# The system libraries of Package.swift's system-library targets (CSQLite, CZlib, CCrypto, CSSL,
# CMariaDB, CLibPQ) and pkg-config, which SwiftPM asks for their compiler and linker flags.
BUILD_PACKAGES=(libsqlite3-dev zlib1g-dev libssl-dev libmariadb-dev libpq-dev pkg-config)
# The test servers (scripts/mysql-servers.sh, scripts/postgres-servers.sh, scripts/redis-servers.sh;
# postgresql brings postgresql-client: pg_dump and pg_restore, which the PostgreSQL engine runs), the sqlite3 shell the
# benchmarks compare with, python3 with jsonschema for the plan schema test, python3-venv for
# the FTP and S3 test endpoints' PyPI packages (scripts/redis-servers.sh), and pgbouncer, which a
# test starts in transaction and session mode in front of a test server (the state lock's pooler check).
TEST_PACKAGES=(sqlite3 mariadb-server mariadb-client postgresql pgbouncer redis-server redis-tools openssl python3 python3-jsonschema
               python3-venv)

group=test dry_run=0
for word in "$@"; do
  case "$word" in
    --build) group=build ;;
    --test) group=test ;;
    --dry-run) dry_run=1 ;;
    -h|--help) sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "install-deps.sh: unknown argument $word (see --help)" >&2; exit 2 ;;
  esac
done
wanted=("${BUILD_PACKAGES[@]}")
[ "$group" = build ] || wanted+=("${TEST_PACKAGES[@]}")

if ! command -v dpkg-query >/dev/null 2>&1; then
  echo "install-deps.sh: not a Debian system (no dpkg-query); install these with your package manager: ${wanted[*]}" >&2
  exit 0
fi

admin=()
[ -z "${FERRY_DPKG_ADMINDIR:-}" ] || admin=(--admindir="$FERRY_DPKG_ADMINDIR")

# Prints the packages of "$@" that dpkg does not list as installed, in the order given.
missing_packages() {
  local package status
  for package in "$@"; do
    status=$(dpkg-query "${admin[@]}" -W -f='${Status}\n' "$package" 2>/dev/null || true)
    case "$status" in *"ok installed"*) ;; *) echo "$package" ;; esac
  done
}

mapfile -t need < <(missing_packages "${wanted[@]}")
if [ ${#need[@]} -eq 0 ]; then
  [ "$dry_run" = 1 ] && echo "nothing to install: ${wanted[*]} are installed"
  exit 0
fi
if [ "$dry_run" = 1 ]; then
  echo "would install: ${need[*]}"
  exit 0
fi
SUDO=()
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null 2>&1 || { echo "install-deps.sh: missing ${need[*]}; run as root or install sudo" >&2; exit 1; }
  SUDO=(sudo)
fi
echo "installing: ${need[*]} (apt-get update, apt-get install)"
log=$(mktemp)
trap 'rm -f "$log"' EXIT
if ! { "${SUDO[@]}" apt-get update -qq && DEBIAN_FRONTEND=noninteractive "${SUDO[@]}" apt-get install -y -qq "${need[@]}"; } >"$log" 2>&1; then
  echo "install-deps.sh: installing ${need[*]} failed; the last lines of apt-get's output:" >&2
  tail -20 "$log" >&2
  exit 1
fi
mapfile -t still < <(missing_packages "${need[@]}")
if [ ${#still[@]} -gt 0 ]; then
  echo "install-deps.sh: apt-get finished but ${still[*]} are still not installed" >&2
  exit 1
fi
echo "installed: ${need[*]}"
