"""`Idempotency-Key` on the write endpoints (ours, docs/idempotency.md): a repeat answers the
first answer and does nothing; another request with the key is refused; keys are per
organization and last 24 hours. The concurrent and timed-out repeats against a live server are
in tests/integration/test_idempotency_live.py."""

from __future__ import annotations

import json
import uuid
from datetime import timedelta

import pytest
from django.utils import timezone

from audit.models import AuditEntry
from crm.models import Record
from owners import idempotency
from owners.models import IdempotencyKey, OutboxEntry, TransferJob
from tests.factories import RecordFactory, UserFactory

pytestmark = pytest.mark.django_db

CHANGE = "/bigin/v2/Contacts/actions/change_owner"
MASS = "/bigin/v2/Contacts/actions/mass_change_owner"
KEY = "order-7f3a"
ALL_SCOPES = (
    "ZohoBigin.change_owner.CREATE",
    "ZohoBigin.change_owner.READ",
    "ZohoBigin.modules.ALL",
    "ZohoBigin.users.ALL",
)


@pytest.fixture
def client(auth_client, admin_user):
    return auth_client(admin_user, *ALL_SCOPES)


def post(client, path, body, key=KEY):
    return client.post(path, body, format="json", HTTP_IDEMPOTENCY_KEY=key)


def change_body(contacts, new_owner, **extra) -> dict:
    return {
        "ids": [str(record.id) for record in contacts],
        "owner": {"id": str(new_owner.id)},
        **extra,
    }


def test_a_repeat_answers_the_first_answer_with_its_batch_and_changes_nothing_more(
    client, contacts, new_owner
):
    first = post(client, CHANGE, change_body(contacts, new_owner, notify=True))
    repeat = post(client, CHANGE, change_body(contacts, new_owner, notify=True))

    assert first.status_code == repeat.status_code == 200
    assert repeat.json() == first.json()
    assert repeat["X-Owner-Batch-Id"] == first["X-Owner-Batch-Id"]
    assert repeat["Idempotent-Replayed"] == "true"
    assert not first.has_header("Idempotent-Replayed")
    assert set(AuditEntry.objects.values_list("batch_id", flat=True)) == {
        uuid.UUID(first["X-Owner-Batch-Id"])
    }
    assert OutboxEntry.objects.filter(kind=OutboxEntry.Kind.NOTIFY).count() == 1


def test_the_same_json_in_another_key_order_is_the_same_request(client, contacts, new_owner):
    post(client, CHANGE, change_body(contacts, new_owner))
    body = change_body(contacts, new_owner)
    reordered = {"owner": body["owner"], "ids": body["ids"]}

    repeat = post(client, CHANGE, reordered)

    assert repeat.status_code == 200
    assert repeat["Idempotent-Replayed"] == "true"


def test_the_key_with_another_request_answers_400_and_does_nothing(
    client, contacts, new_owner, admin_user
):
    post(client, CHANGE, change_body(contacts[:1], new_owner))

    other_body = post(client, CHANGE, change_body(contacts[1:], new_owner))
    other_path = post(client, "/bigin/v2/Accounts/actions/change_owner", change_body([], new_owner))

    expected = {
        "code": "INVALID_DATA",
        "details": {"header_name": "Idempotency-Key"},
        "message": "the Idempotency-Key was used for another request",
        "status": "error",
    }
    assert (other_body.status_code, other_body.json()) == (400, expected)
    assert (other_path.status_code, other_path.json()) == (400, expected)
    assert AuditEntry.objects.count() == 1


@pytest.mark.parametrize("key", ["", "x" * 256, "caf\u00e9"])
def test_a_key_that_is_empty_too_long_or_not_printable_ascii_answers_400(
    client, contacts, new_owner, key
):
    response = client.post(
        CHANGE,
        change_body(contacts, new_owner),
        format="json",
        headers={"Idempotency-Key": key},
    )

    assert response.status_code == 400
    assert response.json() == {
        "code": "INVALID_DATA",
        "details": {"header_name": "Idempotency-Key", "maximum_length": 255},
        "message": "the Idempotency-Key header is invalid",
        "status": "error",
    }
    assert AuditEntry.objects.count() == 0


def test_a_repeat_while_the_first_still_runs_answers_409_with_retry_after(
    client, contacts, new_owner, organization
):
    body = change_body(contacts, new_owner)
    # The state a first request leaves while it runs: its key stored, no answer yet.
    IdempotencyKey.objects.create(
        organization=organization,
        key=KEY,
        fingerprint=idempotency.fingerprint(
            method="POST", path=CHANGE, query="", body=json.dumps(body).encode()
        ),
    )

    response = post(client, CHANGE, body)

    assert response.status_code == 409
    assert response["Retry-After"] == "1"
    assert response.json() == {
        "code": "REQUEST_IN_PROGRESS",
        "details": {"header_name": "Idempotency-Key"},
        "message": "a request with this Idempotency-Key is still running",
        "status": "error",
    }
    assert AuditEntry.objects.count() == 0


def test_a_key_left_in_flight_past_its_lease_is_taken_over(
    client, contacts, new_owner, organization
):
    IdempotencyKey.objects.create(
        organization=organization,
        key=KEY,
        fingerprint="left by a process that died",
        created_time=timezone.now() - idempotency.IN_FLIGHT_LEASE - timedelta(seconds=1),
    )

    response = post(client, CHANGE, change_body(contacts, new_owner))

    assert response.status_code == 200
    assert AuditEntry.objects.count() == 3


def test_keys_are_per_organization(client, auth_client, other_organization, new_owner, contacts):
    post(client, CHANGE, change_body(contacts, new_owner))
    stranger = UserFactory(organization=other_organization, profile_name="Administrator")
    theirs = RecordFactory(organization=other_organization)
    other_client = auth_client(stranger, *ALL_SCOPES)

    response = post(
        other_client, CHANGE, {"ids": [str(theirs.id)], "owner": {"id": str(stranger.id)}}
    )

    assert response.status_code == 200
    assert not response.has_header("Idempotent-Replayed")
    theirs.refresh_from_db()
    assert theirs.owner_id == stranger.id


def test_a_request_refused_as_a_whole_keeps_no_key_and_its_retry_runs(client, contacts, new_owner):
    refused = post(client, "/bigin/v2/Nope/actions/change_owner", change_body(contacts, new_owner))
    assert refused.status_code == 400
    assert not IdempotencyKey.objects.exists()

    # The client corrects the request and sends it with a key of its own.
    assert post(client, CHANGE, change_body(contacts, new_owner)).status_code == 200


def test_a_key_older_than_24_hours_is_forgotten(client, contacts, new_owner):
    post(client, CHANGE, change_body(contacts[:1], new_owner))
    IdempotencyKey.objects.update(created_time=timezone.now() - timedelta(hours=24, seconds=1))

    response = post(client, CHANGE, change_body(contacts[1:], new_owner))

    assert response.status_code == 200
    assert not response.has_header("Idempotent-Replayed")
    assert AuditEntry.objects.count() == 3


def test_the_sweep_deletes_only_expired_keys(organization):
    now = timezone.now()
    IdempotencyKey.objects.create(
        organization=organization,
        key="old",
        fingerprint="a",
        created_time=now - timedelta(hours=25),
    )
    IdempotencyKey.objects.create(organization=organization, key="new", fingerprint="b")

    assert idempotency.delete_expired_keys() == 1
    assert list(IdempotencyKey.objects.values_list("key", flat=True)) == ["new"]


def test_a_record_add_repeated_adds_one_record(client):
    body = {"data": [{"Last_Name": "Once", "Email": "once@zylker.test"}]}

    first = post(client, "/bigin/v2/Contacts", body)
    repeat = post(client, "/bigin/v2/Contacts", body)

    assert first.status_code == repeat.status_code == 201
    assert repeat.json() == first.json()
    assert Record.objects.filter(name__contains="Once").count() == 1


def test_a_mass_change_repeated_schedules_one_job(client, new_owner, admin_user, contacts):
    body = {
        "owner": {"id": str(new_owner.id)},
        "criteria": {
            "field": {"api_name": "Owner"},
            "comparator": "equal",
            "value": {"id": str(admin_user.id)},
        },
    }

    first = post(client, MASS, body)
    repeat = post(client, MASS, body)

    assert first.status_code == repeat.status_code == 202
    assert repeat.json() == first.json()
    assert repeat["X-Owner-Batch-Id"] == first["X-Owner-Batch-Id"]
    assert TransferJob.objects.count() == 1


def test_a_delete_repeated_answers_the_first_answer(client, contacts):
    path = f"/bigin/v2/Contacts/{contacts[0].id}"

    first = client.delete(path, HTTP_IDEMPOTENCY_KEY=KEY)
    repeat = client.delete(path, HTTP_IDEMPOTENCY_KEY=KEY)

    assert first.status_code == repeat.status_code == 200
    assert repeat.json() == first.json()
