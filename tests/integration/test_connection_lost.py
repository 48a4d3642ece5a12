"""A server session lost under a request or a job, behind pgbouncer in transaction mode
(crm/db_errors.py): the client gets the API's 503 with Retry-After, never a 500, a job is given
back for its retry rather than failed, and nothing of either is written.

When PostgreSQL ends a server session in the middle of a transaction's COMMIT (a restart, an
operator's pg_terminate_backend), pgbouncer passes on the server's FATAL error and then sends one
of its own ("server conn crashed?"). psycopg, which expects one result for COMMIT, raises
InternalError("received 2 results from command 'COMMIT'"), not an OperationalError; the
topology test (test_topology.py) met it as a 500 on a record add while PostgreSQL restarted.
Here the moment is made, not waited for. Django's foreign keys are DEFERRABLE INITIALLY
DEFERRED: a new key is checked at commit, against its row. The test holds that row FOR UPDATE
(the organization's, under a record add, or under a related transfer or a chunk whose change a
watch channel turns into an event entry), so the COMMIT waits, and the test ends the session
that waits.

A transfer job's steps meet the same ends on a real worker, and one more: a COMMIT that went
through on the server while its connection was lost before the answer (made by a relay that
drops that answer, tests/integration/commit_cut.py). The worker cannot tell it from a rollback by
the error; the step's outbox entry, done in that transaction, tells (owners/transfers/runner.py).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
import threading
import urllib.error
import urllib.request
import uuid
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

import psycopg
import pytest
from django.db import OperationalError, connection
from django.db.models import Count
from django.utils import timezone

from audit.models import AuditEntry
from crm.models import Record
from crm.modules import module_by_name
from crm.oauth.grants import issue_access_token
from owners import outbox, tasks
from owners.models import OutboxEntry, TransferJob, WatchChannel
from owners.transfers import engine
from owners.transfers.criteria import parse_criteria
from tests.factories import OrganizationFactory, RecordFactory, UserFactory
from tests.integration.commit_cut import CommitCut
from tests.integration.conftest import _test_database_url, wait_until
from tests.integration.live import live_gunicorn  # noqa: F401 (the fixture)
from tests.integration.pgbouncer import start_pgbouncer

pytestmark = [
    pytest.mark.postgres,
    # gunicorn sees committed rows; serialized_rollback puts back what the flush takes.
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]

MESSAGE = "the service is temporarily unavailable, try again later"
BIGIN_BODY = {"code": "SERVICE_UNAVAILABLE", "details": {}, "message": MESSAGE, "status": "error"}
# The session of a write waiting in its COMMIT for the row the test holds.
WAITING_COMMIT = """SELECT pid FROM pg_stat_activity
    WHERE datname = current_database() AND query = 'COMMIT' AND wait_event_type = 'Lock'"""


def _end_the_waiting_commit(cursor) -> None:
    """End the server session that waits in its COMMIT, once one does."""

    def waiting():
        cursor.execute(WAITING_COMMIT)
        return cursor.fetchone()

    (pid,) = wait_until(waiting, what="a COMMIT to wait for the row the test holds")
    cursor.execute("SELECT pg_terminate_backend(%s)", [pid])


@pytest.fixture
def pooled_database_url(transactional_db):
    """The test database through a pgbouncer of this test's own, in transaction mode."""
    workdir = Path(tempfile.mkdtemp(prefix="pooled-", dir="/tmp"))
    if os.getuid() == 0:
        shutil.chown(workdir, "postgres")  # pgbouncer runs as postgres and writes its files here
    bouncer = start_pgbouncer(workdir, server_port=int(connection.settings_dict["PORT"] or 5432))
    yield bouncer.url(connection.settings_dict["NAME"])
    bouncer.stop()
    shutil.rmtree(workdir, ignore_errors=True)


def _add_contact(url: str, token: str, name: str) -> tuple[int, dict, dict]:
    request = urllib.request.Request(
        f"{url}/bigin/v2/Contacts",
        data=json.dumps({"data": [{"Last_Name": name}]}).encode(),
        method="POST",
        headers={"Authorization": f"Zoho-oauthtoken {token}", "Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as answer:
            return answer.status, dict(answer.headers), json.loads(answer.read())
    except urllib.error.HTTPError as refused:
        return refused.code, dict(refused.headers), json.loads(refused.read())


def test_a_record_add_whose_commit_loses_its_server_session_answers_503_and_adds_nothing(
    pooled_database_url,
    live_gunicorn,  # noqa: F811
    row_lock,
):
    organization = OrganizationFactory(edition="premier")
    ann = UserFactory(organization=organization)
    token = issue_access_token(user=ann, scopes=["ZohoBigin.modules.ALL"])
    web = live_gunicorn(
        workers=1, DATABASE_URL=pooled_database_url, DATABASE_POOLER="transaction", REDIS_URL=""
    )
    held = row_lock("crm_organization", [organization.id])
    answers = []
    adding = threading.Thread(
        target=lambda: answers.append(_add_contact(web.url, token, "Lost")), daemon=True
    )
    adding.start()

    with connection.cursor() as cursor:
        _end_the_waiting_commit(cursor)
    adding.join(timeout=60)
    held.release()

    [(status, headers, body)] = answers
    assert (status, body) == (503, BIGIN_BODY)
    assert headers["Retry-After"] == "5"
    # Nothing of the add was written: no record, no audit row.
    assert not Record.objects.filter(organization=organization).exists()
    assert not AuditEntry.objects.filter(organization=organization).exists()
    # The retry the 503 asks for goes through, on a new connection.
    status, _, body = _add_contact(web.url, token, "Retried")
    assert (status, body["data"][0]["code"]) == (201, "SUCCESS")
    names = Record.objects.filter(organization=organization).values_list("name", flat=True)
    assert list(names) == ["Retried"]


@contextmanager
def _connection_through(pooled_database_url: str):
    """This thread's database connection goes through the pooler, within the block."""
    saved = {key: connection.settings_dict[key] for key in ("HOST", "PORT")}
    connection.close()
    connection.settings_dict.update(HOST="127.0.0.1", PORT=str(urlsplit(pooled_database_url).port))
    try:
        yield
    finally:
        connection.close()
        connection.settings_dict.update(saved)


def _watching(organization, event: str) -> None:
    WatchChannel.objects.create(
        organization=organization,
        channel_id=1,
        events=[event],
        notify_url="http://127.0.0.1:9/callback",
        channel_expiry=timezone.now() + timedelta(hours=1),
    )


def test_a_job_whose_commit_loses_its_server_session_is_given_back_for_its_retry(
    pooled_database_url, row_lock
):
    organization = OrganizationFactory()
    ann, chen = UserFactory(organization=organization), UserFactory(organization=organization)
    contact = RecordFactory(organization=organization, owner=chen, module_name="Contacts")
    task = RecordFactory(
        organization=organization, owner=ann, module_name="Tasks", related_to=contact
    )
    # A related transfer: the contact is Chen's now, its task is to follow.
    job = OutboxEntry.objects.create(
        organization=organization,
        kind=OutboxEntry.Kind.RELATED_TRANSFER,
        batch_id=uuid.uuid4(),
        run_after=timezone.now(),
        payload={
            "module": "Contacts",
            "new_owner_id": str(chen.id),
            "actor_id": str(ann.id),
            "source": "api",
            "parent_ids": [str(contact.id)],
            "related_modules": ["Tasks"],
            "related_ids": [],
        },
    )
    # A channel watches the task's change: its event, an outbox entry, is written with the move,
    # and its organization key is checked at commit. That waits on the organization's row.
    _watching(organization, "Tasks.edit")
    held = row_lock("crm_organization", [organization.id])
    with (
        psycopg.connect(_test_database_url(), autocommit=True) as direct,
        _connection_through(pooled_database_url),
    ):
        ending = threading.Thread(target=_end_the_waiting_commit, args=[direct.cursor()])
        ending.start()
        # The runner's retry (Celery's autoretry_for, the scheduler) takes OperationalError.
        with pytest.raises(OperationalError, match="received 2 results from command 'COMMIT'"):
            outbox.run_entry(job.id)
        ending.join(timeout=60)
    held.release()

    job.refresh_from_db()
    task.refresh_from_db()
    assert (job.status, job.attempts) == (OutboxEntry.Status.PENDING, 1)
    assert "received 2 results" in job.last_error
    assert task.owner_id == ann.id
    assert not AuditEntry.objects.filter(organization=organization).exists()
    # Its retry moves the task.
    assert outbox.run_entry(job.id) is not None
    task.refresh_from_db()
    job.refresh_from_db()
    assert (task.owner_id, job.status) == (chen.id, OutboxEntry.Status.DONE)


# A transfer job's chunk (owners/transfers/runner.py) is an outbox entry like the related transfer
# above: run_entry asks crm/db_errors.py, gives the chunk back and a real worker's retry
# (Celery's autoretry_for) runs it again from the committed state.

CONTACTS = module_by_name("Contacts")
# Any session of the test database waiting for a row lock (the row the test holds).
WAITING_FOR_A_LOCK = """SELECT pid, query FROM pg_stat_activity
    WHERE datname = current_database() AND wait_event_type = 'Lock'"""


def _end_the_waiting_session(*, in_commit: bool) -> str:
    """End the server session that waits for the row the test holds (in its COMMIT, or in a
    statement of its chunk); returns that session's query."""
    with psycopg.connect(_test_database_url(), autocommit=True) as direct:
        (pid, query) = wait_until(
            lambda: direct.execute(WAITING_FOR_A_LOCK).fetchone(),
            what="a chunk to wait for the row the test holds",
        )
        direct.execute("SELECT pg_terminate_backend(%s)", [pid])
    assert (query == "COMMIT") is in_commit, query
    return query


@pytest.fixture
def five_contacts_job(settings):
    """A mass change of Lea's five contacts (each with a task of hers, which follows it) to Chen,
    scheduled by Ann, in chunks of two: three chunks, none run yet."""
    settings.TRANSFER_JOB_CHUNK = 2
    organization = OrganizationFactory()
    ann, lea, chen = (UserFactory(organization=organization) for _ in range(3))
    contacts = [
        RecordFactory(organization=organization, owner=lea, module_name="Contacts")
        for _ in range(5)
    ]
    tasks = [
        RecordFactory(organization=organization, owner=lea, module_name="Tasks", related_to=c)
        for c in contacts
    ]
    criteria = parse_criteria(
        {"field": {"api_name": "Owner"}, "comparator": "equal", "value": {"id": str(lea.id)}},
        organization=organization,
        modules=[CONTACTS],
    )

    def schedule() -> TransferJob:
        return engine.schedule_mass_change(
            organization=organization,
            actor=ann,
            module=CONTACTS,
            criteria=criteria,
            new_owner=chen,
            related_modules=["Tasks"],
        )

    return schedule, ann, chen, contacts + tasks


def _assert_finished_once(
    transfer: TransferJob, chen, records, *, attempts: list[int], timeout: float = 60
) -> None:
    """The job completed, its counts exact, every record Chen's with exactly one audit row of the
    batch, and its chunks claimed `attempts` times (sorted)."""
    transfer = wait_until(
        lambda: (
            (job := TransferJob.objects.get(id=transfer.id)).status != "running"
            and job.status != "scheduled"
            and job
        ),
        what="the job to end",
        timeout=timeout,
    )
    assert transfer.status == TransferJob.Status.COMPLETED
    assert (transfer.total_count, transfer.updated_count, transfer.related_count) == (5, 5, 5)
    assert (transfer.skipped_count, transfer.failed_count) == (0, 0)
    assert (transfer.chunks_planned, transfer.chunks_done) == (len(attempts), len(attempts))
    ids = [record.id for record in records]
    assert Record.objects.filter(id__in=ids, owner=chen).count() == 10
    audit = AuditEntry.objects.filter(batch_id=transfer.batch_id)
    assert sorted(audit.values_list("record_id", flat=True)) == sorted(ids)
    assert not audit.values("record_id").annotate(n=Count("id")).filter(n__gt=1).exists()
    chunks = OutboxEntry.objects.filter(batch_id=transfer.batch_id, kind="transfer_chunk")
    assert sorted(chunks.values_list("attempts", flat=True)) == attempts
    assert set(chunks.values_list("status", flat=True)) == {OutboxEntry.Status.DONE}


@pytest.mark.redis
def test_a_transfer_chunk_whose_session_is_ended_mid_chunk_is_retried_and_moves_each_record_once(
    five_contacts_job, row_lock, redis_server, queue_name, publish_to, start_worker
):
    schedule, _, chen, records = five_contacts_job
    publish_to(redis_server.url, queue_name)
    transfer = schedule()
    # The first chunk's first contact held: the chunk waits in the statement that locks its
    # range, having claimed its entry; its server session is ended there.
    held = row_lock(Record._meta.db_table, [records[0].id])
    worker = start_worker(redis_server.url, queue_name, TRANSFER_JOB_CHUNK="2")
    _end_the_waiting_session(in_commit=False)
    held.release()

    # The chunk whose session was ended ran twice, the others once.
    _assert_finished_once(transfer, chen, records, attempts=[1, 1, 2])
    assert "terminating connection due to administrator command" in worker.log_text()


@pytest.mark.redis
def test_a_transfer_chunk_whose_commit_loses_its_server_session_is_retried_and_counted_once(
    five_contacts_job,
    pooled_database_url,
    row_lock,
    redis_server,
    queue_name,
    publish_to,
    start_worker,
):
    schedule, _ann, chen, records = five_contacts_job
    publish_to(redis_server.url, queue_name)
    transfer = schedule()
    # A channel watches the records' change: a chunk's event, an outbox entry, has its
    # organization key checked at commit. The plan's chunk entries have it too, so the plan runs
    # here first (its message, still queued, then finds it done); then the first chunk's COMMIT
    # waits on the organization's row, and its server session is ended there, behind pgbouncer.
    organization = records[0].organization
    _watching(organization, "Contacts.edit")
    [plan] = OutboxEntry.objects.filter(kind=OutboxEntry.Kind.TRANSFER_PLAN)
    assert tasks.run_entry(plan.id) is not None
    held = row_lock("crm_organization", [organization.id])
    worker = start_worker(
        redis_server.url,
        queue_name,
        TRANSFER_JOB_CHUNK="2",
        DATABASE_URL=pooled_database_url,
        DATABASE_POOLER="transaction",
    )
    _end_the_waiting_session(in_commit=True)
    held.release()

    _assert_finished_once(transfer, chen, records, attempts=[1, 1, 2])
    # Two results behind one pgbouncer, one more per pooler in front of it.
    assert re.search(r"received \d+ results from command 'COMMIT'", worker.log_text())


@pytest.fixture
def commit_cut(transactional_db):
    """`commit_cut(marker)`: the test database through a relay that drops the connection of the
    first transaction whose statements contain `marker`, right after its COMMIT went through
    (tests/integration/commit_cut.py)."""
    relays: list[CommitCut] = []

    def start(marker: str) -> CommitCut:
        cut = CommitCut(
            server_port=int(connection.settings_dict["PORT"] or 5432), marker=marker.encode()
        )
        cut.start()
        relays.append(cut)
        return cut

    yield start
    for cut in relays:
        cut.stop()


# The first transaction of the job to write it: the plan's (its chunks), the chunk's (its audit).
WRITES_OUTBOX_ENTRIES = f'INSERT INTO "{OutboxEntry._meta.db_table}"'
WRITES_AUDIT_ROWS = f"INSERT INTO {AuditEntry._meta.db_table}"


@pytest.mark.redis
@pytest.mark.parametrize(
    ("step", "marker"), [("plan", WRITES_OUTBOX_ENTRIES), ("chunk", WRITES_AUDIT_ROWS)]
)
def test_a_transfer_step_whose_commit_went_through_unanswered_sends_the_next_step_at_once(
    step, marker, five_contacts_job, commit_cut, redis_server, queue_name, publish_to, start_worker
):
    """The step's COMMIT is done but its connection is lost before the answer: the worker cannot
    tell a commit from a rollback by the error. Its outbox entry, marked done in that same
    transaction, tells: the step is not run again (nothing counted twice), and the next steps it
    wrote (the plan's chunk; the chunk's plan that ends the job) are sent now, not left for the
    sweep to find after OUTBOX_SWEEP_GRACE_SECONDS (no beat runs here: before, the job stayed
    RUNNING)."""
    schedule, _, chen, records = five_contacts_job
    publish_to(redis_server.url, queue_name)
    transfer = schedule()
    cut = commit_cut(marker)
    # One chunk for the five contacts (the worker's TRANSFER_JOB_CHUNK is the default).
    worker = start_worker(
        redis_server.url, queue_name, DATABASE_URL=cut.url(connection.settings_dict["NAME"])
    )
    wait_until(cut.cut.is_set, what=f"the {step}'s COMMIT to go through unanswered")

    _assert_finished_once(transfer, chen, records, attempts=[1], timeout=30)
    assert "server closed the connection unexpectedly" in worker.log_text()
    assert "but its transaction committed; the entries it wrote sent: 1" in worker.log_text()
    plans = OutboxEntry.objects.filter(batch_id=transfer.batch_id, kind="transfer_plan")
    assert list(plans.values_list("status", "attempts")) == [("done", 1), ("done", 1)]
