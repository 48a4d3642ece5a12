"""Zoho-style numeric ids.

Bigin ids are numeric strings of up to 19 digits. Ours are generated in Python, so they work with
bulk inserts on every database, and are unique across modules and organizations:

    41 bits  milliseconds since 2020-01-01 UTC (good until 2089)
    10 bits  a node number, one per process
    12 bits  a sequence within the millisecond

63 bits in all, so every id fits a signed 64-bit integer (PostgreSQL bigint). They are always
emitted as strings in JSON (`emit_id`) and accepted as strings of digits or integers (`parse_id`).

The node number is what keeps two processes (gunicorn workers, Celery workers, commands) apart:
two processes with the same node that draw an id in the same millisecond would draw the same id.
A random node would make that likely somewhere in a fleet (about 6% for 12 processes), so on
PostgreSQL each process takes the next value of the cycling sequence `crm_id_node` (migration
0002) on its first id: distinct for up to 1024 processes alive at once. Elsewhere (SQLite under
`make run`, one process) and on a database migrated before the sequence existed, it is random.
"""

from __future__ import annotations

import os
import secrets
import threading
import time

EPOCH_MS = 1_577_836_800_000  # 2020-01-01T00:00:00Z
MAX_ID = 2**63 - 1
MAX_DIGITS = 19
NODE_BITS = 10
SEQUENCE_BITS = 12
NODE_SEQUENCE = "crm_id_node"

_lock = threading.Lock()
_node: int | None = None
_pid = os.getpid()
_last_ms = 0
_sequence = 0


def _claim_node() -> int:
    try:
        from django.db import connection

        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                # to_regclass answers NULL instead of failing (which would abort the caller's
                # transaction) when the sequence is missing.
                cursor.execute(
                    "SELECT CASE WHEN to_regclass(%s) IS NULL THEN NULL ELSE nextval(%s) END",
                    [NODE_SEQUENCE, NODE_SEQUENCE],
                )
                (value,) = cursor.fetchone()
            if value is not None:
                return int(value) % (1 << NODE_BITS)
    except Exception:
        pass  # no database yet, or not configured: a random node will do
    return secrets.randbits(NODE_BITS)


def new_id() -> int:
    """Return a new id, strictly greater than the previous one of this process."""
    global _node, _pid, _last_ms, _sequence
    with _lock:
        if os.getpid() != _pid:
            # A forked child (gunicorn, Celery prefork) must not share its parent's node.
            _node, _pid, _last_ms, _sequence = None, os.getpid(), 0, 0
        if _node is None:
            _node = _claim_node()
        now = int(time.time() * 1000) - EPOCH_MS
        if now <= _last_ms:
            # Same millisecond (or the clock stepped back): continue the sequence on the last one.
            now = _last_ms
            _sequence = (_sequence + 1) & ((1 << SEQUENCE_BITS) - 1)
            if _sequence == 0:
                now += 1  # 4096 ids in one millisecond: borrow the next millisecond
        else:
            _sequence = 0
        _last_ms = now
        return (now << (NODE_BITS + SEQUENCE_BITS)) | (_node << SEQUENCE_BITS) | _sequence


def parse_id(value: object) -> int | None:
    """An id as clients send it: a JSON string of 1 to 19 digits or a JSON integer; else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if 0 < value <= MAX_ID else None
    if (
        isinstance(value, str)
        and 0 < len(value) <= MAX_DIGITS
        and value.isascii()
        and value.isdigit()
    ):
        number = int(value)
        return number if 0 < number <= MAX_ID else None
    return None


def emit_id(value: int | None) -> str | None:
    """An id as clients receive it: always a string, because JavaScript loses integers > 2**53."""
    return None if value is None else str(value)
