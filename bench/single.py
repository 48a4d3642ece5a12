"""The single-record change_owner in process, with and without jobs, against yardsticks doing
the same work.

- with jobs: `change_owner(notify=True, related Tasks)` writes two outbox entries and, after
  commit, hands them to the process's publisher thread (owners/publisher.py), which publishes one
  Celery message per job. Its yardstick (bench/rawsql.py) writes the same rows by hand in one
  transaction and then hands the same two jobs to the same publisher, so both sides pay the same.
  After every run of either side, outside the timed part, the publisher is drained
  (`publisher.flush`), so that no side's messages are published during the other's run.
- without jobs: `change_owner(notify=False)` against the lock, UPDATE and audit INSERT by hand.

Interleaved run by run, each side on a record of its own, alternating two owners so every run
changes its row.
"""

from __future__ import annotations

import os
from time import perf_counter

RUNS = int(os.environ.get("BENCH_SINGLE_RUNS", "60"))
WARMUP = 5


def publish(job_ids: list[int]) -> None:
    """What `owners.tasks.dispatch_entries` does after commit with jobs due now: hands them to
    the process's publisher thread, which publishes one message per job."""
    from django.utils import timezone

    from owners.models import OutboxEntry
    from owners.tasks import dispatch_entries

    now = timezone.now()
    dispatch_entries([OutboxEntry(id=job_id, run_after=now) for job_id in job_ids])


def measure(data) -> dict:
    import psycopg

    from owners import publisher
    from owners.services import RelatedSelection, change_owner

    from . import rawsql
    from .load import summary
    from .seed import CONTACTS

    raw_conn = psycopg.connect(rawsql.dsn_from_django())
    from crm.models import Record

    owners = [data.owner_a, data.owner_b]
    product_record, raw_record = data.service_sets[1], data.raw_sets[1]
    # Each side alternates between A and B starting with the one its record does not have
    # (earlier parts leave it with either), so every run changes the record.
    current = dict(
        Record.objects.filter(id__in=product_record + raw_record).values_list("id", "owner_id")
    )
    turn = {
        "product": 0 if current[product_record[0]] == data.owner_b.id else 1,
        "raw": 0 if current[raw_record[0]] == data.owner_b.id else 1,
    }

    def next_owner(side: str):
        owner = owners[turn[side] % 2]
        turn[side] += 1
        return owner

    def product_once(with_jobs: bool) -> float:
        owner = next_owner("product")
        start = perf_counter()
        result = change_owner(
            organization=data.organization,
            actor=data.actor,
            module=CONTACTS,
            record_ids=product_record,
            new_owner=owner,
            notify=with_jobs,
            related=RelatedSelection(modules=("Tasks",)) if with_jobs else None,
            source="api",
        )
        elapsed = (perf_counter() - start) * 1000
        assert len(result.changed_ids) == 1 and len(result.jobs) == (2 if with_jobs else 0)
        assert publisher.flush()
        return elapsed

    def raw_once(with_jobs: bool) -> float:
        owner = next_owner("raw")
        job_ids: list[int] = []
        start = perf_counter()
        _, changed = rawsql.change_owner_sql(
            raw_conn,
            organization_id=data.organization.id,
            module_id=CONTACTS.id,
            module_name=CONTACTS.api_name,
            record_ids=raw_record,
            new_owner_id=owner.id,
            actor_id=data.actor.id,
            outbox=with_jobs,
            job_ids=job_ids,
        )
        publish(job_ids)  # after commit, as the service does
        elapsed = (perf_counter() - start) * 1000
        assert len(changed) == 1 and len(job_ids) == (2 if with_jobs else 0)
        assert publisher.flush()
        return elapsed

    rows = []
    for with_jobs in (True, False):
        for _ in range(WARMUP):
            product_once(with_jobs)
            raw_once(with_jobs)
        product_ms, raw_ms = [], []
        for _ in range(RUNS):
            product_ms.append(product_once(with_jobs))
            raw_ms.append(raw_once(with_jobs))
        product, raw = summary(product_ms), summary(raw_ms)
        rows.append(
            {
                "jobs": with_jobs,
                "product": product,
                "raw_sql": raw,
                "ratio": product["median_ms"] / raw["median_ms"],
            }
        )
    raw_conn.close()
    return {"rows": rows}
