"""GET /bigin/v2/org, /settings/fields?module= and /settings/layouts?module=: the metadata a client
reads around change owner (api-spec.md), and the 404 of every unserved path outside the module
position."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from rest_framework.test import APIClient

from crm.metadata import stable_id
from crm.modules import module_by_name
from tests.crm.oauth.test_auth_matrix import OAUTH_SCOPE_MISMATCH
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

ACCOUNTS_ID = module_by_name("Accounts").id
CONTACTS_ID = module_by_name("Contacts").id

INVALID_URL_PATTERN = {
    "code": "INVALID_URL_PATTERN",
    "details": {},
    "message": "Please check if the URL trying to access is a correct one",
    "status": "error",
}


@pytest.fixture
def zylker(organization):
    organization.created_time = datetime(2026, 1, 5, 9, 30, tzinfo=UTC)
    organization.save()
    return organization


def test_org_answers_the_callers_organization(
    zylker, admin_user, make_user, auth_client, django_assert_num_queries
):
    make_user(full_name="Bo Chen", email="bo@zylker.test", profile_name="Standard")
    make_user(full_name="Cy Park", email="cy@zylker.test", status="disabled")
    UserFactory(email="sam@nimbus.test")  # another organization's user counts for nothing
    client = auth_client(admin_user, "ZohoBigin.org.READ")

    # 1. authentication, 2. the primary (first active Administrator) email, 3. active users
    with django_assert_num_queries(3):
        response = client.get("/bigin/v2/org")

    assert response.status_code == 200
    assert response.json() == {
        "org": [
            {
                "id": str(zylker.id),
                "company_name": "Zylker",
                "alias": None,
                "primary_email": "ann@zylker.test",
                "primary_zuid": None,
                "zgid": str(zylker.id),
                "time_zone": "UTC",
                "currency": None,
                "currency_symbol": None,
                "currency_locale": None,
                "iso_code": None,
                "country": None,
                "country_code": None,
                "city": None,
                "state": None,
                "street": None,
                "zip": None,
                "phone": None,
                "mobile": None,
                "fax": None,
                "website": None,
                "description": None,
                "photo_id": None,
                "employee_count": "2",
                "mc_status": False,
                "gapps_enabled": False,
                "privacy_settings": False,
                "license_details": None,
                "created_time": "2026-01-05T09:30:00+00:00",
            }
        ]
    }


@pytest.mark.parametrize(
    ("path", "accepted", "refused"),
    [
        ("/bigin/v2/org", ["ZohoBigin.org.READ", "ZohoBigin.org.ALL"], "ZohoBigin.settings.ALL"),
        (
            "/bigin/v2/settings/fields?module=Contacts",
            ["ZohoBigin.settings.fields.READ", "ZohoBigin.settings.ALL"],
            "ZohoBigin.settings.layouts.READ",
        ),
        (
            "/bigin/v2/settings/layouts?module=Contacts",
            ["ZohoBigin.settings.layouts.READ", "ZohoBigin.settings.ALL"],
            "ZohoBigin.settings.fields.READ",
        ),
    ],
)
def test_metadata_scopes(admin_user, auth_client, path, accepted, refused):
    for scope in accepted:
        assert auth_client(admin_user, scope).get(path).status_code == 200, scope
    response = auth_client(admin_user, refused).get(path)
    assert (response.status_code, response.json()) == (401, OAUTH_SCOPE_MISMATCH)


def _field(module, api_name, label, data_type, json_type, **extra):
    field = {
        "api_name": api_name,
        "field_label": label,
        "display_label": label,
        "data_type": data_type,
        "json_type": json_type,
        "id": stable_id(module, api_name),
        "read_only": True,
        "system_mandatory": False,
        "custom_field": False,
        "visible": True,
    }
    field.update(extra)
    return field


def _system_fields(module, singular):
    return [
        _field(module, "Owner", f"{singular} Owner", "ownerlookup", "jsonobject", read_only=False),
        _field(module, "Created_Time", "Created Time", "datetime", "string"),
        _field(module, "Modified_Time", "Modified Time", "datetime", "string"),
        _field(module, "Modified_By", "Modified By", "ownerlookup", "jsonobject"),
    ]


def _data(module, api_name, data_type, json_type, length=None, **extra):
    """A field a client writes (read_only false), with its length where it has one."""
    label = api_name.replace("_", " ")
    if length is not None:
        extra["length"] = length
    return _field(module, api_name, label, data_type, json_type, read_only=False, **extra)


def _text(module, api_name, length=255, **extra):
    return _data(module, api_name, "text", "string", length, **extra)


def _address(module, prefix, code):
    return [
        _text(module, f"{prefix}_Street", 250),
        _text(module, f"{prefix}_City", 100),
        _text(module, f"{prefix}_State", 100),
        _text(module, f"{prefix}_{code}", 30),
        _text(module, f"{prefix}_Country", 100),
    ]


def _lookup(module, api_name, target, target_id):
    return _data(
        module,
        api_name,
        "lookup",
        "jsonobject",
        lookup={"module": {"api_name": target, "id": str(target_id)}},
    )


def _contacts_standard_fields():
    accounts = ACCOUNTS_ID
    return [
        _text("Contacts", "First_Name", 40),
        _text("Contacts", "Last_Name", 80, system_mandatory=True),
        _data("Contacts", "Email", "email", "string", 100),
        _data("Contacts", "Phone", "phone", "string", 30),
        _data("Contacts", "Mobile", "phone", "string", 30),
        _text("Contacts", "Title", 100),
        _lookup("Contacts", "Account_Name", "Accounts", accounts),
        _data("Contacts", "Email_Opt_Out", "boolean", "boolean"),
        *_address("Contacts", "Mailing", "Zip"),
        _data("Contacts", "Description", "textarea", "string", 32000),
    ]


def test_fields_are_the_standard_ones_then_the_records_custom_ones_then_the_system_ones(
    admin_user, make_record, auth_client, django_assert_num_queries, other_organization
):
    make_record(
        module_name="Contacts",
        fields={"Last_Name": "Smith", "Email": "s@x.test", "Score": 10, "VIP": True},
    )
    make_record(module_name="Contacts", fields={"Last_Name": "Jones", "Revenue": 1.5})
    make_record(module_name="Accounts", fields={"Account_Name": "Zylker"})  # another module
    client = auth_client(admin_user, "ZohoBigin.settings.fields.READ")

    # 1. authentication, 2. the first records of the module (their JSON fields)
    with django_assert_num_queries(2):
        response = client.get("/bigin/v2/settings/fields", {"module": "contacts"})

    assert response.status_code == 200
    custom = {"custom_field": True}
    assert response.json() == {
        "fields": [
            *_contacts_standard_fields(),
            _data("Contacts", "Revenue", "double", "double", **custom),
            _data("Contacts", "Score", "integer", "integer", **custom),
            _data("Contacts", "VIP", "boolean", "boolean", **custom),
            *_system_fields("Contacts", "Contact"),
        ]
    }


def test_a_picklist_lists_its_values(admin_user, auth_client):
    response = auth_client(admin_user, "ZohoBigin.settings.ALL").get(
        "/bigin/v2/settings/fields?module=Calls"
    )

    by_name = {field["api_name"]: field for field in response.json()["fields"]}
    assert by_name["Call_Type"] == _data(
        "Calls",
        "Call_Type",
        "picklist",
        "string",
        system_mandatory=True,
        pick_list_values=[
            {
                "display_value": value,
                "actual_value": value,
                "id": stable_id("Calls", "Call_Type", value),
                "sequence_number": number,
            }
            for number, value in enumerate(["Outbound", "Inbound", "Missed"], start=1)
        ],
    )


def test_activity_fields_have_what_id_and_se_module(admin_user, auth_client):
    response = auth_client(admin_user, "ZohoBigin.settings.ALL").get(
        "/bigin/v2/settings/fields?module=Tasks"
    )

    assert response.status_code == 200
    assert response.json()["fields"] == [
        _text("Tasks", "Subject", system_mandatory=True),
        _data("Tasks", "Due_Date", "date", "string"),
        _data(
            "Tasks",
            "Status",
            "picklist",
            "string",
            pick_list_values=[
                {
                    "display_value": value,
                    "actual_value": value,
                    "id": stable_id("Tasks", "Status", value),
                    "sequence_number": number,
                }
                for number, value in enumerate(
                    ["Not Started", "Deferred", "In Progress", "Completed", "Waiting for input"],
                    start=1,
                )
            ],
        ),
        _data(
            "Tasks",
            "Priority",
            "picklist",
            "string",
            pick_list_values=[
                {
                    "display_value": value,
                    "actual_value": value,
                    "id": stable_id("Tasks", "Priority", value),
                    "sequence_number": number,
                }
                for number, value in enumerate(
                    ["High", "Highest", "Low", "Lowest", "Normal"], start=1
                )
            ],
        ),
        _data("Tasks", "Description", "textarea", "string", 32000),
        *_system_fields("Tasks", "Task"),
        _field(
            "Tasks",
            "What_Id",
            "Related To",
            "lookup",
            "jsonobject",
            read_only=False,
            lookup={"module": {"api_name": "se_module", "id": None}},
        ),
        _field("Tasks", "$se_module", "Related Module", "text", "string"),
    ]


def test_fields_of_another_organization_stay_there(admin_user, auth_client, other_organization):
    from tests.factories import RecordFactory

    RecordFactory(organization=other_organization, fields={"Secret_Field": "x"})
    response = auth_client(admin_user, "ZohoBigin.settings.ALL").get(
        "/bigin/v2/settings/fields?module=Contacts"
    )

    names = [f["api_name"] for f in response.json()["fields"]]
    assert "Secret_Field" not in names
    assert names[-4:] == [
        "Owner",
        "Created_Time",
        "Modified_Time",
        "Modified_By",
    ]


def test_layouts_one_standard_layout_with_every_field(
    admin_user, make_record, auth_client, django_assert_num_queries
):
    make_record(module_name="Pipelines", fields={"Deal_Name": "Big deal"})
    client = auth_client(admin_user, "ZohoBigin.settings.layouts.READ")

    # 1. authentication, 2. the first records of the module (their JSON fields)
    with django_assert_num_queries(2):
        response = client.get("/bigin/v2/settings/layouts?module=Pipelines")

    assert response.status_code == 200
    assert response.json() == {
        "layouts": [
            {
                "id": stable_id("Pipelines", "layout", "Standard"),
                "name": "Standard",
                "api_name": "Standard",
                "display_label": "Standard",
                "status": "active",
                "visible": True,
                "generated_type": "default",
                "sections": [
                    {
                        "api_name": "Pipeline Information",
                        "name": "Pipeline Information",
                        "display_label": "Pipeline Information",
                        "sequence_number": 1,
                        "column_count": 2,
                        "fields": [
                            _text("Pipelines", "Deal_Name", 120, system_mandatory=True),
                            _text("Pipelines", "Stage", 120, system_mandatory=True),
                            _data("Pipelines", "Amount", "currency", "double"),
                            _data("Pipelines", "Closing_Date", "date", "string"),
                            _lookup("Pipelines", "Account_Name", "Accounts", ACCOUNTS_ID),
                            _lookup("Pipelines", "Contact_Name", "Contacts", CONTACTS_ID),
                            _data("Pipelines", "Description", "textarea", "string", 32000),
                            *_system_fields("Pipelines", "Pipeline"),
                        ],
                    }
                ],
            }
        ]
    }


@pytest.mark.parametrize("what", ["fields", "layouts"])
def test_module_parameter_missing_or_unknown(admin_user, auth_client, what):
    client = auth_client(admin_user, "ZohoBigin.settings.ALL")

    missing = client.get(f"/bigin/v2/settings/{what}")
    assert (missing.status_code, missing.json()) == (
        400,
        {
            "code": "REQUIRED_PARAM_MISSING",
            "details": {"param": "module"},
            "message": "One of the expected parameter is missing",
            "status": "error",
        },
    )
    unknown = client.get(f"/bigin/v2/settings/{what}?module=Leads")
    assert (unknown.status_code, unknown.json()) == (
        400,
        {
            "code": "INVALID_MODULE",
            "details": {"param_name": "module"},
            "message": "the module name given seems to be invalid",
            "status": "error",
        },
    )


@pytest.mark.parametrize(
    "path",
    [
        "/bigin/v2/settings/unknown",
        "/bigin/v2/settings",
        "/bigin/v2/settings/fields/x",
        "/bigin/v2/org/x",
        "/bigin/v2/users/x/y",
        "/bigin/v2/Contacts/1/2/3",
        "/crm/v8/settings/unknown",
        "/crm/v8/org/x",
        "/crm/v8/users/x/y",
        "/crm/v8",
    ],
)
@pytest.mark.parametrize("method", ["get", "post"])
def test_unserved_paths_outside_the_module_position_answer_404_without_a_token(path, method):
    response = getattr(APIClient(), method)(path)

    assert (response.status_code, response.json()) == (404, INVALID_URL_PATTERN)


def test_a_path_in_the_module_position_is_an_unknown_module(admin_user, auth_client):
    response = auth_client(admin_user, "ZohoBigin.modules.ALL").get("/bigin/v2/Leads")

    assert (response.status_code, response.json()) == (
        400,
        {
            "code": "INVALID_MODULE",
            "details": {"resource_path_index": 0},
            "message": "the module name given seems to be invalid",
            "status": "error",
        },
    )
