"""Swagger UI's "Try it out" works as shown after `make run`: the schema's examples name ids of
the demo sandbox, and each operation sent exactly as its examples describe it succeeds against
the demo data (as a `make run` user, the demo administrator, would send it)."""

from __future__ import annotations

from typing import Any

import pytest
from drf_spectacular.generators import SchemaGenerator
from rest_framework.test import APIClient

from crm.models import User
from crm.oauth.grants import issue_access_token
from crm.sandbox import demo
from crm.sandbox.loader import load

pytestmark = pytest.mark.django_db

# The token endpoints take a client's secret, which no example can know: they stay out.
TRIED_PREFIXES = ("/bigin/v2/", "/leads")
DEMO_SCOPES = [
    "ZohoBigin.change_owner.CREATE",
    "ZohoBigin.modules.ALL",
    "ZohoBigin.users.READ",
    "ZohoBigin.settings.ALL",
]


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


def request_as_shown(path: str, operation: dict[str, Any]) -> tuple[str, dict, Any]:
    query = {}
    for parameter in operation.get("parameters", []):
        value = example_value(parameter)
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
    token = issue_access_token(user=admin, scopes=DEMO_SCOPES)
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


def test_every_operation_sent_as_its_examples_show_succeeds_on_the_demo(demo_client):
    tried, failed = [], []
    for path, method, operation in operations():
        url, query, body = request_as_shown(path, operation)
        if method == "get":
            response = demo_client.get(url, query)
        else:
            response = getattr(demo_client, method)(url, body, format="json")
        tried.append(operation["operationId"])
        if response.status_code != 200:
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
    } <= set(tried)


def test_the_change_owner_examples_are_demo_contacts_and_an_active_demo_user():
    zylker = demo.build()["organizations"][0]
    contacts = [r["id"] for r in zylker["records"] if r["module"] == "Contacts"]
    active = {u["id"] for u in zylker["users"] if u["status"] == "active"}
    bulk = next(op for _, _, op in operations() if op["operationId"] == "change_owner_bulk")

    body = example_value(bulk["requestBody"]["content"]["application/json"])

    assert set(body["ids"]) <= set(contacts)
    assert body["owner"]["id"] in active
