"""Celery entry points for outbox entries, and the sending of them: thin; the work is in
owners/outbox.py, which never imports this module.

Arguments are job ids as strings (JSON-safe); the job row holds everything else.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from functools import partial

from celery import shared_task
from django.db import transaction
from django.utils import timezone

from . import outbox
from .models import OutboxEntry
from .transfers import runner as transfer_runner

logger = logging.getLogger(__name__)


# acks_late: the claim makes a second delivery a no-op, so a message is acknowledged only after
# the job ran and a worker lost mid-job leaves it to be delivered again. Retries cover transient
# errors only, with exponential backoff (2, 4, 8, 16, 32 s, jittered, at most 60 s) and a cap;
# past it the job is pending again and the sweep retries it until OUTBOX_MAX_ATTEMPTS.
@shared_task(
    bind=True,
    acks_late=True,
    autoretry_for=outbox.TRANSIENT_ERRORS,
    retry_backoff=2,
    retry_backoff_max=60,
    retry_jitter=True,
    max_retries=5,
    ignore_result=True,
)
def run_outbox_entry_task(self, job_id: str) -> None:
    run_entry(int(job_id))


def run_entry(job_id: int) -> OutboxEntry | None:
    """Claim and run one outbox entry of any kind (owners.outbox.run_entry, with the steps of owner
    transfer jobs); the jobs a transfer step created are sent once it has committed."""
    return outbox.run_entry(
        job_id, runners=dict.fromkeys(transfer_runner.KINDS, _run_transfer_step)
    )


def _run_transfer_step(job: OutboxEntry) -> None:
    dispatch_entries(transfer_runner.run_transfer_job(job))


@shared_task(ignore_result=True)
def sweep_outbox_task() -> int:
    return sweep()


def dispatch_entries(jobs: Iterable[OutboxEntry]) -> int:
    """Publish one task message per job, due at the job's `run_after`. Returns how many were sent.

    Called after commit (`transaction.on_commit`) and by the sweep. It never raises: the change
    is committed already and must not turn into an error response because the broker is down.
    A job that could not be published stays pending and the sweep sends it later.
    """
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


def sweep() -> int:
    """Send again the entries left behind (`outbox.release_left_behind`); returns how many."""
    return dispatch_entries(outbox.release_left_behind())


def retry_failed_entries(*, job_ids: Iterable[int]) -> list[OutboxEntry]:
    """Send failed jobs again (`outbox.reset_failed_entries`), after the caller's commit."""
    failed = outbox.reset_failed_entries(job_ids=job_ids)
    if failed:
        transaction.on_commit(partial(dispatch_entries, failed))
    return failed
