"""Query counts that differ by database. On PostgreSQL an owner write's audit INSERT also writes
its watch event, in one statement (owners/watch/events.py); elsewhere (SQLite, `make run`'s
default) the organization's channels are read by a statement of their own, one per audit
INSERT."""

from __future__ import annotations

from django.db import connection


def watch_checks(audit_inserts: int = 1) -> int:
    """The statements the watch events of `audit_inserts` audit INSERTs add on this database."""
    return 0 if connection.vendor == "postgresql" else audit_inserts
