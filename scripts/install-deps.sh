#!/usr/bin/env bash
# Installs the system packages Ferry builds and tests with (Debian), only when missing.
set -euo pipefail
need=()
check() { dpkg -s "$1" >/dev/null 2>&1 || need+=("$1"); }
for p in libsqlite3-dev sqlite3 zlib1g-dev libssl-dev pkg-config libmariadb-dev mariadb-server mariadb-client redis-server redis-tools python3; do
  check "$p"
done
if [ ${#need[@]} -gt 0 ]; then
  echo "installing: ${need[*]}"
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}" >/dev/null
fi
