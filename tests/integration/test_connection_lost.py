"""The database connection lost under a request, behind pgbouncer in transaction mode
(crm/http/boundary.py): the client gets the API's 503 with Retry-After, never a 500, and nothing
of the request is written.

When PostgreSQL ends a server session in the middle of a transaction's COMMIT (a restart, an
operator's pg_terminate_backend), pgbouncer passes on the server's FATAL error and then sends one
of its own ("server conn crashed?"). psycopg, which expects one result for COMMIT, raises
InternalError("received 2 results from command 'COMMIT'"), not an OperationalError; the
topology test (test_topology.py) met it as a 500 on a record add while PostgreSQL restarted.
Here the moment is made, not waited for: the test holds the organization's row FOR UPDATE, so
the COMMIT of a record add waits on it (the new record's key to its organization is checked at
commit: Django's foreign keys are DEFERRABLE INITIALLY DEFERRED), and the test ends the session
that waits.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import threading
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from django.db import connection

from audit.models import AuditEntry
from crm.models import Record
from crm.oauth.grants import issue_access_token
from tests.factories import OrganizationFactory, UserFactory
from tests.integration.conftest import wait_until
from tests.integration.live import live_gunicorn  # noqa: F401 (the fixture)
from tests.integration.pgbouncer import start_pgbouncer

pytestmark = [
    pytest.mark.postgres,
    # gunicorn sees committed rows; serialized_rollback puts back what the flush takes.
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]

MESSAGE = "the service is temporarily unavailable, try again later"
BIGIN_BODY = {"code": "SERVICE_UNAVAILABLE", "details": {}, "message": MESSAGE, "status": "error"}
# The session of a record add waiting in its COMMIT for the row the test holds.
WAITING_COMMIT = """SELECT pid FROM pg_stat_activity
    WHERE datname = current_database() AND query = 'COMMIT' AND wait_event_type = 'Lock'"""


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

        def commit_waiting():
            cursor.execute(WAITING_COMMIT)
            return cursor.fetchone()

        (pid,) = wait_until(commit_waiting, what="the record add to wait in its COMMIT")
        cursor.execute("SELECT pg_terminate_backend(%s)", [pid])
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
