"""Atomicity and concurrency of change_owner, on real transactions."""

from __future__ import annotations

import itertools
import random
import threading
import time

import psycopg
import pytest
from django.db import DatabaseError, connection

from audit.models import AuditEntry
from crm.models import Record, User
from crm.modules import module_by_name
from owners import services
from owners.models import OutboxEntry
from owners.services import NewOwnerNotActive, RelatedSelection, change_owner
from tests.factories import RecordFactory, UserFactory

from .bigin import error, post_bulk


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_failure_after_the_update_leaves_everything_as_before(
    admin_client, admin_user, organization, new_owner, monkeypatch
):
    records = RecordFactory.create_batch(5, organization=organization, owner=admin_user)
    owners_before = {r.id: r.owner_id for r in records}

    def failing_insert(*args, **kwargs):
        raise DatabaseError("disk full (injected)")

    # The audit INSERT runs after the UPDATE: fail it there.
    monkeypatch.setattr(services, "record_owner_changes", failing_insert)
    body = {
        "ids": [str(r.id) for r in records],
        "owner": {"id": str(new_owner.id)},
        "notify": True,
        "related_modules": [{"api_name": "Tasks"}],
    }
    response = post_bulk(admin_client, body)

    assert response.status_code == 500
    assert response.json() == error("INTERNAL_ERROR", {}, "Internal Server Error")
    assert dict(Record.objects.values_list("id", "owner_id")) == owners_before
    assert not AuditEntry.objects.exists()
    assert not OutboxEntry.objects.exists()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_overlapping_requests_in_opposite_orders_never_deadlock(organization, admin_user):
    contacts = module_by_name("Contacts")
    owners = [UserFactory(organization=organization) for _ in range(2)]
    records = RecordFactory.create_batch(40, organization=organization, owner=admin_user)
    ids = [r.id for r in records]
    # Thread A takes ids 0..29 ascending, thread B 10..39 descending: 20 shared ids.
    shares = {0: ids[:30], 1: list(reversed(ids[10:]))}
    errors: list[BaseException] = []
    rounds = 40

    def work(worker: int) -> None:
        rng = random.Random(worker)
        try:
            for _ in range(rounds):
                change_owner(
                    organization=organization,
                    actor=admin_user,
                    module=contacts,
                    record_ids=shares[worker],
                    new_owner=owners[rng.randrange(2)],
                    related=RelatedSelection(modules=("Tasks",)),
                    source="api",
                )
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=work, args=(n,)) for n in (0, 1)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    assert OutboxEntry.objects.count() == 2 * rounds
    final = dict(Record.objects.filter(id__in=ids).values_list("id", "owner_id"))
    for record_id in ids:
        history = list(
            AuditEntry.objects.filter(record_id=record_id)
            .order_by("created_time", "id")
            .values_list("previous_owner_id", "new_owner_id")
        )
        assert history, record_id
        assert history[-1][1] == final[record_id]
        # Each change starts from the owner the previous one left: no lost update.
        assert all(prev[1] == nxt[0] for prev, nxt in itertools.pairwise(history))


@pytest.mark.django_db
def test_an_owner_disabled_after_the_callers_check_gets_nothing(
    organization, admin_user, new_owner
):
    records = RecordFactory.create_batch(3, organization=organization, owner=admin_user)
    # The caller checked `new_owner` while it was active; it has been disabled since.
    User.objects.filter(id=new_owner.id).update(status=User.Status.DISABLED)

    with pytest.raises(NewOwnerNotActive) as raised:
        change_owner(
            organization=organization,
            actor=admin_user,
            module=module_by_name("Contacts"),
            record_ids=[r.id for r in records],
            new_owner=new_owner,
            notify=True,
            source="api",
        )

    assert raised.value.status == "disabled"
    assert set(Record.objects.values_list("owner_id", flat=True)) == {admin_user.id}
    assert not AuditEntry.objects.exists()
    assert not OutboxEntry.objects.exists()


@pytest.mark.django_db
def test_a_new_owner_of_another_organization_is_no_user_here_and_gets_nothing(
    organization, other_organization, admin_user
):
    stranger = UserFactory(organization=other_organization)
    records = RecordFactory.create_batch(2, organization=organization, owner=admin_user)

    # The lock statement looks the new owner up in the records' organization: a wrong caller
    # meets this, not a foreign key error at commit (PostgreSQL) or a silent write (SQLite).
    with pytest.raises(NewOwnerNotActive) as raised:
        change_owner(
            organization=organization,
            actor=admin_user,
            module=module_by_name("Contacts"),
            record_ids=[r.id for r in records],
            new_owner=stranger,
            source="api",
        )

    assert raised.value.status is None
    assert set(Record.objects.values_list("owner_id", flat=True)) == {admin_user.id}
    assert not AuditEntry.objects.exists()


@pytest.mark.django_db
def test_an_owner_gone_between_the_check_and_the_lock_is_answered_as_an_unknown_owner(
    admin_client, organization, admin_user, make_user, monkeypatch
):
    records = RecordFactory.create_batch(2, organization=organization, owner=admin_user)
    leaving = make_user()
    lock_records = services.lock_records

    def lock_after_the_owner_left(*args, **kwargs):
        User.objects.filter(id=leaving.id).delete()  # checked by the view a moment ago
        return lock_records(*args, **kwargs)

    monkeypatch.setattr(services, "lock_records", lock_after_the_owner_left)
    response = post_bulk(
        admin_client, {"ids": [str(r.id) for r in records], "owner": {"id": str(leaving.id)}}
    )

    assert response.status_code == 400
    assert response.json() == error(
        "INVALID_DATA",
        {"api_name": "id", "json_path": "$.owner.id"},
        "the owner id given is invalid",
    )
    assert set(Record.objects.values_list("owner_id", flat=True)) == {admin_user.id}
    assert not AuditEntry.objects.exists()


def _wait_for_a_lock_wait(dsn: str, timeout: float = 10.0) -> None:
    """Until some session of this database waits on a row lock."""
    deadline = time.monotonic() + timeout
    with psycopg.connect(dsn, autocommit=True) as probe:
        while time.monotonic() < deadline:
            waiting = probe.execute(
                "SELECT count(*) FROM pg_stat_activity"
                " WHERE datname = current_database() AND wait_event_type = 'Lock'"
            ).fetchone()[0]
            if waiting:
                return
            time.sleep(0.02)
    raise AssertionError("the request never waited on the owner's row")


INACTIVE_OWNER_BIGIN = error(
    "INVALID_DATA",
    {"api_name": "id", "json_path": "$.owner.id", "owner_status": "inactive"},
    "The user to whom you are trying to transfer the records is not active.",
)
INACTIVE_OWNER_KENBUN = {
    "status": "error",
    "message": "owner_id is not an active user of this organization",
}


def _bigin_bulk(client, records, owner):
    body = {"ids": [str(r.id) for r in records], "owner": {"id": str(owner.id)}}
    return post_bulk(client, body)


def _kenbun_bulk(client, records, owner):
    body = {"lead_ids": [str(r.id) for r in records], "owner_id": str(owner.id)}
    return client.post("/leads/bulk-assign-owner", body, format="json")


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
@pytest.mark.parametrize(
    ("send", "expected"),
    [(_bigin_bulk, INACTIVE_OWNER_BIGIN), (_kenbun_bulk, INACTIVE_OWNER_KENBUN)],
    ids=["bigin", "kenbun"],
)
def test_disabling_the_owner_while_a_request_runs_wins_over_the_request(
    admin_client, organization, admin_user, new_owner, send, expected
):
    records = RecordFactory.create_batch(3, organization=organization, owner=admin_user)
    settings_dict = connection.settings_dict
    dsn = (
        f"host={settings_dict['HOST']} port={settings_dict['PORT'] or 5432} "
        f"user={settings_dict['USER']} dbname={settings_dict['NAME']}"
    )
    responses = []

    def request() -> None:
        try:
            responses.append(send(admin_client, records, new_owner))
        finally:
            connection.close()

    # An operator disables the owner in a transaction that is still open when the request
    # validates the owner (still active then) and locks the records.
    with psycopg.connect(dsn) as operator:
        operator.execute("UPDATE crm_user SET status = 'disabled' WHERE id = %s", [new_owner.id])
        thread = threading.Thread(target=request)
        thread.start()
        _wait_for_a_lock_wait(dsn)  # the request waits on the owner's row
        operator.commit()
        thread.join(timeout=30)

    (response,) = responses
    assert response.status_code == 400
    assert response.json() == expected
    assert set(Record.objects.values_list("owner_id", flat=True)) == {admin_user.id}
    assert not AuditEntry.objects.exists()
