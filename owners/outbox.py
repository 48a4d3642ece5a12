"""The outbox: follow-up work written in the transaction that asks for it (a change of owner's
related transfer and email; the plan, chunk and digest steps of transfer jobs), executed after
its commit. (Transfer jobs, which move many records, are owners/transfers/; their steps are
entries here.)

An entry's life: `pending` --claim--> `running` --(effects and `done`, one transaction)--> `done`.

- `owners.tasks.dispatch_entries` hands the entries to the process's publisher thread after
  commit (owners/publisher.py), which publishes one Celery message per entry (countdown up to its
  `run_after`) without the request waiting. When the broker is down it logs and stops: the entry
  stays pending.
- `claim_entry` takes an entry with a conditional UPDATE (pending, or running with an expired
  lease) and checks the row count, so a duplicate delivery does nothing and an entry whose worker
  died is taken over once its lease has expired.
- The runners write their effects and mark the entry done in one transaction, fenced on the
  claim (`finish_claimed`), so a re-run never does anything twice (the email is the exception:
  see `run_notification`).
- `release_left_behind` (called by the sweep task, Celery beat) hands back pending entries whose
  message never arrived and running entries whose lease expired, for `owners.tasks` to send
  again, and gives up on entries that were claimed too often.

This module never imports the tasks: they import it, and the sending lives with them.
"""

from __future__ import annotations

import logging
import smtplib
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime, timedelta
from email.utils import parseaddr

from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.core.mail import EmailMessage
from django.db import InterfaceError, OperationalError, connection, transaction
from django.db.models import F, Q
from django.utils import timezone

from audit.models import AuditEntry
from crm import policy
from crm.db_errors import database_unavailable
from crm.models import Record, User
from crm.modules import ACTIVITY_MODULE_IDS, module_by_name

from .models import OutboxEntry
from .statements import (
    move_related,
    new_owner_status,
    owner_changed_since,
    record_owner_changes,
    update_owners,
)

logger = logging.getLogger(__name__)

SWEEP_BATCH = 500


class TransientJobError(Exception):
    """A failure worth retrying that is not one of the exception types below (an SMTP 4xx)."""


# What a retry can cure: the database or the mail server briefly unreachable, a deadlock or
# serialization failure (both OperationalError on PostgreSQL). Anything else is a bug or a
# permanent refusal, and retrying it would only repeat it.
TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (
    OperationalError,
    InterfaceError,
    ConnectionError,
    TimeoutError,
    smtplib.SMTPServerDisconnected,
    smtplib.SMTPConnectError,
    # The soft time limit: the job waited too long (on row locks, say); try again later.
    SoftTimeLimitExceeded,
    TransientJobError,
)


def claim_entry(job_id: int) -> OutboxEntry | None:
    """Claim a job for this worker, or return None when it is not ours to run.

    One conditional UPDATE: PostgreSQL re-checks its WHERE after waiting on a concurrent claim
    of the same row, so of two deliveries exactly one gets the row. A running job is taken over
    only after its lease, which outlives the task hard time limit: its worker is gone by then.
    """
    now = timezone.now()
    lease_expired = now - timedelta(seconds=settings.OUTBOX_LEASE_SECONDS)
    claimed = OutboxEntry.objects.filter(
        Q(status=OutboxEntry.Status.PENDING)
        | Q(status=OutboxEntry.Status.RUNNING, claimed_at__lt=lease_expired),
        id=job_id,
        attempts__lt=settings.OUTBOX_MAX_ATTEMPTS,
    ).update(status=OutboxEntry.Status.RUNNING, claimed_at=now, attempts=F("attempts") + 1)
    if claimed != 1:
        return None
    # `claimed_at` is this claim's fencing token: the runner finishes only a job it still holds.
    return OutboxEntry.objects.get(id=job_id)


# What a kind of entry does when it fails for good, beside being marked failed, in the same
# transaction (the steps of transfer jobs count the failure against their job, so it ends):
# called with the entry and its error.
FailureHandlers = Mapping[str, Callable[[OutboxEntry, str], object]]


def run_entry(
    job_id: int,
    runners: Mapping[str, Callable[[OutboxEntry], object]] | None = None,
    *,
    failures: FailureHandlers | None = None,
    retry_in: float = 0.0,
) -> OutboxEntry | None:
    """Claim and run one job; None when it was not ours to run (done, or held by another).

    `runners` runs the kinds this module does not know (the steps of transfer jobs, which
    owners.tasks hands in: owners/transfers/ builds on this module, not the other way round), and
    `failures` what they do when they fail for good. After a transient error the job is pending
    again and due in `retry_in` seconds, when the caller's retry comes (so the sweep does not
    send it a second time before then).
    """
    job = claim_entry(job_id)
    if job is None:
        logger.info("outbox entry %s not claimed (done or held by another worker)", job_id)
        return None
    try:
        if job.kind == OutboxEntry.Kind.RELATED_TRANSFER:
            run_related_transfer(job)
        elif job.kind == OutboxEntry.Kind.NOTIFY:
            run_notification(job)
        else:
            (runners or {})[job.kind](job)
    except TRANSIENT_ERRORS as exc:
        _release(job, exc, retry_in)
        raise
    except Exception as exc:
        if database_unavailable(exc):
            # The database unavailable by another name (a server session lost mid-COMMIT,
            # crm/db_errors.py): as transient as an OperationalError, and raised as one, so that
            # the caller's retry (Celery's autoretry_for, the scheduler) takes it.
            _release(job, exc, retry_in)
            raise OperationalError(str(exc)) from exc
        _fail(job, exc, failures or {})
        raise
    return job


def run_related_transfer(job: OutboxEntry) -> list[int]:
    """Give the job's new owner the selected activities of its parent records. Returns their ids.

    Newest write wins, for parents and activities alike. Only parents whose owner is still the
    job's new owner count: when a newer request moved a parent on, that request's own job decides
    its activities. And an activity whose owner someone changed after the batch that asked for
    this job (a direct change within the scheduler's delay, or any change before a job the sweep
    replays after an outage) keeps that owner: it is skipped, and counted in the job's `result`.
    A new owner who is no longer active (disabled or deleted since the batch) is given nothing:
    every activity is skipped.

    Whatever the number of records: lock the new owner's row, lock the parents, lock the
    activities, mark the job done with its result, one UPDATE, one audit INSERT. On PostgreSQL
    the job is marked done first (fenced on the claim), the parents are locked, and the rest is
    one statement (owners/statements.py, `move_related`): no activity id travels to Python and
    back but the moved ones this returns.
    """
    payload = job.payload
    new_owner_id = int(payload["new_owner_id"])
    actor_id = int(payload["actor_id"]) if payload.get("actor_id") else None
    parent_ids = [int(record_id) for record_id in payload["parent_ids"]]
    module_ids = [
        module.id
        for module in map(module_by_name, payload["related_modules"])
        if module is not None and module.is_activity
    ]
    related_ids = [int(record_id) for record_id in payload["related_ids"]]
    # The batch's time: change_owner writes it on the job, its audit rows and its records.
    since = job.created_time
    if connection.vendor == "postgresql":
        with transaction.atomic(durable=True):
            # The same steps in the same order (owners/statements.py, `move_related`): the new
            # owner's status first, FOR SHARE; the job marked done, fenced on this claim (a
            # worker that took it over after this one's lease ran out holds it now, and this one
            # does nothing); then the parents locked in id order, and one statement that locks
            # their activities in id order, moves and audits those to move and writes the
            # result on the job's row.
            may_own = policy.may_own_records(new_owner_status(new_owner_id))
            if not finish_claimed(job):
                return []
            moved_ids, skipped_count = move_related(
                job_id=job.id,
                organization_id=job.organization_id,
                parent_ids=parent_ids,
                module_ids=module_ids,
                related_ids=related_ids,
                activity_module_ids=sorted(ACTIVITY_MODULE_IDS),
                may_own=may_own,
                since=since,
                new_owner_id=new_owner_id,
                actor_id=actor_id,
                source=AuditEntry.Source.RELATED_TRANSFER,
                batch_id=job.batch_id,
                now=timezone.now(),
                listed=MAX_LISTED_SKIPPED,
            )
        if skipped_count:
            logger.info(
                "outbox entry %s: %s activities kept the owner someone gave them after the batch",
                job.id,
                skipped_count,
            )
        return moved_ids
    candidates: list[tuple[int, int, int | None, datetime | None]] = []
    with transaction.atomic(durable=True):
        # The new owner's status FOR SHARE, first, as a transfer job's chunk reads it: a user
        # disabled (an offboarding, an operator) since the batch is given nothing more, and an
        # offboarding scheduled meanwhile waits for this transaction, so whatever it gives
        # them now is theirs before the offboarding looks.
        may_own = policy.may_own_records(new_owner_status(new_owner_id))
        # Locked in id order, as change_owner locks them: a request moving one of these parents
        # on waits for this transaction (and then its own job follows), and the two never
        # deadlock.
        parents = list(
            Record.objects.filter(
                organization_id=job.organization_id, id__in=parent_ids, owner_id=new_owner_id
            )
            .order_by("id")
            .select_for_update()
            .values_list("id", flat=True)
        )
        if parents:
            # Locked too, and read after the lock: PostgreSQL hands back the newest version of a
            # row this statement waited for, so a change of owner committed meanwhile is seen.
            candidates = list(
                Record.objects.filter(
                    Q(module_id__in=module_ids)
                    | Q(id__in=related_ids, module_id__in=ACTIVITY_MODULE_IDS),
                    organization_id=job.organization_id,
                    related_to_id__in=parents,
                )
                .exclude(owner_id=new_owner_id)
                .order_by("id")
                .select_for_update()
                .values_list("id", "module_id", "owner_id", "owner_changed_time")
            )
        moved = [
            (record_id, module_id, owner_id)
            for record_id, module_id, owner_id, changed in candidates
            if may_own and not owner_changed_since(changed, since)
        ]
        skipped = [
            record_id
            for record_id, _, _, changed in candidates
            if not may_own or owner_changed_since(changed, since)
        ]
        # Fenced on this claim: a worker that took the job over (after this one's lease ran out)
        # holds it now, and this one does nothing.
        if not finish_claimed(
            job, result=related_transfer_result(moved=len(moved), skipped=skipped)
        ):
            return []
        if moved:
            now = timezone.now()
            update_owners(
                job.organization_id,
                [record_id for record_id, _, _ in moved],
                new_owner_id=new_owner_id,
                actor_id=actor_id,
                now=now,
            )
            record_owner_changes(
                organization_id=job.organization_id,
                changes=moved,
                new_owner_id=new_owner_id,
                actor_id=actor_id,
                source=AuditEntry.Source.RELATED_TRANSFER,
                batch_id=job.batch_id,
                now=now,
            )
    if skipped:
        logger.info(
            "outbox entry %s: %s activities kept the owner someone gave them after the batch",
            job.id,
            len(skipped),
        )
    return [record_id for record_id, _, _ in moved]


MAX_LISTED_SKIPPED = 100


def related_transfer_result(*, moved: int, skipped: list[int]) -> dict:
    """What a related transfer did, kept on its job row (`OutboxEntry.result`): how many activities
    it moved, how many it skipped because their owner changed after the batch, and the first
    `MAX_LISTED_SKIPPED` of those (ids as strings)."""
    return {
        "moved": moved,
        "skipped": len(skipped),
        "skipped_ids": [str(record_id) for record_id in skipped[:MAX_LISTED_SKIPPED]],
    }


def run_notification(job: OutboxEntry) -> bool:
    """Email the new owner once for the whole request, listing the records that changed.

    Send, then mark done at once. The email cannot join the database transaction, so this is
    at-least-once: a worker that dies in the milliseconds between the mail server accepting the
    message and the UPDATE leaves the job running, and after the lease it is sent again, with
    the same Message-ID (derived from the job) so a mail client can fold the duplicate. Marking
    done first would make it at-most-once instead, and a crash would lose the email.
    """
    payload = job.payload
    new_owner_id = int(payload["new_owner_id"])
    actor_id = int(payload["actor_id"]) if payload.get("actor_id") else None
    users = {
        user.id: user
        for user in User.objects.filter(
            organization_id=job.organization_id, id__in=[new_owner_id, actor_id]
        ).only("id", "full_name", "email")
    }
    owner = users.get(new_owner_id)
    records = list(
        Record.objects.filter(
            organization_id=job.organization_id,
            id__in=[int(record_id) for record_id in payload["record_ids"]],
        )
        .order_by("id")
        .values_list("id", "name")
    )
    if owner is not None and owner.email and records:
        message = _notification_email(job, owner=owner, actor=users.get(actor_id), records=records)
        try:
            message.send()
        except smtplib.SMTPResponseException as exc:
            if 400 <= exc.smtp_code < 500:  # "try again later" in SMTP's words
                raise TransientJobError(f"SMTP {exc.smtp_code}: {exc.smtp_error!r}") from exc
            raise
    else:
        logger.warning("outbox entry %s: no one to notify or nothing to list", job.id)
    if not finish_claimed(job):
        logger.warning("outbox entry %s: claim lost while sending; it may be sent again", job.id)
        return False
    return True


def reset_failed_entries(*, job_ids: Iterable[int]) -> list[OutboxEntry]:
    """An operator's retry: failed related transfers, emails and watch callbacks among `job_ids`
    pending again,
    due now, attempts from zero, for `owners.tasks` to send. Returns them; the last error stays
    until a run succeeds. Jobs that have not failed are left as they are, and so are the plans
    and chunks of transfer jobs: those are retried with their job
    (`owners.transfers.engine.retry_transfer`), which keeps the job's counts right."""
    now = timezone.now()
    with transaction.atomic():
        # Locked, so a sweep giving up on the same jobs right now does not interleave.
        failed = list(
            OutboxEntry.objects.filter(
                id__in=job_ids,
                status=OutboxEntry.Status.FAILED,
                kind__in=[
                    OutboxEntry.Kind.RELATED_TRANSFER,
                    OutboxEntry.Kind.NOTIFY,
                    OutboxEntry.Kind.TRANSFER_DIGEST,
                    OutboxEntry.Kind.WATCH_DELIVERY,
                ],
            )
            .order_by("id")
            .select_for_update()
            .only("id")
        )
        if failed:
            OutboxEntry.objects.filter(id__in=[job.id for job in failed]).update(
                status=OutboxEntry.Status.PENDING,
                attempts=0,
                claimed_at=None,
                finished_at=None,
                run_after=now,
            )
    for job in failed:
        job.run_after = now
    return failed


def release_left_behind(failures: FailureHandlers | None = None) -> list[OutboxEntry]:
    """The jobs left behind, made pending and due now, for the sweep to send again.

    Pending jobs due for longer than the grace period (their message never reached the broker,
    or was lost), and running jobs whose lease expired (their worker died). Jobs claimed
    `OUTBOX_MAX_ATTEMPTS` times already are marked failed instead, each with its kind's failure
    handler (`failures`) in the same transaction: a transfer job whose chunk is given up on ends.
    """
    now = timezone.now()
    left_behind = Q(
        status=OutboxEntry.Status.PENDING,
        run_after__lte=now - timedelta(seconds=settings.OUTBOX_SWEEP_GRACE_SECONDS),
    ) | Q(
        status=OutboxEntry.Status.RUNNING,
        claimed_at__lt=now - timedelta(seconds=settings.OUTBOX_LEASE_SECONDS),
    )
    error = f"gave up after {settings.OUTBOX_MAX_ATTEMPTS} attempts"
    with transaction.atomic():
        # Locked, so a claim or an operator's retry does not interleave; one being claimed right
        # now is skipped (its worker decides).
        abandoned = list(
            OutboxEntry.objects.filter(left_behind, attempts__gte=settings.OUTBOX_MAX_ATTEMPTS)
            .order_by("id")
            .select_for_update(skip_locked=True)[:SWEEP_BATCH]
        )
        OutboxEntry.objects.filter(id__in=[job.id for job in abandoned]).update(
            status=OutboxEntry.Status.FAILED, finished_at=now, last_error=error
        )
        for job in abandoned:
            handler = (failures or {}).get(job.kind)
            if handler is not None:
                handler(job, error)
    if abandoned:
        logger.error("%s outbox entries failed after too many attempts", len(abandoned))
    with transaction.atomic():
        # Locked while they are released, so no claim interleaves; a job being claimed right
        # now is skipped and left to its worker.
        due = list(
            OutboxEntry.objects.filter(left_behind, attempts__lt=settings.OUTBOX_MAX_ATTEMPTS)
            .order_by("run_after")
            .select_for_update(skip_locked=True)
            .only("id", "run_after")[:SWEEP_BATCH]
        )
        # Pending again and due now: the next sweep waits a whole grace period before sending
        # the same job again, so a backlog in the queue is not multiplied every 30 s. A dead
        # worker's claim is released (its fence, `claimed_at`, no longer matches).
        OutboxEntry.objects.filter(id__in=[job.id for job in due]).update(
            status=OutboxEntry.Status.PENDING, claimed_at=None, run_after=now
        )
    for job in due:
        job.run_after = now
    return due


def finish_claimed(job: OutboxEntry, *, result: dict | None = None) -> bool:
    """Mark the entry done (with its result) if this claim still holds it (its status and claim
    time unchanged)."""
    values = {"status": OutboxEntry.Status.DONE, "finished_at": timezone.now(), "last_error": ""}
    if result is not None:
        values["result"] = result
    return (
        OutboxEntry.objects.filter(
            id=job.id, status=OutboxEntry.Status.RUNNING, claimed_at=job.claimed_at
        ).update(**values)
        == 1
    )


def _release(job: OutboxEntry, exc: BaseException, retry_in: float) -> None:
    """Give a job back after a transient error, due when its retry comes, so the retry (or, past
    the grace period after that, the sweep) claims it."""
    try:
        OutboxEntry.objects.filter(
            id=job.id, status=OutboxEntry.Status.RUNNING, claimed_at=job.claimed_at
        ).update(
            status=OutboxEntry.Status.PENDING,
            claimed_at=None,
            run_after=timezone.now() + timedelta(seconds=retry_in),
            last_error=repr(exc)[:2000],
        )
    except TRANSIENT_ERRORS:
        # The database is the trouble: the lease runs out and the sweep takes the job over.
        logger.warning("outbox entry %s not released; its lease will expire", job.id)


def _fail(job: OutboxEntry, exc: BaseException, failures: FailureHandlers) -> None:
    """Mark the job failed, fenced on its claim, and run its kind's failure handler in the same
    transaction: both happen, or (a crash between them) neither, and the sweep runs it again."""
    logger.error("outbox entry %s failed: %r", job.id, exc)
    error = repr(exc)[:2000]
    with transaction.atomic():
        failed = OutboxEntry.objects.filter(
            id=job.id, status=OutboxEntry.Status.RUNNING, claimed_at=job.claimed_at
        ).update(status=OutboxEntry.Status.FAILED, finished_at=timezone.now(), last_error=error)
        handler = failures.get(job.kind)
        if failed and handler is not None:
            handler(job, error)


def _notification_email(
    job: OutboxEntry, *, owner: User, actor: User | None, records: list[tuple[int, str]]
) -> EmailMessage:
    module = module_by_name(job.payload["module"])
    if module is None:
        label = job.payload["module"]
    else:
        label = module.singular_label if len(records) == 1 else module.plural_label
    by = f" by {actor.full_name}" if actor else ""
    lines = [f"- {name or '(no name)'} (id {record_id})" for record_id, name in records]
    body = "\n".join(
        [
            f"Hello {owner.full_name},",
            "",
            f"{len(records)} {label} assigned to you{by}:",
            *lines,
            "",
        ]
    )
    domain = parseaddr(settings.DEFAULT_FROM_EMAIL)[1].rpartition("@")[2] or "localhost"
    return EmailMessage(
        subject=f"{len(records)} {label} assigned to you",
        body=body,
        to=[owner.email],
        headers={"Message-ID": f"<outbox-{job.id}@{domain}>"},
    )
