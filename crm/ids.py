"""Zoho-style numeric ids.

Bigin ids are numeric strings of up to 19 digits. Ours are generated in Python, so they work with
bulk inserts on every database, and are unique across modules and organizations:

    41 bits  milliseconds since 2020-01-01 UTC (good until 2089)
    10 bits  a node number, random per process (two processes rarely share it)
    12 bits  a sequence within the millisecond

63 bits in all, so every id fits a signed 64-bit integer (PostgreSQL bigint). They are always
emitted as strings in JSON.
"""

from __future__ import annotations

import os
import secrets
import threading
import time

EPOCH_MS = 1_577_836_800_000  # 2020-01-01T00:00:00Z
MAX_ID = 2**63 - 1
MAX_DIGITS = 19

_lock = threading.Lock()
_node = secrets.randbits(10)
_pid = os.getpid()
_last_ms = 0
_sequence = 0


def _reseed_after_fork() -> None:
    global _node, _pid, _last_ms, _sequence
    _node, _pid, _last_ms, _sequence = secrets.randbits(10), os.getpid(), 0, 0


def new_id() -> int:
    """Return a new id, strictly greater than the previous one of this process."""
    global _last_ms, _sequence
    with _lock:
        if os.getpid() != _pid:
            _reseed_after_fork()
        now = int(time.time() * 1000) - EPOCH_MS
        if now <= _last_ms:
            # Same millisecond (or the clock stepped back): continue the sequence on the last one.
            now = _last_ms
            _sequence = (_sequence + 1) & 0xFFF
            if _sequence == 0:
                now += 1  # 4096 ids in one millisecond: borrow the next millisecond
        else:
            _sequence = 0
        _last_ms = now
        return (now << 22) | (_node << 12) | _sequence


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
