"""Writing audit rows: the one place that inserts AuditEntry rows."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

from django.db import connection

from crm.ids import new_id

from .models import AuditEntry

# The rows of one change as one INSERT fed by four arrays; the other columns are the same for
# every row.
_AUDIT_FROM_ARRAYS = f"""
    INSERT INTO {AuditEntry._meta.db_table} (id, record_id, module_id, previous_owner_id,
        organization_id, new_owner_id, actor_id, source, batch_id, created_time)
    SELECT a.id, a.record_id, a.module_id, a.previous_owner_id,
        %s, %s::bigint, %s::bigint, %s, %s, %s
    FROM unnest(%s::bigint[], %s::bigint[], %s::bigint[], %s::bigint[])
        AS a(id, record_id, module_id, previous_owner_id)
"""


def record_owner_changes(
    *,
    organization_id: int,
    changes: Sequence[tuple[int, int, int | None]],
    new_owner_id: int | None,
    actor_id: int | None,
    source: str,
    batch_id: uuid.UUID,
    now: datetime,
) -> None:
    """One audit row per (record id, module id, previous owner id) in `changes`, one statement.

    On PostgreSQL the rows travel as arrays: `bulk_create` prepares every field of every row in
    Python, about 40 us a row, a third of a 500-id change (bench/, cProfile). Elsewhere (SQLite
    under `make run`), `bulk_create`.
    """
    if not changes:
        return
    if connection.vendor != "postgresql":
        AuditEntry.objects.bulk_create(
            AuditEntry(
                organization_id=organization_id,
                module_id=module_id,
                record_id=record_id,
                previous_owner_id=previous_owner_id,
                new_owner_id=new_owner_id,
                actor_id=actor_id,
                source=source,
                batch_id=batch_id,
                created_time=now,
            )
            for record_id, module_id, previous_owner_id in changes
        )
        return
    with connection.cursor() as cursor:
        cursor.execute(
            _AUDIT_FROM_ARRAYS,
            [
                organization_id,
                new_owner_id,
                actor_id,
                source,
                batch_id,
                now,
                [new_id() for _ in changes],  # the model's default, drawn here
                [record_id for record_id, _, _ in changes],
                [module_id for _, module_id, _ in changes],
                [previous_owner_id for _, _, previous_owner_id in changes],
            ],
        )
