"""The read endpoints on a real streaming replica (crm/replica.py): `make test` runs these under
.ci/replica.sh, which starts a private primary and a replica made from it with
`pg_basebackup -R`. A gunicorn serves with DATABASE_REPLICA_URL; the tests stop the replica's
replay (`pg_wal_replay_pause()`, on its own connection) to tell which database answered: a row
committed on the primary after the pause is on the primary only."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest
from django.conf import settings
from django.db import connection
from django.utils import timezone

from audit.models import AuditEntry
from owners.statements import record_owner_changes
from tests.factories import OrganizationFactory, RecordFactory, UserFactory
from tests.integration.conftest import wait_until
from tests.integration.live import live_gunicorn  # noqa: F401 (the fixture)

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.redis,
    pytest.mark.replica,
    # The server and the replica see committed rows only.
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]

SCOPES = (
    "ZohoBigin.modules.ALL",
    "ZohoBigin.users.READ",
    "ZohoBigin.change_owner.CREATE",
    "ZohoBigin.change_owner.READ",
    "ZohoSearch.securesearch.READ",
)


@dataclass
class Replica:
    """The replica's copy of the test database, on a connection of the test's own."""

    url: str
    conn: psycopg.Connection

    def pause(self) -> None:
        self.conn.execute("SELECT pg_wal_replay_pause()")

    def resume(self) -> None:
        self.conn.execute("SELECT pg_wal_replay_resume()")

    def _lsn_of_primary(self) -> str:
        with connection.cursor() as cursor:
            # Where the next record goes: past every commit so far, flushed or not.
            cursor.execute("SELECT pg_current_wal_insert_lsn()::text")
            return cursor.fetchone()[0]

    def _reached(self, column: str, lsn: str) -> bool:
        row = self.conn.execute(f"SELECT {column}() >= %s::pg_lsn", [lsn]).fetchone()
        return bool(row[0])

    def wait_replayed(self) -> None:
        """Until the replica has replayed everything the primary has written so far."""
        lsn = self._lsn_of_primary()
        wait_until(lambda: self._reached("pg_last_wal_replay_lsn", lsn), what="replay")

    def wait_received(self) -> None:
        """Until the replica has received (not necessarily replayed) all the primary wrote."""
        lsn = self._lsn_of_primary()
        wait_until(lambda: self._reached("pg_last_wal_receive_lsn", lsn), what="WAL received")


@pytest.fixture
def replica(transactional_db) -> Iterator[Replica]:
    replica_db = settings.DATABASES["replica"]
    parts = urlsplit(settings.DATABASE_REPLICA_URL)
    # The test database, which the replica streams like every database of the primary.
    url = urlunsplit(parts._replace(path="/" + connection.settings_dict["NAME"]))
    assert replica_db["PORT"] != connection.settings_dict["PORT"]
    with psycopg.connect(url, autocommit=True) as conn:
        handle = Replica(url=url, conn=conn)
        assert conn.execute("SELECT pg_is_in_recovery()").fetchone() == (True,)
        handle.wait_replayed()
        yield handle
        # Replaying again before the flush, so the next test starts from a replica in step.
        handle.resume()


@pytest.fixture
def serve(live_gunicorn, replica, redis_server):  # noqa: F811
    """`serve(max_lag=...)`: a gunicorn with the replica, the lag checked on every request, and
    a Redis of the test's own (the write marks, the task messages: none left from another test)."""

    def start(max_lag: float):
        return live_gunicorn(
            workers=1,
            DATABASE_REPLICA_URL=replica.url,
            DATABASE_REPLICA_MAX_LAG_SECONDS=str(max_lag),
            DATABASE_REPLICA_LAG_CHECK_SECONDS="0",
            READ_YOUR_WRITES_SECONDS=str(int(max_lag) + 60),
            REDIS_URL=redis_server.url,
            CELERY_BROKER_URL=redis_server.url,
        )

    return start


def call(server, token: str, path: str, body: dict | None = None) -> tuple[int, dict | None]:
    request = urllib.request.Request(
        server.url + path,
        data=None if body is None else json.dumps(body).encode(),
        method="GET" if body is None else "POST",
        headers={"Authorization": f"Zoho-oauthtoken {token}", "Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            raw = answer.read()
            return answer.status, json.loads(raw) if raw else None
    except urllib.error.HTTPError as refused:
        return refused.code, json.loads(refused.read() or b"null")


def ids_listed(server, token: str, path: str, key: str = "data") -> set[str]:
    status, body = call(server, token, path)
    assert status in (200, 204), body
    return {row["id"] for row in body[key]} if body else set()


@pytest.fixture
def zylker(token_for):
    organization = OrganizationFactory(name="Zylker")
    admin = UserFactory(organization=organization, full_name="Ann Lee", email="ann@zylker.test")
    return organization, admin, token_for(admin, *SCOPES)


def test_reads_within_the_lag_bound_are_answered_by_the_replica(serve, replica, zylker):
    organization, admin, token = zylker
    before = RecordFactory(organization=organization, owner=admin, module_name="Contacts")
    server = serve(max_lag=3600)
    replica.wait_replayed()
    replica.pause()
    # Committed on the primary, not through the API: no write mark; the replica has not
    # replayed them.
    after = RecordFactory(
        organization=organization,
        owner=admin,
        module_name="Contacts",
        fields={"Last_Name": "After", "Email": "after@zylker.test"},
    )
    newcomer = UserFactory(organization=organization, email="new@zylker.test")
    batch = uuid.uuid4()
    record_owner_changes(
        organization_id=organization.id,
        changes=[(after.id, after.module_id, admin.id)],
        new_owner_id=newcomer.id,
        actor_id=admin.id,
        source=AuditEntry.Source.COMMAND,
        batch_id=batch,
        now=timezone.now(),
    )
    replica.wait_received()
    search = "/bigin/v2/Contacts/search?email=after@zylker.test"

    assert ids_listed(server, token, "/bigin/v2/Contacts") == {str(before.id)}
    assert call(server, token, f"/bigin/v2/Contacts/{after.id}") == (204, None)
    assert call(server, token, search) == (204, None)
    assert str(newcomer.id) not in ids_listed(server, token, "/bigin/v2/users", "users")
    assert call(server, token, f"/bigin/v2/owner_batches/{batch}") == (204, None)

    replica.resume()
    replica.wait_replayed()

    assert ids_listed(server, token, "/bigin/v2/Contacts") == {str(before.id), str(after.id)}
    assert call(server, token, f"/bigin/v2/Contacts/{after.id}")[0] == 200
    assert ids_listed(server, token, search) == {str(after.id)}
    assert str(newcomer.id) in ids_listed(server, token, "/bigin/v2/users", "users")
    assert call(server, token, f"/bigin/v2/owner_batches/{batch}")[0] == 200


def test_an_organization_that_just_wrote_reads_its_writes_from_the_primary(
    serve, replica, zylker, token_for
):
    _, admin, token = zylker
    # Another organization, which has not written: its reads stay on the replica meanwhile.
    nimbus = OrganizationFactory(name="Nimbus")
    nimbus_admin = UserFactory(organization=nimbus, email="ann@nimbus.test")
    nimbus_token = token_for(nimbus_admin, *SCOPES)
    server = serve(max_lag=3600)
    replica.wait_replayed()
    replica.pause()

    status, added = call(server, token, "/bigin/v2/Contacts", {"data": [{"Last_Name": "Lee"}]})
    assert status == 201, added
    record_id = added["data"][0]["details"]["id"]
    status, scheduled = call(
        server,
        token,
        "/bigin/v2/Contacts/actions/mass_change_owner",
        {
            "owner": {"id": str(admin.id)},
            "criteria": {"field": {"api_name": "Last_Name"}, "comparator": "equal", "value": "x"},
        },
    )
    assert status == 202, scheduled
    job_id = scheduled["data"][0]["details"]["job_id"]
    nimbus_record = RecordFactory(organization=nimbus, owner=nimbus_admin, module_name="Contacts")
    replica.wait_received()

    status, read = call(server, token, f"/bigin/v2/Contacts/{record_id}")
    assert status == 200
    assert read["data"][0]["Last_Name"] == "Lee"
    status, job = call(
        server, token, f"/bigin/v2/Contacts/actions/mass_change_owner?job_id={job_id}"
    )
    assert status == 200, job
    assert job["data"][0]["Status"] in ("SCHEDULED", "IN PROGRESS", "COMPLETED")
    assert call(server, nimbus_token, f"/bigin/v2/Contacts/{nimbus_record.id}") == (204, None)


def test_past_the_lag_bound_reads_are_answered_by_the_primary(serve, replica, zylker):
    organization, admin, token = zylker
    server = serve(max_lag=0)
    replica.wait_replayed()
    # In step: lag 0, within the bound of 0, so the replica answers.
    assert ids_listed(server, token, "/bigin/v2/Contacts") == set()
    replica.pause()
    record = RecordFactory(organization=organization, owner=admin, module_name="Contacts")
    # Received and not replayed: the replica is behind, past a bound of 0.
    replica.wait_received()

    status, read = call(server, token, f"/bigin/v2/Contacts/{record.id}")

    assert status == 200
    assert read["data"][0]["id"] == str(record.id)
    assert ids_listed(server, token, "/bigin/v2/Contacts") == {str(record.id)}
