"""Upsert and search records (Bigin's upsert records and search records pages): exact bodies for
every success, partial and error case, and the dialect of Zoho CRM v8 (Deals, 207, ZohoCRM
scopes)."""

from __future__ import annotations

import pytest

from audit.models import AuditEntry
from crm.models import Record
from tests.crm.oauth.test_auth_matrix import OAUTH_SCOPE_MISMATCH
from tests.factories import RecordFactory

from .records import NOW, WRITE, added, error, invalid, mandatory, updated, user_ref

pytestmark = pytest.mark.django_db

SEARCH = ("ZohoBigin.modules.READ", "ZohoSearch.securesearch.READ")


@pytest.fixture
def bo(make_user):
    return make_user(full_name="Bo Chen", email="bo@zylker.test", profile_name="Standard")


@pytest.fixture
def client(admin_user, auth_client):
    return auth_client(admin_user, WRITE, "ZohoSearch.securesearch.READ")


@pytest.fixture
def people(make_record, admin_user, bo):
    """Three contacts (ids in this order) and a company."""
    return {
        "smith": make_record(
            name="Ann Smith",
            fields={
                "First_Name": "Ann",
                "Last_Name": "Smith",
                "Email": "Ann@X.test",
                "Phone": "555-0101",
                "Score": 5,
            },
        ),
        "jones": make_record(
            name="Bob Jones",
            owner=bo,
            fields={
                "First_Name": "Bob",
                "Last_Name": "Jones",
                "Email": "bob@x.test",
                "Mobile": "555-0202",
                "Score": 9,
            },
        ),
        "brown": make_record(
            name="Cy Brown",
            fields={"First_Name": "Cy", "Last_Name": "Brown", "Email": "cy@y.test", "Score": 7},
        ),
        "zylker": make_record(
            module_name="Accounts", name="Zylker Inc", fields={"Account_Name": "Zylker Inc"}
        ),
    }


def upsert(client, body, module="Contacts", prefix="/bigin/v2"):
    return client.post(f"{prefix}/{module}/upsert", body, format="json")


def loaded(record, actor, **top):
    """The entry of a record loaded from a sandbox file (no Created_By), updated now."""
    return updated(
        record.id,
        actor,
        created=record.created_time.isoformat(timespec="seconds"),
        creator=None,
        **top,
    )


# Upsert --------------------------------------------------------------------------------------


def test_upsert_updates_the_record_its_email_finds_and_adds_the_others(
    client, admin_user, bo, people, frozen
):
    smith = people["smith"]
    response = upsert(
        client,
        {
            "data": [
                {"Last_Name": "Smythe", "Email": "ann@x.TEST", "Owner": {"id": str(bo.id)}},
                {"Last_Name": "New", "Email": "new@x.test"},
                {"Email": "no-name@x.test"},  # would be added: its mandatory field is missing
                {"Last_Name": "X", "Email": 5},
            ]
        },
    )

    new = Record.objects.get(name="New")
    assert (response.status_code, response.json()) == (
        202,
        {
            "data": [
                loaded(smith, admin_user, duplicate_field="Email", action="update"),
                added(new.id, admin_user, duplicate_field=None, action="insert"),
                mandatory("Last_Name", 2),
                invalid("Email", 3, expected_data_type="email"),
            ]
        },
    )
    smith.refresh_from_db()
    assert (smith.name, smith.owner_id, smith.fields["Email"]) == (
        "Ann Smythe",
        bo.id,
        "ann@x.TEST",
    )
    assert list(AuditEntry.objects.order_by("source").values_list("record_id", "source")) == [
        (new.id, "insert"),
        (smith.id, "update"),
    ]


def test_upsert_by_the_fields_the_body_names_in_their_order(client, admin_user, people, frozen):
    jones, brown = people["jones"], people["brown"]
    response = upsert(
        client,
        {
            "data": [
                {"Last_Name": "Jones", "Mobile": "555-0202", "Title": "A"},
                {"Last_Name": "Brown", "Email": "cy@y.test", "Mobile": "000", "Title": "B"},
            ],
            "duplicate_check_fields": ["Mobile", "Email"],
        },
    )

    assert (response.status_code, response.json()) == (
        200,
        {
            "data": [
                loaded(jones, admin_user, duplicate_field="Mobile", action="update"),
                loaded(brown, admin_user, duplicate_field="Email", action="update"),
            ]
        },
    )
    brown.refresh_from_db()
    assert (brown.fields["Mobile"], brown.fields["Title"]) == ("000", "B")


def test_upsert_of_accounts_matches_their_name_and_of_tasks_adds(
    client, admin_user, people, frozen
):
    accounts = upsert(client, {"data": [{"Account_Name": "ZYLKER INC", "Phone": "1"}]}, "Accounts")
    tasks = upsert(client, {"data": [{"Subject": "Call"}, {"Subject": "Call"}]}, "Tasks")

    calls = list(Record.objects.filter(name="Call").order_by("id"))
    assert (accounts.status_code, accounts.json()) == (
        200,
        {
            "data": [
                loaded(
                    people["zylker"], admin_user, duplicate_field="Account_Name", action="update"
                )
            ]
        },
    )
    assert (tasks.status_code, tasks.json()) == (
        200,
        {"data": [added(c.id, admin_user, duplicate_field=None, action="insert") for c in calls]},
    )


@pytest.mark.parametrize(
    ("check", "path"),
    [
        ("Email", "$.duplicate_check_fields"),
        ([], "$.duplicate_check_fields"),
        (["Email", 3], "$.duplicate_check_fields[1]"),
        (["Email", "Favourite_Colour"], "$.duplicate_check_fields[1]"),
        (["Score"], "$.duplicate_check_fields[0]"),  # not a text field
    ],
)
def test_upsert_refuses_duplicate_check_fields_that_are_not_text_fields(
    client, people, check, path
):
    response = upsert(client, {"data": [{"Last_Name": "A"}], "duplicate_check_fields": check})

    details = {"api_name": "duplicate_check_fields", "json_path": path}
    if path == "$.duplicate_check_fields":
        details = {"expected_data_type": "jsonarray", **details}
    assert (response.status_code, response.json()) == (
        400,
        error("INVALID_DATA", details, "invalid data"),
    )
    assert Record.objects.count() == 4


# Search --------------------------------------------------------------------------------------


def search(client, module="Contacts", prefix="/bigin/v2", **query):
    return client.get(f"{prefix}/{module}/search", query)


def ids(response) -> list[str]:
    return [record["id"] for record in response.json()["data"]]


def test_search_by_email_finds_it_without_case_and_answers_the_records_as_reads_do(client, people):
    smith = people["smith"]
    response = search(client, email="ANN@x.test")

    assert response.status_code == 200
    assert response.json() == {
        "data": [client.get(f"/bigin/v2/Contacts/{smith.id}").json()["data"][0]],
        "info": {"per_page": 200, "count": 1, "page": 1, "more_records": False},
    }


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({"phone": "555-0202"}, ["jones"]),  # Mobile is a phone field too
        ({"phone": "555-0101"}, ["smith"]),
        ({"word": "ROWN"}, ["brown"]),  # the name
        ({"word": "x.test"}, ["smith", "jones"]),  # any text field
        ({"criteria": "(Email:equals:bob@x.test)"}, ["jones"]),
        ({"criteria": "(Last_Name:starts_with:s)"}, ["smith"]),
        ({"criteria": "((Email:starts_with:ann)or(Email:starts_with:cy))"}, ["smith", "brown"]),
        ({"criteria": "((Email:ends_with:x)and(Score:greater_than:6))"}, None),
        ({"criteria": "((Score:greater_than:5)and(Email:starts_with:b))"}, ["jones"]),
        ({"criteria": "(Score:between:6,8)"}, ["brown"]),
        ({"criteria": "(Last_Name:in:Smith,Brown)"}, ["smith", "brown"]),
        ({"criteria": "(Last_Name:not_equal:smith)"}, ["jones", "brown"]),
        (
            {
                "criteria": "(((Score:less_equal:5)or(Score:greater_equal:9))"
                "and(Phone:equals:555-0101))"
            },
            ["smith"],
        ),
        ({"criteria": "(Email:equals:nobody@x.test)"}, []),
    ],
)
def test_search_by_email_phone_word_and_criteria(client, people, query, expected):
    response = search(client, **query)

    if expected is None:  # an operator Bigin's search does not have
        assert (response.status_code, response.json()) == (
            400,
            error(
                "INVALID_QUERY",
                {"param_name": "criteria", "operator": "ends_with"},
                "invalid query formed",
            ),
        )
    elif not expected:
        assert (response.status_code, response.content) == (204, b"")
    else:
        assert (response.status_code, ids(response)) == (
            200,
            [str(people[name].id) for name in expected],
        )


def test_search_by_owner_id_and_times(client, people, bo):
    by_owner = search(client, criteria=f"(Owner:equals:{bo.id})")
    since = search(client, criteria="(Created_Time:greater_than:2000-01-01T00:00:00+00:00)")

    assert ids(by_owner) == [str(people["jones"].id)]
    assert len(ids(since)) == 3


def test_search_pages(client, make_record):
    for n in range(5):
        make_record(name=f"P{n}", fields={"Last_Name": "Page", "Email": f"p{n}@x.test"})

    first = search(client, criteria="(Last_Name:equals:page)", per_page=2)
    last = search(client, criteria="(Last_Name:equals:page)", per_page=2, page=3)

    assert first.json()["info"] == {"per_page": 2, "count": 2, "page": 1, "more_records": True}
    assert last.json()["info"] == {"per_page": 2, "count": 1, "page": 3, "more_records": False}


def test_search_stays_in_the_organization(client, people, other_organization):
    RecordFactory(organization=other_organization, fields={"Email": "ann@x.test"})

    assert ids(search(client, email="ann@x.test")) == [str(people["smith"].id)]


@pytest.mark.parametrize(
    ("query", "details", "code", "message"),
    [
        (
            {},
            {"param": "criteria"},
            "REQUIRED_PARAM_MISSING",
            "One of the expected parameter is missing",
        ),
        (
            {"criteria": "Email:equals:a"},
            {"param_name": "criteria"},
            "INVALID_QUERY",
            "invalid query formed",
        ),
        (
            {"criteria": "((Email:equals:a)"},
            {"param_name": "criteria"},
            "INVALID_QUERY",
            "invalid query formed",
        ),
        (
            {"criteria": "((A:equals:a)and(B:equals:b)or(C:equals:c))"},
            {"param_name": "criteria"},
            "INVALID_QUERY",
            "invalid query formed",
        ),
        (
            {"criteria": "(Favourite_Colour:equals:red)"},
            {"param_name": "criteria", "api_name": "Favourite_Colour"},
            "INVALID_QUERY",
            "invalid query formed",
        ),
        (
            {"criteria": "(Score:greater_than:many)"},
            {"param_name": "criteria", "api_name": "Score", "expected_data_type": "integer"},
            "INVALID_QUERY",
            "invalid query formed",
        ),
        (
            {
                "criteria": "("
                + ")or(".join(f"Email:equals:{n}" for n in range(11)).join("()")
                + ")"
            },
            {"limit": 10, "param_name": "criteria"},
            "LIMIT_EXCEEDED",
            "Limit Exceeded, You cannot give more than 10 criteria",
        ),
    ],
)
def test_search_refuses_what_is_not_a_search(client, people, query, details, code, message):
    response = search(client, **query)

    assert (response.status_code, response.json()) == (400, error(code, details, message))


def test_search_needs_the_secure_search_scope_besides_the_modules(admin_user, auth_client, people):
    without = auth_client(admin_user, "ZohoBigin.modules.ALL")
    only_search = auth_client(admin_user, "ZohoSearch.securesearch.READ")
    both = auth_client(admin_user, "ZohoBigin.modules.contacts.READ", "ZohoSearch.securesearch.ALL")

    assert (search(without, email="bob@x.test").status_code, search(without, email="b").json()) == (
        401,
        OAUTH_SCOPE_MISMATCH,
    )
    assert search(only_search, email="bob@x.test").json() == OAUTH_SCOPE_MISMATCH
    assert search(both, email="bob@x.test").status_code == 200


# The Zoho CRM v8 dialect ---------------------------------------------------------------------


@pytest.fixture
def crm_client(admin_user, auth_client):
    return auth_client(admin_user, "ZohoCRM.modules.ALL", "ZohoSearch.securesearch.READ")


def test_crm_adds_deals_and_answers_a_partial_write_207(crm_client, admin_user, people, frozen):
    deals = crm_client.post(
        "/crm/v8/Deals",
        {"data": [{"Deal_Name": "Big", "Stage": "Qualification", "Amount": 1200.5}]},
        format="json",
    )
    partial = crm_client.post(
        "/crm/v8/Contacts",
        {"data": [{"Last_Name": "Ok"}, {"Last_Name": "Dup", "Email": "bob@x.test"}]},
        format="json",
    )
    bigin_words = crm_client.post(
        "/crm/v8/Pipelines", {"data": [{"Deal_Name": "x"}]}, format="json"
    )

    big, ok = Record.objects.get(name="Big"), Record.objects.get(name="Ok")
    assert (deals.status_code, deals.json()) == (201, {"data": [added(big.id, admin_user)]})
    jones = people["jones"]
    assert (partial.status_code, partial.json()) == (
        207,
        {
            "data": [
                added(ok.id, admin_user),
                error(
                    "DUPLICATE_DATA",
                    {
                        "api_name": "Email",
                        "json_path": "$.data[1].Email",
                        "duplicate_record": {
                            "module": {"api_name": "Contacts", "id": str(jones.module_id)},
                            "id": str(jones.id),
                            "Owner": user_ref(jones.owner),
                        },
                    },
                    "duplicate data",
                ),
            ]
        },
    )
    assert bigin_words.status_code == 400 and bigin_words.json()["code"] == "INVALID_MODULE"
    assert big.created_time == NOW


def test_crm_updates_upserts_searches_and_deletes_deals(
    crm_client, admin_user, make_record, frozen
):
    deal = make_record(module_name="Pipelines", name="Deal", fields={"Deal_Name": "Deal"})
    other = make_record(module_name="Pipelines", name="Other", fields={"Deal_Name": "Other"})

    update = crm_client.put(
        "/crm/v8/Deals",
        {"data": [{"id": str(deal.id), "Stage": "Closed Won"}, {"id": "1"}]},
        format="json",
    )
    found = crm_client.get("/crm/v8/Deals/search", {"criteria": "(Stage:equals:closed won)"})
    upserted = crm_client.post(
        "/crm/v8/Deals/upsert", {"data": [{"Deal_Name": "OTHER", "Stage": "Lost"}]}, format="json"
    )
    removed = crm_client.delete(f"/crm/v8/Deals?ids={deal.id},{other.id}")

    assert update.status_code == 207
    assert [entry["status"] for entry in update.json()["data"]] == ["success", "error"]
    assert [row["id"] for row in found.json()["data"]] == [str(deal.id)]
    assert upserted.json()["data"][0]["duplicate_field"] == "Deal_Name"
    assert removed.status_code == 200
    assert not Record.objects.filter(module_id=deal.module_id).exists()


def test_crm_scopes_are_the_zoho_crm_family(auth_client, admin_user, people):
    bigin_scope = auth_client(admin_user, "ZohoBigin.modules.ALL")
    crm_scope = auth_client(admin_user, "ZohoCRM.modules.contacts.CREATE")

    refused = bigin_scope.post("/crm/v8/Contacts", {"data": [{"Last_Name": "A"}]}, format="json")
    accepted = crm_scope.post("/crm/v8/Contacts", {"data": [{"Last_Name": "A"}]}, format="json")

    assert (refused.status_code, refused.json()) == (401, OAUTH_SCOPE_MISMATCH)
    assert accepted.status_code == 201
