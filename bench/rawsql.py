"""The yardstick: the change-owner writes as hand-written SQL.

One transaction, the same statements the service makes (design.md's flow): lock the targets in id
order, one UPDATE, the audit rows from `unnest`, the outbox rows in one INSERT, commit.

Two ways to run them: `change_owner_sql` on a psycopg 3 connection of its own with server-side
parameters (PostgreSQL prepares the statements after a few calls: the fastest honest way to make
these writes from Python), and `change_owner_django_sql` on Django's connection.
"""

from __future__ import annotations

import functools
import threading
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import psycopg
from psycopg.types.json import Jsonb

from crm.ids import new_id

LOCK = """
    SELECT id, owner_id FROM crm_record
    WHERE organization_id = %s AND module_id = %s AND id = ANY(%s::bigint[])
    ORDER BY id FOR UPDATE
"""
UPDATE = """
    UPDATE crm_record SET owner_id = %s, modified_time = %s, owner_changed_time = %s,
                          modified_by_id = %s
    WHERE organization_id = %s AND id = ANY(%s::bigint[])
"""
AUDIT = """
    INSERT INTO audit_auditentry (id, organization_id, module_id, record_id, previous_owner_id,
                                  new_owner_id, actor_id, source, batch_id, created_time)
    SELECT a.id, %s, %s, a.record_id, a.previous_owner_id, %s, %s, %s, %s, %s
    FROM unnest(%s::bigint[], %s::bigint[], %s::bigint[]) AS a(id, record_id, previous_owner_id)
"""
OUTBOX = """
    INSERT INTO owners_outboxentry (id, organization_id, kind, status, batch_id, payload, attempts,
                                 run_after, last_error, created_time, result)
    VALUES (%s, %s, 'related_transfer', 'pending', %s, %s, 0, %s, '', %s, '{}'),
           (%s, %s, 'notify', 'pending', %s, %s, 0, %s, '', %s, '{}')
"""


def write_change(
    cursor,
    *,
    organization_id: int,
    module_id: int,
    module_name: str,
    record_ids: Sequence[int],
    new_owner_id: int,
    actor_id: int,
    outbox: bool,
    related_delay: timedelta = timedelta(seconds=5),
    source: str = "api",
    job_ids: list[int] | None = None,
) -> tuple[list[int], list[int]]:
    """The statements of one change, on a DB-API cursor inside the caller's transaction; return
    (found ids, changed ids).

    With `outbox`, also write the related-transfer and notification jobs the service writes for
    `notify=True` and a related selection, with the same payloads; their ids are appended to
    `job_ids` when given (to publish them after commit, as the service does)."""
    batch_id = uuid.uuid4()
    cursor.execute(LOCK, (organization_id, module_id, list(record_ids)))
    locked = cursor.fetchall()
    now = datetime.now(UTC)
    changed = [(rid, owner) for rid, owner in locked if owner != new_owner_id]
    if changed:
        changed_ids = [rid for rid, _ in changed]
        cursor.execute(UPDATE, (new_owner_id, now, now, actor_id, organization_id, changed_ids))
        cursor.execute(
            AUDIT,
            (
                organization_id,
                module_id,
                new_owner_id,
                actor_id,
                source,
                batch_id,
                now,
                [new_id() for _ in changed],
                changed_ids,
                [owner for _, owner in changed],
            ),
        )
    if outbox and locked:
        common = {
            "module": module_name,
            "new_owner_id": str(new_owner_id),
            "actor_id": str(actor_id),
            "source": source,
        }
        related = {
            **common,
            "parent_ids": [str(rid) for rid, _ in locked],
            "related_modules": ["Tasks"],
            "related_ids": [],
        }
        notify = {**common, "record_ids": [str(rid) for rid, _ in changed]}
        related_row = (new_id(), organization_id, batch_id, Jsonb(related))
        notify_row = (new_id(), organization_id, batch_id, Jsonb(notify))
        cursor.execute(OUTBOX, (*related_row, now + related_delay, now, *notify_row, now, now))
        if job_ids is not None:
            job_ids.extend((related_row[0], notify_row[0]))
    return [rid for rid, _ in locked], [rid for rid, _ in changed]


def change_owner_sql(conn: psycopg.Connection, **change) -> tuple[list[int], list[int]]:
    """`write_change` in one transaction of a psycopg connection of its own."""
    with conn.transaction(), conn.cursor() as cursor:
        return write_change(cursor, **change)


def change_owner_django_sql(**change) -> tuple[list[int], list[int]]:
    """`write_change` in one transaction on Django's connection: the same stack as the product
    (its connection settings, client-side parameters, health checks), minus the ORM."""
    from django.db import connection, transaction

    with transaction.atomic(durable=True), connection.cursor() as cursor:
        return write_change(cursor, **change)


_local = threading.local()


def thread_connection(dsn: str) -> psycopg.Connection:
    """One psycopg connection per thread (gunicorn worker), opened on first use."""
    conn = getattr(_local, "conn", None)
    if conn is None or conn.closed:
        conn = _local.conn = psycopg.connect(dsn)
    return conn


@functools.cache
def dsn_from_django() -> str:
    """The conninfo of Django's default database, for the yardstick's own connection."""
    from django.conf import settings
    from psycopg.conninfo import make_conninfo

    db = settings.DATABASES["default"]
    params = {
        "dbname": db["NAME"],
        "user": db.get("USER"),
        "password": db.get("PASSWORD"),
        "host": db.get("HOST"),
        "port": db.get("PORT"),
    }
    return make_conninfo(**{key: str(value) for key, value in params.items() if value})
