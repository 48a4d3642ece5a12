"""Running owner jobs in-process in tests, one step at a time: nothing is sent to a broker (or
run eagerly); `drain` runs what is pending until nothing is."""

from __future__ import annotations

import contextlib

from owners import jobs
from owners.models import OwnerJob
from owners.transfers import runner

TRANSFER_STEPS = dict.fromkeys(runner.KINDS, runner.run_transfer_job)


def run_one(job_id: int) -> OwnerJob | None:
    """What a worker's task does with one job, minus sending the jobs it creates."""
    return jobs.run_job(job_id, runners=TRANSFER_STEPS)


def drain() -> int:
    """Run every pending owner job, oldest first, until none is left; returns how many ran."""
    ran = 0
    while True:
        job = OwnerJob.objects.filter(status=OwnerJob.Status.PENDING).order_by("created_time", "id")
        job = job.first()
        if job is None:
            return ran
        # A failure is marked on the job by run_job, and counted by the transfer.
        with contextlib.suppress(Exception):
            run_one(job.id)
        ran += 1
