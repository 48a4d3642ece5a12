"""Every authenticated endpoint of the product, side by side: the authentication and scope rules
with exact bodies, and organization isolation (a user of one organization can never see or touch
anything of another; its ids behave like ids that do not exist)."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from crm.oauth.grants import issue_access_token
from tests.crm.oauth.test_auth_matrix import (
    AUTHENTICATION_FAILURE,
    INVALID_TOKEN,
    OAUTH_SCOPE_MISMATCH,
)
from tests.factories import OrganizationFactory, RecordFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def world(db):
    """Two organizations, each with an administrator, a second user, a contact and a task."""
    orgs = {}
    for name in ("Zylker", "Nimbus"):
        org = OrganizationFactory(name=name)
        admin = UserFactory(organization=org)
        other = UserFactory(organization=org)
        contact = RecordFactory(organization=org, owner=admin, module_name="Contacts")
        task = RecordFactory(organization=org, owner=admin, module_name="Tasks", related_to=contact)
        orgs[name] = {"org": org, "admin": admin, "other": other, "contact": contact, "task": task}
    return orgs


def endpoints(w):
    """(method, path, body, accepted scopes, Kenbun-shaped errors?) for every endpoint."""
    a = w["Zylker"]
    change = {"ids": [str(a["contact"].id)], "owner": {"id": str(a["other"].id)}}
    return [
        (
            "post",
            "/bigin/v2/Contacts/actions/change_owner",
            change,
            ["ZohoBigin.change_owner.CREATE"],
            False,
        ),
        (
            "post",
            f"/bigin/v2/Contacts/{a['contact'].id}/actions/change_owner",
            {"owner": {"id": str(a["other"].id)}},
            ["ZohoBigin.change_owner.CREATE"],
            False,
        ),
        ("get", "/bigin/v2/users", None, ["ZohoBigin.users.READ"], False),
        ("get", f"/bigin/v2/users/{a['other'].id}", None, ["ZohoBigin.users.READ"], False),
        (
            "get",
            "/bigin/v2/Contacts",
            None,
            ["ZohoBigin.modules.ALL", "ZohoBigin.modules.READ", "ZohoBigin.modules.contacts.READ"],
            False,
        ),
        (
            "get",
            f"/bigin/v2/Tasks/{a['task'].id}",
            None,
            ["ZohoBigin.modules.ALL", "ZohoBigin.modules.READ", "ZohoBigin.modules.tasks.READ"],
            False,
        ),
        (
            "get",
            "/bigin/v2/settings/modules",
            None,
            ["ZohoBigin.settings.modules.READ", "ZohoBigin.settings.ALL"],
            False,
        ),
        (
            "post",
            f"/leads/{a['contact'].id}/owner",
            {"owner_id": str(a["other"].id)},
            ["ZohoBigin.change_owner.CREATE"],
            True,
        ),
        (
            "post",
            "/leads/bulk-assign-owner",
            {"lead_ids": [str(a["contact"].id)], "owner_id": str(a["other"].id)},
            ["ZohoBigin.change_owner.CREATE"],
            True,
        ),
        ("get", "/leads", None, ["ZohoBigin.change_owner.CREATE"], True),
        ("get", "/bigin/v2/org", None, ["ZohoBigin.org.READ", "ZohoBigin.org.ALL"], False),
        (
            "get",
            "/bigin/v2/settings/fields?module=Contacts",
            None,
            ["ZohoBigin.settings.fields.READ", "ZohoBigin.settings.ALL"],
            False,
        ),
        (
            "get",
            "/bigin/v2/settings/layouts?module=Tasks",
            None,
            ["ZohoBigin.settings.layouts.READ", "ZohoBigin.settings.ALL"],
            False,
        ),
        ("get", f"/leads/{a['contact'].id}", None, ["ZohoBigin.change_owner.CREATE"], True),
        ("get", "/me/notification-prefs", None, ["ZohoBigin.change_owner.CREATE"], True),
        (
            "put",
            "/me/notification-prefs",
            {"notifications_enabled": True},
            ["ZohoBigin.change_owner.CREATE"],
            True,
        ),
        # The record writes (a delete and a search are not repeatable or need two scopes at
        # once: tests/owners/api/test_record_*.py).
        (
            "post",
            "/bigin/v2/Contacts",
            {"data": [{"Last_Name": "Added"}]},
            [
                "ZohoBigin.modules.ALL",
                "ZohoBigin.modules.CREATE",
                "ZohoBigin.modules.contacts.CREATE",
                "ZohoBigin.modules.contacts.WRITE",
            ],
            False,
        ),
        (
            "put",
            "/bigin/v2/Contacts",
            {"data": [{"id": str(a["contact"].id), "Title": "CTO"}]},
            [
                "ZohoBigin.modules.ALL",
                "ZohoBigin.modules.UPDATE",
                "ZohoBigin.modules.contacts.UPDATE",
                "ZohoBigin.modules.contacts.WRITE",
            ],
            False,
        ),
        # The Zoho CRM v8 dialect: the same endpoints, the ZohoCRM scope family.
        ("get", "/crm/v8/users", None, ["ZohoCRM.users.READ"], False),
        ("get", "/crm/v8/org", None, ["ZohoCRM.org.READ", "ZohoCRM.org.ALL"], False),
        (
            "get",
            "/crm/v8/settings/modules",
            None,
            ["ZohoCRM.settings.modules.READ", "ZohoCRM.settings.ALL"],
            False,
        ),
        (
            "get",
            "/crm/v8/Contacts?fields=Last_Name",
            None,
            ["ZohoCRM.modules.ALL", "ZohoCRM.modules.READ", "ZohoCRM.modules.contacts.READ"],
            False,
        ),
        (
            "post",
            f"/crm/v8/Contacts/{a['contact'].id}/actions/change_owner",
            {"owner": {"id": str(a["other"].id)}},
            ["ZohoCRM.change_owner.CREATE"],
            False,
        ),
    ]


def call(client, method, path, body):
    return (
        getattr(client, method)(path, body, format="json")
        if body is not None
        else getattr(client, method)(path)
    )


def client_with(header: str | None) -> APIClient:
    client = APIClient()
    if header:
        client.credentials(HTTP_AUTHORIZATION=header)
    return client


def assert_refused(response, expected: dict, kenbun: bool) -> None:
    assert response.status_code == 401
    if kenbun:
        body = response.json()
        assert body["status"] == "error" and set(body) == {"status", "message"}
    else:
        assert response.json() == expected


def test_every_endpoint_refuses_a_missing_header_a_bad_scheme_and_an_unknown_token(world):
    for method, path, body, _scopes, kenbun in endpoints(world):
        for header, expected in (
            (None, AUTHENTICATION_FAILURE),
            ("Basic dXNlcjpwYXNz", AUTHENTICATION_FAILURE),
            ("Zoho-oauthtoken 1000.unknown.token", INVALID_TOKEN),
        ):
            assert_refused(call(client_with(header), method, path, body), expected, kenbun)


def test_every_endpoint_refuses_a_token_of_a_disabled_user(world):
    user = world["Zylker"]["admin"]
    tokens = {
        path: issue_access_token(user=user, scopes=scopes)
        for _m, path, _b, scopes, _k in endpoints(world)
    }
    user.status = "disabled"
    user.save()
    for method, path, body, _scopes, kenbun in endpoints(world):
        response = call(client_with(f"Zoho-oauthtoken {tokens[path]}"), method, path, body)
        assert_refused(response, INVALID_TOKEN, kenbun)


def test_every_endpoint_accepts_each_of_its_scopes_and_its_all_form_and_nothing_else(world):
    user = world["Zylker"]["admin"]
    every_scope = {scope for *_, scopes, _k in endpoints(world) for scope in scopes}
    for method, path, body, scopes, kenbun in endpoints(world):
        all_forms = {scope.rsplit(".", 1)[0] + ".ALL" for scope in scopes}
        for scope in sorted(set(scopes) | all_forms):
            token = issue_access_token(user=user, scopes=[scope])
            response = call(client_with(f"Zoho-oauthtoken {token}"), method, path, body)
            assert response.status_code in (200, 201, 204), (path, scope, response.content)
        # Every other endpoint's scopes whose resource is not one of this endpoint's (so a
        # `.ALL` of it cannot apply), e.g. `ZohoBigin.modules.tasks.READ` for Contacts.
        resources = {scope.rsplit(".", 1)[0] for scope in scopes}
        foreign = sorted(s for s in every_scope if s.rsplit(".", 1)[0] not in resources)
        assert foreign
        token = issue_access_token(user=user, scopes=foreign)
        response = call(client_with(f"Bearer {token}"), method, path, body)
        assert_refused(response, OAUTH_SCOPE_MISMATCH, kenbun)


def _token(user) -> APIClient:
    scopes = [
        "ZohoBigin.change_owner.CREATE",
        "ZohoBigin.users.READ",
        "ZohoBigin.modules.ALL",
        "ZohoBigin.settings.ALL",
    ]
    return client_with(f"Zoho-oauthtoken {issue_access_token(user=user, scopes=scopes)}")


def test_a_user_never_sees_another_organizations_users_or_records(world):
    a, b = world["Zylker"], world["Nimbus"]
    client = _token(a["admin"])

    users = client.get("/bigin/v2/users").json()["users"]
    assert {u["id"] for u in users} == {str(a["admin"].id), str(a["other"].id)}
    assert client.get(f"/bigin/v2/users/{b['admin'].id}").status_code == 204

    contacts = client.get("/bigin/v2/Contacts").json()["data"]
    assert [c["id"] for c in contacts] == [str(a["contact"].id)]
    assert client.get(f"/bigin/v2/Contacts/{b['contact'].id}").status_code == 204
    assert client.get(f"/bigin/v2/Tasks?owner_id={b['admin'].id}").status_code == 204

    leads = client.get("/leads").json()
    assert str(b["contact"].id) not in str(leads)


def test_a_user_never_changes_another_organizations_records_nor_gives_them_its_users(world):
    a, b = world["Zylker"], world["Nimbus"]
    client = _token(a["admin"])
    invalid = {
        "code": "INVALID_DATA",
        "details": {"id": str(b["contact"].id)},
        "message": "the id given seems to be invalid",
        "status": "error",
    }

    bulk = client.post(
        "/bigin/v2/Contacts/actions/change_owner",
        {"ids": [str(b["contact"].id)], "owner": {"id": str(a["other"].id)}},
        format="json",
    )
    assert (bulk.status_code, bulk.json()) == (400, {"data": [invalid]})
    single = client.post(
        f"/bigin/v2/Contacts/{b['contact'].id}/actions/change_owner",
        {"owner": {"id": str(a["other"].id)}},
        format="json",
    )
    assert (single.status_code, single.json()) == (400, {"data": [invalid]})
    foreign_owner = client.post(
        "/bigin/v2/Contacts/actions/change_owner",
        {"ids": [str(a["contact"].id)], "owner": {"id": str(b["other"].id)}},
        format="json",
    )
    assert foreign_owner.status_code == 400
    assert foreign_owner.json()["message"] == "the owner id given is invalid"

    lead = client.post(
        f"/leads/{b['contact'].id}/owner", {"owner_id": str(a["other"].id)}, format="json"
    )
    assert lead.status_code == 404
    bulk_leads = client.post(
        "/leads/bulk-assign-owner",
        {"lead_ids": [str(b["contact"].id)], "owner_id": str(a["other"].id)},
        format="json",
    )
    assert bulk_leads.status_code == 404

    b["contact"].refresh_from_db()
    a["contact"].refresh_from_db()
    assert b["contact"].owner_id == b["admin"].id
    assert a["contact"].owner_id == a["admin"].id


def test_a_user_never_writes_another_organizations_records_nor_links_or_gives_them(world):
    a, b = world["Zylker"], world["Nimbus"]
    client = _token(a["admin"])
    theirs = str(b["contact"].id)

    update = client.put(
        "/bigin/v2/Contacts", {"data": [{"id": theirs, "Title": "x"}]}, format="json"
    )
    delete = client.delete(f"/bigin/v2/Contacts?ids={theirs}")
    added = client.post(
        "/bigin/v2/Tasks",
        {
            "data": [
                {"Subject": "Theirs", "What_Id": {"id": theirs}},
                {"Subject": "Their owner", "Owner": {"id": str(b["other"].id)}},
            ]
        },
        format="json",
    )
    searcher = client_with(
        "Zoho-oauthtoken "
        + issue_access_token(
            user=a["admin"], scopes=["ZohoBigin.modules.READ", "ZohoSearch.securesearch.READ"]
        )
    )
    search = searcher.get("/bigin/v2/Contacts/search", {"criteria": f"(id:equals:{theirs})"})

    assert (update.status_code, update.json()["data"][0]["details"]) == (
        400,
        {"api_name": "id", "json_path": "$.data[0].id"},
    )
    assert (delete.status_code, delete.json()["data"][0]["code"]) == (400, "INVALID_DATA")
    assert added.status_code == 400
    assert [entry["details"]["api_name"] for entry in added.json()["data"]] == ["What_Id", "Owner"]
    assert search.status_code == 204
    b["contact"].refresh_from_db()
    assert b["contact"].fields == {}
