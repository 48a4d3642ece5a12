"""Zoho-style numeric ids that cannot collide.

Bigin ids are numeric strings of up to 19 digits. Ours always have 19 digits and fit a signed
64-bit integer (PostgreSQL bigint): `ID_BASE` (10**18) plus an offset. They are emitted as strings
in JSON (JavaScript loses integers past 2**53) and accepted as strings of digits or integers
(`parse_id`). One generator serves every table, so an id is unique across tables, modules and
organizations.

Ids are drawn in Python, so `bulk_create` and the audit INSERT know them before they write, on
PostgreSQL and SQLite alike; `IdField`, every model's primary key, draws one when a row is first
saved (not when a model instance is built: Django's system checks build one before the database
may even exist). A process draws them from a block of `BLOCK_SIZE` consecutive ids that it alone
holds:

- On PostgreSQL a block number is one `nextval` of the sequence `crm_id_block` (a crm migration),
  on the process's first id and whenever its block runs out. A sequence never hands out a value
  twice, whether the transaction around `nextval` commits or rolls back, and it is shared by every
  process on every host that uses the database. So no two processes ever hold the same block,
  however many times they restart: a restart only abandons the rest of its block. There are
  (2**63 - 10**18) / 2**20, about 7.8 million million, blocks: a restart every millisecond for
  240 years.
- On SQLite (`make run`: one host) the block number is a counter in the one-row table
  `crm_id_block`, incremented in a transaction. Unlike a sequence, that increment rolls back with
  its transaction, so a block taken inside a transaction is only trusted once that transaction
  commits; if it rolls back, the next id takes a new block. Blocks are held per thread there
  (a thread is a connection in Django), so no thread draws from a block another thread's open
  transaction might still give back.

Within a process on PostgreSQL (within a thread on SQLite) ids increase: each block comes after
the previous one. One writer draws its blocks in SQL instead: a transfer job's chunk
(`owners.statements.move_chunk`) cannot know beforehand how many audit rows its one statement
writes, so that statement takes `nextval` of the same sequence once per `BLOCK_SIZE` rows and
numbers its rows within those blocks, which no process holds.
"""

from __future__ import annotations

import os
import threading

from django.db import models

ID_BASE = 10**18  # the smallest 19-digit number
MAX_ID = 2**63 - 1
MAX_DIGITS = 19
BLOCK_SIZE = 1 << 20
LAST_BLOCK = (MAX_ID + 1 - ID_BASE) // BLOCK_SIZE - 1
BLOCK_SEQUENCE = "crm_id_block"  # PostgreSQL
BLOCK_TABLE = "crm_id_block"  # elsewhere: one row (id = 1, last_block)


class IdSourceError(RuntimeError):
    """No block of ids could be taken: the block table is empty, or every block is used."""


class IdAllocator:
    """The ids of one block at a time. Each process start (or thread, on SQLite) gets a new one."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pid = os.getpid()
        self._next = 0
        self._end = 0
        # SQLite only: while the transaction that took the block is open, the on-commit callback
        # that confirms it; None once the block is confirmed (or on PostgreSQL, never needed).
        self._unconfirmed = None
        self.blocks_taken = 0

    def new_id(self, connection=None) -> int:
        if connection is None:
            from django.db import connection
        with self._lock:
            if self._pid != os.getpid():
                # A forked child (gunicorn, Celery prefork) must not share its parent's block.
                self._pid, self._next, self._end, self._unconfirmed = os.getpid(), 0, 0, None
            if self._next >= self._end or not self._block_holds(connection):
                self._take_block(connection)
            value = self._next
            self._next += 1
            return value

    def _block_holds(self, connection) -> bool:
        confirm = self._unconfirmed
        if confirm is None:
            return True
        # Still pending in the open transaction: the block stands or falls with it (and so do the
        # rows that use its ids). Gone without having run: rolled back, so the block may be
        # another process's next.
        return any(func is confirm for _, func, _ in connection.run_on_commit)

    def _take_block(self, connection) -> None:
        # Database errors propagate: a missing sequence or table (an unmigrated database) names
        # itself, and an id is never invented without a block.
        from django.db import transaction

        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SELECT nextval(%s)", [BLOCK_SEQUENCE])
                (block,) = cursor.fetchone()
            self._unconfirmed = None
        else:
            inside_transaction = connection.in_atomic_block
            with transaction.atomic(using=connection.alias), connection.cursor() as cursor:
                cursor.execute(f"UPDATE {BLOCK_TABLE} SET last_block = last_block + 1")
                cursor.execute(f"SELECT last_block FROM {BLOCK_TABLE}")
                row = cursor.fetchone()
            if row is None:
                raise IdSourceError(f"{BLOCK_TABLE} has no row: run `python manage.py migrate`")
            (block,) = row
            self._unconfirmed = None
            if inside_transaction:
                self._unconfirmed = self._confirm_callback()
                transaction.on_commit(self._unconfirmed, using=connection.alias)
        if not 0 <= block <= LAST_BLOCK:
            raise IdSourceError(f"block number {block} is out of range")
        self._next = ID_BASE + block * BLOCK_SIZE
        self._end = self._next + BLOCK_SIZE
        self.blocks_taken += 1

    def _confirm_callback(self):
        def confirm() -> None:
            if self._unconfirmed is confirm:
                self._unconfirmed = None

        return confirm


_shared = IdAllocator()
_per_thread = threading.local()


def _allocator(connection) -> IdAllocator:
    if connection.vendor == "postgresql":
        return _shared
    allocator = getattr(_per_thread, "allocator", None)
    if allocator is None:
        allocator = _per_thread.allocator = IdAllocator()
    return allocator


def new_id() -> int:
    """Return a new id from this process's block (this thread's, on SQLite), taking the next
    block when there is none yet or it ran out (one query)."""
    from django.db import connection

    return _allocator(connection).new_id(connection)


class IdField(models.BigIntegerField):
    """A primary key that takes `new_id()` when its row is first saved (`save`, `create`,
    `bulk_create`); an unsaved instance's id is None until then."""

    def __init__(self, *args, **kwargs) -> None:
        kwargs.setdefault("primary_key", True)
        kwargs.setdefault("editable", False)
        # The default is what tells Django to INSERT a new instance straight away instead of
        # trying an UPDATE first; it is called on save only (get_pk_value_on_save).
        kwargs["default"] = new_id
        super().__init__(*args, **kwargs)

    def get_default(self):
        return None

    def get_pk_value_on_save(self, instance) -> int:
        return new_id()

    def deconstruct(self):
        name, path, args, kwargs = super().deconstruct()
        kwargs.pop("default", None)
        for key, value in (("primary_key", True), ("editable", False)):
            if kwargs.get(key) == value:
                del kwargs[key]
        return name, path, args, kwargs


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
