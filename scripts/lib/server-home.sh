# Sourced by the test-server scripts. Test servers that run as their own system user (MariaDB as
# `mysql`; PostgreSQL, which refuses to run as root, as `postgres`) cannot write inside a checkout
# that user may not enter: root's home and every `mktemp -d` directory are mode 0700.

# server_home USER RUNTIME: prints the directory under which USER's server data goes. RUNTIME when
# USER can reach it (or when we are not root: then the server runs as us); otherwise a directory
# of ours under /var/tmp (mode 0755, named by a hash of RUNTIME, so each checkout has its own),
# which a link RUNTIME/USER-data points to. Exit 1 when that directory is someone else's.
server_home() {
  local user=$1 runtime=$2
  if [ "$(id -u)" -ne 0 ] || ! id "$user" >/dev/null 2>&1 \
     || runuser -u "$user" -- test -x "$runtime" 2>/dev/null; then
    echo "$runtime"
    return 0
  fi
  local key home
  key=$(printf '%s' "$runtime" | sha256sum | cut -c1-12)
  home="/var/tmp/ferry-test-servers-$key"
  mkdir -p "$home"
  if [ -L "$home" ] || [ "$(stat -c %u "$home")" != "$(id -u)" ]; then
    echo "$home is not a directory of ours; remove it or set FERRY_TEST_RUNTIME to a directory $user can reach" >&2
    return 1
  fi
  chmod 0755 "$home"
  ln -sfn "$home" "$runtime/$user-data"
  echo "$home"
}

# fail_with_log WHAT LOG: says WHAT failed, shows the last lines of LOG (the reason), exits 1.
fail_with_log() {
  echo "$1; the last lines of $2:" >&2
  tail -n 20 "$2" 2>/dev/null | sed 's/^/  | /' >&2 || true
  exit 1
}
