"""Celery entry points for outbox entries, and the sending of them: thin; the work is in
owners/outbox.py, which never imports this module.

Arguments are job ids as strings (JSON-safe); the job row holds everything else.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from functools import partial

from celery import shared_task
from celery.signals import worker_process_shutdown, worker_shutdown
from django.db import transaction
from django.utils import timezone

from . import idempotency, outbox, publisher, scheduler
from .models import OutboxEntry
from .transfers import runner as transfer_runner
from .watch import delivery as watch_delivery
from .watch import events as watch_events

logger = logging.getLogger(__name__)


# acks_late: the claim makes a second delivery a no-op, so a message is acknowledged only after
# the job ran and a worker lost mid-job leaves it to be delivered again. Retries cover transient
# errors only, with exponential backoff (2, 4, 8, 16, 32 s, jittered, at most 60 s) and a cap;
# the released job is due when its retry comes, and past the cap the sweep retries it until
# OUTBOX_MAX_ATTEMPTS.
RETRY_BACKOFF = 2
RETRY_BACKOFF_MAX = 60
MAX_RETRIES = 5


@shared_task(
    bind=True,
    acks_late=True,
    autoretry_for=outbox.TRANSIENT_ERRORS,
    retry_backoff=RETRY_BACKOFF,
    retry_backoff_max=RETRY_BACKOFF_MAX,
    retry_jitter=True,
    max_retries=MAX_RETRIES,
    ignore_result=True,
)
def run_outbox_entry_task(self, job_id: str) -> None:
    run_entry(int(job_id), retry_in=retry_countdown(self.request.retries))


def retry_countdown(retries: int) -> float:
    """The latest the autoretry after `retries` earlier retries may come (its jitter draws up to
    this); 0 once the retries are spent (the sweep takes over)."""
    if retries >= MAX_RETRIES:
        return 0.0
    return float(min(RETRY_BACKOFF_MAX, RETRY_BACKOFF * 2**retries))


def run_entry(job_id: int, *, retry_in: float = 0.0) -> OutboxEntry | None:
    """Claim and run one outbox entry of any kind (owners.outbox.run_entry, with the steps of owner
    transfer jobs); the jobs a transfer step created are sent once it has committed."""
    return outbox.run_entry(
        job_id,
        runners=RUNNERS,
        failures=FAILURES,
        retry_in=retry_in,
    )


def _run_transfer_step(job: OutboxEntry) -> None:
    dispatch_entries(transfer_runner.run_transfer_job(job))


def _transfer_step_failed(job: OutboxEntry, error: str) -> None:
    created = transfer_runner.record_failure(job, error)
    if created:
        transaction.on_commit(partial(dispatch_entries, created))


def _run_watch_event(job: OutboxEntry) -> None:
    dispatch_entries(watch_delivery.run_watch_event(job))


RUNNERS = {
    **dict.fromkeys(transfer_runner.KINDS, _run_transfer_step),
    OutboxEntry.Kind.WATCH_EVENT: _run_watch_event,
    OutboxEntry.Kind.WATCH_DELIVERY: watch_delivery.run_watch_delivery,
}

# A transfer job's step that fails for good counts against its job (so the job ends); a watch
# callback given up on is a failed delivery.
FAILURES = {
    **dict.fromkeys(transfer_runner.KINDS, _transfer_step_failed),
    OutboxEntry.Kind.WATCH_DELIVERY: watch_delivery.delivery_failed,
}


def _dispatch_watch_events(sender: object, *, entries: list[OutboxEntry], **kwargs: object) -> None:
    """The watch events an owner write wrote (owners/watch/events.py), sent after its commit."""
    transaction.on_commit(partial(dispatch_entries, entries))


watch_events.entries_written.connect(_dispatch_watch_events, dispatch_uid="owners-watch-events")


def redeliver_callbacks(*, organization_id: int, delivery_ids: Iterable[int]) -> list[OutboxEntry]:
    """Send failed watch callbacks again (`watch.delivery.redeliver`), after the caller's commit."""
    entries = watch_delivery.redeliver(organization_id=organization_id, delivery_ids=delivery_ids)
    if entries:
        transaction.on_commit(partial(dispatch_entries, entries))
    return entries


@shared_task(ignore_result=True)
def sweep_outbox_task() -> int:
    return sweep()


@shared_task(ignore_result=True)
def delete_expired_idempotency_keys_task() -> int:
    return idempotency.delete_expired_keys()


def dispatch_entries(jobs: Iterable[OutboxEntry]) -> int:
    """Send committed jobs to the workers without waiting on the broker. Returns how many were
    handed over.

    Called after commit (`transaction.on_commit`). It never raises and never waits: this
    process's publisher thread (owners/publisher.py) publishes them, so a slow, hung or dead
    broker never delays the response. A job that could not be published stays pending and the
    sweep sends it later. Without a broker, a serving process runs them itself, at their due time
    (owners/scheduler.py); without a broker and without that scheduler (a management command,
    Celery's eager mode) the task runs here, as `apply_async` runs it.
    """
    in_process = scheduler.running()
    if in_process is not None:
        return in_process.submit(jobs)
    if run_outbox_entry_task.app.conf.task_always_eager:
        return publish_entries(jobs)
    return publisher.submit(jobs, publish=publish_entries)


def publish_entries(jobs: Iterable[OutboxEntry]) -> int:
    """Publish one task message per job, due at the job's `run_after`, in the calling thread.
    Returns how many were sent; never raises."""
    now = timezone.now()
    sent = 0
    for job in jobs:
        countdown = max(0.0, (job.run_after - now).total_seconds())
        try:
            run_outbox_entry_task.apply_async((str(job.id),), countdown=countdown)
        except Exception as exc:
            # Every job goes to the same broker: stop here instead of waiting out the broker
            # timeout once per job. No traceback: during an outage every request logs this.
            logger.error("outbox entry %s not dispatched (%r); the sweep will send it", job.id, exc)
            break
        sent += 1
    return sent


def _flush_publisher(**kwargs: object) -> None:
    """A Celery worker's pool process (or the worker itself) shutting down publishes what its
    publisher holds first: billiard's processes leave without running atexit."""
    publisher.flush()


worker_process_shutdown.connect(_flush_publisher, dispatch_uid="owners-publisher-process")
worker_shutdown.connect(_flush_publisher, dispatch_uid="owners-publisher-worker")


def sweep() -> int:
    """Send again the entries left behind (`outbox.release_left_behind`); returns how many were
    sent. Published in the calling thread (the beat task's worker, or the scheduler's thread
    without a broker), so the count is what reached the broker."""
    left_behind = outbox.release_left_behind(FAILURES)
    in_process = scheduler.running()
    if in_process is not None:
        return in_process.submit(left_behind)
    return publish_entries(left_behind)


def retry_failed_entries(*, job_ids: Iterable[int]) -> list[OutboxEntry]:
    """Send failed jobs again (`outbox.reset_failed_entries`), after the caller's commit."""
    failed = outbox.reset_failed_entries(job_ids=job_ids)
    if failed:
        transaction.on_commit(partial(dispatch_entries, failed))
    return failed
