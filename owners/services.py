"""The ownership core. Nothing but this module and owners/outbox.py writes `Record.owner`.

Every entry point (the Bigin and Kenbun APIs, the admin action) calls `change_owner`, which
changes the owner of a set of records of one module in one transaction, with their audit rows and
the outbox entries that finish the work after commit. The one other writer is the job that makes
related activities follow their parent (`owners.outbox.run_related_transfer`). Loading a sandbox
(`load_sandbox`, for the load_sandbox and seed_demo commands) changes the owners of existing
records with the same statements and audit rows. Records are created with their first owner
(crm/sandbox/loader.py); that is not a change of owner and has no audit row.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from functools import partial

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from audit.models import AuditEntry
from crm.models import Organization, User
from crm.modules import ModuleInfo
from crm.sandbox import loader

from .models import OutboxEntry
from .statements import (
    NewOwnerNotActive,
    insert_outbox_entries,
    lock_records,
    record_owner_changes,
    update_owners,
)
from .tasks import dispatch_entries


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
    jobs: tuple[OutboxEntry, ...] = field(default=())

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

    A new owner that is no longer active when the records are locked (disabled or deleted since
    the caller checked it) raises `NewOwnerNotActive` before any write.

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
        locked, owner_status = lock_records(
            organization.id, module.id, record_ids, new_owner_id=new_owner_id
        )
        if new_owner_id is not None and locked and owner_status != User.Status.ACTIVE:
            raise NewOwnerNotActive(owner_status)
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
            actor_id = actor.id if actor else None
            update_owners(
                organization.id,
                [record_id for record_id, _ in changed],
                new_owner_id=new_owner_id,
                actor_id=actor_id,
                now=now,
            )
            record_owner_changes(
                organization_id=organization.id,
                changes=[(record_id, module.id, previous) for record_id, previous in changed],
                new_owner_id=new_owner_id,
                actor_id=actor_id,
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
            insert_outbox_entries(jobs)
            # After commit only: a worker must never see a job whose change could still roll
            # back, nor miss rows the change has not committed yet.
            transaction.on_commit(partial(dispatch_entries, jobs))
    return ChangeOwnerResult(
        batch_id=batch_id,
        found_ids=frozenset(record_id for record_id, _ in locked),
        changed_ids=tuple(record_id for record_id, _ in changed),
        jobs=tuple(jobs),
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
) -> list[OutboxEntry]:
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
            OutboxEntry(
                organization_id=organization.id,
                kind=OutboxEntry.Kind.RELATED_TRANSFER,
                batch_id=batch_id,
                # The batch's time: the job moves no activity whose owner changed since.
                created_time=now,
                run_after=now + timedelta(seconds=_related_owner_delay(organization)),
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
            OutboxEntry(
                organization_id=organization.id,
                kind=OutboxEntry.Kind.NOTIFY,
                batch_id=batch_id,
                run_after=now,
                payload={**common, "record_ids": [str(record_id) for record_id in changed_ids]},
            )
        )
    return jobs


def _related_owner_delay(organization: Organization) -> int:
    """Bigin's scheduler delay: the organization's own (set by the sandbox controls), else the
    setting."""
    own = organization.related_owner_delay_seconds
    return settings.RELATED_OWNER_DELAY_SECONDS if own is None else own


def load_sandbox(data, *, create_only: bool = False) -> loader.LoadSummary:
    """Load a Bigin-shaped sandbox (crm/sandbox/loader.py) in one transaction.

    Existing records to which the file gives another owner change like every owner: locked in id
    order, one UPDATE and one audit INSERT (source `sandbox`, one batch for the whole load, no
    actor) per organization, module and new owner. With `create_only` (seed_demo, which
    `make run` calls on every start) only what is missing is created, so a restart never hands a
    record back to its demo owner after someone changed it.
    """
    batch_id = uuid.uuid4()
    with transaction.atomic(durable=True):
        summary = loader.load(data, create_only=create_only)
        groups: dict[tuple[int, int, int | None], list[int]] = defaultdict(list)
        for change in summary.owner_changes:
            key = (change.organization_id, change.module_id, change.new_owner_id)
            groups[key].append(change.record_id)
        for (organization_id, module_id, new_owner_id), record_ids in sorted(
            groups.items(), key=lambda item: (item[0][0], item[0][1], item[0][2] or 0)
        ):
            locked, _ = lock_records(
                organization_id, module_id, sorted(record_ids), new_owner_id=new_owner_id
            )
            changed = [
                (record_id, module_id, owner_id)
                for record_id, owner_id in locked
                if owner_id != new_owner_id
            ]
            if not changed:
                continue
            now = timezone.now()
            update_owners(
                organization_id,
                [record_id for record_id, _, _ in changed],
                new_owner_id=new_owner_id,
                actor_id=None,
                now=now,
            )
            record_owner_changes(
                organization_id=organization_id,
                changes=changed,
                new_owner_id=new_owner_id,
                actor_id=None,
                source=AuditEntry.Source.SANDBOX,
                batch_id=batch_id,
                now=now,
            )
    return summary
