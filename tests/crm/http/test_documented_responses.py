"""The OpenAPI schema describes the responses the code really renders.

The response bodies are built as plain dicts (crm/representations.py, the services' results) and
described separately for the schema (crm/api/docs.py, owners/api/*/docs.py). This test holds the
two together: it makes real requests, answering each documented success and error status, and
validates every body against the schema of its operation and status. Strictly: an object the
schema lists properties for may carry no other key unless the schema says so, so a key added to
a response and not to its docs fails here, as does a documented key that went missing.
"""

from __future__ import annotations

import copy
from typing import Any

import jsonschema
import pytest
from drf_spectacular.generators import SchemaGenerator

from crm.oauth.grants import issue_access_token
from tests.owners.conftest import CHANGE_OWNER_SCOPE
from tests.owners.transfers.outbox import drain

pytestmark = pytest.mark.django_db


def _strict(node: Any) -> Any:
    """OpenAPI 3.0 as JSON Schema: `nullable` becomes a null type, and objects with listed
    properties refuse unlisted keys unless they say otherwise."""
    if isinstance(node, list):
        return [_strict(item) for item in node]
    if not isinstance(node, dict):
        return node
    node = {key: _strict(value) for key, value in node.items()}
    if node.pop("nullable", False):
        if "type" in node:
            node["type"] = [node["type"], "null"]
        else:
            node = {"anyOf": [node, {"type": "null"}]}
    if node.get("type") == "object" and "properties" in node:
        node.setdefault("additionalProperties", False)
    return node


@pytest.fixture(scope="module")
def openapi() -> dict[str, Any]:
    return _strict(copy.deepcopy(SchemaGenerator().get_schema(request=None, public=True)))


@pytest.fixture
def documented(openapi):
    """`documented(response, "POST /bigin/v2/{module}/actions/change_owner")` fails unless the
    response's status is documented for the operation and its body validates against it."""
    seen: list[str] = []

    def check(response, operation: str) -> None:
        method, path = operation.split(" ", 1)
        responses = openapi["paths"][path][method.lower()]["responses"]
        status = str(response.status_code)
        assert status in responses, f"{operation} answered undocumented {status}"
        content = responses[status].get("content")
        if not response.content:
            assert content is None, f"{operation} {status}: documented a body, sent none"
        else:
            assert content is not None, f"{operation} {status}: sent a body, documented none"
            # The operation's schema, with the components its `#/components/...` refs name.
            schema = {**content["application/json"]["schema"], "components": openapi["components"]}
            validator = jsonschema.Draft202012Validator(schema)
            errors = [
                f"{'/'.join(map(str, error.absolute_path))}: {error.message}"
                for error in validator.iter_errors(response.json())
            ]
            assert errors == [], f"{operation} {status}: {errors}"
        seen.append(f"{operation} {status}")

    check.seen = seen
    return check


@pytest.fixture
def bigin(auth_client, admin_user):
    return auth_client(
        admin_user,
        CHANGE_OWNER_SCOPE,
        "ZohoBigin.users.READ",
        "ZohoBigin.modules.ALL",
        "ZohoBigin.settings.ALL",
    )


def test_read_api_responses_match_their_docs(
    documented, bigin, api_client, make_record, admin_user, other_organization
):
    contact = make_record(module_name="Contacts", name="Smith", fields={"Last_Name": "Smith"})
    make_record(module_name="Tasks", name="Call back", related_to=contact)
    for response, operation in [
        (bigin.get("/bigin/v2/users"), "GET /bigin/v2/users"),
        (bigin.get("/bigin/v2/users?page=99"), "GET /bigin/v2/users"),
        (bigin.get("/bigin/v2/users?type=Nope"), "GET /bigin/v2/users"),
        (api_client.get("/bigin/v2/users"), "GET /bigin/v2/users"),
        (bigin.get(f"/bigin/v2/users/{admin_user.id}"), "GET /bigin/v2/users/{user_id}"),
        (bigin.get("/bigin/v2/users/1"), "GET /bigin/v2/users/{user_id}"),
        (bigin.get("/bigin/v2/settings/modules"), "GET /bigin/v2/settings/modules"),
        (bigin.get("/bigin/v2/Contacts"), "GET /bigin/v2/{module}"),
        (bigin.get("/bigin/v2/Tasks"), "GET /bigin/v2/{module}"),
        (bigin.get("/bigin/v2/Contacts?fields=Last_Name"), "GET /bigin/v2/{module}"),
        (bigin.get("/bigin/v2/Products"), "GET /bigin/v2/{module}"),
        (bigin.get("/bigin/v2/Nope"), "GET /bigin/v2/{module}"),
        (bigin.get(f"/bigin/v2/Contacts/{contact.id}"), "GET /bigin/v2/{module}/{record_id}"),
        (bigin.get("/bigin/v2/Contacts/1"), "GET /bigin/v2/{module}/{record_id}"),
    ]:
        documented(response, operation)
    assert len(documented.seen) == 14


def test_change_owner_responses_match_their_docs(
    documented, bigin, auth_client, make_record, make_user, admin_user
):
    contacts = [make_record(module_name="Contacts") for _ in range(2)]
    new_owner = make_user(full_name="Chen Wei", email="chen@zylker.test")
    disabled = make_user(full_name="Dee", email="dee@zylker.test", status="disabled")
    read_only = auth_client(make_user(profile_name="Read Only"), CHANGE_OWNER_SCOPE)
    bulk = "POST /bigin/v2/{module}/actions/change_owner"
    single = "POST /bigin/v2/{module}/{record_id}/actions/change_owner"
    url = "/bigin/v2/Contacts/actions/change_owner"
    ids = [str(contact.id) for contact in contacts]
    owner = {"id": str(new_owner.id)}
    for response, operation in [
        (bigin.post(url, {"ids": ids, "owner": owner}, format="json"), bulk),
        (bigin.post(url, {"ids": [ids[0], "1"], "owner": owner}, format="json"), bulk),
        (bigin.post(url, {"ids": ["1"], "owner": owner}, format="json"), bulk),
        (bigin.post(url, {"owner": owner}, format="json"), bulk),
        (bigin.post(url, {"ids": ids, "owner": {"id": str(disabled.id)}}, format="json"), bulk),
        (read_only.post(url, {"ids": ids, "owner": owner}, format="json"), bulk),
        (bigin.post("/bigin/v2/Nope/actions/change_owner", {}, format="json"), bulk),
        (bigin.get(url), bulk),
        (
            bigin.post(
                f"/bigin/v2/Contacts/{ids[0]}/actions/change_owner", {"owner": owner}, format="json"
            ),
            single,
        ),
        (
            bigin.post(
                "/bigin/v2/Contacts/1/actions/change_owner", {"owner": owner}, format="json"
            ),
            single,
        ),
    ]:
        documented(response, operation)
    assert [entry.rsplit(" ", 1)[1] for entry in documented.seen] == [
        "200", "202", "400", "400", "400", "403", "400", "405", "200", "400",
    ]  # fmt: skip


def test_kenbun_and_token_responses_match_their_docs(
    documented, api_client, make_record, make_user, admin_user
):
    lead = make_record(module_name="Contacts")
    new_owner = make_user(full_name="Chen Wei", email="chen@zylker.test")
    kenbun = api_client
    token = issue_access_token(user=admin_user, scopes=[CHANGE_OWNER_SCOPE])
    kenbun.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    assign = "POST /leads/{lead_id}/owner"
    for response, operation in [
        (kenbun.get("/leads"), "GET /leads"),
        (
            kenbun.post(f"/leads/{lead.id}/owner", {"owner_id": str(new_owner.id)}, format="json"),
            assign,
        ),
        (kenbun.post(f"/leads/{lead.id}/owner", {"owner_id": "x"}, format="json"), assign),
        (kenbun.post("/leads/1/owner", {"owner_id": None}, format="json"), assign),
        (
            kenbun.post(
                "/leads/bulk-assign-owner",
                {"lead_ids": [str(lead.id)], "owner_id": str(admin_user.id)},
                format="json",
            ),
            "POST /leads/bulk-assign-owner",
        ),
        (
            api_client.post("/oauth/v2/token", {"grant_type": "refresh_token"}),
            "POST /oauth/v2/token",
        ),
    ]:
        documented(response, operation)
    assert len(documented.seen) == 6


def test_transfer_job_responses_match_their_docs(
    documented, auth_client, make_record, make_user, admin_user
):
    leaving = make_user(full_name="Lea Ving", email="lea@zylker.test")
    new_owner = make_user(full_name="Chen Wei", email="chen@zylker.test")
    contacts = [make_record(module_name="Contacts", owner=leaving) for _ in range(2)]
    make_record(module_name="Tasks", owner=leaving, related_to=contacts[0])
    jobs = auth_client(
        admin_user, CHANGE_OWNER_SCOPE, "ZohoBigin.change_owner.READ", "ZohoBigin.users.ALL"
    )
    read_only = auth_client(
        make_user(profile_name="Read Only"),
        CHANGE_OWNER_SCOPE,
        "ZohoBigin.change_owner.READ",
        "ZohoBigin.users.ALL",
    )
    mass, status = (
        "POST /bigin/v2/{module}/actions/mass_change_owner",
        "GET /bigin/v2/{module}/actions/mass_change_owner",
    )
    transfer, transfer_status = (
        "POST /bigin/v2/users/actions/transfer_and_delete",
        "GET /bigin/v2/users/actions/transfer_and_delete",
    )
    user_transfer = "POST /bigin/v2/users/{user_id}/actions/transfer_and_delete"
    batch, revert = (
        "GET /bigin/v2/owner_batches/{batch_id}",
        "POST /bigin/v2/owner_batches/{batch_id}/actions/revert",
    )
    url = "/bigin/v2/Contacts/actions/mass_change_owner"
    transfer_url = "/bigin/v2/users/actions/transfer_and_delete"
    by_leaving = {
        "field": {"api_name": "Owner"},
        "comparator": "equal",
        "value": {"id": str(leaving.id)},
    }
    body = {"owner": {"id": str(new_owner.id)}, "criteria": by_leaving}
    related = {**body, "related_modules": [{"api_name": "Tasks"}]}
    offboard = {
        "transfer_and_delete": [{"id": str(leaving.id), "transfer": {"id": str(new_owner.id)}}]
    }
    entry = offboard["transfer_and_delete"][0]

    dry_run = jobs.post(url, {**related, "dry_run": True}, format="json")
    scheduled = jobs.post(url, related, format="json")
    job_id = scheduled.json()["data"][0]["details"]["job_id"]
    to_cancel = jobs.post(url, body, format="json").json()["data"][0]["details"]["job_id"]
    batch_id = scheduled["X-Owner-Batch-Id"]
    responses = [
        (dry_run, mass),
        (scheduled, mass),
        (jobs.get(f"{url}?job_id={job_id}"), status),
        (jobs.post(f"{url}?job_id={to_cancel}&action=cancel"), mass),
        (jobs.post(f"{url}?job_id={to_cancel}&action=stop"), mass),
        (jobs.post(url, {**body, "cvid": "1"}, format="json"), mass),
        (jobs.post(url, {"owner": body["owner"]}, format="json"), mass),
        (read_only.post(url, body, format="json"), mass),
        (jobs.get(url), status),
        (jobs.get(f"{url}?job_id=1"), status),
        (jobs.get(f"/bigin/v2/owner_batches/{batch_id}"), batch),
        (jobs.get("/bigin/v2/owner_batches/not-a-uuid"), batch),
        (jobs.post("/bigin/v2/owner_batches/not-a-uuid/actions/revert"), revert),
        (read_only.post(f"/bigin/v2/owner_batches/{batch_id}/actions/revert"), revert),
        # Its job has not run yet: refused.
        (jobs.post(f"/bigin/v2/owner_batches/{batch_id}/actions/revert"), revert),
        (
            jobs.post(
                transfer_url,
                {"transfer_and_delete": [{**entry, "dry_run": True}]},
                format="json",
            ),
            transfer,
        ),
        (
            jobs.post(
                f"/bigin/v2/users/{leaving.id}/actions/transfer_and_delete",
                {"transfer_and_delete": [{"transfer": entry["transfer"], "dry_run": True}]},
                format="json",
            ),
            user_transfer,
        ),
        (
            jobs.post(
                transfer_url,
                {"transfer_and_delete": [entry, entry]},
                format="json",
            ),
            transfer,
        ),
        (read_only.post(transfer_url, offboard, format="json"), transfer),
        (jobs.get(f"{transfer_url}?job_id=1"), transfer_status),
        # Nobody transfers and deletes themselves (crm/policy.py), in the body or the path.
        (
            jobs.post(
                transfer_url,
                {"transfer_and_delete": [{**entry, "id": str(admin_user.id)}]},
                format="json",
            ),
            transfer,
        ),
        (
            jobs.post(
                f"/bigin/v2/users/{admin_user.id}/actions/transfer_and_delete",
                {"transfer_and_delete": [{"transfer": entry["transfer"]}]},
                format="json",
            ),
            user_transfer,
        ),
    ]
    for response, operation in responses:
        documented(response, operation)
    # The jobs run (drained in-process), then the batch of a finished job, its revert and the
    # offboarding job with its status.
    drain()
    reverted = jobs.post(f"/bigin/v2/owner_batches/{batch_id}/actions/revert")
    for response, operation in [
        (jobs.get(f"/bigin/v2/owner_batches/{batch_id}"), batch),
        (reverted, revert),
        (jobs.post(f"{url}?job_id={job_id}&action=cancel"), mass),
    ]:
        documented(response, operation)
    # The revert's batch, with its job's skipped records by reason.
    drain()
    revert_batch = reverted.json()["data"][0]["details"]["batch_id"]
    documented(jobs.get(f"/bigin/v2/owner_batches/{revert_batch}"), batch)
    offboarding = jobs.post(transfer_url, offboard, format="json")
    documented(offboarding, transfer)
    offboarding_id = offboarding.json()["transfer_and_delete"][0]["details"]["job_id"]
    documented(jobs.get(f"{transfer_url}?job_id={offboarding_id}"), transfer_status)
    drain()
    documented(jobs.get(f"{transfer_url}?job_id={offboarding_id}"), transfer_status)

    assert [entry.rsplit(" ", 1)[1] for entry in documented.seen] == [
        "200", "202", "200", "200", "400", "400", "400", "403", "400", "400",
        "200", "204", "400", "403", "400", "200", "200", "400", "403", "400", "400", "400",
        "200", "202", "400", "200",
        "202", "200", "200",
    ]  # fmt: skip
    assert jobs.get(f"{url}?job_id={job_id}").json()["data"][0]["Status"] == "COMPLETED"


def test_metadata_responses_match_their_docs(documented, auth_client, admin_user, make_record):
    make_record(module_name="Contacts", fields={"Last_Name": "Smith", "Score": 3})
    client = auth_client(admin_user, "ZohoBigin.org.READ", "ZohoBigin.settings.ALL")
    for response, operation in [
        (client.get("/bigin/v2/org"), "GET /bigin/v2/org"),
        (client.get("/bigin/v2/settings/fields?module=Contacts"), "GET /bigin/v2/settings/fields"),
        (client.get("/bigin/v2/settings/fields?module=Tasks"), "GET /bigin/v2/settings/fields"),
        (client.get("/bigin/v2/settings/fields"), "GET /bigin/v2/settings/fields"),
        (client.get("/bigin/v2/settings/fields?module=x"), "GET /bigin/v2/settings/fields"),
        (
            client.get("/bigin/v2/settings/layouts?module=Tasks"),
            "GET /bigin/v2/settings/layouts",
        ),
    ]:
        documented(response, operation)
    assert [entry.rsplit(" ", 1)[1] for entry in documented.seen] == [
        "200", "200", "200", "400", "400", "200",
    ]  # fmt: skip


def test_kenbun_lead_and_prefs_responses_match_their_docs(
    documented, api_client, make_record, admin_user
):
    lead = make_record(module_name="Contacts", fields={"Last_Name": "Smith"})
    token = issue_access_token(user=admin_user, scopes=[CHANGE_OWNER_SCOPE])
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    prefs = "/me/notification-prefs"
    for response, operation in [
        (api_client.get(f"/leads/{lead.id}"), "GET /leads/{lead_id}"),
        (api_client.get("/leads/1"), "GET /leads/{lead_id}"),
        (api_client.get(prefs), f"GET {prefs}"),
        (api_client.put(prefs, {"notifications_enabled": False}, format="json"), f"PUT {prefs}"),
        (api_client.put(prefs, {"notifications_enabled": 1}, format="json"), f"PUT {prefs}"),
    ]:
        documented(response, operation)
    assert [entry.rsplit(" ", 1)[1] for entry in documented.seen] == [
        "200", "404", "200", "200", "400",
    ]  # fmt: skip


def test_record_write_and_search_responses_match_their_docs(
    documented, auth_client, make_record, make_user, admin_user
):
    client = auth_client(admin_user, "ZohoBigin.modules.ALL", "ZohoSearch.securesearch.READ")
    read_only = auth_client(make_user(profile_name="Read Only"), "ZohoBigin.modules.ALL")
    smith = make_record(name="Smith", fields={"Last_Name": "Smith", "Email": "s@x.test"})
    gone = make_record(name="Gone", fields={"Last_Name": "Gone"})
    collection, one = "/bigin/v2/{module}", "/bigin/v2/{module}/{record_id}"
    good, bad = {"Last_Name": "Lee"}, {"First_Name": "No last name"}
    for response, operation in [
        (client.post("/bigin/v2/Contacts", {"data": [good]}, format="json"), f"POST {collection}"),
        (
            client.post("/bigin/v2/Contacts", {"data": [good, bad]}, format="json"),
            f"POST {collection}",
        ),
        (client.post("/bigin/v2/Contacts", {"data": [bad]}, format="json"), f"POST {collection}"),
        (client.post("/bigin/v2/Contacts", {}, format="json"), f"POST {collection}"),
        (
            read_only.post("/bigin/v2/Contacts", {"data": [good]}, format="json"),
            f"POST {collection}",
        ),
        (
            client.put(
                "/bigin/v2/Contacts",
                {"data": [{"id": str(smith.id), "Title": "A"}, {"id": "1"}]},
                format="json",
            ),
            f"PUT {collection}",
        ),
        (
            client.put(f"/bigin/v2/Contacts/{smith.id}", {"data": [{"Title": "B"}]}, format="json"),
            f"PUT {one}",
        ),
        (
            client.post(
                "/bigin/v2/Contacts/upsert",
                {"data": [{"Last_Name": "S", "Email": "s@x.test"}, good]},
                format="json",
            ),
            f"POST {collection}/upsert",
        ),
        (
            client.post("/bigin/v2/Contacts/upsert", {"data": [bad, good]}, format="json"),
            f"POST {collection}/upsert",
        ),
        (
            client.get("/bigin/v2/Contacts/search", {"email": "s@x.test"}),
            f"GET {collection}/search",
        ),
        (
            client.get("/bigin/v2/Contacts/search", {"email": "nobody@x.test"}),
            f"GET {collection}/search",
        ),
        (client.get("/bigin/v2/Contacts/search", {"criteria": "nope"}), f"GET {collection}/search"),
        (client.delete(f"/bigin/v2/Contacts?ids={gone.id},1"), f"DELETE {collection}"),
        (client.delete("/bigin/v2/Contacts"), f"DELETE {collection}"),
        (client.delete(f"/bigin/v2/Contacts/{smith.id}"), f"DELETE {one}"),
        (client.delete(f"/bigin/v2/Contacts/{smith.id}"), f"DELETE {one}"),
    ]:
        documented(response, operation)
    assert len(documented.seen) == 16
