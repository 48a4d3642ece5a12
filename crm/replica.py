"""Reads on a streaming replica, where one is configured (`DATABASE_REPLICA_URL`, docs/deployment.md
"A read replica").

Only the read endpoints use it, and only for the queries of their own handler: authentication,
the scope check and the API limits run before, on the primary (a token issued a moment ago is
there at once). Everything else, every write and every read of a worker, a command or the admin,
stays on the primary: the router sends a read to the replica only while `reading()` says so.

A read goes to the primary instead when

- the organization wrote in the last `READ_YOUR_WRITES_SECONDS` (any API or admin request other
  than GET/HEAD/OPTIONS by one of its users marks it, in the cache: Redis where there is one, so
  every web process sees it): a record just added, a job's status right after scheduling, a batch
  just changed, all read back as written;
- the replica is behind by more than `DATABASE_REPLICA_MAX_LAG_SECONDS`, or does not answer. The
  lag is measured on the replica (zero when it has replayed all it received, else the time since
  the last transaction it replayed was committed: an overestimate, never an underestimate) and
  kept for `DATABASE_REPLICA_LAG_CHECK_SECONDS` per process.

The window is at least the lag bound plus the check interval (config/agreement.py): a write older
than the window was committed before the last check that found the replica within its bound.
"""

from __future__ import annotations

import contextvars
import logging
import math
import threading
import time
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db import DatabaseError, connections

logger = logging.getLogger(__name__)
REPLICA = "replica"
_reading = contextvars.ContextVar("reading_from_replica", default=False)

# Zero when the replica has replayed everything it received; NULL (unknown: the primary then)
# when it has received WAL but never replayed a transaction since it started.
LAG_SQL = """
SELECT CASE
    WHEN NOT pg_is_in_recovery() THEN 0
    WHEN pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() THEN 0
    ELSE EXTRACT(EPOCH FROM clock_timestamp() - pg_last_xact_replay_timestamp())
END
"""


class ReplicaRouter:
    """DATABASE_ROUTERS: a read inside `reading()` goes to the replica; all else to the primary."""

    def db_for_read(self, model: Any, **hints: Any) -> str | None:
        return REPLICA if _reading.get() else None

    def db_for_write(self, model: Any, **hints: Any) -> str | None:
        return "default"

    def allow_relation(self, obj1: Any, obj2: Any, **hints: Any) -> bool:
        # The same rows on both: an object read on the replica may be related to one on the primary.
        return True

    def allow_migrate(self, db: str, app_label: str, **hints: Any) -> bool:
        # The replica replays the primary's schema; nothing is ever migrated on it.
        return db != REPLICA


def configured() -> bool:
    return REPLICA in settings.DATABASES


class _Lag:
    """The replica's lag in seconds, measured at most every DATABASE_REPLICA_LAG_CHECK_SECONDS
    per process (one query on the replica; infinite when it does not answer)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.measured_at = -math.inf
        self.seconds = math.inf

    def current(self) -> float:
        now = time.monotonic()
        with self.lock:
            if now - self.measured_at < settings.DATABASE_REPLICA_LAG_CHECK_SECONDS:
                return self.seconds
            self.measured_at = now
            self.seconds = measure_lag()
            return self.seconds


_lag = _Lag()


def measure_lag() -> float:
    try:
        with connections[REPLICA].cursor() as cursor:
            cursor.execute(LAG_SQL)
            (seconds,) = cursor.fetchone()
    except DatabaseError:
        connections[REPLICA].close_if_unusable_or_obsolete()
        return math.inf
    return math.inf if seconds is None else float(seconds)


def _wrote_key(organization_id: int) -> str:
    return f"replica:wrote:{organization_id}"


def mark_written(organization_id: int) -> None:
    """The organization has just written: its reads stay on the primary for the window. A cache
    that does not answer (Redis down) loses the mark and fails nothing: the write is done, and
    its reads then rest on the lag bound alone."""
    try:
        cache.set(_wrote_key(organization_id), 1, timeout=settings.READ_YOUR_WRITES_SECONDS)
    except Exception:  # the cache backend's own errors (redis, memcached...)
        logger.warning("replica: could not mark organization %s as written", organization_id)


def may_read(organization_id: int) -> bool:
    """Whether this organization's read may go to the replica now (not when the cache that
    holds the marks does not answer)."""
    if not configured():
        return False
    try:
        if cache.get(_wrote_key(organization_id)) is not None:
            return False
    except Exception:  # as in mark_written
        return False
    return _lag.current() <= settings.DATABASE_REPLICA_MAX_LAG_SECONDS


def start_reading() -> contextvars.Token:
    return _reading.set(True)


def stop_reading(token: contextvars.Token) -> None:
    _reading.reset(token)


class ReadsFromReplica:
    """Mixin for an API view whose GET only reads: its handler's queries go to the replica when
    `may_read` allows (after authentication, the scope check and the limits, on the primary)."""

    replica_token: contextvars.Token | None = None

    def initial(self, request: Any, *args: Any, **kwargs: Any) -> None:
        super().initial(request, *args, **kwargs)  # type: ignore[misc]
        if request.method in ("GET", "HEAD") and may_read(request.user.organization_id):
            self.replica_token = start_reading()

    def finalize_response(self, request: Any, response: Any, *args: Any, **kwargs: Any) -> Any:
        if self.replica_token is not None:
            stop_reading(self.replica_token)
            self.replica_token = None
        return super().finalize_response(request, response, *args, **kwargs)  # type: ignore[misc]


class WritesMarkMiddleware:
    """Marks the organization of a request that may have written (any method but GET, HEAD and
    OPTIONS, by an authenticated user of an organization), whatever its answer: a write that
    failed half-way has still committed what it committed. Installed only with a replica."""

    def __init__(self, get_response: Any) -> None:
        self.get_response = get_response

    def __call__(self, request: Any) -> Any:
        response = self.get_response(request)
        if request.method not in ("GET", "HEAD", "OPTIONS"):
            organization_id = getattr(getattr(request, "user", None), "organization_id", None)
            if organization_id is not None:
                mark_written(organization_id)
        return response
