#!/usr/bin/env bash
# The read-replica tests (pytest -m replica) against a real streaming replica: a private
# PostgreSQL primary of its own and a replica made from it with `pg_basebackup -R`, each on its
# own port, under a temporary directory; both are stopped and removed at the end. The system
# PostgreSQL is never touched.
#
#   .ci/replica.sh [pytest options] [test paths]   (no paths: the tests marked `replica`)
#   .ci/replica.sh --run COMMAND...   (COMMAND with PRIMARY_URL and REPLICA_URL: the
#                                      postgres database on each)
#
# Ports: REPLICA_PRIMARY_PORT (default 55433) and REPLICA_PORT (default 55434), else the first
# free of 55435-55439. PostgreSQL
# refuses to run as root: as root, the servers run as the postgres user (Debian's PostgreSQL has
# one). Skipped, with the reason, without PostgreSQL's server programs; under CI=true a failure.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON="${PYTHON:-.venv/bin/python}"
PRIMARY_PORT="${REPLICA_PRIMARY_PORT:-55433}"
REPLICA_PORT="${REPLICA_PORT:-55434}"

skip_or_fail() {
  if [ "${CI:-}" = true ]; then
    echo "replica: $1 (CI=true: a missing service is a failure, not a skip)" >&2
    exit 1
  fi
  echo "replica: skipped: $1"
  exit 0
}

PG_BIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
[ -n "$PG_BIN" ] && [ -x "$PG_BIN/initdb" ] || skip_or_fail "PostgreSQL's server programs are not installed"

RUN_AS=()
[ "$(id -u)" = 0 ] && RUN_AS=(runuser -u postgres --)
WORKDIR=$(mktemp -d "${TMPDIR:-/tmp}/replica-$PRIMARY_PORT.XXXXXX")
[ ${#RUN_AS[@]} -eq 0 ] || chown postgres "$WORKDIR"
as_pg() { "${RUN_AS[@]}" "$@"; }

stop() {
  for node in replica primary; do
    [ -f "$WORKDIR/$node/postmaster.pid" ] &&
      as_pg "$PG_BIN/pg_ctl" -D "$WORKDIR/$node" -m immediate -w stop >/dev/null 2>&1 || true
  done
  rm -rf "$WORKDIR"
}
trap stop EXIT

# Durability off (a test cluster thrown away at the end); replication as shipped.
server_options() {
  echo "-p $1 -k $WORKDIR -c listen_addresses=127.0.0.1 -c fsync=off" \
    "-c full_page_writes=off -c max_connections=60"
}
# A node starts on the first port of its list that it can bind: these ports lie in Linux's
# ephemeral range, so a client socket lingering in TIME_WAIT (Redis's, say) may hold one.
start_node() {
  local node=$1 port
  shift
  for port in "$@"; do
    if as_pg "$PG_BIN/pg_ctl" -D "$WORKDIR/$node" -l "$WORKDIR/$node.log" -w \
      -o "$(server_options "$port")" start >/dev/null 2>&1; then
      echo "$port"
      return
    fi
  done
  cat "$WORKDIR/$node.log" >&2
  return 1
}
as_pg "$PG_BIN/initdb" -D "$WORKDIR/primary" -U postgres -A trust --no-sync -E UTF8 >/dev/null
PRIMARY_PORT=$(start_node primary "$PRIMARY_PORT" $(seq 55435 55439))
# -R: standby.signal and primary_conninfo, so the copy starts as a streaming replica.
as_pg "$PG_BIN/pg_basebackup" -h 127.0.0.1 -p "$PRIMARY_PORT" -U postgres \
  -D "$WORKDIR/replica" -R -X stream --checkpoint=fast
REPLICA_PORT=$(start_node replica "$REPLICA_PORT" $(seq 55435 55439 | grep -vx "$PRIMARY_PORT"))

PRIMARY_URL="postgres://postgres@127.0.0.1:$PRIMARY_PORT"
REPLICA_URL="postgres://postgres@127.0.0.1:$REPLICA_PORT"
[ "$(psql -w -tA "$REPLICA_URL/postgres" -c 'SELECT pg_is_in_recovery()')" = t ] ||
  { echo "replica: the copy on $REPLICA_PORT is not in recovery" >&2; exit 1; }

if [ "${1:-}" = --run ]; then
  shift
  PRIMARY_URL="$PRIMARY_URL/postgres" REPLICA_URL="$REPLICA_URL/postgres" "$@"
  exit
fi

# Test paths given replace the default; options alone are added to it.
ARGS=(-m replica tests/integration/test_replica.py)
for arg in "$@"; do [ -e "${arg%%::*}" ] && { ARGS=(); break; }; done
echo "replica: primary 127.0.0.1:$PRIMARY_PORT, streaming replica 127.0.0.1:$REPLICA_PORT" \
  "($("$PG_BIN/postgres" --version))"
DATABASE_URL="$PRIMARY_URL/bigin" DATABASE_REPLICA_URL="$REPLICA_URL/bigin" \
  "${PYTHON%/python}/pytest" -p no:cacheprovider "$@" "${ARGS[@]}"
