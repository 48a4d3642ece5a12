"""Part 5: offboarding a user who owns 1,000,000 records (Contacts) and 200,000 related Tasks,
against the one-statement floor measured in the same run; 1 and 2 Celery workers; the worker's
peak memory at 100,000 and 1,000,000 records.

- The floor: every record of the user moved and audited by ONE statement,
  `WITH moved AS (UPDATE ... RETURNING) INSERT INTO audit ... SELECT FROM moved` (no chunks, no
  locks held apart, nothing resumable: the physical limit of the database for the same rows).
- The product: `owners.transfers.engine.schedule_offboarding`, then real
  `celery -A config worker` processes run its chunks; timed from the call to the job's
  COMPLETED. The floor and the product alternate (floor A -> B, product B -> A, ...), so each
  run moves the same 1,200,000 rows.
- Memory: a fresh worker per measured job, its pool process's VmHWM once the job is done.

Data: its own organization, loaded with set-based SQL (generate_series) and wiped at every run.
`python -m bench.offboarding` runs this part alone; `make bench` runs it after part 4.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from contextlib import ExitStack
from pathlib import Path
from time import perf_counter

ORG_NAME = "Offboarding bench (bench/ scratch data)"
RECORDS = int(os.environ.get("BENCH_OFFBOARDING_RECORDS", "1000000"))
SMALL_RECORDS = int(os.environ.get("BENCH_OFFBOARDING_SMALL_RECORDS", "100000"))
TASK_SHARE = 5  # one Task per 5 Contacts: 200,000 for 1,000,000
# Ids of the loaded rows: far below the ids crm.ids draws now (their high bits are a time), so
# they never meet an id the product generates.
ID_BASE = 1 << 41
SMALL_ID_BASE = ID_BASE + 50_000_000
RESULTS_DIR = Path(__file__).resolve().parent / "results"


def _org_and_users():
    from crm.models import Organization, Profile, User

    if Organization.objects.filter(name=ORG_NAME).exists():
        _wipe()
    organization = Organization.objects.create(name=ORG_NAME)
    admin = Profile.objects.get(organization=organization, name="Administrator")
    suffix = uuid.uuid4().hex[:8]

    def user(name: str) -> User:
        return User.objects.create(
            organization=organization,
            full_name=f"Offboarding {name}",
            email=f"offboarding-{name.lower()}-{suffix}@bench.test",
            profile=admin,
        )

    return organization, user("A"), user("B"), user("Small")


def _wipe() -> None:
    """Delete the previous run's organization with its rows (audit rows included: scratch)."""
    from django.db import connection

    from crm.models import Organization

    org = Organization.objects.get(name=ORG_NAME)
    with connection.cursor() as cursor:
        for table in (
            "audit_auditentry",
            "owners_outboxentry",
            "owners_transferjob",
            "crm_record",
        ):
            cursor.execute(f"DELETE FROM {table} WHERE organization_id = %s", [org.id])
        users = "(SELECT id FROM crm_user WHERE organization_id = %s)"
        cursor.execute(f"DELETE FROM crm_accesstoken WHERE user_id IN {users}", [org.id])
        cursor.execute("DELETE FROM crm_user WHERE organization_id = %s", [org.id])
        cursor.execute("DELETE FROM crm_profile WHERE organization_id = %s", [org.id])
        cursor.execute("DELETE FROM crm_role WHERE organization_id = %s", [org.id])
        cursor.execute("DELETE FROM crm_organization WHERE id = %s", [org.id])


def load(organization, owner, *, contacts: int, id_base: int) -> None:
    """`contacts` Contacts of `owner`, and one Task per TASK_SHARE of them, related to it: two
    set-based INSERTs."""
    from django.db import connection, transaction

    from crm.modules import module_by_name

    tasks = contacts // TASK_SHARE
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            """INSERT INTO crm_record (id, organization_id, module_id, owner_id, name, fields,
                                       created_time, modified_time)
               SELECT %s + g, %s, %s, %s, 'Contact ' || g, '{}'::jsonb, now(), now()
               FROM generate_series(1, %s) AS g""",
            [id_base, organization.id, module_by_name("Contacts").id, owner.id, contacts],
        )
        cursor.execute(
            """INSERT INTO crm_record (id, organization_id, module_id, owner_id, name, fields,
                                       related_to_id, created_time, modified_time)
               SELECT %s + g, %s, %s, %s, 'Task ' || g, '{}'::jsonb, %s + g * %s, now(), now()
               FROM generate_series(1, %s) AS g""",
            [
                id_base + contacts,
                organization.id,
                module_by_name("Tasks").id,
                owner.id,
                id_base,
                TASK_SHARE,
                tasks,
            ],
        )
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE crm_record")


# The floor: one statement moves and audits every record of the user. Audit ids are negative
# (row numbers) so they never meet the product's.
FLOOR = """
    WITH moved AS (
        UPDATE crm_record SET owner_id = %(to)s, modified_time = now(), modified_by_id = NULL
        WHERE organization_id = %(org)s AND owner_id = %(from)s
        RETURNING id, module_id
    )
    INSERT INTO audit_auditentry (id, organization_id, module_id, record_id, previous_owner_id,
                                  new_owner_id, actor_id, source, batch_id, created_time)
    SELECT -(%(id_base)s + row_number() OVER ()), %(org)s, module_id, id, %(from)s, %(to)s,
           NULL, 'offboarding', %(batch)s, now()
    FROM moved
"""


def floor(organization, from_user, to_user, id_base: int) -> tuple[float, int]:
    import psycopg

    from . import rawsql

    with psycopg.connect(rawsql.dsn_from_django()) as conn:
        start = perf_counter()
        with conn.transaction():
            cursor = conn.execute(
                FLOOR,
                {
                    "to": to_user.id,
                    "org": organization.id,
                    "from": from_user.id,
                    "id_base": id_base,
                    "batch": uuid.uuid4(),
                },
            )
        return perf_counter() - start, cursor.rowcount


def start_workers(count: int, stack: ExitStack) -> list[subprocess.Popen]:
    """`count` real `celery -A config worker` processes (prefork, one pool process each)."""
    from .load import children

    root = Path(__file__).resolve().parent.parent
    workers = []
    for n in range(count):
        log = stack.enter_context(tempfile.TemporaryFile(mode="w+"))  # noqa: SIM115
        worker = subprocess.Popen(
            [
                str(Path(sys.executable).parent / "celery"),
                "-A",
                "config",
                "worker",
                "--pool=prefork",
                "--concurrency=1",
                "--loglevel=WARNING",
                f"--hostname=offboarding-{n}-{uuid.uuid4().hex[:6]}@%h",
                "--without-gossip",
                "--without-mingle",
                "--without-heartbeat",
            ],
            cwd=root,
            env=dict(os.environ),
            stdout=subprocess.DEVNULL,
            stderr=log,
        )
        stack.callback(_stop, worker)
        workers.append(worker)
    deadline = time.monotonic() + 60
    while not all(children(worker.pid) for worker in workers):
        if time.monotonic() > deadline or any(w.poll() is not None for w in workers):
            raise RuntimeError("bench: a celery worker did not start")
        time.sleep(0.2)
    time.sleep(1.0)  # connected and consuming
    return workers


def _stop(worker: subprocess.Popen) -> None:
    worker.terminate()
    try:
        worker.wait(timeout=30)
    except subprocess.TimeoutExpired:
        worker.kill()
        worker.wait()


def product(organization, actor, from_user, to_user, *, workers: int) -> dict:
    """Schedule the offboarding of `from_user` and time it to COMPLETED on `workers` fresh
    worker processes; their pool processes' peak RSS."""
    from config.celery import app
    from owners.models import TransferJob
    from owners.transfers import engine

    from .load import children, memory_kib

    app.control.purge()
    with ExitStack() as stack:
        processes = start_workers(workers, stack)
        start = perf_counter()
        transfer = engine.schedule_offboarding(
            organization=organization,
            actor=actor,
            leaving_user=from_user,
            new_owner=to_user,
            delete_user=False,
        )
        deadline = time.monotonic() + 900
        while True:
            transfer.refresh_from_db()
            if transfer.status in ("completed", "failed"):
                break
            if time.monotonic() > deadline:
                raise RuntimeError(f"bench: offboarding job {transfer.id} did not finish")
            time.sleep(0.05)
        elapsed = perf_counter() - start
        peaks = [memory_kib(pid)["VmHWM"] for worker in processes for pid in children(worker.pid)]
    assert transfer.status == TransferJob.Status.COMPLETED, transfer.last_error
    return {
        "seconds": elapsed,
        "workers": workers,
        "total": transfer.total_count,
        "updated": transfer.updated_count,
        "skipped": transfer.skipped_count,
        "failed": transfer.failed_count,
        "related": transfer.related_count,
        "chunks": transfer.chunks_planned,
        "peak_rss_kib": max(peaks),
    }


def measure() -> dict:
    from django.conf import settings

    from crm.models import User

    organization, owner_a, owner_b, small = _org_and_users()
    print(
        f"bench: offboarding: loading {RECORDS:,} + {RECORDS // TASK_SHARE:,} records", flush=True
    )
    load(organization, owner_a, contacts=RECORDS, id_base=ID_BASE)
    load(organization, small, contacts=SMALL_RECORDS, id_base=SMALL_ID_BASE)
    moved = RECORDS + RECORDS // TASK_SHARE
    rounds = []
    audit_id = 0
    for workers in (1, 2):
        seconds, rows = floor(organization, owner_a, owner_b, audit_id)
        audit_id += rows
        assert rows == moved, (rows, moved)
        print(f"bench: offboarding: floor {seconds:.1f} s", flush=True)
        # The floor left everything with B: the product offboards B back to A.
        User.objects.filter(id=owner_b.id).update(status="active")
        run = product(organization, None, owner_b, owner_a, workers=workers)
        assert run["updated"] == moved, run
        print(f"bench: offboarding: {workers} worker(s) {run['seconds']:.1f} s", flush=True)
        rounds.append({"floor_seconds": seconds, **run})
    small_run = product(organization, None, small, owner_a, workers=1)
    small_moved = SMALL_RECORDS + SMALL_RECORDS // TASK_SHARE
    assert small_run["updated"] == small_moved, small_run
    one, two = rounds
    return {
        "records": RECORDS,
        "tasks": RECORDS // TASK_SHARE,
        "chunk": settings.TRANSFER_JOB_CHUNK,
        "rounds": rounds,
        "ratio_1_worker": one["seconds"] / one["floor_seconds"],
        "ratio_2_workers": two["seconds"] / two["floor_seconds"],
        "memory": {
            "small_records": small_moved,
            "small_peak_kib": small_run["peak_rss_kib"],
            "large_records": moved,
            "large_peak_kib": one["peak_rss_kib"],
            "growth": one["peak_rss_kib"] / small_run["peak_rss_kib"] - 1,
        },
        "small_run": small_run,
    }


def targets(result: dict) -> list[dict]:
    rows = []
    # Issue 25's goals ("Performance at size").
    for key, label, goal in (
        ("ratio_1_worker", "1 worker", 1.5),
        ("ratio_2_workers", "2 workers", 1.2),
    ):
        ratio = result[key]
        rows.append(
            {
                "target": f"offboarding {result['records']:,} records, {label} / floor",
                "value": ratio,
                "limit": f"<= {goal}",
                "pass": ratio <= goal,
            }
        )
    growth = result["memory"]["growth"]
    rows.append(
        {
            "target": "worker peak RSS, 1,200,000 vs 120,000 records (growth)",
            "value": growth,
            "limit": "<= 0.2",
            "pass": abs(growth) <= 0.2,
        }
    )
    return rows


def lines(result: dict) -> list[str]:
    out = [
        f"5. Offboarding a user with {result['records']:,} Contacts and {result['tasks']:,}"
        f" related Tasks (chunks of {result['chunk']:,}; seconds)",
        f"{'workers':>7} {'floor':>7} {'job':>7} {'ratio':>6} {'chunks':>6} {'peak RSS MiB':>12}",
    ]
    for run in result["rounds"]:
        out.append(
            f"{run['workers']:>7} {run['floor_seconds']:>7.1f} {run['seconds']:>7.1f}"
            f" {run['seconds'] / run['floor_seconds']:>6.2f} {run['chunks']:>6}"
            f" {run['peak_rss_kib'] / 1024:>12.1f}"
        )
    memory = result["memory"]
    out.append(
        f"worker peak RSS: {memory['small_peak_kib'] / 1024:.1f} MiB at"
        f" {memory['small_records']:,} records, {memory['large_peak_kib'] / 1024:.1f} MiB at"
        f" {memory['large_records']:,} ({memory['growth']:+.1%})"
    )
    return out


def chart(result: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4.2))
    labels = [f"{run['workers']} worker{'s' * (run['workers'] > 1)}" for run in result["rounds"]]
    x = range(len(labels))
    ax1.bar([i - 0.2 for i in x], [r["floor_seconds"] for r in result["rounds"]], 0.4,
            label="one-statement floor")  # fmt: skip
    ax1.bar([i + 0.2 for i in x], [r["seconds"] for r in result["rounds"]], 0.4,
            label="offboarding job")  # fmt: skip
    for i, run in enumerate(result["rounds"]):
        ax1.plot([i - 0.4, i + 0.4], [2 * run["floor_seconds"]] * 2, color="black", linewidth=2)
    ax1.set_xticks(list(x), labels)
    ax1.set_ylabel("seconds")
    ax1.set_title(f"Offboarding {result['records'] + result['tasks']:,} records (tick: 2x floor)")
    ax1.legend()
    memory = result["memory"]
    ax2.bar([f"{memory['small_records']:,}", f"{memory['large_records']:,}"],
            [memory["small_peak_kib"] / 1024, memory["large_peak_kib"] / 1024])  # fmt: skip
    ax2.set_ylabel("worker peak RSS (MiB)")
    ax2.set_xlabel("records moved")
    ax2.set_title("Worker memory (flat: within 20%)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def publish(result: dict) -> None:
    result["targets"] = targets(result)
    RESULTS_DIR.mkdir(exist_ok=True)
    (RESULTS_DIR / "offboarding.json").write_text(json.dumps(result, indent=2) + "\n")
    chart(result, RESULTS_DIR / "offboarding.png")
    print("\n".join(lines(result)))
    for row in result["targets"]:
        verdict = "PASS" if row["pass"] else "MISS"
        print(f"{verdict}  {row['target']:<62} {row['value']:>6.2f} ({row['limit']})")
    print(f"Wrote {RESULTS_DIR / 'offboarding.json'} and {RESULTS_DIR / 'offboarding.png'}")
    from . import publish_docs

    for path in publish_docs.publish():
        print(f"Rewrote the generated blocks of {path.relative_to(publish_docs.ROOT)}")


def main() -> None:
    from .environment import configure_environment, ensure_database

    configure_environment()
    ensure_database(os.environ["DATABASE_URL"])
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    publish(measure())


if __name__ == "__main__":
    main()
