"""The Zoho CRM v8 dialect: every endpoint of the Bigin one under /crm/v8, with CRM's module names
(`Deals` for Pipelines) and the `ZohoCRM.*` scope family (api-spec.md, "Zoho CRM v8 dialect")."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command

from crm.models import Record
from crm.oauth.grants import create_self_client, exchange_code, issue_grant, parse_scopes
from tests.crm.oauth.test_auth_matrix import OAUTH_SCOPE_MISMATCH

pytestmark = pytest.mark.django_db

INVALID_MODULE = {
    "code": "INVALID_MODULE",
    "details": {"resource_path_index": 0},
    "message": "the module name given seems to be invalid",
    "status": "error",
}


@pytest.fixture
def data(organization, admin_user, make_user, make_record):
    bo = make_user(full_name="Bo Chen", email="bo@zylker.test", profile_name="Standard")
    deal = make_record(module_name="Pipelines", name="Big deal", fields={"Deal_Name": "Big deal"})
    task = make_record(
        module_name="Tasks", name="Call", fields={"Subject": "Call"}, related_to=deal
    )
    contact = make_record(module_name="Contacts", name="Smith", fields={"Last_Name": "Smith"})
    return {"bo": bo, "deal": deal, "task": task, "contact": contact}


def test_settings_modules_names_pipelines_deals(admin_user, auth_client):
    response = auth_client(admin_user, "ZohoCRM.settings.modules.READ").get(
        "/crm/v8/settings/modules"
    )

    assert response.status_code == 200
    modules = response.json()["modules"]
    assert [m["api_name"] for m in modules] == [
        "Contacts",
        "Deals",
        "Accounts",
        "Products",
        "Tasks",
        "Events",
        "Calls",
    ]
    deals = modules[1]
    assert (deals["module_name"], deals["singular_label"], deals["plural_label"]) == (
        "Deals",
        "Deal",
        "Deals",
    )


def test_records_of_deals_and_an_activitys_parent_module(admin_user, auth_client, data):
    client = auth_client(admin_user, "ZohoCRM.modules.deals.READ", "ZohoCRM.modules.tasks.READ")

    deals = client.get("/crm/v8/Deals?fields=Deal_Name")
    assert deals.status_code == 200
    assert [r["id"] for r in deals.json()["data"]] == [str(data["deal"].id)]
    one = client.get(f"/crm/v8/deals/{data['deal'].id}")
    assert one.json()["data"][0]["Deal_Name"] == "Big deal"
    task = client.get(f"/crm/v8/Tasks/{data['task'].id}").json()["data"][0]
    assert task["$se_module"] == "Deals"
    assert task["What_Id"] == {"name": "Big deal", "id": str(data["deal"].id)}


def test_listing_records_needs_fields_as_zoho_crm_documents(admin_user, auth_client, data):
    client = auth_client(admin_user, "ZohoCRM.modules.ALL")

    response = client.get("/crm/v8/Contacts")

    assert (response.status_code, response.json()) == (
        400,
        {
            "code": "REQUIRED_PARAM_MISSING",
            "details": {"param": "fields"},
            "message": "One of the expected parameter is missing",
            "status": "error",
        },
    )
    # One record by id needs none; Bigin's list needs none either.
    assert client.get(f"/crm/v8/Contacts/{data['contact'].id}").status_code == 200
    bigin = auth_client(admin_user, "ZohoBigin.modules.ALL").get("/bigin/v2/Contacts")
    assert bigin.status_code == 200


@pytest.mark.parametrize("module", ["Pipelines", "Leads", "Campaigns"])
def test_modules_crm_does_not_have_here_are_invalid(admin_user, auth_client, module):
    response = auth_client(admin_user, "ZohoCRM.modules.ALL").get(f"/crm/v8/{module}?fields=id")

    assert (response.status_code, response.json()) == (400, INVALID_MODULE)


def test_bigin_names_deals_nothing(admin_user, auth_client):
    response = auth_client(admin_user, "ZohoBigin.modules.ALL").get("/bigin/v2/Deals")

    assert (response.status_code, response.json()) == (400, INVALID_MODULE)


@pytest.mark.parametrize(
    ("method", "path", "crm_scope"),
    [
        ("get", "/crm/v8/users", "ZohoCRM.users.READ"),
        ("get", "/crm/v8/org", "ZohoCRM.org.READ"),
        ("get", "/crm/v8/settings/modules", "ZohoCRM.settings.ALL"),
        ("get", "/crm/v8/settings/fields?module=Deals", "ZohoCRM.settings.fields.READ"),
        ("get", "/crm/v8/settings/layouts?module=Deals", "ZohoCRM.settings.layouts.READ"),
        ("get", "/crm/v8/Contacts?fields=Last_Name", "ZohoCRM.modules.contacts.READ"),
        ("get", "/crm/v8/Deals/{deal}", "ZohoCRM.modules.deals.READ"),
    ],
)
def test_each_dialect_takes_its_own_scope_family(
    admin_user, auth_client, data, method, path, crm_scope
):
    path = path.format(deal=data["deal"].id)
    assert getattr(auth_client(admin_user, crm_scope), method)(path).status_code == 200
    bigin_twin = crm_scope.replace("ZohoCRM.", "ZohoBigin.")
    refused = getattr(auth_client(admin_user, bigin_twin), method)(path)
    assert (refused.status_code, refused.json()) == (401, OAUTH_SCOPE_MISMATCH)
    bigin_path = path.replace("/crm/v8/", "/bigin/v2/").replace("Deals", "Pipelines")
    refused = getattr(auth_client(admin_user, crm_scope), method)(bigin_path)
    assert (refused.status_code, refused.json()) == (401, OAUTH_SCOPE_MISMATCH)


def test_change_owner_both_forms(admin_user, auth_client, data):
    client = auth_client(admin_user, "ZohoCRM.change_owner.CREATE")
    bo = str(data["bo"].id)

    single = client.post(
        f"/crm/v8/Deals/{data['deal'].id}/actions/change_owner", {"owner": {"id": bo}}, "json"
    )
    bulk = client.post(
        "/crm/v8/Contacts/actions/change_owner",
        {"ids": [str(data["contact"].id)], "owner": {"id": bo}},
        "json",
    )

    assert single.status_code == bulk.status_code == 200
    assert single.json()["data"][0]["code"] == "SUCCESS"
    assert bulk.json()["data"][0]["details"] == {"id": str(data["contact"].id)}
    assert Record.objects.get(pk=data["deal"].pk).owner_id == data["bo"].id
    assert Record.objects.get(pk=data["contact"].pk).owner_id == data["bo"].id


def test_change_owner_on_crm_needs_the_crm_scope(admin_user, auth_client, data):
    client = auth_client(admin_user, "ZohoBigin.change_owner.CREATE")

    response = client.post(
        f"/crm/v8/Deals/{data['deal'].id}/actions/change_owner",
        {"owner": {"id": str(data["bo"].id)}},
        "json",
    )

    assert (response.status_code, response.json()) == (401, OAUTH_SCOPE_MISMATCH)
    assert Record.objects.get(pk=data["deal"].pk).owner_id == admin_user.id


def test_the_token_server_grants_crm_scopes_with_the_all_rule(organization, admin_user):
    assert parse_scopes("ZohoCRM.modules.ALL, ZohoBigin.users.READ") == [
        "ZohoCRM.modules.ALL",
        "ZohoBigin.users.READ",
    ]
    client = create_self_client(organization=organization, name="SDK")
    code = issue_grant(client=client.client, user=admin_user, scopes=["ZohoCRM.org.ALL"])
    issued = exchange_code(
        client_id=client.client.client_id, client_secret=client.client_secret, code=code
    )
    from rest_framework.test import APIClient

    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Zoho-oauthtoken {issued.access_token}")
    assert api.get("/crm/v8/org").status_code == 200


def test_the_commands_issue_crm_scopes(organization, admin_user):
    out = StringIO()
    call_command(
        "issue_token", "--user", admin_user.email, "--scope", "ZohoCRM.users.READ", stdout=out
    )
    from rest_framework.test import APIClient

    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Zoho-oauthtoken {out.getvalue().strip()}")
    assert api.get("/crm/v8/users").status_code == 200

    client = create_self_client(organization=organization, name="SDK")
    out = StringIO()
    call_command(
        "issue_grant",
        "--client-id",
        client.client.client_id,
        "--user",
        admin_user.email,
        "--scope",
        "ZohoCRM.change_owner.CREATE,ZohoCRM.settings.ALL",
        stdout=out,
    )
    issued = exchange_code(
        client_id=client.client.client_id,
        client_secret=client.client_secret,
        code=out.getvalue().strip(),
    )
    assert issued.scopes == ["ZohoCRM.change_owner.CREATE", "ZohoCRM.settings.ALL"]
