"""Kenbun's related endpoints, in Kenbun's style: the lead detail (`GET /leads/{leadID}`, and
`/lead/{leadID}` as Kenbun's docs spell it) and the caller's assignment-alert preference
(`GET`/`PUT /me/notification-prefs`)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from crm.models import User
from tests.owners.conftest import CHANGE_OWNER_SCOPE

from .test_kenbun_api import bearer, error

pytestmark = pytest.mark.django_db


@pytest.fixture
def kenbun(admin_user):
    return bearer(admin_user, CHANGE_OWNER_SCOPE)


@pytest.fixture
def lead(make_record, admin_user):
    return make_record(
        module_name="Contacts",
        name="Alex Johnson",
        fields={"First_Name": "Alex", "Last_Name": "Johnson", "Company": "Acme Corp"},
        created_time=datetime(2026, 1, 1, 8, 0, tzinfo=UTC),
        modified_time=datetime(2026, 1, 15, 10, 30, tzinfo=UTC),
    )


@pytest.mark.parametrize("prefix", ["/leads", "/lead"])
def test_lead_detail(kenbun, lead, organization, admin_user, prefix, django_assert_num_queries):
    # 1. authentication, 2. the lead with its owner
    with django_assert_num_queries(2):
        response = kenbun.get(f"{prefix}/{lead.id}")

    assert response.status_code == 200
    assert response.json() == {
        "lead_id": str(lead.id),
        "org_id": str(organization.id),
        "name": "Alex Johnson",
        "score": None,
        "last_event_at": None,
        "created_at": "2026-01-01T08:00:00Z",
        "updated_at": "2026-01-15T10:30:00Z",
        "owner_id": str(admin_user.id),
        "owner_name": "Ann Lee",
        "metadata": {"First_Name": "Alex", "Last_Name": "Johnson", "Company": "Acme Corp"},
    }


def test_lead_detail_of_an_unassigned_lead(kenbun, make_record):
    lead = make_record(module_name="Contacts", owner=None, name="Nobody's")

    body = kenbun.get(f"/leads/{lead.id}").json()

    assert (body["owner_id"], body["owner_name"]) == (None, None)


@pytest.mark.parametrize("which", ["other org", "not a lead", "unknown", "not an id"])
def test_lead_detail_404(kenbun, make_record, other_organization, which):
    from tests.factories import RecordFactory

    lead_id = {
        "other org": lambda: RecordFactory(organization=other_organization).id,
        "not a lead": lambda: make_record(module_name="Accounts").id,
        "unknown": lambda: 4_000_000_001,
        "not an id": lambda: "abc",
    }[which]()

    response = kenbun.get(f"/leads/{lead_id}")

    assert (response.status_code, response.json()) == (404, error("lead not found"))


def test_lead_detail_needs_a_token(client, lead):
    response = client.get(f"/leads/{lead.id}")

    assert (response.status_code, response.json()) == (401, error("authentication required"))


def prefs(enabled: bool) -> dict:
    return {
        "notifications_enabled": enabled,
        "slack_user_id": None,
        "prefs": [{"event_type": "owner.assigned", "muted": not enabled}],
    }


def test_read_the_preference(kenbun, admin_user):
    response = kenbun.get("/me/notification-prefs")

    assert (response.status_code, response.json()) == (200, prefs(True))


def test_change_the_preference_with_the_master_toggle_then_per_event(
    kenbun, admin_user, django_assert_num_queries
):
    # 1. authentication, 2. the UPDATE of the caller's preference
    with django_assert_num_queries(2):
        off = kenbun.put("/me/notification-prefs", {"notifications_enabled": False}, "json")

    assert (off.status_code, off.json()) == (200, prefs(False))
    assert User.objects.get(pk=admin_user.pk).assignment_alert is False
    on = kenbun.put(
        "/me/notification-prefs",
        {"prefs": [{"event_type": "owner.assigned", "muted": False}]},
        "json",
    )
    assert (on.status_code, on.json()) == (200, prefs(True))
    assert kenbun.get("/me/notification-prefs").json() == prefs(True)


def test_the_preference_is_the_callers_own(kenbun, admin_user, new_owner):
    bearer(new_owner, CHANGE_OWNER_SCOPE).put(
        "/me/notification-prefs", {"notifications_enabled": False}, "json"
    )

    assert User.objects.get(pk=new_owner.pk).assignment_alert is False
    assert User.objects.get(pk=admin_user.pk).assignment_alert is True


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({}, "request body must set notifications_enabled or prefs"),
        ({"notifications_enabled": "no"}, "notifications_enabled must be a boolean"),
        ({"notify": False}, "unknown field: notify"),
        ({"prefs": {}}, "prefs must be an array"),
        (
            {"prefs": [{"event_type": "surge.fired", "muted": True}]},
            "prefs[0].event_type must be owner.assigned",
        ),
        ({"prefs": [{"event_type": "owner.assigned"}]}, "prefs[0].muted must be a boolean"),
        (
            {
                "notifications_enabled": True,
                "prefs": [{"event_type": "owner.assigned", "muted": True}],
            },
            "notifications_enabled and prefs disagree",
        ),
        ([], "request body must be a JSON object"),
    ],
)
def test_bad_preference_bodies(kenbun, admin_user, body, message):
    response = kenbun.put("/me/notification-prefs", body, "json")

    assert (response.status_code, response.json()) == (400, error(message))
    assert User.objects.get(pk=admin_user.pk).assignment_alert is True


def test_preference_body_read_as_json_whatever_the_content_type(kenbun, admin_user):
    response = kenbun.generic(
        "PUT", "/me/notification-prefs", '{"notifications_enabled": false}', "text/plain"
    )

    assert (response.status_code, response.json()) == (200, prefs(False))


def test_the_assignment_alert_follows_the_preference(kenbun, admin_user, new_owner, make_record):
    from owners.models import OutboxEntry

    bearer(new_owner, CHANGE_OWNER_SCOPE).put(
        "/me/notification-prefs", {"notifications_enabled": False}, "json"
    )
    lead = make_record(module_name="Contacts")

    response = kenbun.post(f"/leads/{lead.id}/owner", {"owner_id": str(new_owner.id)}, "json")

    assert response.status_code == 200
    assert not OutboxEntry.objects.filter(kind="notify").exists()


@pytest.mark.parametrize("path", ["/me/other", "/lead/1/owner", "/leads/1/x"])
def test_other_paths_answer_kenbuns_404(client, path):
    response = client.get(path)

    assert (response.status_code, response.json()) == (404, error("not found"))
