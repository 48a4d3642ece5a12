"""Reverting a batch: which records go back to the owner they had before it, which stay and why.
One rule (`skip_reason`) for the revert job's chunks (`revert_range`, which
owners/transfers/runner.py runs) and the admin's confirmation page (owners.selectors.
revert_preview, which asks the database the same facts; tests/owners/transfers/test_revert.py
holds the two together).

A record the batch changed goes back when, checked in this order,

- it still exists (else `record_deleted`);
- it existed before the batch (else `added_by_batch`: a record the batch added, through the
  record APIs, had no owner before it; the revert leaves it with its owner rather than take its
  owner away);
- nobody changed its owner after the batch wrote it, even back to the owner the batch gave it
  (else `changed_since`: the newest write wins; owners/statements.py, `owner_changed_after`);
- the batch left it with another owner than before (else `already_previous_owner`: a record the
  batch moved away and back);
- its owner from before the batch may own records: an active user, or nobody (else
  `owner_not_active`: a revert never gives a record to a disabled or deleted user, such as the
  leaving user of an offboarding; crm/policy.py, `may_own_records`).

Every record left alone is counted under the first reason that applies, in the job's
`skipped_reasons`; they add up to its Skipped_Count.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Mapping
from datetime import datetime

from django.utils import timezone

from audit.models import AuditEntry
from crm import policy
from crm.models import Record

from ..models import TransferJob
from ..statements import (
    owner_changed_after,
    owner_statuses,
    record_owner_changes,
    update_owners,
)

RECORD_DELETED = "record_deleted"
ADDED_BY_BATCH = "added_by_batch"
CHANGED_SINCE = "changed_since"
ALREADY_PREVIOUS_OWNER = "already_previous_owner"
OWNER_NOT_ACTIVE = "owner_not_active"
# In the order they are checked.
SKIP_REASONS = (
    RECORD_DELETED,
    ADDED_BY_BATCH,
    CHANGED_SINCE,
    ALREADY_PREVIOUS_OWNER,
    OWNER_NOT_ACTIVE,
)
# The audit sources of a change that gave a record its first owner: there is none to go back to.
ADDING_SOURCES = (AuditEntry.Source.INSERT,)
# Why a record does not go back, for an operator (the admin's pages).
SKIP_REASON_LABELS = {
    RECORD_DELETED: "the record no longer exists",
    ADDED_BY_BATCH: "the batch added it: it had no owner before",
    CHANGED_SINCE: "its owner changed since the batch",
    ALREADY_PREVIOUS_OWNER: "it already has its owner from before the batch",
    OWNER_NOT_ACTIVE: "its previous owner is not active (disabled or deleted)",
}


def skipped_reasons(counts: Mapping[str, int]) -> dict[str, int]:
    """Every reason with its count, 0 when none: the shape the API answers."""
    return {reason: int(counts.get(reason, 0)) for reason in SKIP_REASONS}


def skip_reason(
    *,
    exists: bool,
    added: bool,
    changed_since: bool,
    previous_owner_id: int | None,
    previous_owner_status: str | None,
    batch_owner_id: int | None,
) -> str | None:
    """Why a record the batch changed stays with its owner, or None when it goes back to
    `previous_owner_id` (its owner before the batch's first change of it). `batch_owner_id`:
    the owner the batch's last change gave it; `added`: the batch's first change of it added it
    (ADDING_SOURCES); `changed_since`: its owner is no longer that one, or changed after that
    change (`changed_since_batch`)."""
    if not exists:
        return RECORD_DELETED
    if added:
        return ADDED_BY_BATCH
    if changed_since:
        return CHANGED_SINCE
    if batch_owner_id == previous_owner_id:
        return ALREADY_PREVIOUS_OWNER
    if previous_owner_id is not None and not policy.may_own_records(previous_owner_status):
        return OWNER_NOT_ACTIVE
    return None


def changed_since_batch(
    *,
    owner_id: int | None,
    owner_changed_time: datetime | None,
    batch_owner_id: int | None,
    written_at: datetime,
) -> bool:
    """Whether a record whose owner is now `owner_id`, last changed at `owner_changed_time`,
    changed owner since the batch gave it `batch_owner_id` at `written_at` (owners.selectors
    asks the same of the database: owners/statements.py `owner_unchanged_after`)."""
    return owner_id != batch_owner_id or owner_changed_after(owner_changed_time, written_at)


def revert_range(transfer: TransferJob, *, after: int, up_to: int) -> tuple[int, int]:
    """Give back what the reverted batch changed among the record ids in (after, up_to]: one
    UPDATE and one audit INSERT per distinct previous owner. Returns (moved, skipped) in
    records, and adds the skipped ones, by reason, to the job's `skipped_reasons`."""
    org_id = transfer.organization_id
    rows = AuditEntry.objects.filter(
        organization_id=org_id,
        batch_id=transfer.reverted_batch_id,
        record_id__gt=after,
        record_id__lte=up_to,
    ).order_by("record_id", "created_time", "id")
    # Per record: the owner before the batch's first change of it (and whether that change
    # added it); the owner after its last, and when.
    before: dict[int, int | None] = {}
    added: set[int] = set()
    batch_owner: dict[int, int | None] = {}
    written_at: dict[int, datetime] = {}
    for record_id, previous_owner_id, new_owner_id, created_time, source in rows.values_list(
        "record_id", "previous_owner_id", "new_owner_id", "created_time", "source"
    ):
        if record_id not in before and source in ADDING_SOURCES:
            added.add(record_id)
        before.setdefault(record_id, previous_owner_id)
        batch_owner[record_id] = new_owner_id
        written_at[record_id] = created_time
    # The previous owners' statuses FOR SHARE, before the records, as every writer reads its new
    # owner's: disabling one of them waits for this chunk, or this chunk reads what it committed.
    statuses = owner_statuses([owner for owner in set(before.values()) if owner is not None])
    # Then the records, in id order FOR UPDATE as every writer locks them: the owner and owner
    # time read here are those of the newest committed write.
    locked = list(
        Record.objects.filter(organization_id=org_id, id__in=list(before))
        .order_by("id")
        .select_for_update()
        .values_list("id", "module_id", "owner_id", "owner_changed_time")
    )
    # Records that no longer exist: not found, so not locked.
    reasons: Counter[str] = Counter({RECORD_DELETED: len(before) - len(locked)})
    by_target: dict[int | None, list[tuple[int, int, int | None]]] = defaultdict(list)
    for record_id, module_id, owner_id, owner_changed_time in locked:
        target = before[record_id]
        reason = skip_reason(
            exists=True,
            added=record_id in added,
            changed_since=changed_since_batch(
                owner_id=owner_id,
                owner_changed_time=owner_changed_time,
                batch_owner_id=batch_owner[record_id],
                written_at=written_at[record_id],
            ),
            previous_owner_id=target,
            previous_owner_status=statuses.get(target) if target is not None else None,
            batch_owner_id=batch_owner[record_id],
        )
        if reason is None:
            by_target[target].append((record_id, module_id, owner_id))
        else:
            reasons[reason] += 1
    now = timezone.now()
    for target, changes in by_target.items():
        update_owners(
            org_id,
            [record_id for record_id, _, _ in changes],
            new_owner_id=target,
            actor_id=transfer.actor_id,
            now=now,
        )
        record_owner_changes(
            organization_id=org_id,
            changes=changes,
            new_owner_id=target,
            actor_id=transfer.actor_id,
            source=AuditEntry.Source.REVERT,
            batch_id=transfer.batch_id,
            now=now,
        )
    _count_reasons(transfer.id, reasons)
    moved = sum(len(changes) for changes in by_target.values())
    return moved, len(before) - moved


def _count_reasons(transfer_id: int, reasons: Counter[str]) -> None:
    """Add a chunk's skipped records, by reason, to its job. The job row is locked here, in the
    chunk's transaction just before the runner locks it again to add the counts (the last
    statements before commit), so parallel chunks still wait on it only briefly."""
    reasons = +reasons  # without the zeros
    if not reasons:
        return
    transfer = TransferJob.objects.select_for_update().only("skipped_reasons").get(id=transfer_id)
    counts = Counter(transfer.skipped_reasons) + reasons
    TransferJob.objects.filter(id=transfer_id).update(skipped_reasons=dict(sorted(counts.items())))
