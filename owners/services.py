"""The ownership core. Nothing but this module and owners/jobs.py writes `Record.owner`.

Every entry point (the Bigin and Kenbun APIs, the admin action) calls `change_owner`, which
changes the owner of a set of records of one module in one transaction, with their audit rows and
the outbox jobs that finish the work after commit. The one other writer is the job that makes
related activities follow their parent (`owners.jobs.run_related_transfer`).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from functools import partial

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from audit.models import AuditEntry
from crm.ids import new_id
from crm.models import Organization, Record, User
from crm.modules import ModuleInfo

from .jobs import dispatch_jobs
from .models import OwnerJob


@dataclass(frozen=True)
class RelatedSelection:
    """Which related activities follow the new owner: every record of `modules`, and the single
    records `record_ids` (when they are related to one of the target records)."""

    modules: tuple[str, ...] = ()
    record_ids: tuple[int, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.modules or self.record_ids)


class RecordsNotFound(Exception):
    """Raised by `change_owner(require_all=True)` before any write: these ids are not records of
    the organization and module. The transaction rolls back, so nothing changes."""

    def __init__(self, missing_ids: tuple[int, ...]) -> None:
        super().__init__(f"records not found: {missing_ids}")
        self.missing_ids = missing_ids


@dataclass(frozen=True)
class ChangeOwnerResult:
    batch_id: uuid.UUID
    found_ids: frozenset[int]
    changed_ids: tuple[int, ...]
    jobs: tuple[OwnerJob, ...] = field(default=())

    @property
    def unchanged_count(self) -> int:
        return len(self.found_ids) - len(self.changed_ids)


def change_owner(
    *,
    organization: Organization,
    actor: User | None,
    module: ModuleInfo,
    record_ids: Sequence[int],
    new_owner: User | None,
    notify: bool = False,
    related: RelatedSelection | None = None,
    source: str,
    require_all: bool = False,
) -> ChangeOwnerResult:
    """Give `new_owner` (None unassigns) the records `record_ids` of `module` in `organization`.

    Ids that are not records of this organization and module are left out of `found_ids`; the
    caller reports them. Records that already have the owner are found but not changed: no
    audit row and no notification for them, though their related records still follow.

    With `require_all`, any id that is not found raises `RecordsNotFound` before any write, and
    the transaction rolls back: nothing changes (the Kenbun API is all or nothing).

    Queries, whatever the number of ids: lock, UPDATE, audit INSERT, outbox INSERT (the last
    three only when there is something to write).
    """
    batch_id = uuid.uuid4()
    new_owner_id = new_owner.id if new_owner else None
    with transaction.atomic(durable=True):
        # Lock the targets in id order. Two requests over overlapping ids then queue on the first
        # id they share instead of each holding a row the other waits for (a deadlock), and the
        # previous owners we read cannot change under us before the UPDATE.
        locked = _lock_records(organization.id, module.id, record_ids)
        if require_all:
            found = {record_id for record_id, _ in locked}
            missing = tuple(
                record_id for record_id in dict.fromkeys(record_ids) if record_id not in found
            )
            if missing:
                raise RecordsNotFound(missing)
        # Taken after the lock: for any record, audit times then follow the order of the commits.
        now = timezone.now()
        changed = [
            (record_id, owner_id) for record_id, owner_id in locked if owner_id != new_owner_id
        ]
        if changed:
            _update_owners(
                organization.id,
                [record_id for record_id, _ in changed],
                new_owner_id=new_owner_id,
                actor_id=actor.id if actor else None,
                now=now,
            )
            _insert_audit_rows(
                organization_id=organization.id,
                module_id=module.id,
                changed=changed,
                new_owner_id=new_owner_id,
                actor_id=actor.id if actor else None,
                source=source,
                batch_id=batch_id,
                now=now,
            )
        jobs = _outbox_jobs(
            organization=organization,
            actor=actor,
            module=module,
            parent_ids=[record_id for record_id, _ in locked],
            changed_ids=[record_id for record_id, _ in changed],
            new_owner_id=new_owner_id,
            notify=notify,
            related=related,
            source=source,
            batch_id=batch_id,
            now=now,
        )
        if jobs:
            OwnerJob.objects.bulk_create(jobs)
            # After commit only: a worker must never see a job whose change could still roll
            # back, nor miss rows the change has not committed yet.
            transaction.on_commit(partial(dispatch_jobs, jobs))
    return ChangeOwnerResult(
        batch_id=batch_id,
        found_ids=frozenset(record_id for record_id, _ in locked),
        changed_ids=tuple(record_id for record_id, _ in changed),
        jobs=tuple(jobs),
    )


# The lock and the UPDATE are the hot path of every request: written by hand, they skip the
# ORM's compilation of two statements on each call, about a tenth of a single-record request's
# CPU (bench/, cProfile). The ORM's versions would be
#   Record.objects.filter(organization_id=, module_id=, id__in=).order_by("id")
#       .select_for_update().values_list("id", "owner_id")
#   Record.objects.filter(organization_id=, id__in=).update(owner_id=, modified_time=, ...)
_LOCK_RECORDS = (
    f"SELECT id, owner_id FROM {Record._meta.db_table}"
    " WHERE organization_id = %s AND module_id = %s AND id {ids} ORDER BY id"
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


def _lock_records(
    organization_id: int, module_id: int, record_ids: Sequence[int]
) -> list[tuple[int, int | None]]:
    """(id, owner id) of the records found, locked FOR UPDATE in id order."""
    if not record_ids:
        return []
    condition, params = _ids_condition(record_ids)
    sql = _LOCK_RECORDS.format(ids=condition)
    if connection.features.has_select_for_update:
        sql += " FOR UPDATE"
    with connection.cursor() as cursor:
        cursor.execute(sql, [organization_id, module_id, *params])
        return [(record_id, owner_id) for record_id, owner_id in cursor.fetchall()]


def _update_owners(
    organization_id: int,
    record_ids: list[int],
    *,
    new_owner_id: int | None,
    actor_id: int | None,
    now,
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


# The audit rows of a change as one INSERT fed by three arrays; the other columns are the same
# for every row.
_AUDIT_FROM_ARRAYS = """
    INSERT INTO audit_auditentry (id, record_id, previous_owner_id, organization_id, module_id,
                                  new_owner_id, actor_id, source, batch_id, created_time)
    SELECT a.id, a.record_id, a.previous_owner_id, %s, %s, %s::bigint, %s::bigint, %s, %s, %s
    FROM unnest(%s::bigint[], %s::bigint[], %s::bigint[]) AS a(id, record_id, previous_owner_id)
"""


def _insert_audit_rows(
    *,
    organization_id: int,
    module_id: int,
    changed: list[tuple[int, int | None]],
    new_owner_id: int | None,
    actor_id: int | None,
    source: str,
    batch_id: uuid.UUID,
    now,
) -> None:
    """One audit row per (record id, previous owner id) in `changed`, in one statement.

    On PostgreSQL the rows travel as three arrays: `bulk_create` prepares every field of every
    row in Python, about 40 us a row, a third of a 500-id change (bench/, cProfile). Elsewhere
    (SQLite under `make run`), `bulk_create`.
    """
    if connection.vendor != "postgresql":
        AuditEntry.objects.bulk_create(
            AuditEntry(
                organization_id=organization_id,
                module_id=module_id,
                record_id=record_id,
                previous_owner_id=previous,
                new_owner_id=new_owner_id,
                actor_id=actor_id,
                source=source,
                batch_id=batch_id,
                created_time=now,
            )
            for record_id, previous in changed
        )
        return
    with connection.cursor() as cursor:
        cursor.execute(
            _AUDIT_FROM_ARRAYS,
            [
                organization_id,
                module_id,
                new_owner_id,
                actor_id,
                source,
                batch_id,
                now,
                [new_id() for _ in changed],  # the model's default, drawn here
                [record_id for record_id, _ in changed],
                [previous for _, previous in changed],
            ],
        )


def _outbox_jobs(
    *,
    organization: Organization,
    actor: User | None,
    module: ModuleInfo,
    parent_ids: list[int],
    changed_ids: list[int],
    new_owner_id: int | None,
    notify: bool,
    related: RelatedSelection | None,
    source: str,
    batch_id: uuid.UUID,
    now,
) -> list[OwnerJob]:
    """The after-commit work of one request, as outbox rows (ids as strings: JSON-safe)."""
    common = {
        "module": module.api_name,
        "new_owner_id": str(new_owner_id) if new_owner_id else None,
        "actor_id": str(actor.id) if actor else None,
        "source": source,
    }
    jobs = []
    if related and parent_ids and new_owner_id is not None:
        jobs.append(
            OwnerJob(
                organization_id=organization.id,
                kind=OwnerJob.Kind.RELATED_TRANSFER,
                batch_id=batch_id,
                run_after=now + timedelta(seconds=settings.RELATED_OWNER_DELAY_SECONDS),
                payload={
                    **common,
                    "parent_ids": [str(record_id) for record_id in parent_ids],
                    "related_modules": list(related.modules),
                    "related_ids": [str(record_id) for record_id in related.record_ids],
                },
            )
        )
    if notify and changed_ids and new_owner_id is not None:
        jobs.append(
            OwnerJob(
                organization_id=organization.id,
                kind=OwnerJob.Kind.NOTIFY,
                batch_id=batch_id,
                run_after=now,
                payload={**common, "record_ids": [str(record_id) for record_id in changed_ids]},
            )
        )
    return jobs
