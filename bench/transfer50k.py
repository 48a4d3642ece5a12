"""The related transfer at 50,000 activities, on the large organization (bench/bigdata.py).

500 Pipelines, 100 Tasks each, in a crm_record table of about 6,000,000 rows. Each run gives
the 500 parents a new owner with `change_owner` (untimed; it writes the related-transfer job),
then times how the job is carried out, alternately:
- the product: `owners.outbox.run_entry`, in process (what the worker's task does);
- the floor: the same work by hand on psycopg (bench/transfer.py's `run_job_sql`: claim, mark
  done, lock the parents, then one statement that locks the activities, UPDATEs them and writes
  their audit rows).
Every run moves all 50,000 Tasks, and with them their commit-time foreign-key checks.
"""

from __future__ import annotations

import os
from time import perf_counter

RUNS = int(os.environ.get("BENCH_TRANSFER50K_RUNS", "3"))


def measure(data) -> dict:
    import psycopg

    from crm.models import Record
    from owners.models import OutboxEntry
    from owners.outbox import run_entry
    from owners.services import RelatedSelection, change_owner

    from . import rawsql
    from .bigdata import PIPELINES, TASKS
    from .transfer import run_job_sql

    conn = psycopg.connect(rawsql.dsn_from_django())
    owners = [data.others[1], data.others[2]]
    expected = len(data.parents) * data.tasks_per_parent

    def give_parents(owner) -> int:
        result = change_owner(
            organization=data.organization,
            actor=data.actor,
            module=PIPELINES,
            record_ids=data.parents,
            new_owner=owner,
            related=RelatedSelection(modules=("Tasks",)),
            source="api",
        )
        (job,) = [job for job in result.jobs if job.kind == OutboxEntry.Kind.RELATED_TRANSFER]
        return job.id

    def moved_to(owner) -> int:
        return Record.objects.filter(
            organization_id=data.organization.id,
            module_id=TASKS.id,
            related_to_id__in=data.parents,
            owner_id=owner.id,
        ).count()

    job_ms, raw_ms = [], []
    # Start with the owner the parents do not have (a previous run leaves them with either).
    first_owner = Record.objects.filter(id=data.parents[0]).values_list("owner_id", flat=True)[0]
    turn = 0 if first_owner == owners[0].id else 1
    for n in range(RUNS + 1):  # the first of each warms up
        for side in ("job", "raw"):
            turn += 1
            owner = owners[turn % 2]
            job_id = give_parents(owner)
            start = perf_counter()
            if side == "job":
                run_entry(job_id)
            else:
                run_job_sql(conn, job_id=job_id, organization_id=data.organization.id)
            elapsed = (perf_counter() - start) * 1000
            assert moved_to(owner) == expected, side
            if n:
                (job_ms if side == "job" else raw_ms).append(elapsed)
    conn.close()
    from .load import summary

    job, raw = summary(job_ms), summary(raw_ms)
    return {
        "activities": expected,
        "parents": len(data.parents),
        "job": job,
        "raw_sql": raw,
        "ratio": job["median_ms"] / raw["median_ms"],
    }
