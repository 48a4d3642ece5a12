"""Bodies are read as JSON whatever their Content-Type (api-spec "Common"): Bigin's own sample is
`curl -d @file.json` (form-urlencoded) and Zoho's SDKs send no Content-Type at all."""

from __future__ import annotations

import json

import pytest

from audit.models import AuditEntry
from tests.owners.bigin import error, success

pytestmark = pytest.mark.django_db

URL = "/bigin/v2/Contacts/actions/change_owner"
INVALID_BODY = error("INVALID_DATA", {}, "either the request body or parameters is in wrong format")


@pytest.mark.parametrize(
    "content_type",
    [
        "",  # no Content-Type: the official SDKs
        "application/x-www-form-urlencoded",  # curl -d @newowner.json
        "text/plain",
        "application/json",
        "application/json; charset=UTF-8",
        "text/plain; charset=utf-8",
        "application/octet-stream",
    ],
)
def test_a_json_body_changes_owners_whatever_its_content_type(
    admin_client, contacts, new_owner, content_type
):
    body = json.dumps({"ids": [str(c.id) for c in contacts], "owner": {"id": str(new_owner.id)}})

    response = admin_client.generic("POST", URL, body, content_type=content_type)

    assert response.status_code == 200
    assert response.json() == {"data": [success(c.id) for c in contacts]}
    assert AuditEntry.objects.filter(new_owner=new_owner).count() == 3


def test_a_declared_charset_is_honoured(admin_client, contacts, new_owner):
    body = json.dumps({"ids": [str(contacts[0].id)], "owner": {"id": str(new_owner.id)}})

    response = admin_client.generic(
        "POST", URL, body.encode("utf-16"), content_type="application/json; charset=utf-16"
    )

    assert response.status_code == 200
    assert response.json() == {"data": [success(contacts[0].id)]}


def test_a_byte_order_mark_is_skipped(admin_client, contacts, new_owner):
    body = json.dumps({"ids": [str(contacts[0].id)], "owner": {"id": str(new_owner.id)}})

    response = admin_client.generic("POST", URL, b"\xef\xbb\xbf" + body.encode(), content_type="")

    assert response.status_code == 200


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (b"ids=1&owner=2", "application/x-www-form-urlencoded"),
        (b"{", "text/plain"),
        (b"\xff\xfe\x00", ""),  # not UTF-8
        (b'{"ids": ["1"]}', "application/json; charset=no-such-charset"),
        (b"[" * 100_000 + b"]" * 100_000, "application/json"),  # deeper than any stack
    ],
)
def test_a_body_that_is_not_json_is_invalid_data(admin_client, contacts, body, content_type):
    response = admin_client.generic("POST", URL, body, content_type=content_type)

    assert response.status_code == 400
    assert response.json() == INVALID_BODY
    assert AuditEntry.objects.count() == 0
