"""Running outbox entries in-process in tests, one step at a time: nothing is sent to a broker (or
run eagerly); `drain` runs what is pending until nothing is."""

from __future__ import annotations

import contextlib

from owners import outbox
from owners.models import OutboxEntry
from owners.transfers import runner

TRANSFER_STEPS = dict.fromkeys(runner.KINDS, runner.run_transfer_job)
# As owners.tasks counts a failed step against its job (what that creates is drained here).
TRANSFER_FAILURES = dict.fromkeys(runner.KINDS, runner.record_failure)


def run_one(job_id: int) -> OutboxEntry | None:
    """What a worker's task does with one job, minus sending the jobs it creates."""
    return outbox.run_entry(job_id, runners=TRANSFER_STEPS, failures=TRANSFER_FAILURES)


def drain() -> int:
    """Run every pending outbox entry, oldest first, until none is left; returns how many ran."""
    ran = 0
    while True:
        job = OutboxEntry.objects.filter(status=OutboxEntry.Status.PENDING).order_by(
            "created_time", "id"
        )
        job = job.first()
        if job is None:
            return ran
        # A failure is marked on the job by run_entry, and counted by the transfer.
        with contextlib.suppress(Exception):
            run_one(job.id)
        ran += 1
