#!/usr/bin/env bash
# The README's first command: on a machine with only the Swift toolchain, installs the system
# libraries the build links against (Debian packages, only those missing, named as they are
# installed), then builds Ferry and applies the quickstart plan in plans/ (two SQLite instances
# under var/: an import, a renamed copy and a backup set). Needs no server. Run it again and it
# installs nothing and finds nothing to do ("No changes.").
#
# Usage: scripts/quickstart.sh [--dry-run]
#   --dry-run  print what would be installed and run, and change nothing
# FERRY_BIN runs that ferry binary instead of `swift run ferry` (the tests use the one they built).
set -euo pipefail
cd "$(dirname "$0")/.."

dry_run=()
for word in "$@"; do
  case "$word" in
    --dry-run) dry_run=(--dry-run) ;;
    -h|--help) sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "quickstart.sh: unknown argument $word (see --help)" >&2; exit 2 ;;
  esac
done

if [ -n "${FERRY_BIN:-}" ]; then
  ferry=("$FERRY_BIN")
else
  if ! command -v swift >/dev/null 2>&1; then
    echo "quickstart.sh: no swift on PATH: install the Swift 6 toolchain first (swift.org/install)" >&2
    exit 1
  fi
  ferry=(swift run ferry)
fi

scripts/install-deps.sh --build "${dry_run[@]}"
if [ ${#dry_run[@]} -gt 0 ]; then
  echo "would run: ${ferry[*]} apply --auto-approve"
  exit 0
fi
"${ferry[@]}" apply --auto-approve
cat <<'NEXT'

The quickstart's databases are SQLite files under var/ (dev/shop.db, staging/shop_staging.db,
backups/dev/); the state of what was applied is in .ferry/. Next: `swift run ferry plan` shows
there is nothing to do; README.md and docs/SPEC.md say the rest.
NEXT
