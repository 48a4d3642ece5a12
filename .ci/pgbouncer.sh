#!/usr/bin/env bash
# The suites that talk to the database most (API, OAuth, jobs, reads) once more through Debian's
# pgbouncer in transaction mode, the usual production pooler (docs/deployment.md, "pgbouncer"):
# no session state survives a transaction there, so a SQL PREPARE, a session SET or a
# server-side cursor that works on a direct connection breaks.
#
#   .ci/pgbouncer.sh [pytest options] [test paths]   (no paths: the suites below)
#   .ci/pgbouncer.sh --run COMMAND...   (COMMAND with PGBOUNCER_URL: DATABASE_URL's database
#                                        through the pooler; bench/token_lookup.py uses it)
#
# DATABASE_URL names the PostgreSQL behind the pooler. The script installs pgbouncer when it is
# missing (apt-get, as root), writes a private configuration, starts a pgbouncer of its own on
# 127.0.0.1:$PGBOUNCER_PORT (default 6432, or a free port when something else holds 6432) and
# stops it at the end; nothing else of the machine changes.
#
# The test database: pytest-django would CREATE and DROP it through the pooler, and the DROP
# fails there ("database is being accessed by other users": pgbouncer keeps its own server
# connections to it open after the tests disconnect). So the script creates it on PostgreSQL
# directly, pytest reuses it (--reuse-db: it migrates it through the pooler, tests included),
# and the script drops it directly once pgbouncer has stopped.
set -euo pipefail
cd "$(dirname "$0")/.."

# The API (in process and under gunicorn), OAuth, the jobs (outbox, transfers, with Celery
# workers) and the reads.
SUITES=(tests/owners/api tests/integration/test_every_endpoint.py
  tests/integration/test_api_limits_live.py tests/crm/oauth tests/owners/test_outbox.py
  tests/owners/transfers tests/integration/test_outbox_delivery.py
  tests/integration/test_transfer_jobs.py tests/crm/api)
PYTHON="${PYTHON:-.venv/bin/python}"
IN_CI=$([ "${CI:-}" = true ] && echo 1 || true)

skip_or_fail() {
  if [ -n "$IN_CI" ]; then
    echo "pgbouncer: $1 (CI=true: a missing service is a failure, not a skip)" >&2
    exit 1
  fi
  echo "pgbouncer: skipped: $1"
  exit 0
}

case "${DATABASE_URL:-}" in
  postgres://* | postgresql://*) ;;
  *) skip_or_fail "DATABASE_URL is not PostgreSQL" ;;
esac

PGBOUNCER=$(command -v pgbouncer || true)
[ -n "$PGBOUNCER" ] || { [ -x /usr/sbin/pgbouncer ] && PGBOUNCER=/usr/sbin/pgbouncer; } || true
if [ -z "$PGBOUNCER" ]; then
  [ "$(id -u)" = 0 ] || skip_or_fail "pgbouncer is not installed (apt-get install pgbouncer)"
  echo "pgbouncer: installing Debian's pgbouncer"
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -qq pgbouncer >/dev/null 2>&1 ||
    { apt-get update -qq && apt-get install -y -qq pgbouncer >/dev/null; }
  PGBOUNCER=/usr/sbin/pgbouncer
fi

# The parts of DATABASE_URL, and the URLs of PostgreSQL directly and through the pooler.
read -r DB_USER DB_PASSWORD DB_HOST DB_PORT DB_NAME < <("$PYTHON" - <<'EOF'
import os
from urllib.parse import unquote, urlsplit

url = urlsplit(os.environ["DATABASE_URL"])
print(unquote(url.username or "postgres"), unquote(url.password or "") or "-",
      url.hostname or "127.0.0.1", url.port or 5432, url.path.lstrip("/"))
EOF
)
[ "$DB_PASSWORD" = - ] && DB_PASSWORD=""
# A database of its own (test_<name>_pgbouncer), so a direct run's test database is left alone.
POOLED_NAME="${DB_NAME}_pgbouncer"
TEST_DB="test_$POOLED_NAME"
CREDENTIALS="$DB_USER${DB_PASSWORD:+:$DB_PASSWORD}"
DIRECT_URL="postgres://$CREDENTIALS@$DB_HOST:$DB_PORT"

listening() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
PORT="${PGBOUNCER_PORT:-6432}"
if listening "$PORT"; then
  [ -z "${PGBOUNCER_PORT:-}" ] || { echo "pgbouncer: port $PORT is taken" >&2; exit 1; }
  # Debian's own pgbouncer service, say (the package starts it where systemd runs).
  PORT=$("$PYTHON" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
fi
POOLED_URL="postgres://$CREDENTIALS@127.0.0.1:$PORT/$POOLED_NAME"

# pgbouncer refuses to run as root: it drops to the postgres user (Debian's PostgreSQL has one).
RUN_AS=()
[ "$(id -u)" = 0 ] && RUN_AS=(-u "$(id -un postgres 2>/dev/null || echo nobody)")
WORKDIR=$(mktemp -d "${TMPDIR:-/tmp}/pgbouncer-$PORT.XXXXXX")
[ ${#RUN_AS[@]} -eq 0 ] || chown "${RUN_AS[1]}" "$WORKDIR"
cat >"$WORKDIR/pgbouncer.ini" <<EOF
[databases]
* = host=$DB_HOST port=$DB_PORT

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = $PORT
unix_socket_dir =
pool_mode = transaction
auth_type = trust
auth_file = $WORKDIR/userlist.txt
admin_users = $DB_USER
max_client_conn = 200
default_pool_size = 20
logfile = $WORKDIR/pgbouncer.log
pidfile = $WORKDIR/pgbouncer.pid
EOF
# trust: the user must still be listed; its password (if any) is the one used towards PostgreSQL.
printf '"%s" "%s"\n' "$DB_USER" "$DB_PASSWORD" >"$WORKDIR/userlist.txt"

psql_direct() { PGOPTIONS="-c client_min_messages=warning" psql -w -q -v ON_ERROR_STOP=1 "$DIRECT_URL/postgres" "$@"; }

stop() {
  if [ -f "$WORKDIR/pgbouncer.pid" ]; then
    kill "$(cat "$WORKDIR/pgbouncer.pid")" 2>/dev/null || true
    for _ in $(seq 1 50); do [ -f "$WORKDIR/pgbouncer.pid" ] || break; sleep 0.1; done
  fi
  psql_direct -c "DROP DATABASE IF EXISTS \"$TEST_DB\" WITH (FORCE)" || true
  rm -rf "$WORKDIR"
}
trap stop EXIT

"$PGBOUNCER" -d -q "${RUN_AS[@]}" "$WORKDIR/pgbouncer.ini"
for _ in $(seq 1 50); do listening "$PORT" && break; sleep 0.1; done
listening "$PORT" || { cat "$WORKDIR/pgbouncer.log" >&2; exit 1; }

if [ "${1:-}" = --run ]; then
  shift
  PGBOUNCER_URL="postgres://$CREDENTIALS@127.0.0.1:$PORT/$DB_NAME" "$@"
  exit
fi

psql_direct -c "DROP DATABASE IF EXISTS \"$TEST_DB\" WITH (FORCE)" -c "CREATE DATABASE \"$TEST_DB\""

# Test paths given replace the suites; options alone are added to them.
for arg in "$@"; do [ -e "${arg%%::*}" ] && { SUITES=(); break; }; done
set -- "$@" "${SUITES[@]}"
echo "pgbouncer: $* through pgbouncer $("$PGBOUNCER" --version | head -n 1 | cut -d' ' -f2)" \
  "(transaction mode, 127.0.0.1:$PORT)"
DATABASE_URL="$POOLED_URL" DATABASE_POOLER=transaction \
  "${PYTHON%/python}/pytest" --reuse-db -p no:cacheprovider "$@"
