"""Running owner transfer jobs in-process in tests: drain the outbox."""

from __future__ import annotations

import contextlib

from owners import jobs
from owners.models import OwnerJob


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
            jobs.run_job(job.id)
        ran += 1
