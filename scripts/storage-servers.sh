#!/usr/bin/env bash
# Starts (or stops) the cloud storage stand-ins on 127.0.0.1 for the gs://, abs:// and s3://
# source and backup tests:
# - moto's S3 server with signature checking ON (IAM auth: INITIAL_NO_AUTH_ACTION_COUNT=6, then
#   every request must be signed with the key scripts/storage/moto_auth_setup.py makes; a wrong
#   secret fails). It serves S3 requests and Cloud Storage's S3-interoperable (HMAC, V4) requests.
# - an Azure Blob stand-in (scripts/storage/azure_blob_server.py) whose Shared Key and SAS checks
#   are the azure-storage-blob package's own signing code.
# - an FTP server for ftp:// backup locations (scripts/storage/ftp_backup_server.py, pyftpdlib):
#   a user that may write under its root, one that may only read, and one whose uploads are
#   refused (552, over its quota), one random password. moto also has a key that may only list.
# - the same FTP server with explicit TLS required (ftps://, pyftpdlib's TLS_FTPHandler) on the
#   same directory, its certificate for 127.0.0.1 only issued by a throwaway CA made at each start
#   ($RUN/tls/ca.crt), and a second CA that issued nothing (for the wrong-CA tests).
# All come from PyPI into a virtual environment under $FERRY_TEST_RUNTIME/python-storage, made
# once. Ports: FERRY_TEST_STORAGE_PORT_BASE (default FERRY_TEST_REDIS_PORT_BASE + 10, i.e. 63801)
# + 0..3. Writes $FERRY_TEST_RUNTIME/storage-servers.env for the tests.
# Usage: scripts/storage-servers.sh start|stop|status
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/lib/server-home.sh
source scripts/lib/server-home.sh
RT="${FERRY_TEST_RUNTIME:-$PWD/.build-test-servers}"
RUN="$RT/storage"
ENV_FILE="$RT/storage-servers.env"
BASE="${FERRY_TEST_STORAGE_PORT_BASE:-$(( ${FERRY_TEST_REDIS_PORT_BASE:-63791} + 10 ))}"
case "$BASE" in ''|*[!0-9]*) echo "storage-servers.sh: port base '$BASE' is not a number" >&2; exit 2 ;; esac
if [ "$BASE" -lt 1024 ] || [ $((BASE + 10)) -gt 65535 ]; then
  # The servers take ports BASE..BASE+10; a port past 65535 failed deep in a server's start.
  echo "storage-servers.sh: port base $BASE gives ports $BASE..$((BASE + 10)); they must lie in 1024..65535 (set FERRY_TEST_STORAGE_PORT_BASE lower)" >&2
  exit 2
fi
PORT_MOTO=$BASE PORT_AZURE=$((BASE + 1)) PORT_FTP=$((BASE + 2)) PORT_FTPS=$((BASE + 3))
NAMES="moto-auth azure-blob ftp-backup ftps-backup"
BUCKETS="ferry-s3 ferry-gcs"
AZURE_ACCOUNT=ferrytest
VENV="$RT/python-storage"
PINS=('moto[server]==5.2.5' 'azure-storage-blob==12.31.1' 'azure-core==1.41.0' 'pyftpdlib==2.2.0' 'pyOpenSSL==26.4.0' 'cryptography==50.0.2')

python_tools() {
  if [ ! -x "$VENV/bin/moto_server" ] || ! "$VENV/bin/python3" -c 'import azure.storage.blob, boto3, pyftpdlib, OpenSSL' 2>/dev/null; then
    echo "installing moto[server], azure-storage-blob, pyftpdlib and pyOpenSSL from PyPI into $VENV"
    mkdir -p "$RT"
    python3 -m venv "$VENV" >"$RT/python-storage.log" 2>&1 \
      || fail_with_log "python3 -m venv $VENV failed (Debian: apt-get install python3-venv)" "$RT/python-storage.log"
    # Every reference pinned at the versions the suite last passed with: moto 5.2.6 (2026-12)
    # answers a ListObjectsV2 with a delimiter by a key allowed s3:ListBucket with 403, which the
    # list-only key's test relies on being allowed; a stand-in's checks must not move under us.
    "$VENV/bin/python3" -m pip install -q "${PINS[@]}" >>"$RT/python-storage.log" 2>&1 \
      || fail_with_log "pip install ${PINS[*]} failed" "$RT/python-storage.log"
  fi
}

alive() { [ -f "$RUN/$1.pid" ] && kill -0 "$(cat "$RUN/$1.pid")" 2>/dev/null; }

wait_port() {
  for _ in $(seq 1 150); do
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
    sleep 0.1
  done
  return 1
}

start_bg() { # name port command...
  local name=$1 port=$2; shift 2
  nohup "$@" >"$RUN/$name.log" 2>&1 &
  echo $! >"$RUN/$name.pid"
  wait_port "$port" || fail_with_log "$name did not open port $port" "$RUN/$name.log"
}

start() {
  python_tools
  mkdir -p "$RUN"
  # Keys are made fresh with each server: a running pair is kept only with its env file.
  # (An env file from before the list-only key and the full FTP user means older servers: restart.)
  if alive moto-auth && alive azure-blob && alive ftp-backup && alive ftps-backup && [ -f "$ENV_FILE" ] \
      && grep -q FERRY_TEST_FTPS_BACKUP_HOST "$ENV_FILE"; then
    echo "storage test servers already running; variables in $ENV_FILE"
    return 0
  fi
  stop
  INITIAL_NO_AUTH_ACTION_COUNT=6 start_bg moto-auth "$PORT_MOTO" "$VENV/bin/moto_server" -H 127.0.0.1 -p "$PORT_MOTO"
  local keys
  # shellcheck disable=SC2086
  keys=$("$VENV/bin/python3" scripts/storage/moto_auth_setup.py "http://127.0.0.1:$PORT_MOTO" $BUCKETS 2>"$RUN/moto-setup.log") \
    || fail_with_log "making moto's test key failed" "$RUN/moto-setup.log"
  local azure_key
  azure_key=$("$VENV/bin/python3" -c 'import base64, os; print(base64.b64encode(os.urandom(64)).decode())')
  start_bg azure-blob "$PORT_AZURE" "$VENV/bin/python3" "$PWD/scripts/storage/azure_blob_server.py" "$PORT_AZURE" "$AZURE_ACCOUNT" "$azure_key"
  local ftp_password
  ftp_password=$("$VENV/bin/python3" -c 'import secrets; print(secrets.token_hex(16))')
  rm -rf "$RUN/ftp-root" && mkdir -p "$RUN/ftp-root"
  start_bg ftp-backup "$PORT_FTP" "$VENV/bin/python3" "$PWD/scripts/storage/ftp_backup_server.py" "$PORT_FTP" "$RUN/ftp-root" \
    ferry-writer ferry-reader "$ftp_password" ferry-full
  make_ftps_certs
  start_bg ftps-backup "$PORT_FTPS" "$VENV/bin/python3" "$PWD/scripts/storage/ftp_backup_server.py" \
    --tls "$RUN/tls/server.crt" "$RUN/tls/server.key" "$PORT_FTPS" "$RUN/ftp-root" ferry-writer ferry-reader "$ftp_password"
  umask 077
  cat >"$ENV_FILE" <<ENV
export FERRY_TEST_STORAGE_PYTHON=$VENV/bin/python3
export FERRY_TEST_MOTO_AUTH_ENDPOINT=http://127.0.0.1:$PORT_MOTO
export FERRY_TEST_MOTO_AUTH_ACCESS_KEY=$(echo "$keys" | cut -d' ' -f1)
export FERRY_TEST_MOTO_AUTH_SECRET=$(echo "$keys" | cut -d' ' -f2)
export FERRY_TEST_MOTO_LIST_ONLY_ACCESS_KEY=$(echo "$keys" | cut -d' ' -f3)
export FERRY_TEST_MOTO_LIST_ONLY_SECRET=$(echo "$keys" | cut -d' ' -f4)
export FERRY_TEST_MOTO_S3_BUCKET=ferry-s3
export FERRY_TEST_MOTO_GCS_BUCKET=ferry-gcs
export FERRY_TEST_AZURE_ENDPOINT=http://127.0.0.1:$PORT_AZURE/$AZURE_ACCOUNT
export FERRY_TEST_AZURE_ACCOUNT=$AZURE_ACCOUNT
export FERRY_TEST_AZURE_KEY=$azure_key
export FERRY_TEST_FTP_BACKUP_HOST=127.0.0.1:$PORT_FTP
export FERRY_TEST_FTP_BACKUP_ROOT=$RUN/ftp-root
export FERRY_TEST_FTP_BACKUP_WRITER=ferry-writer
export FERRY_TEST_FTP_BACKUP_READER=ferry-reader
export FERRY_TEST_FTP_BACKUP_FULL=ferry-full
export FERRY_TEST_FTP_BACKUP_PASSWORD=$ftp_password
export FERRY_TEST_FTPS_BACKUP_HOST=127.0.0.1:$PORT_FTPS
export FERRY_TEST_FTPS_CA=$RUN/tls/ca.crt
export FERRY_TEST_FTPS_OTHER_CA=$RUN/tls/other-ca.crt
ENV
  echo "storage test servers running; variables in $ENV_FILE"
}

# A throwaway CA and the FTPS server's certificate for 127.0.0.1 (an IP entry only, so that
# ftps://localhost does not match it), made fresh at each start; another CA that issued nothing.
make_ftps_certs() {
  local tls="$RUN/tls"
  rm -rf "$tls" && mkdir -p "$tls"
  openssl req -x509 -newkey rsa:2048 -nodes -days 30 -subj "/CN=Ferry FTPS test CA" \
    -keyout "$tls/ca.key" -out "$tls/ca.crt" 2>"$tls/openssl.log" || fail_with_log "openssl (FTPS test CA) failed" "$tls/openssl.log"
  openssl req -x509 -newkey rsa:2048 -nodes -days 30 -subj "/CN=Ferry FTPS other CA" \
    -keyout "$tls/other-ca.key" -out "$tls/other-ca.crt" 2>>"$tls/openssl.log" || fail_with_log "openssl (other CA) failed" "$tls/openssl.log"
  openssl req -newkey rsa:2048 -nodes -subj "/CN=127.0.0.1" -keyout "$tls/server.key" -out "$tls/server.csr" 2>>"$tls/openssl.log" \
    || fail_with_log "openssl (FTPS server key) failed" "$tls/openssl.log"
  printf 'subjectAltName=IP:127.0.0.1\n' >"$tls/san.ext"
  openssl x509 -req -in "$tls/server.csr" -CA "$tls/ca.crt" -CAkey "$tls/ca.key" -CAcreateserial -days 30 \
    -extfile "$tls/san.ext" -out "$tls/server.crt" 2>>"$tls/openssl.log" || fail_with_log "openssl (FTPS server certificate) failed" "$tls/openssl.log"
}

stop() {
  for name in $NAMES; do
    if alive "$name"; then kill "$(cat "$RUN/$name.pid")" 2>/dev/null || true; fi
    rm -f "$RUN/$name.pid"
  done
}

status() {
  for name in $NAMES; do
    if alive "$name"; then echo "$name: running"; else echo "$name: stopped"; fi
  done
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) status ;;
  *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
