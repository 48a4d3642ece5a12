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
(the organization's under a record add, the actor's under a related transfer, which makes her
the task's modified_by), so the COMMIT waits, and the test ends the session that waits.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import threading
import urllib.error
import urllib.request
import uuid
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit

import psycopg
import pytest
from django.db import OperationalError, connection
from django.utils import timezone

from audit.models import AuditEntry
from crm.models import Record
from crm.oauth.grants import issue_access_token
from owners import outbox
from owners.models import OutboxEntry
from tests.factories import OrganizationFactory, RecordFactory, UserFactory
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
    # The task's new modified_by (Ann, the actor) is checked at commit: that waits on her row.
    held = row_lock("crm_user", [ann.id])
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
