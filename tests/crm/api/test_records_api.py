from __future__ import annotations

from datetime import UTC, datetime

import pytest

from crm.models import Record
from crm.modules import module_by_name
from tests.crm.api.paging_helpers import info
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

READ = "ZohoBigin.modules.READ"
ANN = {"name": "Ann Lee", "id": "2001", "email": "ann@zylker.test"}
BEN = {"name": "Ben Ray", "id": "2002", "email": "ben@zylker.test"}


def at(hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 11, 22, hour, minute, tzinfo=UTC)


@pytest.fixture
def admin_user(organization):
    # Overrides conftest's to give Ann a fixed id; make_record's default owner.
    return UserFactory(
        organization=organization, id=2001, full_name="Ann Lee", email="ann@zylker.test"
    )


@pytest.fixture
def ann(admin_user):
    return admin_user


@pytest.fixture
def ben(organization):
    return UserFactory(
        organization=organization,
        id=2002,
        full_name="Ben Ray",
        email="ben@zylker.test",
        profile_name="Standard",
    )


@pytest.fixture
def zed(other_organization):
    return UserFactory(
        organization=other_organization, id=3001, full_name="Zed Nim", email="zed@nimbus.test"
    )


@pytest.fixture
def crm_data(organization, other_organization, ann, ben, zed, make_record):
    """Three contacts whose id, creation and modification orders all differ; a pipeline; tasks
    related to a contact, to a pipeline and to nothing; an unowned product; Nimbus's contact."""
    smith = make_record(
        id=5001,
        owner=ann,
        name="Smith",
        fields={"Last_Name": "Smith", "Email": "s@x.test"},
        created_time=at(10),
        modified_time=at(12),
    )
    make_record(
        id=5002,
        owner=ben,
        name="Jones",
        fields={"Last_Name": "Jones"},
        created_time=at(11),
        modified_time=at(11, 30),
    )
    make_record(
        id=5003,
        owner=ann,
        name="Brown",
        fields={"Last_Name": "Brown", "Email": "b@x.test"},
        created_time=at(9),
        modified_time=at(13),
    )
    deal = make_record(
        id=7001,
        module_name="Pipelines",
        owner=ben,
        name="Big deal",
        fields={"Deal_Name": "Big deal", "Amount": 5000},
        created_time=at(9),
        modified_time=at(9),
    )
    for record_id, related_to, subject in (
        (6001, smith, "Call back"),
        (6002, deal, "Send quote"),
        (6003, None, "Plan week"),
    ):
        make_record(
            id=record_id,
            module_name="Tasks",
            related_to=related_to,
            name=subject,
            fields={"Subject": subject},
            created_time=at(14),
            modified_time=at(14),
        )
    make_record(
        id=8001,
        module_name="Products",
        owner=None,
        name="Widget",
        fields={"Product_Name": "Widget"},
        created_time=at(8),
        modified_time=at(8),
    )
    make_record(
        id=9001,
        organization=other_organization,
        owner=zed,
        name="Other",
        fields={"Last_Name": "Other"},
    )


SMITH = {
    "id": "5001",
    "Last_Name": "Smith",
    "Email": "s@x.test",
    "Owner": ANN,
    "Created_Time": "2026-11-22T10:00:00+00:00",
    "Modified_Time": "2026-11-22T12:00:00+00:00",
}
JONES = {
    "id": "5002",
    "Last_Name": "Jones",
    "Owner": BEN,
    "Created_Time": "2026-11-22T11:00:00+00:00",
    "Modified_Time": "2026-11-22T11:30:00+00:00",
}
BROWN = {
    "id": "5003",
    "Last_Name": "Brown",
    "Email": "b@x.test",
    "Owner": ANN,
    "Created_Time": "2026-11-22T09:00:00+00:00",
    "Modified_Time": "2026-11-22T13:00:00+00:00",
}
CONTACTS = {"5001": SMITH, "5002": JONES, "5003": BROWN}


def error(code: str, details: dict, message: str = "invalid data") -> dict:
    return {"code": code, "details": details, "message": message, "status": "error"}


@pytest.fixture
def client(crm_data, ann, auth_client):
    return auth_client(ann, READ)


def test_list_renders_records_as_bigin_does(client):
    response = client.get("/bigin/v2/Contacts")

    assert response.status_code == 200
    assert response.json() == {"data": [SMITH, JONES, BROWN], "info": info(3)}


@pytest.mark.parametrize("name", ["contacts", "CONTACTS", "cOnTaCtS"])
def test_module_names_match_case_insensitively(client, name):
    response = client.get(f"/bigin/v2/{name}")

    assert response.json() == {"data": [SMITH, JONES, BROWN], "info": info(3)}


def test_activities_show_their_related_record(client, organization):
    response = client.get("/bigin/v2/Tasks")

    task = {
        "Owner": {"name": "Ann Lee", "id": "2001", "email": "ann@zylker.test"},
        "Created_Time": "2026-11-22T14:00:00+00:00",
        "Modified_Time": "2026-11-22T14:00:00+00:00",
    }
    assert response.json() == {
        "data": [
            {
                "id": "6001",
                "Subject": "Call back",
                **task,
                "What_Id": {"name": "Smith", "id": "5001"},
                "$se_module": "Contacts",
            },
            {
                "id": "6002",
                "Subject": "Send quote",
                **task,
                "What_Id": {"name": "Big deal", "id": "7001"},
                "$se_module": "Pipelines",
            },
            {"id": "6003", "Subject": "Plan week", **task, "What_Id": None, "$se_module": None},
        ],
        "info": info(3),
    }


def test_a_record_without_owner_shows_owner_null(client):
    response = client.get("/bigin/v2/Products/8001")

    assert response.json() == {
        "data": [
            {
                "id": "8001",
                "Product_Name": "Widget",
                "Owner": None,
                "Created_Time": "2026-11-22T08:00:00+00:00",
                "Modified_Time": "2026-11-22T08:00:00+00:00",
            }
        ]
    }


def test_fields_selects_the_named_fields_and_id(client):
    response = client.get("/bigin/v2/Contacts", {"fields": "Email,Owner"})

    assert response.json() == {
        "data": [
            {"id": "5001", "Email": "s@x.test", "Owner": ANN},
            {"id": "5002", "Email": None, "Owner": BEN},
            {"id": "5003", "Email": "b@x.test", "Owner": ANN},
        ],
        "info": info(3),
    }


def test_fields_on_one_record_and_unknown_field_names(client):
    response = client.get(
        "/bigin/v2/Tasks/6001", {"fields": "Subject, What_Id,$se_module,No_Such,Subject"}
    )

    assert response.json() == {
        "data": [
            {
                "id": "6001",
                "Subject": "Call back",
                "What_Id": {"name": "Smith", "id": "5001"},
                "$se_module": "Contacts",
                "No_Such": None,
            }
        ]
    }


def test_get_one_record(client):
    response = client.get("/bigin/v2/contacts/5002")

    assert response.status_code == 200
    assert response.json() == {"data": [JONES]}


@pytest.mark.parametrize(
    ("module", "record_id"),
    [
        ("Contacts", "9001"),  # another organization's contact
        ("Contacts", "6001"),  # a task, asked for as a contact
        ("Contacts", "424242"),
        ("Contacts", "abc"),
        ("Contacts", "12345678901234567890"),
    ],
)
def test_get_one_record_answers_204_when_not_there(client, module, record_id):
    response = client.get(f"/bigin/v2/{module}/{record_id}")

    assert response.status_code == 204
    assert response.content == b""


def test_another_organizations_records_are_invisible(crm_data, zed, auth_client):
    client = auth_client(zed, READ)

    listed = client.get("/bigin/v2/Contacts")
    theirs = client.get("/bigin/v2/Contacts/5001")

    assert [record["id"] for record in listed.json()["data"]] == ["9001"]
    assert theirs.status_code == 204


def test_paging_and_more_records(client):
    first = client.get("/bigin/v2/Contacts", {"per_page": 2})
    second = client.get("/bigin/v2/Contacts", {"per_page": 2, "page": 2})
    past_the_end = client.get("/bigin/v2/Contacts", {"per_page": 2, "page": 3})
    exactly_full = client.get("/bigin/v2/Contacts", {"per_page": 3})
    one = client.get("/bigin/v2/Contacts", {"per_page": 1, "page": 3})

    assert first.json() == {"data": [SMITH, JONES], "info": info(2, per_page=2, more=True)}
    assert second.json() == {"data": [BROWN], "info": info(1, page=2, per_page=2)}
    assert past_the_end.status_code == 204
    assert past_the_end.content == b""
    assert exactly_full.json() == {"data": [SMITH, JONES, BROWN], "info": info(3, per_page=3)}
    assert one.json() == {"data": [BROWN], "info": info(1, page=3, per_page=1)}


def test_per_page_200_is_the_maximum(client):
    at_limit = client.get("/bigin/v2/Contacts", {"per_page": 200})
    over = client.get("/bigin/v2/Contacts", {"per_page": 201})

    assert at_limit.json() == {"data": [SMITH, JONES, BROWN], "info": info(3)}
    assert over.status_code == 400
    assert over.json() == error("INVALID_DATA", {"param_name": "per_page", "maximum": 200})


def test_an_empty_module_answers_204(client):
    response = client.get("/bigin/v2/Events")

    assert response.status_code == 204
    assert response.content == b""


@pytest.mark.parametrize(
    ("sort_by", "sort_order", "expected"),
    [
        ("id", "asc", ["5001", "5002", "5003"]),
        ("id", "desc", ["5003", "5002", "5001"]),
        ("Created_Time", "asc", ["5003", "5001", "5002"]),
        ("Created_Time", "desc", ["5002", "5001", "5003"]),
        ("Modified_Time", "asc", ["5002", "5001", "5003"]),
        ("Modified_Time", "desc", ["5003", "5001", "5002"]),
    ],
)
def test_sorting(client, sort_by, sort_order, expected):
    response = client.get("/bigin/v2/Contacts", {"sort_by": sort_by, "sort_order": sort_order})

    assert response.json() == {"data": [CONTACTS[i] for i in expected], "info": info(3)}


def test_sorting_breaks_ties_by_id_in_the_same_order(client):
    # The three tasks share one creation time.
    asc = client.get("/bigin/v2/Tasks", {"sort_by": "Created_Time", "fields": "Subject"})
    desc = client.get(
        "/bigin/v2/Tasks", {"sort_by": "Created_Time", "sort_order": "desc", "fields": "Subject"}
    )

    assert [r["id"] for r in asc.json()["data"]] == ["6001", "6002", "6003"]
    assert [r["id"] for r in desc.json()["data"]] == ["6003", "6002", "6001"]


def test_owner_filter(client, zed):
    bens = client.get("/bigin/v2/Contacts", {"owner_id": "2002"})
    anns_second_page = client.get("/bigin/v2/Contacts", {"owner_id": 2001, "per_page": 1})
    other_org_user = client.get("/bigin/v2/Contacts", {"owner_id": "3001"})

    assert bens.json() == {"data": [JONES], "info": info(1)}
    assert anns_second_page.json() == {"data": [SMITH], "info": info(1, per_page=1, more=True)}
    assert other_org_user.status_code == 204


@pytest.mark.parametrize(
    ("query", "details"),
    [
        ({"per_page": 0}, {"param_name": "per_page", "expected_data_type": "integer"}),
        ({"per_page": "-5"}, {"param_name": "per_page", "expected_data_type": "integer"}),
        ({"page": 0}, {"param_name": "page", "expected_data_type": "integer"}),
        ({"page": "1.5"}, {"param_name": "page", "expected_data_type": "integer"}),
        (
            {"sort_by": "Last_Name"},
            {
                "param_name": "sort_by",
                "supported_values": ["id", "Created_Time", "Modified_Time"],
            },
        ),
        (
            {"sort_order": "up"},
            {"param_name": "sort_order", "supported_values": ["asc", "desc"]},
        ),
        ({"owner_id": "ann"}, {"param_name": "owner_id", "expected_data_type": "long"}),
    ],
)
def test_bad_parameters_are_invalid_data(client, query, details):
    response = client.get("/bigin/v2/Contacts", query)

    assert response.status_code == 400
    assert response.json() == error("INVALID_DATA", details)


@pytest.mark.parametrize("path", ["/bigin/v2/Leads", "/bigin/v2/Leads/5001"])
def test_unknown_module(client, path):
    response = client.get(path)

    assert response.status_code == 400
    assert response.json() == error(
        "INVALID_MODULE", {"resource_path_index": 0}, "the module name given seems to be invalid"
    )


def test_unknown_module_without_token_fails_authentication_first(crm_data, api_client):
    response = api_client.get("/bigin/v2/Leads")

    assert response.status_code == 401
    assert response.json() == error("AUTHENTICATION_FAILURE", {}, "Authentication failed")


@pytest.mark.parametrize(
    ("scope", "path", "status"),
    [
        ("ZohoBigin.modules.ALL", "/bigin/v2/Tasks", 200),
        ("ZohoBigin.modules.contacts.READ", "/bigin/v2/contacts/5001", 200),
        ("ZohoBigin.modules.contacts.ALL", "/bigin/v2/Contacts", 200),
        ("ZohoBigin.modules.contacts.READ", "/bigin/v2/Tasks", 401),
        ("ZohoBigin.users.READ", "/bigin/v2/Contacts", 401),
    ],
)
def test_records_scopes(crm_data, ann, auth_client, scope, path, status):
    response = auth_client(ann, scope).get(path)

    assert response.status_code == status
    if status == 401:
        assert response.json() == error(
            "OAUTH_SCOPE_MISMATCH", {}, "invalid oauth scope to access this URL"
        )


def test_records_refuse_other_methods_before_checking_the_module(client):
    response = client.patch("/bigin/v2/Leads/5001")

    assert response.status_code == 405
    assert response.json() == error(
        "INVALID_REQUEST_METHOD", {}, "The http request method type is not a valid one"
    )


def test_an_unknown_path_under_the_api_is_invalid_url_pattern(client):
    response = client.get("/bigin/v2/Contacts/5001/notes/1")

    assert response.status_code == 404
    assert response.json() == error(
        "INVALID_URL_PATTERN", {}, "Please check if the URL trying to access is a correct one"
    )


@pytest.mark.parametrize("per_page", [1, 200])
@pytest.mark.parametrize("module_name", ["Contacts", "Tasks"])
def test_records_list_costs_the_same_queries_for_any_page_size(
    organization, admin_user, auth_client, django_assert_num_queries, per_page, module_name
):
    contacts = Record.objects.bulk_create(
        Record(
            organization=organization,
            module_id=module_by_name("Contacts").id,
            owner=admin_user,
            name=f"Contact {n}",
            fields={"Last_Name": f"Contact {n}"},
        )
        for n in range(250)
    )
    Record.objects.bulk_create(
        Record(
            organization=organization,
            module_id=module_by_name("Tasks").id,
            owner=admin_user,
            related_to=contact,
            name=f"Task {n}",
        )
        for n, contact in enumerate(contacts)
    )
    client = auth_client(admin_user, READ)

    # 1. the access token with its user, organization and profile (authentication)
    # 2. the page of records joined with owner and related record, one row past the page
    with django_assert_num_queries(2):
        response = client.get(
            f"/bigin/v2/{module_name}", {"per_page": per_page, "sort_by": "Modified_Time"}
        )

    assert response.json()["info"] == info(per_page, per_page=per_page, more=True)


@pytest.mark.parametrize("per_page", [1, 200])
def test_owner_filtered_list_costs_the_same_queries(
    organization, admin_user, auth_client, django_assert_num_queries, per_page
):
    Record.objects.bulk_create(
        Record(
            organization=organization,
            module_id=module_by_name("Contacts").id,
            owner=admin_user,
            name=f"Contact {n}",
        )
        for n in range(250)
    )
    client = auth_client(admin_user, READ)

    # 1. authentication; 2. the page of the owner's records, one row past the page
    with django_assert_num_queries(2):
        response = client.get(
            "/bigin/v2/Contacts", {"per_page": per_page, "owner_id": admin_user.id}
        )

    assert response.json()["info"]["count"] == per_page
