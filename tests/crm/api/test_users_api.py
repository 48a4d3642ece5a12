from __future__ import annotations

from datetime import UTC, datetime

import pytest

from crm.models import Profile, Role, User
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)
EARLIER = datetime(2026, 1, 5, 8, 30, tzinfo=UTC)
READ = "ZohoBigin.users.READ"


@pytest.fixture
def people(organization, other_organization, time_machine):
    """Zylker: Ann (admin, CEO), Ben (standard), Cy (admin, disabled), Di (deleted), Ed (read
    only). Nimbus: Zed. Fixed ids and times so bodies can be written out."""
    time_machine.move_to(NOW, tick=False)
    ceo = Role.objects.create(id=4001, organization=organization, name="CEO")

    def user(org, user_id, full_name, email, profile, **fields):
        return UserFactory(
            organization=org,
            id=user_id,
            full_name=full_name,
            email=email,
            profile_name=profile,
            **fields,
        )

    return {
        "ann": user(organization, 2001, "Ann Lee", "ann@zylker.test", "Administrator", role=ceo),
        "ben": user(organization, 2002, "Ben Ray", "ben@zylker.test", "Standard"),
        "cy": user(
            organization,
            2003,
            "Cy Van Dee",
            "cy@zylker.test",
            "Administrator",
            status=User.Status.DISABLED,
            created_time=EARLIER,
        ),
        "di": user(
            organization, 2004, "Di Eve", "di@zylker.test", "Standard", status=User.Status.DELETED
        ),
        "ed": user(organization, 2005, "Edmund", "ed@zylker.test", "Read Only"),
        "zed": user(other_organization, 3001, "Zed Nim", "zed@nimbus.test", "Administrator"),
    }


def profile_id(organization, name: str) -> str:
    return str(Profile.objects.get(organization=organization, name=name).id)


@pytest.fixture
def body(organization):
    """The exact JSON of each Zylker user."""
    admin, standard = (
        profile_id(organization, "Administrator"),
        profile_id(organization, "Standard"),
    )
    now, earlier = "2026-11-22T10:00:00+00:00", "2026-01-05T08:30:00+00:00"
    return {
        "ann": {
            "id": "2001",
            "full_name": "Ann Lee",
            "first_name": "Ann",
            "last_name": "Lee",
            "email": "ann@zylker.test",
            "status": "active",
            "role": {"name": "CEO", "id": "4001"},
            "profile": {"name": "Administrator", "id": admin},
            "created_time": now,
            "Modified_Time": now,
        },
        "ben": {
            "id": "2002",
            "full_name": "Ben Ray",
            "first_name": "Ben",
            "last_name": "Ray",
            "email": "ben@zylker.test",
            "status": "active",
            "role": None,
            "profile": {"name": "Standard", "id": standard},
            "created_time": now,
            "Modified_Time": now,
        },
        "cy": {
            "id": "2003",
            "full_name": "Cy Van Dee",
            "first_name": "Cy Van",
            "last_name": "Dee",
            "email": "cy@zylker.test",
            "status": "disabled",
            "role": None,
            "profile": {"name": "Administrator", "id": admin},
            "created_time": earlier,
            "Modified_Time": now,
        },
        "di": {
            "id": "2004",
            "full_name": "Di Eve",
            "first_name": "Di",
            "last_name": "Eve",
            "email": "di@zylker.test",
            "status": "deleted",
            "role": None,
            "profile": {"name": "Standard", "id": standard},
            "created_time": now,
            "Modified_Time": now,
        },
        "ed": {
            "id": "2005",
            "full_name": "Edmund",
            "first_name": None,
            "last_name": "Edmund",
            "email": "ed@zylker.test",
            "status": "active",
            "role": None,
            "profile": {"name": "Read Only", "id": profile_id(organization, "Read Only")},
            "created_time": now,
            "Modified_Time": now,
        },
    }


def info(count: int, *, page: int = 1, per_page: int = 200, more: bool = False) -> dict:
    return {"per_page": per_page, "count": count, "page": page, "more_records": more}


@pytest.mark.parametrize(
    ("user_type", "expected"),
    [
        ("AllUsers", ["ann", "ben", "cy", "ed"]),
        ("ActiveUsers", ["ann", "ben", "ed"]),
        ("DeactiveUsers", ["cy"]),
        ("DeletedUsers", ["di"]),
        ("AdminUsers", ["ann", "cy"]),
        ("CurrentUser", ["ann"]),
    ],
)
def test_users_list_filters_by_type(people, body, auth_client, user_type, expected):
    response = auth_client(people["ann"], READ).get("/bigin/v2/users", {"type": user_type})

    assert response.status_code == 200
    assert response.json() == {
        "users": [body[name] for name in expected],
        "info": info(len(expected)),
    }


def test_users_list_defaults_to_all_users(people, body, auth_client):
    response = auth_client(people["ann"], READ).get("/bigin/v2/users")

    assert response.json() == {
        "users": [body["ann"], body["ben"], body["cy"], body["ed"]],
        "info": info(4),
    }


def test_current_user_is_the_caller(people, body, auth_client):
    response = auth_client(people["ben"], READ).get("/bigin/v2/users", {"type": "CurrentUser"})

    assert response.json() == {"users": [body["ben"]], "info": info(1)}


def test_users_list_pages_and_reports_more_records(people, body, auth_client):
    client = auth_client(people["ann"], READ)

    first = client.get("/bigin/v2/users", {"per_page": 2})
    second = client.get("/bigin/v2/users", {"per_page": 2, "page": 2})
    past_the_end = client.get("/bigin/v2/users", {"per_page": 2, "page": 3})
    exactly_full = client.get("/bigin/v2/users", {"per_page": 4})

    assert first.json() == {
        "users": [body["ann"], body["ben"]],
        "info": info(2, per_page=2, more=True),
    }
    assert second.json() == {
        "users": [body["cy"], body["ed"]],
        "info": info(2, page=2, per_page=2, more=False),
    }
    assert past_the_end.status_code == 204
    assert past_the_end.content == b""
    assert exactly_full.json()["info"] == info(4, per_page=4, more=False)


def test_users_list_answers_204_when_no_user_matches(people, auth_client):
    people["di"].delete()  # the only deleted user

    response = auth_client(people["ann"], READ).get("/bigin/v2/users", {"type": "DeletedUsers"})

    assert response.status_code == 204
    assert response.content == b""


@pytest.mark.parametrize(
    ("query", "details"),
    [
        ({"per_page": 201}, {"param_name": "per_page", "maximum": 200}),
        ({"per_page": 0}, {"param_name": "per_page", "expected_data_type": "integer"}),
        ({"page": "two"}, {"param_name": "page", "expected_data_type": "integer"}),
        (
            {"type": "Everyone"},
            {
                "param_name": "type",
                "supported_values": [
                    "AllUsers",
                    "ActiveUsers",
                    "DeactiveUsers",
                    "DeletedUsers",
                    "AdminUsers",
                    "CurrentUser",
                ],
            },
        ),
    ],
)
def test_users_list_rejects_bad_parameters(people, auth_client, query, details):
    response = auth_client(people["ann"], READ).get("/bigin/v2/users", query)

    assert response.status_code == 400
    assert response.json() == {
        "code": "INVALID_DATA",
        "details": details,
        "message": "invalid data",
        "status": "error",
    }


def test_user_by_id(people, body, auth_client):
    client = auth_client(people["ann"], READ)

    assert client.get("/bigin/v2/users/2003").json() == {"users": [body["cy"]]}
    # A deleted user still resolves by id, so an Owner id read from a record always does.
    assert client.get("/bigin/v2/users/2004").json() == {"users": [body["di"]]}


@pytest.mark.parametrize("user_id", ["3001", "999", "abc", "12345678901234567890"])
def test_user_by_id_answers_204_for_unknown_or_other_organization(people, auth_client, user_id):
    response = auth_client(people["ann"], READ).get(f"/bigin/v2/users/{user_id}")

    assert response.status_code == 204
    assert response.content == b""


def test_users_accepts_the_all_scope_and_refuses_others(people, auth_client):
    allowed = auth_client(people["ann"], "ZohoBigin.users.ALL").get("/bigin/v2/users")
    refused = auth_client(people["ann"], "ZohoBigin.modules.READ").get("/bigin/v2/users/2001")

    assert allowed.status_code == 200
    assert refused.status_code == 401
    assert refused.json() == {
        "code": "OAUTH_SCOPE_MISMATCH",
        "details": {},
        "message": "invalid oauth scope to access this URL",
        "status": "error",
    }


def test_users_without_a_token_is_an_authentication_failure(people, api_client):
    response = api_client.get("/bigin/v2/users")

    assert response.status_code == 401
    assert response.json() == {
        "code": "AUTHENTICATION_FAILURE",
        "details": {},
        "message": "Authentication failed",
        "status": "error",
    }


def test_users_refuses_other_methods(people, auth_client):
    response = auth_client(people["ann"], READ).post("/bigin/v2/users", {}, format="json")

    assert response.status_code == 405
    assert response.json()["code"] == "INVALID_REQUEST_METHOD"


@pytest.mark.parametrize("per_page", [1, 200])
def test_users_list_costs_the_same_queries_for_any_page_size(
    organization, admin_user, auth_client, django_assert_num_queries, per_page
):
    profile = Profile.objects.get(organization=organization, name="Standard")
    role = Role.objects.create(organization=organization, name="Rep")
    User.objects.bulk_create(
        User(
            organization=organization,
            profile=profile,
            role=role,
            full_name=f"Rep {n}",
            email=f"rep{n}@zylker.test",
        )
        for n in range(250)
    )
    client = auth_client(admin_user, READ)

    # 1. the access token with its user, organization and profile (authentication)
    # 2. the page of users with their role and profile, one row past the page (more_records)
    with django_assert_num_queries(2):
        response = client.get("/bigin/v2/users", {"per_page": per_page})

    assert response.json()["info"] == info(per_page, per_page=per_page, more=True)
