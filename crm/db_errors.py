"""What counts as the database unavailable, wherever it is met: the APIs answer 503 with
Retry-After (crm/http/boundary.py), a job is given back and retried (owners/outbox.py)."""

from __future__ import annotations

import re

from django.db import InterfaceError, InternalError, OperationalError


def database_unavailable(exc: BaseException) -> bool:
    """Whether `exc` means the database cannot answer now, not that anything is wrong with the
    request or the code: an OperationalError or InterfaceError (PostgreSQL down or restarting, no
    connection to be had from pgbouncer, a deadlock, a statement cancelled), or the server
    session lost in the middle of a BEGIN or COMMIT behind pgbouncer (below)."""
    if isinstance(exc, OperationalError | InterfaceError):
        return True
    return isinstance(exc, InternalError) and _session_lost_mid_command(exc.__cause__)


# psycopg sends BEGIN and COMMIT as commands of their own and expects one result for each. When
# PostgreSQL ends the server session meanwhile (a restart, pg_terminate_backend), pgbouncer in
# transaction mode passes on the server's FATAL error and then sends one of its own ("server
# conn crashed?"), and keeps the client's connection, ready for its next transaction on another
# server session. psycopg 3.3, given two results, raises neither error but
# InternalError("received 2 results from command 'COMMIT'"), which carries no SQLSTATE; only its
# message tells it from a bug (tests/integration/test_connection_lost.py).
_MANY_RESULTS = re.compile(r"received \d+ results from command '")


def _session_lost_mid_command(cause: BaseException | None) -> bool:
    if cause is None or getattr(cause, "sqlstate", "") is not None:
        return False  # not the driver's own error: the server's (with a SQLSTATE), or none
    return _MANY_RESULTS.match(str(cause)) is not None
