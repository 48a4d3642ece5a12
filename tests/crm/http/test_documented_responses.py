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
