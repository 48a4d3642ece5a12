"""Bigin's notification API (`/bigin/v2/actions/watch`) with exact bodies, and what an owner
change writes for it (a watch event in the outbox, in the change's own statement). Callbacks to a
real receiver: tests/owners/test_watch_callbacks.py and tests/integration/test_watch_delivery.py.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext

from owners.models import OutboxEntry, WatchChannel
from tests.owners.bigin import post_bulk

pytestmark = pytest.mark.django_db

WATCH = "/bigin/v2/actions/watch"
NOW = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)
URL = "https://receiver.example.com/callback"
SCOPES = ("ZohoBigin.notifications.ALL", "ZohoBigin.change_owner.CREATE", "ZohoBigin.modules.ALL")


@pytest.fixture
def frozen():
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.fixture
def client(auth_client, admin_user):
    return auth_client(admin_user, *SCOPES)


def enable(client, *entries):
    return client.post(WATCH, {"watch": list(entries)}, format="json")


def channel(channel_id="1000", events=("Contacts.edit",), **extra) -> dict:
    return {"channel_id": channel_id, "events": list(events), "notify_url": URL, **extra}


def resource(name, module_id, channel_id="1000", expiry="2026-11-22T11:00:00+00:00") -> dict:
    return {
        "channel_expiry": expiry,
        "resource_uri": f"http://127.0.0.1:8000/bigin/v2/{name}",
        "resource_id": module_id,
        "resource_name": name,
        "channel_id": channel_id,
    }


CONTACTS_ID, PIPELINES_ID = "4876876000000002175", "4876876000000002181"


def err(code, message, **details) -> dict:
    return {"code": code, "details": details, "message": message, "status": "error"}


def test_enable_answers_each_module_watched_and_expires_in_an_hour_by_default(
    client, frozen, settings
):
    settings.API_DOMAIN = "http://127.0.0.1:8000"
    response = enable(client, channel(events=["Contacts.edit", "pipelines.all"], token="T-1"))

    assert response.status_code == 200
    assert response.json() == {
        "watch": [
            {
                "code": "SUCCESS",
                "details": {
                    "events": [
                        resource("Contacts", CONTACTS_ID),
                        resource("Pipelines", PIPELINES_ID),
                    ]
                },
                "message": "Successfully subscribed for actions-watch of the given module",
                "status": "success",
            }
        ]
    }
    stored = WatchChannel.objects.get()
    assert (stored.events, stored.token, stored.notify_url) == (
        ["Contacts.edit", "Pipelines.all"],
        "T-1",
        URL,
    )


def test_an_expiry_within_a_day_is_kept_and_one_beyond_is_an_hour(client, frozen, settings):
    settings.API_DOMAIN = "http://127.0.0.1:8000"
    enable(
        client,
        channel("1", channel_expiry="2026-11-23T09:00:00+00:00"),
        channel("2", channel_expiry="2026-11-24T09:00:00+00:00"),
    )

    assert dict(WatchChannel.objects.values_list("channel_id", "channel_expiry")) == {
        1: NOW + timedelta(hours=23),
        2: NOW + timedelta(hours=1),
    }


def test_each_entry_answers_its_own_error(client, frozen, settings):
    settings.API_DOMAIN = "http://127.0.0.1:8000"
    enable(client, channel("7"))

    response = enable(
        client,
        channel("8"),
        {"channel_id": "9", "events": ["Contacts.edit"]},
        channel("10", events=["Leads.edit"]),
        channel("11", token="x" * 51),
        channel("12", notify_url="ftp://example.com/x"),
        channel("13", channel_expiry="2026-11-21T09:00:00+00:00"),
        channel("7"),
        {"events": ["Contacts.edit"], "notify_url": URL},
    )

    assert response.status_code == 202
    body = response.json()["watch"]
    assert body[0]["status"] == "success"
    assert body[1:] == [
        err(
            "MANDATORY_NOT_FOUND",
            "required field not found",
            api_name="notify_url",
            json_path="$.watch[1].notify_url",
        ),
        err("INVALID_DATA", "invalid data", api_name="events", json_path="$.watch[2].events[0]"),
        err(
            "INVALID_DATA",
            "invalid data",
            api_name="token",
            json_path="$.watch[3].token",
            maximum_length=50,
        ),
        err(
            "INVALID_DATA", "invalid data", api_name="notify_url", json_path="$.watch[4].notify_url"
        ),
        err(
            "INVALID_DATA",
            "invalid data",
            api_name="channel_expiry",
            json_path="$.watch[5].channel_expiry",
        ),
        err(
            "DUPLICATE_DATA",
            "a channel with this channel_id exists",
            api_name="channel_id",
            json_path="$.watch[6].channel_id",
        ),
        err(
            "MANDATORY_NOT_FOUND",
            "required field not found",
            api_name="channel_id",
            json_path="$.watch[7].channel_id",
        ),
    ]
    assert sorted(WatchChannel.objects.values_list("channel_id", flat=True)) == [7, 8]


def test_a_body_without_watch_answers_400(client):
    response = client.post(WATCH, {"channels": []}, format="json")

    assert response.status_code == 400
    assert response.json() == err(
        "MANDATORY_NOT_FOUND", "required field not found", api_name="watch", json_path="$.watch"
    )


def test_list_answers_unexpired_channels_per_module_and_204_when_none(client, frozen, settings):
    settings.API_DOMAIN = "http://127.0.0.1:8000"
    assert client.get(WATCH).status_code == 204
    enable(client, channel(events=["Contacts.edit", "Tasks.all"], token="T"))
    WatchChannel.objects.create(
        organization=WatchChannel.objects.get().organization,
        channel_id=99,
        events=["Contacts.all"],
        notify_url=URL,
        channel_expiry=NOW - timedelta(seconds=1),
    )

    response = client.get(WATCH)

    assert response.status_code == 200
    common = {"token": "T", "notify_url": URL, "notify_on_related_action": False}
    assert response.json() == {
        "watch": [
            {**common, **resource("Contacts", CONTACTS_ID), "events": ["Contacts.edit"]},
            {**common, **resource("Tasks", "4876876000000002193"), "events": ["Tasks.all"]},
        ],
        "info": {"per_page": 200, "count": 2, "page": 1, "more_records": False},
    }


def test_put_replaces_and_patch_adds_or_deletes_events(client, frozen):
    enable(client, channel(events=["Contacts.edit"], token="T"))

    put = client.put(WATCH, {"watch": [channel(events=["Accounts.edit"])]}, format="json")
    assert put.status_code == 200
    assert put.json()["watch"][0]["message"] == "Successfully updated the subscribe details"
    stored = WatchChannel.objects.get()
    assert (stored.events, stored.token) == (["Accounts.edit"], "")

    client.patch(WATCH, {"watch": [{"channel_id": "1000", "events": ["Calls.all"]}]}, format="json")
    assert WatchChannel.objects.get().events == ["Accounts.edit", "Calls.all"]

    client.patch(
        WATCH,
        {"watch": [{"channel_id": "1000", "events": ["Accounts.edit"], "_delete_events": True}]},
        format="json",
    )
    assert WatchChannel.objects.get().events == ["Calls.all"]

    unknown = client.patch(WATCH, {"watch": [{"channel_id": "5", "token": "x"}]}, format="json")
    assert (unknown.status_code, unknown.json()) == (
        400,
        {
            "watch": [
                err(
                    "INVALID_DATA",
                    "the channel_id given seems to be invalid",
                    api_name="channel_id",
                    json_path="$.watch[0].channel_id",
                )
            ]
        },
    )


def test_disable_deletes_the_channels_it_names(client):
    enable(client, channel("1"), channel("2"))

    response = client.delete(f"{WATCH}?channel_ids=1,3")

    assert response.status_code == 202
    assert response.json() == {
        "watch": [
            {
                "code": "SUCCESS",
                "details": {"channel_id": "1"},
                "message": "Successfully unsubscribed from actions-watch of the given module",
                "status": "success",
            },
            err(
                "INVALID_DATA",
                "the channel_id given seems to be invalid",
                api_name="channel_ids",
                value="3",
            ),
        ]
    }
    assert list(WatchChannel.objects.values_list("channel_id", flat=True)) == [2]
    missing = client.delete(WATCH)
    assert (missing.status_code, missing.json()) == (
        400,
        err(
            "REQUIRED_PARAM_MISSING",
            "One of the expected parameter is missing",
            param="channel_ids",
        ),
    )


@pytest.mark.parametrize(
    ("method", "scope"),
    [("post", "ZohoBigin.notifications.READ"), ("get", "ZohoBigin.notifications.CREATE")],
)
def test_a_scope_of_another_operation_is_refused(auth_client, admin_user, method, scope):
    response = getattr(auth_client(admin_user, scope), method)(WATCH, {}, format="json")

    assert response.status_code == 401
    assert response.json() == err("OAUTH_SCOPE_MISMATCH", "invalid oauth scope to access this URL")


def test_the_crm_dialect_serves_the_same_channels_under_its_names(auth_client, admin_user):
    crm = auth_client(admin_user, "ZohoCRM.notifications.ALL")
    response = crm.post(
        "/crm/v8/actions/watch", {"watch": [channel(events=["Deals.edit"])]}, format="json"
    )

    assert response.status_code == 200
    assert response.json()["watch"][0]["details"]["events"][0]["resource_name"] == "Deals"
    assert WatchChannel.objects.get().events == ["Pipelines.edit"]


# --- what an owner change writes ---------------------------------------------------------------


def test_an_owner_change_writes_one_watch_event_only_when_a_channel_watches_it(
    client, contacts, new_owner, organization
):
    body = {"ids": [str(contacts[0].id)], "owner": {"id": str(new_owner.id)}}
    post_bulk(client, body)
    enable(client, channel(events=["Accounts.edit"]))
    post_bulk(client, {**body, "owner": {"id": str(contacts[1].owner_id)}})
    assert not OutboxEntry.objects.filter(kind=OutboxEntry.Kind.WATCH_EVENT).exists()

    enable(client, channel("2", events=["Contacts.all"]))
    response = post_bulk(
        client, {"ids": [str(r.id) for r in contacts], "owner": {"id": str(new_owner.id)}}
    )

    event = OutboxEntry.objects.get(kind=OutboxEntry.Kind.WATCH_EVENT)
    assert str(event.batch_id) == response["X-Owner-Batch-Id"]
    assert event.payload == {
        "event": "edit",
        "operation": "update",
        "source": "api",
        "changes": {"Contacts": [str(r.id) for r in contacts]},
    }


def test_an_expired_channel_gets_no_event(client, contacts, new_owner):
    enable(client, channel(events=["Contacts.edit"]))
    WatchChannel.objects.update(channel_expiry=datetime(2020, 1, 1, tzinfo=UTC))

    post_bulk(client, {"ids": [str(contacts[0].id)], "owner": {"id": str(new_owner.id)}})

    assert not OutboxEntry.objects.filter(kind=OutboxEntry.Kind.WATCH_EVENT).exists()


def test_a_record_added_is_a_create_event(client):
    enable(client, channel(events=["Contacts.create"]))

    response = client.post("/bigin/v2/Contacts", {"data": [{"Last_Name": "Lee"}]}, format="json")

    event = OutboxEntry.objects.get(kind=OutboxEntry.Kind.WATCH_EVENT)
    assert event.payload["event"] == "create"
    assert event.payload["operation"] == "insert"
    assert event.payload["changes"] == {"Contacts": [response.json()["data"][0]["details"]["id"]]}


@pytest.mark.postgres  # the watch event rides on the audit INSERT there (tests/owners/queries.py)
def test_watching_costs_a_change_owner_no_query_more(client, contacts, new_owner, admin_user):
    def change(owner):
        ids = [str(r.id) for r in contacts]
        with CaptureQueriesContext(connection) as queries:
            assert (
                post_bulk(client, {"ids": ids, "owner": {"id": str(owner.id)}}).status_code == 200
            )
        return len(queries)

    unwatched = change(new_owner)
    enable(client, channel(events=["Contacts.edit"]))
    watched = change(admin_user)

    assert watched == unwatched
    assert OutboxEntry.objects.filter(kind=OutboxEntry.Kind.WATCH_EVENT).count() == 1
