"""Outbox entries end to end: PostgreSQL, a real redis-server and real `celery -A config worker`
processes. Each test runs its own redis-server and its own queue."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
from pathlib import Path

import psycopg
import pytest
from django.conf import settings as django_settings
from django.db import connection
from django.utils import timezone

from audit.models import AuditEntry
from crm.models import Record
from owners import publisher
from owners import tasks as owner_tasks
from owners.models import OutboxEntry
from owners.tasks import run_outbox_entry_task
from tests.owners.bigin import post_bulk

from .conftest import _test_database_url, measured, wait_until

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.redis,
    # Transactional: the worker must see committed rows. Serialized rollback brings back the
    # Module rows (a data migration) that the flush after each test removes.
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]

SCOPE = "ZohoBigin.change_owner.CREATE"


@pytest.fixture
def new_owner(make_user):
    return make_user(full_name="Chen Wei", email="chen@zylker.test", profile_name="Standard")


@pytest.fixture
def admin_client(auth_client, admin_user):
    return auth_client(admin_user, SCOPE)


@pytest.fixture
def mail_dir(tmp_path) -> Path:
    path = tmp_path / "mail"
    path.mkdir()
    return path


def emails_in(mail_dir: Path) -> list[str]:
    """The messages the worker's file email backend wrote (one or more per file)."""
    messages = []
    for file in sorted(mail_dir.iterdir()):
        messages += [chunk for chunk in file.read_text().split("-" * 79) if "Subject:" in chunk]
    return messages


def job_statuses(batch_id: str) -> dict[str, str]:
    return dict(OutboxEntry.objects.filter(batch_id=batch_id).values_list("kind", "status"))


def owners(*records) -> list[int | None]:
    by_id = dict(Record.objects.filter(id__in=[r.id for r in records]).values_list("id", "owner"))
    return [by_id[record.id] for record in records]


def test_a_worker_moves_exactly_the_selected_related_records_after_the_delay(
    redis_server,
    queue_name,
    publish_to,
    start_worker,
    settings,
    admin_client,
    admin_user,
    new_owner,
    make_record,
):
    settings.RELATED_OWNER_DELAY_SECONDS = 3
    first, second, outside = make_record(), make_record(), make_record()
    task = make_record(module_name="Tasks", related_to=first)
    call = make_record(module_name="Calls", related_to=second)
    event_by_id = make_record(module_name="Events", related_to=second)
    event_not_selected = make_record(module_name="Events", related_to=first)
    task_of_outside = make_record(module_name="Tasks", related_to=outside)
    event_of_outside_by_id = make_record(module_name="Events", related_to=outside)
    publish_to(redis_server.url, queue_name)
    start_worker(redis_server.url, queue_name)

    response = post_bulk(
        admin_client,
        {
            "ids": [str(first.id), str(second.id)],
            "owner": {"id": str(new_owner.id)},
            "related_modules": [
                {"api_name": "Tasks"},
                {"api_name": "Calls"},
                {"id": str(event_by_id.id)},
                {"id": str(event_of_outside_by_id.id)},
            ],
        },
    )

    assert response.status_code == 200
    batch_id = response["X-Owner-Batch-Id"]
    # Before the delay: the parents moved at once, their activities not yet.
    assert owners(first, second) == [new_owner.id] * 2
    assert owners(task, call, event_by_id) == [admin_user.id] * 3
    assert job_statuses(batch_id) == {"related_transfer": "pending"}

    wait_until(lambda: job_statuses(batch_id)["related_transfer"] == "done", what="the job")

    assert owners(task, call, event_by_id) == [new_owner.id] * 3
    assert (
        owners(outside, event_not_selected, task_of_outside, event_of_outside_by_id)
        == [admin_user.id] * 4
    )
    job = OutboxEntry.objects.get(batch_id=batch_id)
    rows = list(
        AuditEntry.objects.filter(source="related_transfer").values_list(
            "record_id", "previous_owner_id", "new_owner_id", "actor_id", "created_time"
        )
    )
    assert sorted(row[:4] for row in rows) == sorted(
        (record.id, admin_user.id, new_owner.id, admin_user.id)
        for record in (task, call, event_by_id)
    )
    # Written by the worker no earlier than the job was due.
    assert all(row[4] >= job.run_after for row in rows)
    assert set(
        AuditEntry.objects.filter(source="related_transfer").values_list("batch_id", flat=True)
    ) == {job.batch_id}


OUTAGE_SLACK_SECONDS = 5


def broker_outage_bound_seconds() -> float:
    """The longest the outbox publisher's thread can wait on a dead broker for one batch, from
    the settings: the publish is tried once and retried `max_retries` times, each attempt waiting
    at most the longest socket timeout (connect or read), each retry after its interval. Only
    the first job of a batch is tried (owners/tasks.py, `publish_entries`)."""
    options = django_settings.CELERY_BROKER_TRANSPORT_OPTIONS
    policy = django_settings.CELERY_TASK_PUBLISH_RETRY_POLICY
    per_attempt = max(
        options["socket_connect_timeout"],
        options["socket_timeout"],
        django_settings.CELERY_BROKER_CONNECTION_TIMEOUT,
    )
    return (1 + policy["max_retries"]) * per_attempt + policy["max_retries"] * policy[
        "interval_max"
    ]


def test_the_broker_outage_bound_is_what_the_docs_say():
    # 2 attempts x 3 s socket timeout + one 0.2 s retry interval; a publisher flush outlasts it.
    assert broker_outage_bound_seconds() == pytest.approx(6.2)
    assert broker_outage_bound_seconds() < publisher.FLUSH_SECONDS


@pytest.mark.parametrize("outage", ["stopped", "hung"])
def test_with_redis_down_the_request_succeeds_and_the_sweep_finishes_the_work_once(
    outage,
    redis_server,
    queue_name,
    publish_to,
    start_worker,
    settings,
    admin_client,
    admin_user,
    new_owner,
    make_record,
    mail_dir,
    record_property,
    caplog,
):
    settings.RELATED_OWNER_DELAY_SECONDS = 1
    settings.OUTBOX_SWEEP_GRACE_SECONDS = 0
    contact = make_record(name="Smith")
    tasks = [make_record(module_name="Tasks", related_to=contact) for _ in range(3)]
    publish_to(redis_server.url, queue_name)
    redis_server.stop()
    if outage == "hung":
        # Something on the port accepts connections and never answers: a hung Redis, or a
        # network that drops replies. Harder than a refused connection, which fails at once.
        silent = socket.create_server(("127.0.0.1", redis_server.port), backlog=50)

    with measured() as elapsed:
        response = post_bulk(
            admin_client,
            {
                "ids": [str(contact.id)],
                "owner": {"id": str(new_owner.id)},
                "notify": True,
                "related_modules": [{"api_name": "Tasks"}],
            },
        )

    assert response.status_code == 200
    record_property("broker_down_request_seconds", round(elapsed[0], 3))
    print(f"\nchange_owner request with Redis {outage} took {elapsed[0]:.3f} s")
    # The publisher's thread tries, gives up within the bound, and logs; the product's own
    # shutdown flush tells when it is done.
    with measured() as publishing:
        assert publisher.flush(broker_outage_bound_seconds() + OUTAGE_SLACK_SECONDS)
    print(f"its publisher gave up after {publishing[0]:.3f} s")
    [gave_up] = [record for record in caplog.records if "not dispatched" in record.getMessage()]
    assert gave_up.getMessage().startswith("outbox entry ")
    # The promise (docs): the request never waits on the broker, dead or hung. The thread that
    # answered the request never tried it: the publisher's did (the request thread did, before).
    assert (gave_up.threadName, threading.current_thread().name) == (
        "outbox-publisher",
        "MainThread",
    )
    batch_id = response["X-Owner-Batch-Id"]
    assert owners(contact) == [new_owner.id]
    assert job_statuses(batch_id) == {"related_transfer": "pending", "notify": "pending"}

    if outage == "hung":
        silent.close()
    redis_server.start()
    worker = start_worker(redis_server.url, queue_name, EMAIL_URL=f"filemail:///{mail_dir}")
    related = OutboxEntry.objects.get(batch_id=batch_id, kind="related_transfer")
    wait_until(lambda: timezone.now() >= related.run_after, what="the related job to be due")
    assert owner_tasks.sweep() == 2
    wait_until(
        lambda: set(job_statuses(batch_id).values()) == {"done"}, what="both jobs to be done"
    )

    # Deliver both again, and sweep again: none of it may do anything twice.
    for job in OutboxEntry.objects.filter(batch_id=batch_id):
        run_outbox_entry_task.delay(str(job.id))
    assert owner_tasks.sweep() == 0
    wait_until(lambda: worker.log_text().count("not claimed") == 2, what="the redeliveries")

    assert owners(*tasks) == [new_owner.id] * 3
    assert AuditEntry.objects.filter(batch_id=batch_id, source="related_transfer").count() == 3
    assert AuditEntry.objects.filter(batch_id=batch_id, source="api").count() == 1
    (email,) = emails_in(mail_dir)
    assert f"To: {new_owner.email}" in email
    assert f"- Smith (id {contact.id})" in email


def test_a_job_whose_worker_was_killed_completes_later_exactly_once(
    redis_server,
    queue_name,
    publish_to,
    start_worker,
    settings,
    admin_client,
    admin_user,
    new_owner,
    make_record,
):
    settings.RELATED_OWNER_DELAY_SECONDS = 1
    # Short, so the test does not wait two minutes; the lease still outlives the hard time limit
    # (config/agreement.py), in this process (the sweep) and in the second worker.
    settings.OUTBOX_LEASE_SECONDS = 3
    short_lease = {
        "OUTBOX_LEASE_SECONDS": "3",
        "CELERY_TASK_TIME_LIMIT": "2",
        "CELERY_TASK_SOFT_TIME_LIMIT": "0",
    }
    contacts = [make_record() for _ in range(2)]
    tasks = [
        make_record(module_name=module, related_to=contact)
        for contact in contacts
        for module in ("Tasks", "Tasks", "Calls")
    ]
    publish_to(redis_server.url, queue_name)
    doomed = start_worker(redis_server.url, queue_name)

    # The test's own connection holds the activities' row locks: the worker claims the job, locks
    # the parents, and waits on the activities until it is killed, mid-job.
    with psycopg.connect(_test_database_url()) as holder:
        holder.execute(
            "SELECT id FROM crm_record WHERE id = ANY(%s) FOR UPDATE", [[t.id for t in tasks]]
        )
        response = post_bulk(
            admin_client,
            {
                "ids": [str(contact.id) for contact in contacts],
                "owner": {"id": str(new_owner.id)},
                "related_modules": [{"api_name": "Tasks"}, {"api_name": "Calls"}],
            },
        )
        assert response.status_code == 200
        batch_id = response["X-Owner-Batch-Id"]
        wait_until(
            lambda: job_statuses(batch_id)["related_transfer"] == "running", what="the claim"
        )
        wait_until(_someone_waits_for_a_row_lock, what="the worker to wait for the locks")
        doomed.kill()
        holder.rollback()

    assert owners(*tasks) == [admin_user.id] * 6
    assert not AuditEntry.objects.filter(source="related_transfer").exists()
    assert job_statuses(batch_id)["related_transfer"] == "running"  # the dead worker's claim

    # Another worker; once the dead worker's lease has run out, the sweep hands the job over.
    start_worker(redis_server.url, queue_name, **short_lease)
    wait_until(lambda: owner_tasks.sweep() == 1, what="the sweep to re-dispatch the job")
    wait_until(lambda: job_statuses(batch_id)["related_transfer"] == "done", what="the job")

    assert owners(*tasks) == [new_owner.id] * 6
    assert AuditEntry.objects.filter(source="related_transfer").count() == 6
    assert sorted(
        AuditEntry.objects.filter(source="related_transfer").values_list("record_id", flat=True)
    ) == sorted(task.id for task in tasks)
    job = OutboxEntry.objects.get(batch_id=batch_id)
    assert job.attempts == 2
    assert job.result == {"moved": 6, "skipped": 0, "skipped_ids": []}


def _someone_waits_for_a_row_lock() -> bool:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
            " AND wait_event_type = 'Lock'"
        )
        return cursor.fetchone()[0] > 0


# A process that commits a change of owner whose broker hangs: change_owner returns (its
# publisher's thread is stuck on the broker), it says so, and waits to be killed.
KILLED_SCRIPT = """
import sys, time
import django

django.setup()
from crm.models import Organization, User
from crm.modules import module_by_name
from owners.services import change_owner

organization_id, actor_id, record_id, owner_id = map(int, sys.argv[1:5])
result = change_owner(
    organization=Organization.objects.get(id=organization_id),
    actor=User.objects.get(id=actor_id),
    module=module_by_name("Contacts"),
    record_ids=[record_id],
    new_owner=User.objects.get(id=owner_id),
    notify=True,
    related=None,
    source="api",
)
print("committed", result.batch_id, flush=True)
time.sleep(120)
"""


def test_a_process_killed_before_it_published_leaves_its_jobs_to_the_sweep(
    redis_server, queue_name, publish_to, settings, admin_user, new_owner, make_record, tmp_path
):
    settings.OUTBOX_SWEEP_GRACE_SECONDS = 0
    contact = make_record()
    # The process's broker accepts connections and never answers: its publisher's thread is
    # stuck in the publish, after the commit, when the process is killed.
    silent = socket.create_server(("127.0.0.1", 0), backlog=50)
    out = tmp_path / "killed.out"
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DATABASE_URL": _test_database_url(),
        "REDIS_URL": redis_server.url,
        "CELERY_BROKER_URL": f"redis://127.0.0.1:{silent.getsockname()[1]}/0",
        "CELERY_TASK_DEFAULT_QUEUE": queue_name,
        "DJANGO_SECRET_KEY": django_settings.SECRET_KEY,
    }
    ids = [contact.organization_id, admin_user.id, contact.id, new_owner.id]
    with out.open("w") as stdout:
        process = subprocess.Popen(
            [sys.executable, "-c", KILLED_SCRIPT, *map(str, ids)],
            cwd=django_settings.BASE_DIR,
            env=env,
            stdout=stdout,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_until(lambda: "committed" in out.read_text(), what="the change to commit")
        assert process.poll() is None, out.read_text()
        process.kill()  # SIGKILL: no atexit, no flush
        process.wait(timeout=10)
    finally:
        silent.close()
    batch_id = out.read_text().split()[1]
    assert owners(contact) == [new_owner.id]
    assert job_statuses(batch_id) == {"notify": "pending"}

    publish_to(redis_server.url, queue_name)
    assert owner_tasks.sweep() == 1
    (job,) = OutboxEntry.objects.filter(batch_id=batch_id)
    queued = redis_server_client(redis_server).lrange(queue_name, 0, -1)
    assert [json.loads(message)["headers"]["argsrepr"] for message in queued] == [f"('{job.id}',)"]


def redis_server_client(server):
    import redis

    return redis.Redis.from_url(server.url, socket_connect_timeout=2)
