"""Part 3 and the worker half of part 4: the related-transfer job against hand-written SQL, and
a real Celery worker's peak memory.

Each run first gives the parents a new owner through `change_owner` (untimed; it writes the
related-transfer job), then times how that job is carried out:
- the product: `owners.outbox.run_entry`, in process (what the worker's task does);
- the yardstick: the same work by hand on a psycopg connection (claim the job, mark it done,
  lock the parents, then one statement: lock the activities, one UPDATE, the audit rows).
Parents alternate between two owners, so every run moves all 5,000 Tasks.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from time import perf_counter

import psycopg

from crm.ids import BLOCK_SIZE, ID_BASE

from . import rawsql
from .load import children, memory_kib, summary

SETS = ("job", "raw", "celery")

CLAIM = """
    UPDATE owners_outboxentry SET status = 'running', claimed_at = %s, attempts = attempts + 1
    WHERE id = %s AND status = 'pending' AND attempts < %s
    RETURNING payload, claimed_at, batch_id
"""
FINISH = """
    UPDATE owners_outboxentry SET status = 'done', finished_at = %s, last_error = ''
    WHERE id = %s AND status = 'running' AND claimed_at = %s
"""
# The job's work by hand, in two statements as the product does it (owners/statements.py,
# `move_related`): the parents locked in id order (their ids back as one array), then one
# statement: their activities locked in id order, one UPDATE, the audit rows numbered within one
# block of ids taken from crm_id_block. No activity travels to the client and back: the lock's
# 50,000 rows, the UPDATE's array and the four audit arrays were a tenth of the 50,000-activity
# transfer, and drawing 50,000 ids in Python another 200 ms (EXPLAIN ANALYZE and timing on the
# bench's large organization).
LOCK_PARENTS = """
    SELECT coalesce(array_agg(id ORDER BY id), '{}') FROM (
        SELECT id FROM crm_record
        WHERE organization_id = %s AND id = ANY(%s::bigint[]) AND owner_id = %s
        ORDER BY id FOR UPDATE
    ) AS locked
"""
MOVE_RELATED = """
    WITH activities AS MATERIALIZED (
        SELECT id, owner_id FROM crm_record
        WHERE organization_id = %(org)s AND module_id = ANY(%(modules)s::bigint[])
          AND related_to_id = ANY(%(parents)s::bigint[])
          AND owner_id IS DISTINCT FROM %(owner)s
        ORDER BY id FOR UPDATE
    ), moved AS (
        UPDATE crm_record AS r
        SET owner_id = %(owner)s, modified_time = %(now)s, owner_changed_time = %(now)s,
            modified_by_id = %(actor)s
        FROM activities AS a WHERE r.organization_id = %(org)s AND r.id = a.id
        RETURNING r.id, r.module_id, a.owner_id AS previous_owner_id
    ), block AS MATERIALIZED (
        SELECT nextval('crm_id_block') AS number
    )
    INSERT INTO audit_auditentry (id, organization_id, module_id, record_id, previous_owner_id,
                                  new_owner_id, actor_id, source, batch_id, created_time)
    SELECT %(id_base)s + block.number * %(block_size)s + row_number() OVER (ORDER BY moved.id) - 1,
           %(org)s, moved.module_id, moved.id, moved.previous_owner_id, %(owner)s, %(actor)s,
           'related_transfer', %(batch)s, %(now)s
    FROM moved, block
"""


def run_job_sql(conn: psycopg.Connection, *, job_id: int, organization_id: int) -> int:
    """The related-transfer job by hand; returns how many activities moved."""
    from django.conf import settings

    from crm.modules import module_by_name

    now = datetime.now(UTC)
    with conn.transaction():
        claimed = conn.execute(CLAIM, (now, job_id, settings.OUTBOX_MAX_ATTEMPTS)).fetchone()
    payload, claimed_at, batch_id = claimed
    new_owner_id = int(payload["new_owner_id"])
    actor_id = int(payload["actor_id"])
    parent_ids = [int(record_id) for record_id in payload["parent_ids"]]
    module_ids = [module_by_name(name).id for name in payload["related_modules"]]
    with conn.transaction():
        conn.execute(FINISH, (datetime.now(UTC), job_id, claimed_at))
        (parents,) = conn.execute(
            LOCK_PARENTS, (organization_id, parent_ids, new_owner_id)
        ).fetchone()
        moved = conn.execute(
            MOVE_RELATED,
            {
                "org": organization_id,
                "parents": parents,
                "owner": new_owner_id,
                "modules": module_ids,
                "now": datetime.now(UTC),
                "actor": actor_id,
                "id_base": ID_BASE,
                "block_size": BLOCK_SIZE,  # the bench moves far fewer rows in one statement
                "batch": batch_id,
            },
        ).rowcount
    return moved


def _give_parents(data, name: str, owner):
    """Move the parents of set `name` with `change_owner`; return the related-transfer job."""
    from owners.models import OutboxEntry
    from owners.services import RelatedSelection, change_owner

    from .seed import CONTACTS

    result = change_owner(
        organization=data.organization,
        actor=data.actor,
        module=CONTACTS,
        record_ids=data.transfer_parents[name],
        new_owner=owner,
        related=RelatedSelection(modules=("Tasks",)),
        source="api",
    )
    (job,) = [job for job in result.jobs if job.kind == OutboxEntry.Kind.RELATED_TRANSFER]
    return job


def measure(data, *, runs: int) -> dict:
    from owners.outbox import run_entry

    from .seed import TASKS

    conn = psycopg.connect(rawsql.dsn_from_django())
    owners = [data.owner_a, data.owner_b]
    job_ms, raw_ms = [], []
    expected = len(data.transfer_parents["job"]) * data.tasks_per_parent
    for n in range(runs + 1):  # the first run of each warms up
        owner = owners[n % 2]
        job = _give_parents(data, "job", owner)
        start = perf_counter()
        run_entry(job.id)
        elapsed = (perf_counter() - start) * 1000
        moved = _count_owned(data, "job", owner, TASKS.id)
        assert moved == expected, (moved, expected)
        if n:
            job_ms.append(elapsed)

        job = _give_parents(data, "raw", owner)
        start = perf_counter()
        moved = run_job_sql(conn, job_id=job.id, organization_id=data.organization.id)
        elapsed = (perf_counter() - start) * 1000
        assert moved == expected, (moved, expected)
        if n:
            raw_ms.append(elapsed)
    conn.close()
    job, raw = summary(job_ms), summary(raw_ms)
    return {
        "activities": expected,
        "parents": len(data.transfer_parents["job"]),
        "job": job,
        "raw_sql": raw,
        "ratio": job["median_ms"] / raw["median_ms"],
        "celery": celery_worker(data, expected),
    }


def _count_owned(data, name: str, owner, module_id: int) -> int:
    from crm.models import Record

    return Record.objects.filter(
        organization_id=data.organization.id,
        module_id=module_id,
        related_to_id__in=data.transfer_parents[name],
        owner_id=owner.id,
    ).count()


def celery_worker(data, expected: int) -> dict:
    """A real `celery -A config worker` (prefork, one process) runs one 5,000-Task transfer,
    dispatched by `change_owner` after commit; then its peak RSS."""
    from config.celery import app

    app.control.purge()  # the earlier parts' messages: their jobs were run in process or are moot
    root = Path(__file__).resolve().parent.parent
    command = [
        str(Path(sys.executable).parent / "celery"),
        "-A",
        "config",
        "worker",
        "--pool=prefork",
        "--concurrency=1",
        "--loglevel=WARNING",
        "--without-gossip",
        "--without-mingle",
        "--without-heartbeat",
    ]
    # Its banner and warnings would interleave with the table: kept aside, shown if it fails.
    with tempfile.TemporaryFile(mode="w+") as log:
        worker = subprocess.Popen(
            command, cwd=root, env=dict(os.environ), stdout=subprocess.DEVNULL, stderr=log
        )
        try:
            return _run_one_transfer(data, worker, log, expected)
        finally:
            worker.terminate()
            try:
                worker.wait(timeout=30)
            except subprocess.TimeoutExpired:
                worker.kill()
                worker.wait()


def _run_one_transfer(data, worker: subprocess.Popen, log, expected: int) -> dict:
    from owners.models import OutboxEntry

    from .seed import TASKS

    deadline = time.monotonic() + 60
    while len(children(worker.pid)) < 1:
        if worker.poll() is not None or time.monotonic() > deadline:
            log.seek(0)
            raise RuntimeError(f"the celery worker did not start:\n{log.read()}")
        time.sleep(0.2)
    time.sleep(1.0)  # connected and consuming
    owner = data.owner_a
    start = perf_counter()
    job = _give_parents(data, "celery", owner)
    while OutboxEntry.objects.filter(id=job.id).values_list("status", flat=True).get() != "done":
        if time.monotonic() > deadline + 60:
            log.seek(0)
            raise RuntimeError(f"the celery worker did not finish the job:\n{log.read()}")
        time.sleep(0.05)
    elapsed = (perf_counter() - start) * 1000
    assert _count_owned(data, "celery", owner, TASKS.id) == expected
    pool = {pid: memory_kib(pid) for pid in children(worker.pid)}
    return {
        "command": "celery -A config worker --pool=prefork --concurrency=1",
        "request_to_done_ms": elapsed,
        "memory_kib": {"main": memory_kib(worker.pid), "pool": pool},
        "peak_kib": max(values["VmHWM"] for values in pool.values()),
    }
