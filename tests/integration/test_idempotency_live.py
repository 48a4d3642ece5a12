"""`Idempotency-Key` against a live gunicorn: repeats sent at the same moment from threads, and
a client that gave up waiting (its timeout) and retried. The work is done once."""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
import pytest

from audit.models import AuditEntry
from crm.models import Record
from owners.models import OutboxEntry, TransferJob
from tests.factories import RecordFactory, UserFactory
from tests.integration.conftest import _test_database_url, wait_until
from tests.integration.live import live_gunicorn  # noqa: F401 (the fixture)

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.redis,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]

SCOPES = ("ZohoBigin.change_owner.CREATE", "ZohoBigin.modules.ALL")


def send(url: str, token: str, body: dict, *, key: str, timeout: float = 30):
    request = urllib.request.Request(
        url,
        data=json.dumps(body).encode(),
        method="POST",
        headers={
            "Authorization": f"Zoho-oauthtoken {token}",
            "Content-Type": "application/json",
            "Idempotency-Key": key,
            "Connection": "close",
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, dict(response.headers), json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), json.loads(error.read())


@contextmanager
def table_held(table: str) -> Iterator[None]:
    """Another connection holds `table` in SHARE mode: reads go on, an INSERT into it waits (the
    request is held in its transaction, after its key was stored)."""
    with psycopg.connect(_test_database_url()) as holder:
        holder.execute(f"LOCK TABLE {table} IN SHARE MODE")
        yield
        holder.rollback()


@pytest.fixture
def setup(organization, token_for):
    admin = UserFactory(organization=organization, profile_name="Administrator")
    new_owner = UserFactory(organization=organization, profile_name="Standard")
    contacts = [
        RecordFactory(organization=organization, owner=admin, module_name="Contacts")
        for _ in range(3)
    ]
    return admin, new_owner, contacts, token_for(admin, *SCOPES)


def test_repeats_sent_at_once_from_threads_do_the_work_once(live_gunicorn, setup):  # noqa: F811
    _admin, new_owner, contacts, token = setup
    server = live_gunicorn(workers=2)
    url = f"{server.url}/bigin/v2/Contacts/actions/change_owner"
    body = {"ids": [str(r.id) for r in contacts], "owner": {"id": str(new_owner.id)}}
    start = threading.Barrier(6)
    answers: list[tuple] = []

    def repeat() -> None:
        start.wait()
        answers.append(send(url, token, body, key="concurrent-1"))

    threads = [threading.Thread(target=repeat) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert {status for status, _, _ in answers} <= {200, 409}
    assert AuditEntry.objects.values("batch_id").distinct().count() == 1
    assert AuditEntry.objects.count() == 3
    final_status, final_headers, final_body = send(url, token, body, key="concurrent-1")
    assert final_status == 200
    assert final_headers["Idempotent-Replayed"] == "true"
    assert final_headers["X-Owner-Batch-Id"] == str(AuditEntry.objects.first().batch_id)
    for status, headers, answer in answers:
        if status == 200:
            assert answer == final_body
            assert headers["X-Owner-Batch-Id"] == final_headers["X-Owner-Batch-Id"]


def _bulk(new_owner, contacts, admin):
    path = "/bigin/v2/Contacts/actions/change_owner"
    body = {
        "ids": [str(r.id) for r in contacts],
        "owner": {"id": str(new_owner.id)},
        "notify": True,
    }
    return path, body, "audit_auditentry"


def _mass(new_owner, contacts, admin):
    path = "/bigin/v2/Contacts/actions/mass_change_owner"
    body = {
        "owner": {"id": str(new_owner.id)},
        "criteria": {
            "field": {"api_name": "Owner"},
            "comparator": "equal",
            "value": {"id": str(admin.id)},
        },
        "notify": True,
    }
    return path, body, TransferJob._meta.db_table


def _add(new_owner, contacts, admin):
    body = {"data": [{"Last_Name": "Retried", "Owner": {"id": str(new_owner.id)}}]}
    return "/bigin/v2/Contacts", body, Record._meta.db_table


@pytest.mark.parametrize("request_for", [_bulk, _mass, _add], ids=["bulk", "mass", "add"])
def test_a_retry_after_a_client_timeout_does_the_work_once(
    live_gunicorn,  # noqa: F811
    setup,
    request_for,
):
    admin, new_owner, contacts, token = setup
    server = live_gunicorn(workers=2)
    path, body, table = request_for(new_owner, contacts, admin)
    url = server.url + path

    with table_held(table):
        # The first request is held inside its transaction; the client stops waiting.
        with pytest.raises((TimeoutError, urllib.error.URLError)):
            send(url, token, body, key="retry-1", timeout=1)
        in_flight = send(url, token, body, key="retry-1")
        assert in_flight[0] == 409
        assert in_flight[1]["Retry-After"] == "1"
        assert in_flight[2] == {
            "code": "REQUEST_IN_PROGRESS",
            "details": {"header_name": "Idempotency-Key"},
            "message": "a request with this Idempotency-Key is still running",
            "status": "error",
        }

    # The first request finishes once the table is free; the client's retry gets its answer.
    status, headers, answer = wait_until(
        lambda: (reply := send(url, token, body, key="retry-1"))[0] != 409 and reply,
        what="the first request to answer",
    )
    assert status in (200, 201, 202)
    assert headers["Idempotent-Replayed"] == "true"
    assert len(set(AuditEntry.objects.values_list("batch_id", flat=True))) <= 1
    assert TransferJob.objects.count() == (1 if request_for is _mass else 0)
    assert Record.objects.filter(name="Retried").count() == (1 if request_for is _add else 0)
    if request_for is _bulk:
        assert AuditEntry.objects.count() == 3
        assert headers["X-Owner-Batch-Id"] == str(AuditEntry.objects.first().batch_id)
        # One email: the request's one notification entry (the worker sends one per entry).
        assert OutboxEntry.objects.filter(kind=OutboxEntry.Kind.NOTIFY).count() == 1
    if request_for is _mass:
        assert headers["X-Owner-Batch-Id"] == str(TransferJob.objects.get().batch_id)
    again = send(url, token, body, key="retry-1")
    assert again[2] == answer
