"""Swagger UI's "Try it out" works as shown after `make run`: the schema's examples name ids of
the demo sandbox, and each operation sent exactly as its examples describe it succeeds against
the demo data (as a `make run` user, the demo administrator, would send it)."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

import pytest
from drf_spectacular.generators import SchemaGenerator
from rest_framework.test import APIClient

from crm.management.commands.demo_banner import DEMO_SCOPES
from crm.models import Record, User
from crm.oauth.grants import issue_access_token
from crm.sandbox import demo
from crm.sandbox.loader import load
from tests.owners.transfers.outbox import drain

pytestmark = pytest.mark.django_db

# The token endpoints take a client's secret, which no example can know: they stay out.
TRIED_PREFIXES = ("/bigin/v2/", "/leads")


def operations() -> list[tuple[str, str, dict[str, Any]]]:
    schema = SchemaGenerator().get_schema(request=None, public=True)
    return [
        (path, method, operation)
        for path, methods in schema["paths"].items()
        if path.startswith(TRIED_PREFIXES)
        for method, operation in methods.items()
    ]


def example_value(entry: dict[str, Any]) -> Any:
    """The value Swagger UI fills in: `example`, or the first of `examples`."""
    if "example" in entry:
        return entry["example"]
    examples = entry.get("examples") or {}
    return next(iter(examples.values()))["value"] if examples else None


def request_as_shown(
    path: str, operation: dict[str, Any], ran: dict[str, str] | None = None
) -> tuple[str, dict, Any]:
    """The request Swagger UI sends from the examples; `ran` replaces the example of the named
    parameters by an id that exists only once something ran (see NEEDS_A_RUN)."""
    query = {}
    for parameter in operation.get("parameters", []):
        value = (ran or {}).get(parameter["name"], example_value(parameter))
        if parameter["in"] == "path":
            path = path.replace("{" + parameter["name"] + "}", str(value))
        elif parameter["in"] == "query" and value is not None:
            query[parameter["name"]] = value
    body = None
    content = operation.get("requestBody", {}).get("content", {})
    if "application/json" in content:
        body = example_value(content["application/json"])
    return path, query, body


@pytest.fixture
def demo_client():
    load(demo.build())
    admin = User.objects.get(email=demo.ADMIN_EMAIL)
    client = APIClient()
    # make run's token, and the notification API's scope, which it does not carry (the README
    # shows its banner as it is; docs/notifications.md says how to get a token with it).
    token = issue_access_token(user=admin, scopes=[*DEMO_SCOPES, "ZohoBigin.notifications.ALL"])
    client.credentials(HTTP_AUTHORIZATION=f"Zoho-oauthtoken {token}")
    return client


def test_every_path_parameter_and_json_body_has_an_example():
    missing = []
    for path, method, operation in operations():
        for parameter in operation.get("parameters", []):
            if parameter["in"] == "path" and example_value(parameter) is None:
                missing.append((method, path, parameter["name"]))
        content = operation.get("requestBody", {}).get("content", {})
        if "application/json" in content and example_value(content["application/json"]) is None:
            missing.append((method, path, "body"))
    assert missing == []


def _send(client, method: str, url: str, query: dict, body: Any):
    if method == "get":
        return client.get(url, query)
    # Swagger UI sends the query parameters it has values for with every method.
    url = f"{url}?{urlencode(query)}" if query else url
    return getattr(client, method)(url, body, format="json")


def _operation(operation_id: str) -> tuple[str, str, dict[str, Any]]:
    return next(entry for entry in operations() if entry[2]["operationId"] == operation_id)


def _scheduled(client, operation_id: str, key: str) -> str:
    """Schedule the job the documented dry run describes (the same body, `dry_run` false): its
    job id."""
    path, method, operation = _operation(operation_id)
    url, query, body = request_as_shown(path, operation)
    entry = body[key][0] if key == "transfer_and_delete" else body
    entry["dry_run"] = False
    response = _send(client, method, url, query, body)
    assert response.status_code == 202, response.content
    return response.json()[key][0]["details"]["job_id"]


def _change_owner_batch(client) -> str:
    """Run the documented change_owner example: its batch id. The example's records go back to
    the administrator first, so it changes them whatever ran before (a batch that changed
    nothing has nothing to revert)."""
    path, method, operation = _operation("change_owner_bulk")
    url, query, body = request_as_shown(path, operation)
    admin = User.objects.get(email=demo.ADMIN_EMAIL)
    assert Record.objects.filter(id__in=body["ids"]).update(owner=admin) == len(body["ids"])
    response = _send(client, method, url, query, body)
    assert response.status_code == 200, response.content
    return response["X-Owner-Batch-Id"]


def _finished_change_owner_batch(client) -> str:
    batch_id = _change_owner_batch(client)
    drain()  # its related transfer and email, as a worker runs them
    return batch_id


def _added_contact(client) -> str:
    """Add a contact as the documented add does (a demo record deleted by an example would be
    missing from the examples that run after it): its id."""
    path, method, operation = _operation("records_create")
    url, query, body = request_as_shown(path, operation)
    body = {"data": [{"Last_Name": "To delete"}]}
    response = _send(client, method, url, query, body)
    assert response.status_code == 201, response.content
    return response.json()["data"][0]["details"]["id"]


EXAMPLE_CHANNEL = 1000000068001


def _watch_channel(client, *, present: bool) -> dict:
    """The documented channel enabled (as the enable example does), or absent."""
    from owners.models import WatchChannel

    WatchChannel.objects.filter(channel_id=EXAMPLE_CHANNEL).delete()
    if present:
        path, method, operation = _operation("watch_enable")
        url, query, body = request_as_shown(path, operation)
        response = _send(client, method, url, query, body)
        assert response.status_code == 200, response.content
    return {}


def _failed_delivery(client) -> dict:
    """A callback to the documented channel that the outbox gave up on: its id."""
    import uuid

    from django.utils import timezone

    from owners.models import OutboxEntry, WatchChannel, WatchDelivery

    _watch_channel(client, present=True)
    channel = WatchChannel.objects.get(channel_id=EXAMPLE_CHANNEL)
    entry = OutboxEntry.objects.create(
        organization=channel.organization,
        kind=OutboxEntry.Kind.WATCH_DELIVERY,
        status=OutboxEntry.Status.FAILED,
        batch_id=uuid.uuid4(),
        payload={},
        run_after=timezone.now(),
    )
    delivery = WatchDelivery.objects.create(
        organization=channel.organization,
        channel=channel,
        batch_id=entry.batch_id,
        module_name="Contacts",
        body="{}",
        status=WatchDelivery.Status.FAILED,
        outbox_entry_id=entry.id,
    )
    return {"delivery_id": str(delivery.id)}


# Operations whose ids exist only once something ran: no example can name a job or a batch of
# the demo, which has none. For each: what the test runs first (as documented) to get the id,
# the parameter it replaces, and the documented success status the operation then answers.
NEEDS_A_RUN = {
    "mass_change_owner_status": (
        lambda client: {"job_id": _scheduled(client, "mass_change_owner", "data")},
        200,
    ),
    "transfer_and_delete_status": (
        lambda client: {"job_id": _scheduled(client, "transfer_and_delete", "transfer_and_delete")},
        200,
    ),
    "owner_batch": (lambda client: {"batch_id": _change_owner_batch(client)}, 200),
    # Revert has no dry run: it schedules the revert job (nothing moves until a worker runs it),
    # of a batch whose follow-up work a worker has done (a batch still running is refused).
    "owner_batch_revert": (lambda client: {"batch_id": _finished_change_owner_batch(client)}, 202),
    # Deleting needs a record no other example names.
    "records_delete": (lambda client: {"ids": _added_contact(client)}, 200),
    "records_delete_one": (lambda client: {"record_id": _added_contact(client)}, 200),
    # The notification API's examples name one channel: absent before the enable, enabled before
    # the others; a redelivery needs a failed callback of it.
    "watch_enable": (lambda client: _watch_channel(client, present=False), 200),
    "watch_list": (lambda client: _watch_channel(client, present=True), 200),
    "watch_update": (lambda client: _watch_channel(client, present=True), 200),
    "watch_patch": (lambda client: _watch_channel(client, present=True), 200),
    "watch_disable": (lambda client: _watch_channel(client, present=True), 200),
    "watch_deliveries": (lambda client: _watch_channel(client, present=True), 204),
    "watch_redeliver": (_failed_delivery, 202),
}
# Operations that succeed with another status than 200, once nothing needs to run first.
SUCCESS_STATUS = {"records_create": 201}


def test_every_operation_sent_as_its_examples_show_succeeds_on_the_demo(demo_client):
    tried, failed = [], []
    for path, method, operation in operations():
        prerequisite, expected = NEEDS_A_RUN.get(
            operation["operationId"], (None, SUCCESS_STATUS.get(operation["operationId"], 200))
        )
        ran = prerequisite(demo_client) if prerequisite else None
        url, query, body = request_as_shown(path, operation, ran)
        response = _send(demo_client, method, url, query, body)
        tried.append(operation["operationId"])
        if response.status_code != expected:
            failed.append(
                (method.upper(), url, query, body, response.status_code, response.content)
            )

    assert failed == []
    # Not vacuous: change owner, both Kenbun writes and the reads were among them.
    assert {
        "change_owner_bulk",
        "change_owner_single",
        "records_list",
        "records_retrieve",
        "users_retrieve",
        "kenbun_assign_lead_owner",
        "kenbun_bulk_assign_lead_owner",
        "kenbun_list_leads",
        "mass_change_owner",
        "transfer_and_delete",
        "user_transfer_and_delete",
        "records_create",
        "records_update",
        "records_update_one",
        "records_upsert",
        "records_search",
        *NEEDS_A_RUN,
    } <= set(tried)


def test_the_change_owner_examples_are_demo_contacts_and_an_active_demo_user():
    zylker = demo.build()["organizations"][0]
    contacts = [r["id"] for r in zylker["records"] if r["module"] == "Contacts"]
    active = {u["id"] for u in zylker["users"] if u["status"] == "active"}
    bulk = next(op for _, _, op in operations() if op["operationId"] == "change_owner_bulk")

    body = example_value(bulk["requestBody"]["content"]["application/json"])

    assert set(body["ids"]) <= set(contacts)
    assert body["owner"]["id"] in active
