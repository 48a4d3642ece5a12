"""API limits per organization (crm/http/metering.py): credits in a rolling 24 hours by edition or
override, requests in flight, 429 with Retry-After in each family's envelope; on Redis and
in-process alike."""

from __future__ import annotations

import logging
import uuid
from datetime import UTC, datetime, timedelta

import pytest
import time_machine

from crm.http import limits, metering
from crm.models import Organization
from tests.factories import OrganizationFactory, RecordFactory, UserFactory

pytestmark = pytest.mark.django_db

USERS = "/bigin/v2/users"
CREDITS_429 = {
    "code": "TOO_MANY_REQUESTS",
    "details": {"limit_type": "credits", "limit": 3, "window_seconds": 86400},
    "message": "the API credits of the organization for the last 24 hours are used up",
    "status": "error",
}


@pytest.fixture(params=["in_process", pytest.param("redis", marks=pytest.mark.redis)])
def store_kind(request, settings):
    """Each test counts in a store of its own: in this process, or in Redis under a fresh prefix."""
    if request.param == "in_process":
        settings.API_LIMITS_REDIS_URL = ""
    else:
        settings.API_LIMITS_REDIS_URL = settings.REDIS_URL
    settings.API_LIMITS_KEY_PREFIX = f"test-{uuid.uuid4().hex[:12]}:"
    limits._store_for.cache_clear()
    yield request.param
    limits._store_for.cache_clear()


@pytest.fixture
def limited(organization):
    Organization.objects.filter(pk=organization.pk).update(api_credits_per_day=3)
    return organization


def test_an_organization_gets_its_credits_then_429(store_kind, limited, admin_user, auth_client):
    client = auth_client(admin_user, "ZohoBigin.users.READ")

    statuses = [client.get(USERS).status_code for _ in range(3)]
    refused = client.get(USERS)

    assert statuses == [200, 200, 200]
    assert refused.status_code == 429
    assert refused.json() == CREDITS_429
    # The three credits were spent within this minute; they leave the window in under 24 h.
    assert 0 < int(refused["Retry-After"]) <= 86400
    assert metering.credits_used(limited) == 3


def test_reading_the_credits_in_the_admin_never_invents_any(
    store_kind, limited, admin_user, auth_client, admin_site_client
):
    """The admin page reads the count the moment the last spent credits left the window; the
    next call is then counted from nothing, not from the credits that left."""
    page = f"/admin/crm/organization/{limited.pk}/change/"
    spent_at = datetime(2026, 3, 2, 10, 4, 30, tzinfo=UTC)
    with time_machine.travel(spent_at, tick=False) as traveller:
        client = auth_client(admin_user, "ZohoBigin.users.READ")
        assert [client.get(USERS).status_code for _ in range(3)] == [200, 200, 200]
        assert b"3 of 3" in admin_site_client.get(page).content

        # 10:05 the next day: the minute 10:04 has left the window.
        traveller.move_to(spent_at + timedelta(days=1, seconds=40))
        assert b"0 of 3" in admin_site_client.get(page).content
        traveller.shift(timedelta(seconds=60))
        client = auth_client(admin_user, "ZohoBigin.users.READ")  # yesterday's token expired
        answer = client.get(USERS)

        assert answer.status_code == 200, answer.json()
        assert b"1 of 3" in admin_site_client.get(page).content
        assert metering.credits_used(limited) == 1


def test_other_organizations_are_unaffected(store_kind, limited, admin_user, auth_client):
    client = auth_client(admin_user, "ZohoBigin.users.READ")
    for _ in range(4):
        client.get(USERS)
    other = auth_client(UserFactory(organization=OrganizationFactory()), "ZohoBigin.users.READ")

    assert other.get(USERS).status_code == 200


def test_a_refused_request_does_nothing(store_kind, limited, admin_user, make_user, auth_client):
    client = auth_client(admin_user, "ZohoBigin.change_owner.CREATE", "ZohoBigin.users.READ")
    for _ in range(3):
        client.get(USERS)
    new_owner = make_user()
    record = RecordFactory(organization=limited, owner=admin_user, module_name="Contacts")

    response = client.post(
        f"/bigin/v2/Contacts/{record.id}/actions/change_owner",
        {"owner": {"id": str(new_owner.id)}},
        format="json",
    )

    assert response.status_code == 429
    record.refresh_from_db()
    assert record.owner_id == admin_user.id
    assert metering.credits_used(limited) == 3


def test_the_kenbun_api_answers_429_in_its_shape(store_kind, limited, admin_user, auth_client):
    client = auth_client(admin_user, "ZohoBigin.change_owner.CREATE")
    for _ in range(3):
        assert client.get("/leads").status_code == 200

    refused = client.get("/leads")

    assert refused.status_code == 429
    assert refused.json() == {
        "status": "error",
        "message": "too many requests: the organization's API credits for 24 hours are used up",
    }
    assert int(refused["Retry-After"]) > 0


def test_requests_refused_before_the_limits_cost_nothing(store_kind, limited, api_client):
    for _ in range(5):
        assert api_client.get(USERS).status_code == 401

    assert metering.credits_used(limited) == 0


def test_too_many_requests_in_flight_is_a_429(
    store_kind, settings, organization, admin_user, auth_client
):
    settings.API_CONCURRENCY_LIMITS = {"free": 1, "express": 1, "premier": 1}
    client = auth_client(admin_user, "ZohoBigin.users.READ")
    # Each request gives its slot back: one at a time never hits a limit of 1.
    assert [client.get(USERS).status_code for _ in range(3)] == [200, 200, 200]
    store = limits.store()
    assert store.enter(
        f"inflight:{organization.pk}", "elsewhere", limit=1, stale_seconds=60, now=limits.now()
    )

    refused = client.get(USERS)

    assert refused.status_code == 429
    assert refused["Retry-After"] == "1"
    assert refused.json() == {
        "code": "TOO_MANY_REQUESTS",
        "details": {"limit_type": "concurrency", "limit": 1},
        "message": "the organization has too many requests in progress",
        "status": "error",
    }
    # The refused request spent no credit (3 were spent above).
    assert metering.credits_used(organization) == 3


def test_credits_per_day_by_edition_and_override(organization, make_user, monkeypatch):
    make_user(), make_user(), make_user(status="disabled")
    metering._user_counts.clear()
    express = metering.credits_per_day(organization)
    free = OrganizationFactory(edition="free")
    premier = OrganizationFactory(edition="premier", api_credits_per_day=30)

    assert express == 50_000 + 250 * 2
    assert metering.credits_per_day(free) == 5_000
    assert metering.credits_per_day(premier) == 30
    monkeypatch.setattr(metering, "_active_users", lambda organization_id: 400)
    assert metering.credits_per_day(organization) == 100_000


def test_the_exact_figure_counts_the_users_only_near_the_floor(
    store_kind, organization, admin_user, auth_client, django_assert_num_queries, monkeypatch
):
    monkeypatch.setattr(metering, "EDITION_CREDITS", {**metering.EDITION_CREDITS})
    metering.EDITION_CREDITS["express"] = (2, 250, 100_000)
    metering._user_counts.clear()
    client = auth_client(admin_user, "ZohoBigin.settings.ALL")
    # Under the floor: the token lookup is the only query.
    for _ in range(2):
        with django_assert_num_queries(1):
            assert client.get("/bigin/v2/settings/modules").status_code == 200
    # Past the floor of 2: the active users are counted (once), and 2 + 250 allow more.
    with django_assert_num_queries(2):
        assert client.get("/bigin/v2/settings/modules").status_code == 200


def test_without_redis_requests_go_through_and_a_warning_is_logged(
    settings, admin_user, auth_client, caplog
):
    settings.API_LIMITS_REDIS_URL = "redis://127.0.0.1:1/0"  # nothing listens there
    limits._store_for.cache_clear()
    client = auth_client(admin_user, "ZohoBigin.users.READ")
    try:
        with caplog.at_level(logging.WARNING, logger="crm.http.limits"):
            assert client.get(USERS).status_code == 200
    finally:
        limits._store_for.cache_clear()

    assert "API limits: Redis unavailable" in caplog.text
