from __future__ import annotations

from typing import Any

import pytest
from rest_framework.test import APIClient

SANDBOX_KEY = "sandbox-key-for-the-tests-0123456789"
CHANGE_OWNER = "/bigin/v2/Contacts/actions/change_owner"


@pytest.fixture
def sandbox_on(settings):
    """The controls on, with a key, as `make run` and `make sandbox` serve them."""
    settings.SANDBOX_API = True
    settings.SANDBOX_API_KEY = SANDBOX_KEY
    return settings


@pytest.fixture
def controls(sandbox_on) -> APIClient:
    """A client sending the right X-Sandbox-Key."""
    client = APIClient()
    client.credentials(HTTP_X_SANDBOX_KEY=SANDBOX_KEY)
    return client


def org_body(**extra: Any) -> dict[str, Any]:
    """An organization as a test asks for one: an administrator, a sales rep, a contact with a
    task."""
    return {
        "name": "Acme Test",
        "users": [
            {"full_name": "Ann Admin", "email": "ann@acme.test", "profile": "Administrator"},
            {"full_name": "Sam Sales", "email": "sam@acme.test", "profile": "Standard"},
        ],
        "records": [
            {"module": "Contacts", "id": "3001", "name": "Smith", "owner": "ann@acme.test"},
            {"module": "Tasks", "name": "Call back", "related_to": "3001"},
        ],
        **extra,
    }


@pytest.fixture
def created(controls, db):
    """`created(**body)`: POST /sandbox/v1/organizations and return its answer's body."""

    def create(**extra: Any) -> dict[str, Any]:
        answer = controls.post("/sandbox/v1/organizations", org_body(**extra), format="json")
        assert answer.status_code == 201, answer.json()
        return answer.json()

    return create


@pytest.fixture
def org(created) -> dict[str, Any]:
    """The answer of creating `org_body()`."""
    return created()


@pytest.fixture
def api(org) -> APIClient:
    """A client with Ann's access token, as the integration under test calls the API."""
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Zoho-oauthtoken {org['users'][0]['access_token']}")
    return client


def invalid(api_name: str, json_path: str, **details: Any) -> dict[str, Any]:
    """The body of a control's INVALID_DATA for a field."""
    return {
        "code": "INVALID_DATA",
        "details": {"api_name": api_name, "json_path": json_path, **details},
        "message": "invalid data",
        "status": "error",
    }
