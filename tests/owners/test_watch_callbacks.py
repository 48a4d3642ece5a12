"""A callback for every door that changes owners, sent to a real HTTP receiver that checks its
signature: the API's change owner, a record update, a mass change job, a revert, the admin
action, Kenbun's assign and a sandbox load. The outbox runs in this process, one entry at a time,
as a worker runs it (tests/integration/test_watch_delivery.py: the same with real workers)."""

from __future__ import annotations

import contextlib
from datetime import timedelta

import pytest
from django.utils import timezone

from crm.models import Record
from owners import outbox, services
from owners.models import OutboxEntry, WatchDelivery
from owners.transfers import runner
from owners.watch import delivery
from tests.owners.test_admin import confirm_action
from tests.owners.watch_receiver import dead_url, receiver  # noqa: F401 (the fixture)

pytestmark = pytest.mark.django_db

TOKEN = "TOKEN_FOR_VERIFICATION_OF_1000"
SCOPES = (
    "ZohoBigin.notifications.ALL",
    "ZohoBigin.change_owner.ALL",
    "ZohoBigin.modules.ALL",
    "ZohoBigin.users.ALL",
)
RUNNERS = {
    **dict.fromkeys(runner.KINDS, runner.run_transfer_job),
    OutboxEntry.Kind.WATCH_EVENT: delivery.run_watch_event,
    OutboxEntry.Kind.WATCH_DELIVERY: delivery.run_watch_delivery,
}
FAILURES = {
    **dict.fromkeys(runner.KINDS, runner.record_failure),
    OutboxEntry.Kind.WATCH_DELIVERY: delivery.delivery_failed,
}


def drain() -> None:
    """Run each pending outbox entry once, oldest first, as a worker would, and what they
    create, until nothing new is pending (a related transfer waits for its delay)."""
    ran: set[int] = set()
    while True:
        entry = (
            OutboxEntry.objects.filter(status=OutboxEntry.Status.PENDING)
            .exclude(kind=OutboxEntry.Kind.RELATED_TRANSFER)
            .exclude(id__in=ran)
            .order_by("created_time", "id")
            .first()
        )
        if entry is None:
            return
        ran.add(entry.id)
        with contextlib.suppress(Exception):
            outbox.run_entry(entry.id, runners=RUNNERS, failures=FAILURES)


@pytest.fixture
def client(auth_client, admin_user):
    return auth_client(admin_user, *SCOPES)


@pytest.fixture
def watching(client, receiver):  # noqa: F811
    receiving = receiver(TOKEN)
    response = client.post(
        "/bigin/v2/actions/watch",
        {
            "watch": [
                {
                    "channel_id": "1000",
                    "events": ["Contacts.all", "Tasks.edit"],
                    "notify_url": receiving.url,
                    "token": TOKEN,
                }
            ]
        },
        format="json",
    )
    assert response.status_code == 200
    return receiving


def edit_callback(ids, module="Contacts") -> dict:
    ids = [str(record_id) for record_id in ids]
    return {
        "query_params": {},
        "module": module,
        "resource_uri": f"http://127.0.0.1:8000/bigin/v2/{module}",
        "ids": ids,
        "operation": "update",
        "channel_id": "1000",
        "token": TOKEN,
        "affected_fields": [{record_id: ["Owner"]} for record_id in ids],
    }


def received(receiving) -> list[dict]:
    assert all(callback.signed for callback in receiving.callbacks)
    return [
        {key: value for key, value in callback.body.items() if key != "server_time"}
        for callback in receiving.callbacks
    ]


@pytest.fixture(autouse=True)
def _api_domain(settings):
    settings.API_DOMAIN = "http://127.0.0.1:8000"


def test_change_owner_through_the_api(client, watching, contacts, new_owner):
    ids = [r.id for r in contacts]
    client.post(
        "/bigin/v2/Contacts/actions/change_owner",
        {"ids": [str(i) for i in ids], "owner": {"id": str(new_owner.id)}},
        format="json",
    )
    assert watching.callbacks == []  # nothing is sent inside the request

    drain()

    assert received(watching) == [edit_callback(ids)]
    assert WatchDelivery.objects.get().status == WatchDelivery.Status.DELIVERED


def test_a_record_update_of_owner(client, watching, contacts, new_owner):
    client.put(
        f"/bigin/v2/Contacts/{contacts[0].id}",
        {"data": [{"Owner": {"id": str(new_owner.id)}}]},
        format="json",
    )
    drain()

    assert received(watching) == [edit_callback([contacts[0].id])]


def test_a_mass_change_job_sends_its_changes_grouped(
    client, watching, contacts, new_owner, admin_user
):
    response = client.post(
        "/bigin/v2/Contacts/actions/mass_change_owner",
        {
            "owner": {"id": str(new_owner.id)},
            "criteria": {
                "field": {"api_name": "Owner"},
                "comparator": "equal",
                "value": {"id": str(admin_user.id)},
            },
        },
        format="json",
    )
    assert response.status_code == 202
    drain()

    assert received(watching) == [edit_callback(sorted(r.id for r in contacts))]


def test_a_job_chunk_sends_its_records_and_their_activities_as_one_event(
    client, watching, contacts, new_owner, admin_user, make_record
):
    tasks = [make_record(module_name="Tasks", related_to=contact) for contact in contacts[:2]]
    response = client.post(
        "/bigin/v2/Contacts/actions/mass_change_owner",
        {
            "owner": {"id": str(new_owner.id)},
            "criteria": {
                "field": {"api_name": "Owner"},
                "comparator": "equal",
                "value": {"id": str(admin_user.id)},
            },
            "related_modules": [{"api_name": "Tasks"}],
        },
        format="json",
    )
    assert response.status_code == 202
    drain()

    # One chunk, one watch event (the chunk's one audit statement), one callback per module.
    (event,) = OutboxEntry.objects.filter(kind=OutboxEntry.Kind.WATCH_EVENT)
    assert event.payload["changes"] == {
        "Contacts": [str(r.id) for r in sorted(contacts, key=lambda r: r.id)],
        "Tasks": [str(r.id) for r in sorted(tasks, key=lambda r: r.id)],
    }
    assert sorted(received(watching), key=lambda body: body["module"]) == [
        edit_callback(sorted(r.id for r in contacts)),
        edit_callback(sorted(r.id for r in tasks), module="Tasks"),
    ]


def test_a_revert(client, watching, contacts, new_owner):
    changed = client.post(
        "/bigin/v2/Contacts/actions/change_owner",
        {"ids": [str(contacts[0].id)], "owner": {"id": str(new_owner.id)}},
        format="json",
    )
    drain()
    revert = client.post(
        f"/bigin/v2/owner_batches/{changed['X-Owner-Batch-Id']}/actions/revert", format="json"
    )
    assert revert.status_code == 202
    drain()

    assert received(watching) == [edit_callback([contacts[0].id])] * 2


def test_the_admin_action(admin_site_client, watching, contacts, new_owner):
    confirm_action(admin_site_client, contacts[:2], new_owner)
    drain()

    assert received(watching) == [edit_callback(sorted(r.id for r in contacts[:2]))]


def test_kenbun_assign(auth_client, admin_user, watching, contacts, new_owner):
    kenbun = auth_client(admin_user, *SCOPES)
    response = kenbun.post(
        f"/leads/{contacts[0].id}/owner", {"owner_id": str(new_owner.id)}, format="json"
    )
    assert response.status_code == 200, response.content
    drain()

    assert received(watching) == [edit_callback([contacts[0].id])]


def test_a_sandbox_load_that_changes_an_owner(watching, contacts, new_owner, organization):
    services.load_sandbox(
        {
            "organizations": [
                {
                    "id": str(organization.id),
                    "name": organization.name,
                    "records": [
                        {
                            "module": "Contacts",
                            "id": str(contacts[0].id),
                            "owner": str(new_owner.id),
                            "name": contacts[0].name,
                        }
                    ],
                }
            ]
        }
    )
    drain()

    assert Record.objects.get(id=contacts[0].id).owner_id == new_owner.id
    assert received(watching) == [edit_callback([contacts[0].id])]


def test_related_activities_that_follow_are_an_edit_of_tasks(
    client, watching, make_record, new_owner, admin_user
):
    parent = make_record(module_name="Contacts")
    task = make_record(module_name="Tasks", related_to=parent)
    client.post(
        "/bigin/v2/Contacts/actions/change_owner",
        {
            "ids": [str(parent.id)],
            "owner": {"id": str(new_owner.id)},
            "related_modules": [{"api_name": "Tasks"}],
        },
        format="json",
    )
    drain()
    related = OutboxEntry.objects.get(kind=OutboxEntry.Kind.RELATED_TRANSFER)
    related.run_after = related.created_time
    outbox.run_entry(related.id)
    drain()

    assert received(watching) == [edit_callback([parent.id]), edit_callback([task.id], "Tasks")]


def test_a_receiver_that_is_down_leaves_the_delivery_failed_then_redelivered(
    client,
    receiver,  # noqa: F811
    contacts,
    new_owner,
    settings,
):
    settings.OUTBOX_MAX_ATTEMPTS = 2
    client.post(
        "/bigin/v2/actions/watch",
        {"watch": [{"channel_id": "7", "events": ["Contacts.edit"], "notify_url": dead_url()}]},
        format="json",
    )
    client.post(
        "/bigin/v2/Contacts/actions/change_owner",
        {"ids": [str(contacts[0].id)], "owner": {"id": str(new_owner.id)}},
        format="json",
    )
    drain()  # the event, then one attempt at the callback: pending again, due later
    sent = WatchDelivery.objects.get()
    assert (sent.status, sent.attempts, sent.last_status_code) == ("pending", 1, None)
    assert sent.last_error.startswith("not delivered: ConnectionRefusedError")
    entry = OutboxEntry.objects.get(kind=OutboxEntry.Kind.WATCH_DELIVERY)
    # The second attempt fails too; the outbox gives up (OUTBOX_MAX_ATTEMPTS) and so does it.
    with contextlib.suppress(Exception):
        outbox.run_entry(entry.id, runners=RUNNERS, failures=FAILURES)
    entry.refresh_from_db()
    assert entry.status == OutboxEntry.Status.PENDING
    assert entry.attempts == settings.OUTBOX_MAX_ATTEMPTS
    # The sweep, once the entry has been due for its grace period: it gives up.
    OutboxEntry.objects.filter(id=entry.id).update(
        run_after=timezone.now() - timedelta(seconds=settings.OUTBOX_SWEEP_GRACE_SECONDS + 1)
    )
    outbox.release_left_behind(FAILURES)
    sent.refresh_from_db()
    assert sent.status == WatchDelivery.Status.FAILED

    log = client.get("/bigin/v2/actions/watch/7/deliveries")
    assert log.status_code == 200
    assert [(d["id"], d["status"], d["attempts"]) for d in log.json()["deliveries"]] == [
        (str(sent.id), "failed", 2)
    ]

    # The receiver is up now, at the channel's new address; the failed callback is sent again.
    up = receiver("")
    client.patch(
        "/bigin/v2/actions/watch",
        {"watch": [{"channel_id": "7", "notify_url": up.url}]},
        format="json",
    )
    again = client.post(f"/bigin/v2/actions/watch/deliveries/{sent.id}/actions/redeliver")
    assert (again.status_code, again.json()) == (
        202,
        {
            "data": [
                {
                    "code": "SCHEDULED",
                    "details": {"id": str(sent.id)},
                    "message": "the callback will be sent again",
                    "status": "success",
                }
            ]
        },
    )
    drain()
    sent.refresh_from_db()
    assert sent.status == WatchDelivery.Status.DELIVERED
    assert [callback.signed for callback in up.callbacks] == [True]
    twice = client.post(f"/bigin/v2/actions/watch/deliveries/{sent.id}/actions/redeliver")
    assert (twice.status_code, twice.json()) == (
        400,
        {
            "code": "INVALID_DATA",
            "details": {"api_name": "delivery_id", "resource_path_index": 0},
            "message": "only a failed delivery can be sent again",
            "status": "error",
        },
    )
