"""Running transfer jobs: the plan, chunk and digest outbox entries that owners.tasks.run_entry
hands over (see engine.py for the life of a job)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from email.utils import parseaddr
from typing import Any

from django.conf import settings
from django.core.mail import EmailMessage
from django.db import connection, transaction
from django.db.models import BooleanField, Count, ExpressionWrapper, Q, QuerySet
from django.db.models.expressions import RawSQL
from django.utils import timezone

from audit.models import AuditEntry
from crm.db_errors import database_unavailable
from crm.models import Record, User
from crm.modules import module_by_id, module_by_name

from ..models import OutboxEntry, TransferJob
from ..outbox import finish_claimed
from ..statements import (
    NewOwnerNotActive,
    move_chunk,
    new_owner_status,
    record_owner_changes,
    update_owners,
)
from .revert import revert_range
from .selection import SOURCES, job_condition, records_left_to_move, related_left_to_move

logger = logging.getLogger(__name__)

KINDS = (
    OutboxEntry.Kind.TRANSFER_PLAN,
    OutboxEntry.Kind.TRANSFER_CHUNK,
    OutboxEntry.Kind.TRANSFER_DIGEST,
)


def run_transfer_job(job: OutboxEntry) -> list[OutboxEntry]:
    """Run one step of a transfer job; returns the outbox entries it created and committed, for the
    caller to send (owners.tasks). A step that fails for good is counted by `record_failure`,
    which the outbox calls in the transaction that marks the entry failed.

    The database unavailable (crm/db_errors.py) during a plan or a chunk is the outbox's to retry
    (`owners.outbox.run_entry` gives the entry back): the step's one transaction rolled back,
    and its retry runs it from the committed state. Except when the error came with the COMMIT
    itself and the commit went through all the same (the connection lost after PostgreSQL
    committed, before its answer): the entry, marked done in that transaction, says so
    (`_committed`), and then the step has been done. Its retry would find the entry done and do
    nothing, and the entries it wrote (the next chunk or plan, the digest) would wait for the
    sweep; they are returned instead, to be sent now."""
    written: list[OutboxEntry] = []
    transfer_id = int(job.payload["transfer_id"])
    if job.kind == OutboxEntry.Kind.TRANSFER_DIGEST:
        _run_digest(job, transfer_id)
        return written
    try:
        if job.kind == OutboxEntry.Kind.TRANSFER_PLAN:
            _run_plan(job, transfer_id, written)
        else:
            _run_chunk(job, transfer_id, written)
    except Exception as exc:
        if not database_unavailable(exc) or not _committed(job):
            raise
        logger.warning(
            "transfer step %s: %r, but its transaction committed; the entries it wrote sent: %s",
            job.id,
            exc,
            len(written),
        )
    # The step's transaction committed (it is durable): what it wrote is there.
    return written


def _committed(job: OutboxEntry) -> bool:
    """Whether the step's transaction committed: its entry is done under this claim (a claim
    taken over after the lease has another `claimed_at`). False when the database cannot say
    now either: the outbox gives the entry back, and a commit that went through leaves it done,
    which its retry finds (the sweep then sends what it wrote)."""
    try:
        return OutboxEntry.objects.filter(
            id=job.id, status=OutboxEntry.Status.DONE, claimed_at=job.claimed_at
        ).exists()
    except Exception as exc:
        if database_unavailable(exc):
            return False
        raise


def _run_plan(job: OutboxEntry, transfer_id: int, written: list[OutboxEntry]) -> None:
    """Split the module at the cursor into chunks, each an outbox entry, or finish the job; the
    entries it writes are added to `written`."""
    module_index = int(job.payload["module_index"])
    with transaction.atomic(durable=True):
        if not finish_claimed(job):
            return
        transfer = TransferJob.objects.select_for_update().get(id=transfer_id)
        now = timezone.now()
        if transfer.started_time is None:
            transfer.started_time = now
            transfer.status = TransferJob.Status.RUNNING
        chunks: list[OutboxEntry] = []
        # Modules with nothing to move are passed over in the same transaction.
        while not transfer.cancelled and module_index < len(transfer.module_ids):
            chunks = _plan_module(transfer, transfer.module_ids[module_index], now)
            if chunks:
                break
            module_index += 1
        transfer.cursor_module = module_index
        if chunks:
            transfer.chunks_planned += len(chunks)
            OutboxEntry.objects.bulk_create(chunks)
            written.extend(chunks)
        else:
            _complete(transfer, now, written)
        transfer.save()


def _plan_module(transfer: TransferJob, module_id: int, now: datetime) -> list[OutboxEntry]:
    """One query: the id of every Nth matching record (N = TRANSFER_JOB_CHUNK) and the last
    one, so chunk k covers the ids in (boundary k-1, boundary k]. Memory: one row per chunk."""
    if transfer.kind == TransferJob.Kind.REVERT:
        ids = AuditEntry.objects.filter(
            organization_id=transfer.organization_id, batch_id=transfer.reverted_batch_id
        ).values("record_id")
        id_column = "record_id"
    else:
        ids = records_left_to_move(transfer, module_id).values("id")
        id_column = "id"
    size = settings.TRANSFER_JOB_CHUNK
    sql, params = ids.order_by().query.sql_with_params()
    boundaries_sql = (
        f"SELECT {id_column}, n FROM (SELECT {id_column}, ROW_NUMBER() OVER (ORDER BY"
        f" {id_column}) AS n, COUNT(*) OVER () AS total FROM ({sql}) AS matching) AS numbered"
        f" WHERE n %% %s = 0 OR n = total ORDER BY n"
    )
    with connection.cursor() as cursor:
        cursor.execute(boundaries_sql, [*params, size])
        boundaries = cursor.fetchall()
    chunks = []
    after, previous_n = 0, 0
    for boundary, n in boundaries:
        if boundary == after:
            # A revert batch may audit one record twice; a range never ends inside a record.
            continue
        chunks.append(
            OutboxEntry(
                organization_id=transfer.organization_id,
                kind=OutboxEntry.Kind.TRANSFER_CHUNK,
                batch_id=transfer.batch_id,
                run_after=now,
                payload={
                    "transfer_id": str(transfer.id),
                    "module_id": str(module_id),
                    "after": str(after),
                    "up_to": str(boundary),
                    "planned": n - previous_n,
                },
            )
        )
        after, previous_n = boundary, n
    return chunks


@dataclass
class _ChunkOutcome:
    locked: int = 0
    moved: int = 0
    last_moved_id: int | None = None
    skipped: int = 0
    related: int = 0
    # Activities the job moves in their own module too, that moved with their parent.
    extra_updated: int = 0
    follow_up: OutboxEntry | None = None


def _run_chunk(job: OutboxEntry, transfer_id: int, written: list[OutboxEntry]) -> None:
    payload = job.payload
    with transaction.atomic(durable=True):
        # First, so a duplicate or late delivery of this chunk does nothing at all.
        if not finish_claimed(job):
            return
        transfer = TransferJob.objects.get(id=transfer_id)
        outcome = _ChunkOutcome()
        if not transfer.cancelled:
            if transfer.kind == TransferJob.Kind.REVERT:
                outcome = _revert_chunk(transfer, payload)
            else:
                outcome = _move_chunk(transfer, payload)
        _count_chunk(transfer_id, job, outcome, written)


def _move_chunk(transfer: TransferJob, payload: dict[str, Any]) -> _ChunkOutcome:
    module_id = int(payload["module_id"])
    after, up_to, planned = int(payload["after"]), int(payload["up_to"]), int(payload["planned"])
    size = settings.TRANSFER_JOB_CHUNK
    new_owner_id = transfer.new_owner_id
    # The new owner's status, FOR SHARE: disabling them waits for this chunk, or this chunk sees
    # it and the job stops (the error fails the chunk and the job).
    status = new_owner_status(new_owner_id)
    if status != User.Status.ACTIVE:
        raise NewOwnerNotActive(status)
    related_ids = [module_by_name(name).id for name in transfer.related_modules]
    with_related = bool(related_ids) and not module_by_id(module_id).is_activity
    # The records of the range that still match and that nobody gave another owner since the
    # job was scheduled, locked in id order (as change_owner locks them): a concurrent change_owner
    # of some of them queues behind this chunk, or this chunk behind it, and then re-evaluates
    # the condition on the row it committed (newest write wins). At most one more than a chunk:
    # when more match than were planned, the rest is a chunk of its own.
    records = (
        records_left_to_move(transfer, module_id)
        .filter(id__gt=after, id__lte=up_to)
        .order_by("id")
        .select_for_update()
        .values_list("id", "owner_id")[: size + 1]
    )
    if connection.vendor == "postgresql":
        outcome = _move_chunk_set_based(
            transfer, module_id, records, related_ids if with_related else []
        )
    else:
        outcome = _move_chunk_statements(
            transfer, module_id, list(records), related_ids if with_related else []
        )
    if outcome.locked > size:
        # More records match in this range than when it was planned: the rest is a chunk of its
        # own, so no transaction holds more than TRANSFER_JOB_CHUNK records. Its records counted
        # now, so that if it fails for good they count as failed (and the job ends FAILED, not
        # COMPLETED with them left behind).
        rest = (
            records_left_to_move(transfer, module_id)
            .filter(id__gt=outcome.last_moved_id, id__lte=up_to)
            .count()
        )
        outcome.follow_up = _chunk_job(transfer, module_id, outcome.last_moved_id, up_to, rest)
    outcome.skipped = max(
        0, planned - outcome.moved - _moved_before(transfer, payload, outcome.moved)
    )
    return outcome


def _related_to_lock(transfer: TransferJob, parents: Any, related_ids: list[int]) -> QuerySet:
    """The activities of `parents` (ids, or a condition on the activity) that move with them,
    in id order, to lock. `in_job`: the activity is also one the job moves in its own module (a
    leaving user's task), so it counts as moved, not only as related."""
    return (
        related_left_to_move(transfer, parents, related_ids)
        .annotate(
            in_job=ExpressionWrapper(
                job_condition(transfer) & Q(module_id__in=transfer.module_ids),
                output_field=BooleanField(),
            )
        )
        .order_by("id")
        .select_for_update(of=("self",))
    )


def _move_chunk_set_based(
    transfer: TransferJob, module_id: int, records: QuerySet, related_ids: list[int]
) -> _ChunkOutcome:
    """PostgreSQL: the chunk's records locked, then their activities locked, both moved and
    audited by one statement (owners/statements.py, `move_chunk`), in the same lock order as
    below."""

    def related(parents: list[int]) -> tuple[str, tuple]:
        # The parents' ids as one constant array: see owners/statements.py on the plan.
        of_parents = RawSQL(
            f'"{Record._meta.db_table}"."related_to_id" = ANY(%s::bigint[])',
            [parents],
            output_field=BooleanField(),
        )
        return (
            _related_to_lock(transfer, of_parents, related_ids)
            .values_list("id", "owner_id", "in_job")
            .query.sql_with_params()
        )

    moved = move_chunk(
        records=records.query.sql_with_params(),
        limit=settings.TRANSFER_JOB_CHUNK,
        related=related if related_ids else None,
        organization_id=transfer.organization_id,
        new_owner_id=transfer.new_owner_id,
        actor_id=transfer.actor_id,
        source=SOURCES[transfer.kind],
        batch_id=transfer.batch_id,
        # Taken before the locks, for every row the statement moves; a change committed by
        # anyone after the job was scheduled makes a row one the statement does not move (newest
        # write wins), so no row it moves has a later change before this one.
        now=timezone.now(),
    )
    return _ChunkOutcome(
        locked=moved.locked,
        moved=moved.moved,
        last_moved_id=moved.last_moved_id,
        related=moved.related - moved.related_in_job,
        extra_updated=moved.related_in_job,
    )


def _move_chunk_statements(
    transfer: TransferJob,
    module_id: int,
    locked: list[tuple[int, int | None]],
    related_ids: list[int],
) -> _ChunkOutcome:
    """Elsewhere than on PostgreSQL: the same, one statement at a time."""
    size = settings.TRANSFER_JOB_CHUNK
    outcome = _ChunkOutcome(locked=len(locked))
    locked = locked[:size]
    changes = [(record_id, module_id, owner_id) for record_id, owner_id in locked]
    related: list[tuple[int, int, int | None]] = []
    in_job = 0
    if locked and related_ids:
        # Their activities, locked after their parents as every writer locks them.
        rows = list(
            _related_to_lock(
                transfer, [record_id for record_id, _ in locked], related_ids
            ).values_list("id", "module_id", "owner_id", "in_job")
        )
        related = [(record_id, module, owner) for record_id, module, owner, _ in rows]
        in_job = sum(1 for *_, matches in rows if matches)
    # Taken once every row is locked: a change committed before ours has an earlier audit time
    # on each of these records, one committed after a later one.
    now = timezone.now()
    _give(transfer, changes + related, transfer.new_owner_id, now)
    outcome.moved = len(locked)
    outcome.last_moved_id = locked[-1][0] if locked else None
    # Each record counted once: an activity the job moves in its own module (a leaving user's
    # task) is one of its records (updated), not a related one; `related` counts the activities
    # of other owners that followed, so updated + related is what the batch changed.
    outcome.related = len(related) - in_job
    outcome.extra_updated = in_job
    return outcome


def _moved_before(transfer: TransferJob, payload: dict[str, Any], moved_now: int) -> int:
    """How many activities of the range this job moved already with their parents (counted as
    updated by the parent's chunk, so not skipped here). Only a retried job meets them: a module
    of activities is otherwise planned after its parents' chunks have run. Read after this
    chunk's `moved_now` records of the range were audited: none of them had moved before in this
    batch (they would have the new owner, or a newer change, and not be moved again)."""
    module_id = int(payload["module_id"])
    if not transfer.related_modules or not module_by_id(module_id).is_activity:
        return 0
    audited = (
        AuditEntry.objects.filter(
            organization_id=transfer.organization_id,
            batch_id=transfer.batch_id,
            module_id=module_id,
            record_id__gt=int(payload["after"]),
            record_id__lte=int(payload["up_to"]),
        )
        .values("record_id")
        .distinct()
        .count()
    )
    return audited - moved_now


def _give(
    transfer: TransferJob,
    changes: list[tuple[int, int, int | None]],
    new_owner_id: int | None,
    now: datetime,
) -> None:
    """One UPDATE and one audit INSERT: `changes` are (record id, module id, previous owner)."""
    if not changes:
        return
    update_owners(
        transfer.organization_id,
        [record_id for record_id, _, _ in changes],
        new_owner_id=new_owner_id,
        actor_id=transfer.actor_id,
        now=now,
    )
    record_owner_changes(
        organization_id=transfer.organization_id,
        changes=changes,
        new_owner_id=new_owner_id,
        actor_id=transfer.actor_id,
        source=SOURCES[transfer.kind],
        batch_id=transfer.batch_id,
        now=now,
    )


def _revert_chunk(transfer: TransferJob, payload: dict[str, Any]) -> _ChunkOutcome:
    """Give each record of the range back its owner from before the batch, when the revert's
    rule says so (owners/transfers/revert.py); the records left alone are counted by reason."""
    # A revert range counts audit rows (`planned`); a record may have several.
    moved, skipped = revert_range(
        transfer, after=int(payload["after"]), up_to=int(payload["up_to"])
    )
    return _ChunkOutcome(moved=moved, skipped=skipped)


def _chunk_job(
    transfer: TransferJob, module_id: int, after: int, up_to: int, planned: int
) -> OutboxEntry:
    return OutboxEntry(
        organization_id=transfer.organization_id,
        kind=OutboxEntry.Kind.TRANSFER_CHUNK,
        batch_id=transfer.batch_id,
        run_after=timezone.now(),
        payload={
            "transfer_id": str(transfer.id),
            "module_id": str(module_id),
            "after": str(after),
            "up_to": str(up_to),
            "planned": planned,
        },
    )


def _count_chunk(
    transfer_id: int, job: OutboxEntry, outcome: _ChunkOutcome, written: list[OutboxEntry]
) -> None:
    """Add a chunk's counts to its job; the module's last chunk plans the next module (the
    entries written are added to `written`).

    The job row is locked last, just before commit, so parallel chunks wait on it only for the
    few statements left in their transactions.
    """
    transfer = TransferJob.objects.select_for_update().get(id=transfer_id)
    transfer.updated_count += outcome.moved + outcome.extra_updated
    transfer.skipped_count += outcome.skipped
    transfer.related_count += outcome.related
    transfer.chunks_done += 1
    new_jobs = []
    if outcome.follow_up is not None:
        transfer.chunks_planned += 1
        new_jobs.append(outcome.follow_up)
    if transfer.chunks_done == transfer.chunks_planned:
        new_jobs.append(_next_plan_job(transfer))
    if new_jobs:
        OutboxEntry.objects.bulk_create(new_jobs)
        written.extend(new_jobs)
    transfer.save(
        update_fields=[
            "updated_count",
            "skipped_count",
            "related_count",
            "chunks_done",
            "chunks_planned",
        ]
    )


def _next_plan_job(transfer: TransferJob) -> OutboxEntry:
    return OutboxEntry(
        organization_id=transfer.organization_id,
        kind=OutboxEntry.Kind.TRANSFER_PLAN,
        batch_id=transfer.batch_id,
        run_after=timezone.now(),
        payload={"transfer_id": str(transfer.id), "module_index": transfer.cursor_module + 1},
    )


def _complete(transfer: TransferJob, now: datetime, written: list[OutboxEntry]) -> None:
    """The end of a job (in the transaction of its last plan): final counts, the leaving user
    deleted, the digest email queued."""
    done = transfer.updated_count + transfer.failed_count + transfer.skipped_count
    if done > transfer.total_count:
        # Records that came to match after scheduling and were moved: counted in.
        transfer.total_count = done
    elif not transfer.cancelled:
        # Records that matched when the job was scheduled but no longer did (or had a newer
        # owner) when their module was planned: skipped like those a chunk found changed. A
        # cancelled job leaves them not updated.
        transfer.skipped_count += transfer.total_count - done
    transfer.status = (
        TransferJob.Status.FAILED if transfer.failed_count else TransferJob.Status.COMPLETED
    )
    transfer.finished_time = now
    finished_cleanly = not transfer.cancelled and not transfer.failed_count
    if transfer.kind == TransferJob.Kind.OFFBOARDING and transfer.delete_user and finished_cleanly:
        User.objects.filter(id=transfer.from_user_id).update(
            status=User.Status.DELETED, modified_time=now
        )
    if transfer.notify and transfer.updated_count and transfer.new_owner_id:
        digest = OutboxEntry(
            organization_id=transfer.organization_id,
            kind=OutboxEntry.Kind.TRANSFER_DIGEST,
            batch_id=transfer.batch_id,
            run_after=now,
            payload={"transfer_id": str(transfer.id)},
        )
        digest.save(force_insert=True)
        written.append(digest)


def record_failure(job: OutboxEntry, error: str) -> list[OutboxEntry]:
    """A step of a transfer job failed for good (its error, or the sweep gave up on it): count it
    against its job, so the job always ends. Called by owners.outbox in the transaction that
    marks the entry failed (a crash between the two leaves neither). A chunk's records count as
    failed and the job goes on (it ends FAILED, and `engine.retry_transfer` runs the chunk
    again); a plan fails its job at once. Returns the entries it created, for the caller to send
    after commit. A digest's failure changes no count: its job has ended already."""
    if job.kind not in (OutboxEntry.Kind.TRANSFER_PLAN, OutboxEntry.Kind.TRANSFER_CHUNK):
        return []
    transfer = (
        TransferJob.objects.select_for_update().filter(id=int(job.payload["transfer_id"])).first()
    )
    if transfer is None:
        return []
    created: list[OutboxEntry] = []
    transfer.last_error = error[:2000]
    if job.kind == OutboxEntry.Kind.TRANSFER_CHUNK:
        transfer.failed_count += int(job.payload.get("planned", 0))
        transfer.chunks_done += 1
        if transfer.chunks_done == transfer.chunks_planned:
            plan = _next_plan_job(transfer)
            plan.save(force_insert=True)
            created.append(plan)
    else:
        # A plan runs when no chunk of the job does: the job ends here, and what it had not
        # done yet counts as failed (kept on the entry, for a retry to take back).
        not_done = max(
            0,
            transfer.total_count
            - transfer.updated_count
            - transfer.failed_count
            - transfer.skipped_count,
        )
        transfer.failed_count += not_done
        OutboxEntry.objects.filter(id=job.id).update(result={"failed": not_done})
        transfer.status = TransferJob.Status.FAILED
        transfer.finished_time = timezone.now()
    transfer.save()
    return created


def failed_records(job: OutboxEntry) -> int:
    """How many records a failed step counted as failed (`record_failure`): a retry takes them
    back before running the step again."""
    if job.kind == OutboxEntry.Kind.TRANSFER_CHUNK:
        return int(job.payload.get("planned", 0))
    return int((job.result or {}).get("failed", 0))


# ----------------------------------------------------------------------------------------------
# The digest: one email per job


def _run_digest(job: OutboxEntry, transfer_id: int) -> None:
    transfer = TransferJob.objects.select_related("new_owner", "actor").get(id=transfer_id)
    owner = transfer.new_owner
    if owner is not None and owner.email:
        per_module = (
            AuditEntry.objects.filter(
                organization_id=transfer.organization_id,
                batch_id=transfer.batch_id,
                new_owner_id=owner.id,
            )
            .values("module_id")
            .annotate(count=Count("id"))
            .order_by("module_id")
        )
        counts = {module_by_id(row["module_id"]).plural_label: row["count"] for row in per_module}
        by = f" by {transfer.actor.full_name}" if transfer.actor else ""
        total = sum(counts.values())
        lines = [f"- {label}: {count}" for label, count in sorted(counts.items())]
        EmailMessage(
            subject=f"{total} records assigned to you",
            body="\n".join(
                [
                    f"Hello {owner.full_name},",
                    "",
                    f"{total} records were assigned to you{by} (job {transfer.id}):",
                    *lines,
                    "",
                    f"Batch id: {transfer.batch_id}",
                    "",
                ]
            ),
            to=[owner.email],
            headers={"Message-ID": f"<transfer-job-{transfer.id}@{_mail_domain()}>"},
        ).send()
    if not finish_claimed(job):
        logger.warning("transfer digest %s: claim lost while sending", job.id)


def _mail_domain() -> str:
    return parseaddr(settings.DEFAULT_FROM_EMAIL)[1].rpartition("@")[2] or "localhost"
