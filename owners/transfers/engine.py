"""The transfer job engine: every job that moves many records (a mass change by criteria, a
leaving user's records, the revert of a batch) runs here. Public functions, for the APIs, the
command and the admin:

    schedule_mass_change, schedule_offboarding, schedule_revert,
    schedule_transfer_records                                     -> TransferJob
    dry_run_mass_change, dry_run_offboarding,
    dry_run_transfer_records                                      -> DryRun
    cancel_transfer, retry_transfer                               -> TransferJob | None
    transfer_progress, progress_of                                -> TransferProgress | None

How a job runs (owners/transfers/runner.py). The job row (`TransferJob`) lists its modules in
order. For the module at its cursor, a `transfer_plan` outbox entry splits the matching records
into id ranges of at most `TRANSFER_JOB_CHUNK` records (one window-function query: the id of
every Nth matching record) and writes one `transfer_chunk` outbox entry per range. Chunks are
ordinary outbox entries (owners/outbox.py): claimed with a conditional UPDATE, retried on transient
errors, re-sent by the sweep when a message or a worker is lost, so several workers run the
chunks of one job at once and a dead worker's chunk is run again from scratch. Each chunk is
one transaction:

    mark the chunk job done (fenced on its claim: a duplicate run does nothing)
    lock the new owner's row FOR SHARE (a disabled new owner stops the job)
    lock the records of the range that STILL match, in id order, FOR UPDATE
    lock their related activities, in id order, FOR UPDATE
    one UPDATE of both, their audit rows, the watch event (on PostgreSQL the records' lock
    returns their ids as one array and the rest is one statement,
    `owners.statements.move_chunk`; elsewhere one statement each)
    lock the job row, add the counts, and when the module's last chunk is done plan the next
    module (or finish: final counts, the digest email, the leaving user deleted)

Records that matched when planned but no longer do when their chunk runs, and records and
activities whose owner anyone changed after the job was scheduled, are skipped and counted: the
newest write wins (owners/transfers/selection.py).

A job always ends. A step that fails for good (its error, or the sweep giving up on it) is
counted against its job (`runner.record_failure`) in the transaction that marks its outbox entry
failed: a chunk's records as failed, and the job goes on to its end, FAILED; a plan fails the job
at once. `retry_transfer` runs the failed steps again.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from typing import Any

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from audit.models import AuditEntry
from crm import policy
from crm.models import AccessToken, Organization, Record, RefreshToken, User
from crm.modules import ACTIVITY_MODULES, ModuleInfo, module_by_name

from ..models import OutboxEntry, TransferJob
from ..selectors import batch_overview, reverted_operation
from ..tasks import dispatch_entries
from . import runner
from .selection import (
    offboarding_modules,
    records_to_move,
    related_names,
    related_to_move,
)

logger = logging.getLogger(__name__)

SAMPLE_SIZE = 20
ACTIVITY_NAMES = tuple(module.api_name for module in ACTIVITY_MODULES)


class NothingToRevert(Exception):
    """`schedule_revert`: the organization has no such batch, or it changed no record."""


class RevertNotPermitted(Exception):
    """`schedule_revert`: the actor lacks `permission`, the one the batch's own operation needed
    (crm/policy.py: an offboarding's revert needs Manage_Users, as the offboarding did)."""

    def __init__(self, permission: str) -> None:
        super().__init__(f"reverting this batch needs the {permission} permission")
        self.permission = permission


class BatchStillRunning(Exception):
    """`schedule_revert`: records of the batch may still change owner (its job is scheduled or
    running, or its related transfer waits or runs); a revert now would leave what they do next
    in place. `status` is the job's TransferJob status (running for a related transfer)."""

    def __init__(self, status: str) -> None:
        super().__init__(f"the batch is still {status}")
        self.status = status


# ----------------------------------------------------------------------------------------------
# Results


@dataclass(frozen=True)
class DryRun:
    total_count: int
    related_count: dict[str, int]
    sample_ids: list[int]
    per_module: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class TransferProgress:
    job_id: int
    kind: str
    status: str  # scheduled | running | completed | failed
    total_count: int
    updated_count: int
    not_updated_count: int
    failed_count: int
    skipped_count: int
    related_count: int
    batch_id: uuid.UUID
    cancelled: bool
    finished: bool
    module_ids: list[int]


# ----------------------------------------------------------------------------------------------
# Scheduling


def schedule_mass_change(
    *,
    organization: Organization,
    actor: User | None,
    module: ModuleInfo,
    criteria: dict[str, Any],
    new_owner: User,
    related_modules: Sequence[str] = (),
    notify: bool = False,
) -> TransferJob:
    """Schedule giving `new_owner` every record of `module` that matches `criteria` (the normal
    form from `criteria.parse_criteria`), with their `related_modules` activities."""
    related = [] if module.is_activity else related_names(related_modules)
    transfer = TransferJob(
        organization=organization,
        kind=TransferJob.Kind.MASS_CHANGE,
        batch_id=uuid.uuid4(),
        actor=actor,
        new_owner=new_owner,
        module_ids=[module.id],
        criteria=criteria,
        related_modules=related,
        notify=notify,
    )
    return _schedule(transfer)


def schedule_transfer_records(
    *,
    organization: Organization,
    actor: User | None,
    from_user: User,
    new_owner: User,
    module: ModuleInfo | None = None,
    criteria: dict[str, Any] | None = None,
) -> TransferJob:
    """Schedule giving `new_owner` the records `from_user` owns (of `module`, or of every module,
    parents first), that also match `criteria` when given, with their related activities. The
    user stays as they are (`manage.py transfer_records`)."""
    transfer = TransferJob(
        organization=organization,
        kind=TransferJob.Kind.MASS_CHANGE,
        batch_id=uuid.uuid4(),
        actor=actor,
        new_owner=new_owner,
        module_ids=[m.id for m in ([module] if module else offboarding_modules())],
        criteria=_owned_by(from_user, criteria),
        related_modules=list(ACTIVITY_NAMES),
    )
    return _schedule(transfer)


def dry_run_transfer_records(
    *,
    organization: Organization,
    from_user: User,
    new_owner: User,
    module: ModuleInfo | None = None,
    criteria: dict[str, Any] | None = None,
) -> DryRun:
    """What `schedule_transfer_records` would move now, per module."""
    transfer = TransferJob(
        organization=organization,
        kind=TransferJob.Kind.MASS_CHANGE,
        new_owner=new_owner,
        criteria=_owned_by(from_user, criteria),
    )
    per_module = {
        m.api_name: records_to_move(transfer, m.id).count()
        for m in ([module] if module else offboarding_modules())
    }
    first = records_to_move(transfer, module.id) if module else None
    sample = list(first.order_by("id").values_list("id", flat=True)[:SAMPLE_SIZE]) if first else []
    return DryRun(
        total_count=sum(per_module.values()),
        related_count={},
        sample_ids=sample,
        per_module=per_module,
    )


def _owned_by(user: User, criteria: dict[str, Any] | None) -> dict[str, Any]:
    owner = {"field": {"api_name": "Owner"}, "comparator": "equal", "value": {"id": str(user.id)}}
    return {"group_operator": "and", "group": [owner, criteria]} if criteria else owner


def schedule_offboarding(
    *,
    organization: Organization,
    actor: User | None,
    leaving_user: User,
    new_owner: User,
    delete_user: bool = True,
    notify: bool = False,
) -> TransferJob:
    """Schedule giving `new_owner` every record of every module `leaving_user` owns, and all the
    activities related to them; at the end the leaving user is deleted (or left disabled).

    At once, in the scheduling transaction, the leaving user is disabled and their tokens are
    revoked: they can neither call the API nor be given records while the job runs.
    """
    transfer = TransferJob(
        organization=organization,
        kind=TransferJob.Kind.OFFBOARDING,
        batch_id=uuid.uuid4(),
        actor=actor,
        new_owner=new_owner,
        from_user=leaving_user,
        delete_user=delete_user,
        # Parents first, their activities with them; then the activities left (whose parent
        # another user owns).
        module_ids=[module.id for module in offboarding_modules()],
        related_modules=list(ACTIVITY_NAMES),
        notify=notify,
    )
    return _schedule(transfer, leaving_user=leaving_user)


def schedule_revert(
    *, organization: Organization, actor: User | None, batch_id: uuid.UUID
) -> TransferJob:
    """Schedule giving back every record `batch_id` changed to its previous owner, as
    owners/transfers/revert.py decides record by record when the chunk runs. The one entry of
    the API, the admin and any command; `actor` None is a shell's operator. Raises, checked in
    this order:

        NothingToRevert      the organization has no such batch
        RevertNotPermitted   the actor lacks the permission the batch's own operation needed
        BatchStillRunning    records of the batch may still move (its job has not finished)
        NothingToRevert      the batch changed no record

    The checks read the batch before the scheduling transaction. A job that has finished stays
    finished, except a FAILED one that is retried (retry_transfer): what its retried chunks move
    after the revert's chunks have run stays moved. Refusing such a retry is retry_transfer's
    to decide.
    """
    overview = batch_overview(organization_id=organization.id, batch_id=batch_id)
    if overview is None:
        raise NothingToRevert(batch_id)
    operation = reverted_operation(overview)
    if not policy.may_revert(actor, operation):
        raise RevertNotPermitted(policy.permission_to_revert(operation))
    if overview.unfinished_status is not None:
        raise BatchStillRunning(overview.unfinished_status)
    if not overview.moves:
        raise NothingToRevert(batch_id)
    transfer = TransferJob(
        organization=organization,
        kind=TransferJob.Kind.REVERT,
        batch_id=uuid.uuid4(),
        actor=actor,
        reverted_batch_id=batch_id,
        module_ids=[0],  # one pass over the batch's audit rows, whatever their modules
    )
    return _schedule(transfer)


def _schedule(transfer: TransferJob, *, leaving_user: User | None = None) -> TransferJob:
    now = timezone.now()
    with transaction.atomic(durable=True):
        if leaving_user is not None:
            _disable_and_revoke(leaving_user, now)
            # The job's time is taken once the user's row is ours: a writer that gave them a
            # record before (holding their row FOR SHARE) stamped it earlier, so the job moves it.
            now = timezone.now()
        transfer.created_time = now
        transfer.total_count = _estimate_total(transfer)
        transfer.save(force_insert=True)
        # Built once the job row is saved: its id is known by then, however ids are drawn.
        plan = OutboxEntry(
            organization_id=transfer.organization_id,
            kind=OutboxEntry.Kind.TRANSFER_PLAN,
            batch_id=transfer.batch_id,
            run_after=now,
            payload={"transfer_id": str(transfer.id), "module_index": 0},
        )
        plan.save(force_insert=True)
        transaction.on_commit(partial(dispatch_entries, [plan]))
    return transfer


def _disable_and_revoke(user: User, now: datetime) -> None:
    User.objects.filter(id=user.id, status=User.Status.ACTIVE).update(
        status=User.Status.DISABLED, modified_time=now
    )
    AccessToken.objects.filter(user_id=user.id, revoked_at__isnull=True).update(revoked_at=now)
    RefreshToken.objects.filter(user_id=user.id, revoked_at__isnull=True).update(revoked_at=now)
    user.status = User.Status.DISABLED


def _estimate_total(transfer: TransferJob) -> int:
    """How many records match now: the job's Total_Count until its chunks know better."""
    if transfer.kind == TransferJob.Kind.REVERT:
        return (
            AuditEntry.objects.filter(
                organization_id=transfer.organization_id, batch_id=transfer.reverted_batch_id
            )
            .values("record_id")
            .distinct()
            .count()
        )
    return sum(records_to_move(transfer, module_id).count() for module_id in transfer.module_ids)


# ----------------------------------------------------------------------------------------------
# Dry runs: the counts, nothing written


def dry_run_mass_change(
    *,
    organization: Organization,
    module: ModuleInfo,
    criteria: dict[str, Any],
    new_owner: User,
    related_modules: Sequence[str] = (),
) -> DryRun:
    """What `schedule_mass_change` would move now: the count, the related activities per module
    and the first ids. Three queries plus one per related module."""
    transfer = TransferJob(
        organization=organization,
        kind=TransferJob.Kind.MASS_CHANGE,
        new_owner=new_owner,
        module_ids=[module.id],
        criteria=criteria,
    )
    selection = records_to_move(transfer, module.id)
    related = {}
    if not module.is_activity:
        for name in related_names(related_modules):
            related[name] = related_to_move(
                organization.id, selection.values("id"), [module_by_name(name).id], new_owner.id
            ).count()
    return DryRun(
        total_count=selection.count(),
        related_count=related,
        sample_ids=list(selection.order_by("id").values_list("id", flat=True)[:SAMPLE_SIZE]),
        per_module={module.api_name: selection.count()},
    )


def dry_run_offboarding(
    *, organization: Organization, leaving_user: User, new_owner: User
) -> DryRun:
    """The leaving user's records per module, and the activities related to them that another
    user owns (which move too)."""
    transfer = TransferJob(
        organization=organization,
        kind=TransferJob.Kind.OFFBOARDING,
        new_owner=new_owner,
        from_user=leaving_user,
    )
    per_module = {
        module.api_name: records_to_move(transfer, module.id).count()
        for module in offboarding_modules()
    }
    parents = Record.objects.filter(
        organization_id=organization.id, owner_id=leaving_user.id
    ).values("id")
    related = {
        module.api_name: related_to_move(organization.id, parents, [module.id], new_owner.id)
        .exclude(owner_id=leaving_user.id)
        .count()
        for module in ACTIVITY_MODULES
    }
    sample = Record.objects.filter(organization_id=organization.id, owner_id=leaving_user.id)
    return DryRun(
        total_count=sum(per_module.values()),
        related_count=related,
        sample_ids=list(sample.order_by("id").values_list("id", flat=True)[:SAMPLE_SIZE]),
        per_module=per_module,
    )


# ----------------------------------------------------------------------------------------------
# Control and progress


def cancel_transfer(*, organization: Organization, transfer_id: int) -> TransferJob | None:
    """Stop a job after the chunks running now: the chunks not started yet do nothing. What it
    changed stays changed (revert its batch to undo it). None for an unknown job."""
    updated = TransferJob.objects.filter(
        id=transfer_id,
        organization_id=organization.id,
        status__in=[TransferJob.Status.SCHEDULED, TransferJob.Status.RUNNING],
    ).update(cancelled=True)
    transfer = _transfer(organization, transfer_id)
    if updated and transfer is not None:
        # The planned chunks finish the job (each does nothing, then counts itself done); a job
        # still waiting for its plan is finished by it.
        logger.info("transfer job %s cancelled", transfer_id)
    return transfer


def retry_transfer(*, organization: Organization, transfer_id: int) -> TransferJob | None:
    """Run again the steps of a FAILED job that failed (chunks re-check every record, so what
    changed since is skipped); a job that has not failed is returned as it is. None for an
    unknown job."""
    transfer = _transfer(organization, transfer_id)
    if transfer is None or transfer.status != TransferJob.Status.FAILED:
        return transfer
    now = timezone.now()
    with transaction.atomic(durable=True):
        # Locked and read again: of two retries at once, the second finds the job running.
        transfer = TransferJob.objects.select_for_update().get(id=transfer.id)
        if transfer.status != TransferJob.Status.FAILED:
            return transfer
        failed = list(
            OutboxEntry.objects.select_for_update().filter(
                batch_id=transfer.batch_id,
                kind__in=[OutboxEntry.Kind.TRANSFER_PLAN, OutboxEntry.Kind.TRANSFER_CHUNK],
                status=OutboxEntry.Status.FAILED,
            )
        )
        chunks = [job for job in failed if job.kind == OutboxEntry.Kind.TRANSFER_CHUNK]
        # With failed chunks, their module's last one plans what comes next: a failed plan is
        # taken back (done), not run a second time.
        plans = [job for job in failed if job.kind == OutboxEntry.Kind.TRANSFER_PLAN]
        retried = chunks or plans
        if not retried:
            return transfer
        OutboxEntry.objects.filter(id__in=[job.id for job in retried]).update(
            status=OutboxEntry.Status.PENDING, attempts=0, claimed_at=None, run_after=now
        )
        if chunks and plans:
            OutboxEntry.objects.filter(id__in=[job.id for job in plans]).update(
                status=OutboxEntry.Status.DONE, finished_at=now
            )
        TransferJob.objects.filter(id=transfer.id).update(
            status=TransferJob.Status.RUNNING,
            finished_time=None,
            chunks_done=F("chunks_done") - len(chunks),
            failed_count=F("failed_count") - sum(runner.failed_records(job) for job in failed),
            last_error="",
        )
        for job in retried:
            job.run_after = now
        transaction.on_commit(partial(dispatch_entries, retried))
    return _transfer(organization, transfer_id)


def transfer_progress(
    *, organization: Organization, transfer_id: int, kind: str | None = None
) -> TransferProgress | None:
    """A job's status and counts; None when the organization has no such job (of this kind)."""
    transfer = _transfer(organization, transfer_id)
    if transfer is None or (kind is not None and transfer.kind != kind):
        return None
    return progress_of(transfer)


def progress_of(transfer: TransferJob) -> TransferProgress:
    done = transfer.updated_count + transfer.failed_count + transfer.skipped_count
    finished = transfer.status in (TransferJob.Status.COMPLETED, TransferJob.Status.FAILED)
    return TransferProgress(
        job_id=transfer.id,
        kind=transfer.kind,
        status=transfer.status,
        total_count=transfer.total_count,
        updated_count=transfer.updated_count,
        not_updated_count=max(0, transfer.total_count - done),
        failed_count=transfer.failed_count,
        skipped_count=transfer.skipped_count,
        related_count=transfer.related_count,
        batch_id=transfer.batch_id,
        cancelled=transfer.cancelled,
        finished=finished,
        module_ids=list(transfer.module_ids),
    )


def _transfer(organization: Organization, transfer_id: int) -> TransferJob | None:
    return TransferJob.objects.filter(id=transfer_id, organization_id=organization.id).first()


__all__ = [
    "BatchStillRunning",
    "DryRun",
    "NothingToRevert",
    "RevertNotPermitted",
    "TransferProgress",
    "cancel_transfer",
    "dry_run_mass_change",
    "dry_run_offboarding",
    "dry_run_transfer_records",
    "progress_of",
    "retry_transfer",
    "schedule_mass_change",
    "schedule_offboarding",
    "schedule_revert",
    "schedule_transfer_records",
    "transfer_progress",
]
