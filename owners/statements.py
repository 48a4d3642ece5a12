"""The owner-change statements every writer shares: the ordered lock and the UPDATE of owners
(change_owner and the related-transfer job)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from django.db import connection

from crm.models import Record, User

# The lock and the UPDATE are the hot path of every request: written by hand, they skip the
# ORM's compilation of two statements on each call, about a tenth of a single-record request's
# CPU (bench/, cProfile). The ORM's versions would be
#   Record.objects.filter(organization_id=, module_id=, id__in=).order_by("id")
#       .select_for_update().values_list("id", "owner_id")
#   Record.objects.filter(organization_id=, id__in=).update(owner_id=, modified_time=, ...)
# With the records, the new owner's status as of now: read FOR SHARE on PostgreSQL, so a
# concurrent change of that user's status waits for this transaction, or this one reads the
# status it committed. Disabling the owner between the caller's check and the commit then
# cannot hand it records.
_LOCK_RECORDS = (
    "WITH new_owner AS (SELECT status FROM {users} WHERE id = %s {share})"
    " SELECT id, owner_id, (SELECT status FROM new_owner) FROM {records}"
    " WHERE organization_id = %s AND module_id = %s AND id {ids} ORDER BY id {update}"
)
_UPDATE_OWNERS = (
    f"UPDATE {Record._meta.db_table}"
    " SET owner_id = %s, modified_time = %s, modified_by_id = %s"
    " WHERE organization_id = %s AND id {ids}"
)


def _ids_condition(ids: Sequence[int]) -> tuple[str, list]:
    """`id = ANY(array)` on PostgreSQL (one parameter, one plan); `IN (...)` elsewhere."""
    if connection.vendor == "postgresql":
        return "= ANY(%s)", [list(ids)]
    return "IN ({})".format(", ".join(["%s"] * len(ids))), list(ids)


def lock_records(
    organization_id: int, module_id: int, record_ids: Sequence[int], *, new_owner_id: int | None
) -> tuple[list[tuple[int, int | None]], str | None]:
    """(id, owner id) of the records found, locked FOR UPDATE in id order, and the status of
    `new_owner_id` (None when no record was found or there is no new owner)."""
    if not record_ids:
        return [], None
    condition, params = _ids_condition(record_ids)
    locking = connection.features.has_select_for_update
    sql = _LOCK_RECORDS.format(
        users=User._meta.db_table,
        records=Record._meta.db_table,
        ids=condition,
        share="FOR SHARE" if locking else "",
        update="FOR UPDATE" if locking else "",
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [new_owner_id, organization_id, module_id, *params])
        rows = cursor.fetchall()
    owner_status = rows[0][2] if rows else None
    return [(record_id, owner_id) for record_id, owner_id, _ in rows], owner_status


def update_owners(
    organization_id: int,
    record_ids: list[int],
    *,
    new_owner_id: int | None,
    actor_id: int | None,
    now: datetime,
) -> None:
    condition, params = _ids_condition(record_ids)
    with connection.cursor() as cursor:
        cursor.execute(
            _UPDATE_OWNERS.format(ids=condition),
            [
                new_owner_id,
                connection.ops.adapt_datetimefield_value(now),
                actor_id,
                organization_id,
                *params,
            ],
        )


def new_owner_status(user_id: int) -> str | None:
    """The status of the user `user_id`, read FOR SHARE on PostgreSQL: a concurrent change of
    it waits for the caller's transaction (an owner transfer chunk), or the caller reads the
    status it committed."""
    share = " FOR SHARE" if connection.features.has_select_for_update else ""
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT status FROM {User._meta.db_table} WHERE id = %s{share}", [user_id])
        row = cursor.fetchone()
    return row[0] if row else None
