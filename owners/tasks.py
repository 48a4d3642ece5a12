"""Celery entry points for owner jobs: thin; the work is in owners/jobs.py.

Arguments are job ids as strings (JSON-safe); the job row holds everything else.
"""

from __future__ import annotations

from celery import shared_task

from . import jobs


# acks_late: the claim makes a second delivery a no-op, so a message is acknowledged only after
# the job ran and a worker lost mid-job leaves it to be delivered again. Retries cover transient
# errors only, with exponential backoff (2, 4, 8, 16, 32 s, jittered, at most 60 s) and a cap;
# past it the job is pending again and the sweep retries it until OWNER_JOB_MAX_ATTEMPTS.
@shared_task(
    bind=True,
    acks_late=True,
    autoretry_for=jobs.TRANSIENT_ERRORS,
    retry_backoff=2,
    retry_backoff_max=60,
    retry_jitter=True,
    max_retries=5,
    ignore_result=True,
)
def run_owner_job_task(self, job_id: str) -> None:
    jobs.run_job(int(job_id))


@shared_task(ignore_result=True)
def sweep_owner_jobs_task() -> int:
    return jobs.sweep()
