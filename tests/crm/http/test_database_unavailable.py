"""PostgreSQL unavailable (crm/http/boundary.py, docs/errors.md): every API answers a retryable
503 in its own envelope with `Retry-After`, never a 500, and the token server RFC 6749's
`temporarily_unavailable`. Unavailable for real: the test's connection is pointed at a port where
nothing listens, which refuses a connection as a stopped PostgreSQL does."""

from __future__ import annotations

import logging
import socket

import pytest
from django.db import connection
from rest_framework.test import APIClient

pytestmark = [
    pytest.mark.postgres,
    # The connection is closed and pointed elsewhere: no test transaction can span that.
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]

TOKEN = "1000.0123456789abcdef0123456789abcdef.0123456789abcdef0123456789abcdef"
MESSAGE = "the service is temporarily unavailable, try again later"
BIGIN_BODY = {"code": "SERVICE_UNAVAILABLE", "details": {}, "message": MESSAGE, "status": "error"}
KENBUN_BODY = {"status": "error", "message": MESSAGE}
OAUTH_BODY = {"error": "temporarily_unavailable", "error_description": MESSAGE}


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]  # closed again on leaving: nothing listens there


@pytest.fixture
def database_down():
    """The database is unreachable until the test ends; the client sends a token (any: its
    lookup is the first query, and it cannot be made)."""
    saved = {key: connection.settings_dict[key] for key in ("HOST", "PORT")}
    connection.close()
    connection.settings_dict.update(HOST="127.0.0.1", PORT=str(_closed_port()))
    client = APIClient(raise_request_exception=False)
    client.credentials(HTTP_AUTHORIZATION=f"Zoho-oauthtoken {TOKEN}")
    yield client
    connection.close()
    connection.settings_dict.update(saved)


def _assert_unavailable(response, body) -> None:
    assert (response.status_code, response.json()) == (503, body)
    assert response["Retry-After"] == "5"


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("post", "/bigin/v2/Contacts/actions/change_owner", {"ids": ["1"], "owner": {"id": "2"}}),
        ("post", "/bigin/v2/Contacts/1/actions/change_owner", {"owner": {"id": "2"}}),
        ("post", "/crm/v8/Contacts/actions/change_owner", {"ids": ["1"], "owner": {"id": "2"}}),
        ("post", "/bigin/v2/Contacts/actions/mass_change_owner", {"owner": {"id": "2"}}),
        ("get", "/bigin/v2/users", None),
        ("get", "/bigin/v2/Contacts", None),
        ("get", "/crm/v8/org", None),
    ],
)
def test_the_bigin_and_crm_apis_answer_503_with_retry_after(database_down, method, path, body):
    response = getattr(database_down, method)(path, body, format="json")

    _assert_unavailable(response, BIGIN_BODY)


def test_kenbun_answers_503_in_its_envelope(database_down):
    _assert_unavailable(database_down.get("/leads"), KENBUN_BODY)


def test_the_token_endpoint_answers_temporarily_unavailable(database_down):
    response = database_down.post(
        "/oauth/v2/token",
        {
            "grant_type": "refresh_token",
            "client_id": "1000.X",
            "client_secret": "s",
            "refresh_token": "r",
        },
    )

    _assert_unavailable(response, OAUTH_BODY)
    assert response["Cache-Control"] == "no-store"


@pytest.mark.urls("tests.crm.http.boundary_urls")
@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/bigin/v2/test-only/count", BIGIN_BODY),
        ("/leads/test-only/count", KENBUN_BODY),
        ("/oauth/v2/test-only/count", OAUTH_BODY),
    ],
)
def test_outside_drf_the_answer_is_the_same(database_down, path, body):
    _assert_unavailable(database_down.get(path), body)


def test_the_log_says_why_in_one_line_without_a_traceback(database_down, caplog):
    with caplog.at_level(logging.WARNING):
        database_down.get("/bigin/v2/users")

    ours = [record for record in caplog.records if record.name == "crm.http.boundary"]
    assert [record.levelname for record in ours] == ["WARNING"]
    assert ours[0].getMessage().startswith("database unavailable: ")
    assert "Connection refused" in ours[0].getMessage()
    assert not any(record.exc_info for record in caplog.records)


@pytest.mark.django_db(transaction=False)
def test_every_api_operation_documents_the_503_and_its_retry_after():
    from drf_spectacular.generators import SchemaGenerator

    from crm.http.boundary import family_of

    schema = SchemaGenerator().get_schema(request=None, public=True)
    undocumented = [
        f"{method.upper()} {path}"
        for path, item in schema["paths"].items()
        if family_of(path) is not None
        for method, operation in item.items()
        if "Retry-After" not in operation["responses"].get("503", {}).get("headers", {})
    ]
    assert undocumented == []
