"""The sandbox controls' door and their organizations: off by default, the key, organizations
created and deleted by one call each with users, tokens and a self client, tokens of a chosen
lifetime (docs/sandbox.md)."""

from __future__ import annotations

import time

import pytest
from django.test import Client
from rest_framework.test import APIClient

from audit.models import AuditEntry
from crm.models import (
    AccessToken,
    OAuthClient,
    Organization,
    Profile,
    Record,
    RefreshToken,
    Role,
    User,
)
from crm.modules import module_by_name
from crm.sandbox.models import Fault, JournalEntry, Snapshot, SnapshotRecord
from crm.sandbox.organizations import ALL_SCOPES
from owners.models import OutboxEntry
from tests.factories import OrganizationFactory, RecordFactory, UserFactory

from .conftest import SANDBOX_KEY, invalid, org_body

pytestmark = pytest.mark.django_db

NOT_FOUND_BODY = {
    "code": "INVALID_URL_PATTERN",
    "details": {},
    "message": "Please check if the URL trying to access is a correct one",
    "status": "error",
}
KEY_REFUSED_BODY = {
    "code": "AUTHENTICATION_FAILURE",
    "details": {"header_name": "X-Sandbox-Key"},
    "message": "Authentication failed",
    "status": "error",
}
EVERY_CONTROL = [
    ("post", "/sandbox/v1/organizations"),
    ("delete", "/sandbox/v1/organizations/1000000000000000001"),
    ("post", "/sandbox/v1/organizations/1000000000000000001/tokens"),
    ("get", "/sandbox/v1/organizations/1000000000000000001/settings"),
    ("put", "/sandbox/v1/organizations/1000000000000000001/settings"),
    ("get", "/sandbox/v1/organizations/1000000000000000001/snapshots"),
    ("post", "/sandbox/v1/organizations/1000000000000000001/snapshots"),
    ("post", "/sandbox/v1/organizations/1000000000000000001/actions/reset"),
    ("post", "/sandbox/v1/organizations/1000000000000000001/actions/run_jobs"),
    ("get", "/sandbox/v1/organizations/1000000000000000001/faults"),
    ("post", "/sandbox/v1/organizations/1000000000000000001/faults"),
    ("delete", "/sandbox/v1/organizations/1000000000000000001/faults"),
    ("delete", "/sandbox/v1/organizations/1000000000000000001/faults/1"),
    ("get", "/sandbox/v1/organizations/1000000000000000001/requests"),
    ("delete", "/sandbox/v1/organizations/1000000000000000001/requests"),
    ("get", "/sandbox/v1"),
    ("get", "/sandbox/v1/"),
    ("get", "/sandbox/v1/anything/else"),
]


@pytest.mark.parametrize(("method", "path"), EVERY_CONTROL)
def test_with_sandbox_api_unset_every_path_answers_404_even_with_the_key(settings, method, path):
    assert settings.SANDBOX_API is False  # the default (config/settings.py)
    settings.SANDBOX_API_KEY = SANDBOX_KEY
    client = APIClient()
    answer = getattr(client, method)(path, {}, format="json", HTTP_X_SANDBOX_KEY=SANDBOX_KEY)

    assert answer.status_code == 404
    assert answer.json() == NOT_FOUND_BODY


@pytest.mark.parametrize("key", [None, "", "wrong", SANDBOX_KEY[:-1], SANDBOX_KEY + "x"])
def test_a_missing_or_wrong_key_is_refused_before_anything_else(sandbox_on, key):
    headers = {} if key is None else {"HTTP_X_SANDBOX_KEY": key}
    answer = APIClient().post("/sandbox/v1/organizations", org_body(), format="json", **headers)

    assert answer.status_code == 401
    assert answer.json() == KEY_REFUSED_BODY
    assert not Organization.objects.exists()


def test_an_unknown_path_answers_404_without_the_key_and_a_wrong_method_405_with_it(controls):
    assert APIClient().get("/sandbox/v1/nothing/here").json() == NOT_FOUND_BODY
    assert APIClient().get("/sandbox/v1/nothing/here").status_code == 404
    wrong = controls.get("/sandbox/v1/organizations")

    assert wrong.status_code == 405
    assert wrong.json() == {
        "code": "INVALID_REQUEST_METHOD",
        "details": {},
        "message": "The http request method type is not a valid one",
        "status": "error",
    }


def test_create_answers_the_organization_its_users_with_tokens_the_client_and_the_records(
    created,
):
    body = created()

    organization = Organization.objects.get()
    ann = User.objects.get(email="ann@acme.test")
    sam = User.objects.get(email="sam@acme.test")
    contact = Record.objects.get(id=3001)
    task = Record.objects.exclude(id=3001).get()
    client = OAuthClient.objects.get()
    assert body == {
        "organization": {"id": str(organization.id), "name": "Acme Test"},
        "users": [
            {
                "id": str(ann.id),
                "email": "ann@acme.test",
                "access_token": body["users"][0]["access_token"],
                "refresh_token": body["users"][0]["refresh_token"],
            },
            {
                "id": str(sam.id),
                "email": "sam@acme.test",
                "access_token": body["users"][1]["access_token"],
                "refresh_token": body["users"][1]["refresh_token"],
            },
        ],
        "client": {"client_id": client.client_id, "client_secret": body["client"]["client_secret"]},
        "records": [
            {"id": "3001", "module": "Contacts"},
            {"id": str(task.id), "module": "Tasks"},
        ],
    }
    # Records name their owner by email; one without an owner gets the first active user.
    assert (contact.owner_id, task.owner_id, task.related_to_id) == (ann.id, ann.id, 3001)
    assert (ann.profile.name, sam.profile.name) == ("Administrator", "Standard")
    assert Snapshot.objects.get().name == "creation"
    assert SnapshotRecord.objects.count() == 2
    # Creating records is not a change of owner.
    assert not AuditEntry.objects.exists()


def test_the_tokens_work_against_the_api_and_the_refresh_token_with_the_client(created):
    body = created()
    ann = body["users"][0]

    users = APIClient().get(
        "/bigin/v2/users?type=CurrentUser",
        HTTP_AUTHORIZATION=f"Zoho-oauthtoken {ann['access_token']}",
    )
    crm_org = APIClient().get(
        "/crm/v8/org", HTTP_AUTHORIZATION=f"Zoho-oauthtoken {ann['access_token']}"
    )
    refreshed = Client().post(
        "/oauth/v2/token",
        {
            "grant_type": "refresh_token",
            "client_id": body["client"]["client_id"],
            "client_secret": body["client"]["client_secret"],
            "refresh_token": ann["refresh_token"],
        },
    )

    assert users.status_code == 200
    assert users.json()["users"][0]["email"] == "ann@acme.test"
    assert crm_org.status_code == 200  # the ZohoCRM.* scopes are there too
    assert refreshed.json()["access_token"].startswith("1000.")
    assert set(RefreshToken.objects.get(user__email="ann@acme.test").scopes) == set(ALL_SCOPES)


def test_a_user_who_is_not_active_gets_no_token_and_scopes_can_be_chosen(created):
    body = created(
        users=[
            {"full_name": "Ann Admin", "email": "ann@acme.test", "profile": "Administrator"},
            {"full_name": "Old Timer", "email": "old@acme.test", "status": "disabled"},
        ],
        records=[],
        scopes=["ZohoBigin.users.READ"],
    )

    assert body["users"][1]["access_token"] is None
    assert body["users"][1]["refresh_token"] is None
    assert body["records"] == []
    assert AccessToken.objects.get().scopes == ["ZohoBigin.users.READ"]


def test_a_hundred_records_and_the_sandbox_file_fields_are_accepted(created):
    records = [
        {"module": "Contacts", "id": str(5000 + n), "name": f"C{n}", "fields": {"Last_Name": "X"}}
        for n in range(100)
    ]
    body = created(edition="free", api_credits_per_day=100, records=records)

    organization = Organization.objects.get(id=body["organization"]["id"])
    assert (organization.edition, organization.api_credits_per_day) == ("free", 100)
    assert Record.objects.filter(organization=organization).count() == 100
    assert [record["id"] for record in body["records"]] == [str(5000 + n) for n in range(100)]


def test_a_name_is_made_up_when_none_is_given(controls):
    body = org_body()
    del body["name"]
    answer = controls.post("/sandbox/v1/organizations", body, format="json")

    assert answer.status_code == 201
    assert answer.json()["organization"]["name"].startswith("Sandbox ")


@pytest.mark.parametrize(
    ("change", "status", "expected"),
    [
        (
            {"users": []},
            400,
            {
                "code": "MANDATORY_NOT_FOUND",
                "details": {"api_name": "users", "json_path": "$.users"},
                "message": "required field not found",
                "status": "error",
            },
        ),
        (
            {"id": "10001"},
            400,
            {
                "code": "NOT_SUPPORTED",
                "details": {"api_name": "id", "json_path": "$.id"},
                "message": "The requested operation is not supported",
                "status": "error",
            },
        ),
        ({"name": 7}, 400, invalid("name", "$.name", expected_data_type="string")),
        (
            {"users": [{"full_name": "No Mail", "email": "nomail"}]},
            400,
            invalid("users", "$.users[0]", reason="email 'nomail' is not an email address"),
        ),
        (
            {"edition": "gold"},
            400,
            invalid(
                "edition", "$.edition", reason="edition 'gold' is not one of free, express, premier"
            ),
        ),
        (
            {"records": [{"module": "Leads", "name": "x"}]},
            400,
            invalid("records", "$.records[0]", reason="module 'Leads' is not a Bigin module"),
        ),
        (
            {"records": [{"module": "Contacts", "name": "x", "owner": "who@else.test"}]},
            400,
            invalid("records", "$.records[0]", reason="owner 'who@else.test' is not a numeric id"),
        ),
        (
            {"scopes": ["ZohoBigin.everything"]},
            400,
            invalid(
                "scopes",
                "$.scopes",
                reason="not a ZohoBigin or ZohoCRM scope: 'ZohoBigin.everything'",
            ),
        ),
        ({"scopes": 3}, 400, invalid("scopes", "$.scopes", expected_data_type="jsonarray")),
    ],
)
def test_a_bad_organization_is_refused_naming_its_mistake_and_nothing_is_written(
    controls, change, status, expected
):
    answer = controls.post("/sandbox/v1/organizations", org_body(**change), format="json")

    assert (answer.status_code, answer.json()) == (status, expected)
    assert not Organization.objects.exists()


def test_a_body_that_is_not_an_object_is_refused(controls):
    answer = controls.post("/sandbox/v1/organizations", [1, 2], format="json")

    assert answer.status_code == 400
    assert answer.json() == {
        "code": "INVALID_DATA",
        "details": {},
        "message": "either the request body or parameters is in wrong format",
        "status": "error",
    }


def test_a_taken_name_or_email_is_refused(created, controls):
    created()
    same_name = controls.post(
        "/sandbox/v1/organizations", org_body(users=[org_body()["users"][0]]), format="json"
    )
    same_email = controls.post("/sandbox/v1/organizations", org_body(name="Other"), format="json")

    assert (same_name.status_code, same_name.json()) == (
        400,
        {
            "code": "DUPLICATE_DATA",
            "details": {"api_name": "name", "json_path": "$.name"},
            "message": "duplicate data",
            "status": "error",
        },
    )
    assert same_email.status_code == 400
    assert same_email.json()["details"]["json_path"] == "$.users[0]"
    assert Organization.objects.count() == 1


def test_delete_removes_the_organization_and_everything_of_it_and_nothing_else(
    created, controls, token_for
):
    body = created()
    organization_id = int(body["organization"]["id"])
    other = OrganizationFactory(name="Untouched")
    other_user = UserFactory(organization=other, email="other@else.test")
    RecordFactory(organization=other, owner=other_user)
    ann = body["users"][0]
    sam_id = body["users"][1]["id"]
    # History and pending work: a change of owner with its related transfer still due.
    changed = APIClient().post(
        "/bigin/v2/Contacts/actions/change_owner",
        {"ids": ["3001"], "owner": {"id": sam_id}, "related_modules": [{"api_name": "Tasks"}]},
        format="json",
        HTTP_AUTHORIZATION=f"Zoho-oauthtoken {ann['access_token']}",
    )
    assert changed.status_code == 200
    assert AuditEntry.objects.filter(organization_id=organization_id).exists()
    Fault.objects.create(organization_id=organization_id, response={"delay_ms": 1})
    assert OutboxEntry.objects.filter(organization_id=organization_id).exists()

    deleted = controls.delete(f"/sandbox/v1/organizations/{organization_id}")
    again = controls.delete(f"/sandbox/v1/organizations/{organization_id}")

    assert (deleted.status_code, deleted.content) == (204, b"")
    assert (again.status_code, again.json()) == (
        404,
        {
            "code": "INVALID_DATA",
            "details": {"resource": "organization", "id": str(organization_id)},
            "message": "the id given seems to be invalid",
            "status": "error",
        },
    )
    for model in (Record, User, Profile, Role, OAuthClient, Snapshot, Fault, JournalEntry):
        assert not model.objects.exclude(organization=other).exists(), model
    for model in (AuditEntry, OutboxEntry):
        assert not model.objects.filter(organization_id=organization_id).exists()
    assert not AccessToken.objects.exists() and not RefreshToken.objects.exists()
    assert list(Organization.objects.values_list("name", flat=True)) == ["Untouched"]
    assert Record.objects.filter(organization=other).count() == 1


def test_an_unknown_or_malformed_organization_id_answers_404(controls):
    for raw in ("1000000000000000001", "abc"):
        answer = controls.post(f"/sandbox/v1/organizations/{raw}/tokens", {}, format="json")
        assert answer.status_code == 404
        assert answer.json()["details"] == {"resource": "organization", "id": raw}


def test_a_token_of_a_chosen_lifetime_and_scopes(created, controls):
    body = created()
    organization_id, sam = body["organization"]["id"], body["users"][1]

    answer = controls.post(
        f"/sandbox/v1/organizations/{organization_id}/tokens",
        {"user_id": sam["id"], "scopes": ["ZohoBigin.users.READ"], "expires_in": 1},
        format="json",
    )

    token = answer.json()["access_token"]
    assert answer.status_code == 201
    assert answer.json() == {
        "access_token": token,
        "scope": "ZohoBigin.users.READ",
        "api_domain": "http://127.0.0.1:8000",
        "token_type": "Bearer",
        "expires_in": 1,
        "user_id": sam["id"],
    }
    read = APIClient().get("/bigin/v2/users", HTTP_AUTHORIZATION=f"Zoho-oauthtoken {token}")
    assert read.status_code == 200
    time.sleep(1.1)
    expired = APIClient().get("/bigin/v2/users", HTTP_AUTHORIZATION=f"Zoho-oauthtoken {token}")
    assert (expired.status_code, expired.json()["code"]) == (401, "INVALID_TOKEN")


def test_a_token_lives_an_hour_with_every_scope_unless_told(created, controls):
    body = created()
    answer = controls.post(
        f"/sandbox/v1/organizations/{body['organization']['id']}/tokens",
        {"user_id": body["users"][0]["id"]},
        format="json",
    )

    assert answer.json()["expires_in"] == 3600
    assert answer.json()["scope"] == " ".join(ALL_SCOPES)


@pytest.mark.parametrize(
    ("token_body", "expected"),
    [
        (
            {},
            {
                "code": "MANDATORY_NOT_FOUND",
                "details": {"api_name": "user_id", "json_path": "$.user_id"},
                "message": "required field not found",
                "status": "error",
            },
        ),
        ({"user_id": "x"}, invalid("user_id", "$.user_id", expected_data_type="long")),
        (
            {"user_id": "1"},
            invalid("user_id", "$.user_id", reason="not a user of the organization"),
        ),
        ({"user_id": "OLD"}, invalid("user_id", "$.user_id", user_status="disabled")),
        ({"user_id": "ANN", "expires_in": 0}, invalid("expires_in", "$.expires_in", minimum=1)),
        (
            {"user_id": "ANN", "expires_in": 86401},
            invalid("expires_in", "$.expires_in", maximum=86400),
        ),
        (
            {"user_id": "ANN", "expires_in": "60"},
            invalid("expires_in", "$.expires_in", expected_data_type="integer"),
        ),
    ],
)
def test_a_bad_token_request_is_refused(created, controls, token_body, expected):
    body = created(
        users=[
            {"full_name": "Ann Admin", "email": "ann@acme.test"},
            {"full_name": "Old Timer", "email": "old@acme.test", "status": "disabled"},
        ],
        records=[],
    )
    ids = {"ANN": body["users"][0]["id"], "OLD": body["users"][1]["id"]}
    if token_body.get("user_id") in ids:
        token_body = {**token_body, "user_id": ids[token_body["user_id"]]}

    answer = controls.post(
        f"/sandbox/v1/organizations/{body['organization']['id']}/tokens",
        token_body,
        format="json",
    )

    assert (answer.status_code, answer.json()) == (400, expected)
    assert not AccessToken.objects.filter(expires_at__isnull=False, scopes=[]).exists()


def test_a_user_id_of_another_organization_is_not_one_of_its_users(created, controls):
    body = created()
    stranger = UserFactory(
        organization=OrganizationFactory(name="Else"), email="stranger@else.test"
    )
    answer = controls.post(
        f"/sandbox/v1/organizations/{body['organization']['id']}/tokens",
        {"user_id": str(stranger.id)},
        format="json",
    )

    assert answer.json() == invalid("user_id", "$.user_id", reason="not a user of the organization")


def test_records_of_an_organization_are_in_the_modules_they_name(created):
    created()
    assert Record.objects.get(id=3001).module_id == module_by_name("Contacts").id
