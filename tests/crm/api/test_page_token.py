"""page_token (Zoho CRM v8): info.next_page_token / page_token_expiry, walking a list with it,
and the errors of a token that expired, was tampered with or belongs to another list."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest

from crm import paging
from crm.modules import module_by_name
from tests.crm.api.paging_helpers import info
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

READ = "ZohoBigin.modules.READ"
USERS = "ZohoBigin.users.READ"
CONTACTS = module_by_name("Contacts")


def error(code: str, details: dict, message: str) -> dict:
    return {"code": code, "details": details, "message": message, "status": "error"}


@pytest.fixture
def contacts(organization, admin_user, make_record):
    """Seven contacts; modified times repeat, so the time sort needs the id to break ties."""
    base = datetime(2026, 11, 22, 10, tzinfo=UTC)
    return [
        make_record(
            id=9000 + n,
            name=f"C{n}",
            fields={"Last_Name": f"C{n}"},
            modified_time=base + timedelta(minutes=n // 2),
        )
        for n in range(7)
    ]


@pytest.fixture
def client(contacts, admin_user, auth_client):
    return auth_client(admin_user, READ, USERS)


def walk(client, path: str, params: dict) -> tuple[list[list[str]], list[dict]]:
    """Every page of a list, following next_page_token: ([ids per page], [info per page])."""
    pages, infos = [], []
    response = client.get(path, params)
    while True:
        assert response.status_code == 200, response.content
        body = response.json()
        key = "data" if "data" in body else "users"
        pages.append([item["id"] for item in body[key]])
        infos.append(body["info"])
        token = body["info"]["next_page_token"]
        if token is None:
            return pages, infos
        response = client.get(path, {**params, "page_token": token})


def test_next_page_token_walks_the_whole_list_in_order(client, contacts):
    pages, infos = walk(client, "/bigin/v2/Contacts", {"per_page": 3})

    ids = [str(record.id) for record in contacts]
    assert pages == [ids[0:3], ids[3:6], ids[6:7]]
    assert infos == [
        info(3, page=1, per_page=3, more=True),
        info(3, page=2, per_page=3, more=True),
        info(1, page=3, per_page=3),
    ]


def test_a_token_page_is_the_same_page_as_by_number(client):
    first = client.get("/bigin/v2/Contacts", {"per_page": 2}).json()
    by_token = client.get(
        "/bigin/v2/Contacts", {"per_page": 2, "page_token": first["info"]["next_page_token"]}
    ).json()
    by_number = client.get("/bigin/v2/Contacts", {"per_page": 2, "page": 2}).json()

    assert by_token["data"] == by_number["data"]
    # Both with a token for page 3 (their texts differ when a second passes between the two:
    # a token carries its issue time).
    assert by_token["info"] == info(2, page=2, per_page=2, more=True)
    assert by_number["info"] == info(2, page=2, per_page=2, more=True)


@pytest.mark.parametrize("sort_order", ["asc", "desc"])
def test_walking_a_time_sort_breaks_ties_by_id(client, contacts, sort_order):
    params = {"per_page": 2, "sort_by": "Modified_Time", "sort_order": sort_order}
    pages, _ = walk(client, "/bigin/v2/Contacts", params)

    everything = client.get("/bigin/v2/Contacts", {**params, "per_page": 200}).json()["data"]
    assert [record_id for page in pages for record_id in page] == [r["id"] for r in everything]
    ids = [str(record.id) for record in contacts]
    assert everything[0]["id"] == (ids[0] if sort_order == "asc" else ids[6])


def test_walking_an_owner_filter(client, organization, make_record, contacts):
    ben = UserFactory(organization=organization, full_name="Ben Ray")
    mine = [make_record(id=9100 + n, owner=ben) for n in range(3)]

    pages, _ = walk(client, "/bigin/v2/Contacts", {"per_page": 2, "owner_id": ben.id})

    assert pages == [[str(mine[0].id), str(mine[1].id)], [str(mine[2].id)]]


def test_the_users_list_walks_by_token_too(client, organization, admin_user):
    others = [UserFactory(organization=organization) for _ in range(3)]

    pages, infos = walk(client, "/bigin/v2/users", {"per_page": 3})

    ids = sorted(str(user.id) for user in [admin_user, *others])
    assert pages == [ids[0:3], ids[3:4]]
    assert infos == [info(3, per_page=3, more=True), info(1, page=2, per_page=3)]


def _token_of_second_page(client) -> str:
    return client.get("/bigin/v2/Contacts", {"per_page": 2}).json()["info"]["next_page_token"]


INVALID_TOKEN_BODY = error("INVALID_DATA", {"param_name": "page_token"}, "invalid data")


@pytest.mark.parametrize(
    "tamper",
    [
        lambda token: token[:-2] + ("aa" if not token.endswith("aa") else "bb"),
        lambda token: token[:10],
        lambda token: "not a token",
    ],
    ids=["signature", "truncated", "garbage"],
)
def test_a_tampered_token_is_invalid_data(client, tamper):
    token = _token_of_second_page(client)

    response = client.get("/bigin/v2/Contacts", {"per_page": 2, "page_token": tamper(token)})

    assert response.status_code == 400
    assert response.json() == INVALID_TOKEN_BODY


@pytest.mark.parametrize(
    "other_list",
    [
        ("/bigin/v2/Accounts", {}),
        ("/bigin/v2/Contacts", {"sort_by": "Modified_Time"}),
        ("/bigin/v2/Contacts", {"sort_order": "desc"}),
        ("/bigin/v2/Contacts", {"owner_id": "2001"}),
        ("/bigin/v2/users", {}),
    ],
    ids=["module", "sort_by", "sort_order", "owner_id", "users"],
)
def test_a_token_of_another_list_is_invalid_data(client, other_list):
    token = _token_of_second_page(client)
    path, params = other_list

    response = client.get(path, {**params, "per_page": 2, "page_token": token})

    assert response.status_code == 400
    assert response.json() == INVALID_TOKEN_BODY


def test_a_token_of_another_organization_is_invalid_data(
    client, other_organization, auth_client, make_record
):
    zed = UserFactory(organization=other_organization)
    for n in range(3):
        make_record(id=9200 + n, organization=other_organization, owner=zed)
    token = _token_of_second_page(client)

    response = auth_client(zed, READ).get(
        "/bigin/v2/Contacts", {"per_page": 2, "page_token": token}
    )

    assert response.status_code == 400
    assert response.json() == INVALID_TOKEN_BODY


def test_a_token_older_than_a_day_has_expired(client, organization, contacts):
    scope = paging.records_scope(
        organization_id=organization.id,
        module_id=CONTACTS.id,
        sort_by="id",
        sort_order="asc",
        owner_id=None,
    )
    old, _ = paging.encode(scope, [contacts[1].id], 2, issued=time.time() - 24 * 3600 - 5)
    fresh, _ = paging.encode(scope, [contacts[1].id], 2, issued=time.time() - 24 * 3600 + 60)

    expired = client.get("/bigin/v2/Contacts", {"per_page": 2, "page_token": old})
    still_valid = client.get("/bigin/v2/Contacts", {"per_page": 2, "page_token": fresh})

    assert expired.status_code == 400
    assert expired.json() == error(
        "EXPIRED_VALUE", {"param_name": "page_token"}, "the page token has expired"
    )
    assert [r["id"] for r in still_valid.json()["data"]] == [
        str(contacts[2].id),
        str(contacts[3].id),
    ]


def test_page_and_page_token_together_are_ambiguous(client):
    token = _token_of_second_page(client)

    response = client.get("/bigin/v2/Contacts", {"page": 2, "page_token": token})

    assert response.status_code == 400
    assert response.json() == error(
        "AMBIGUITY_DURING_PROCESSING",
        {"ambiguity_due_to": ["page", "page_token"]},
        "page and page_token cannot be used together",
    )


def test_a_token_page_costs_two_queries(client, django_assert_num_queries):
    token = _token_of_second_page(client)

    # 1. the access token with its user, organization and profile (authentication)
    # 2. the page: WHERE (sort key) > (the token's key), one row past the page
    with django_assert_num_queries(2):
        response = client.get("/bigin/v2/Contacts", {"per_page": 2, "page_token": token})

    assert response.json()["info"] == info(2, page=2, per_page=2, more=True)


def test_per_page_may_change_along_the_way(client, contacts):
    token = _token_of_second_page(client)

    response = client.get("/bigin/v2/Contacts", {"per_page": 4, "page_token": token})

    assert [r["id"] for r in response.json()["data"]] == [str(c.id) for c in contacts[2:6]]
