"""The Kenbun-style lead-owner API (api-spec.md, "Kenbun-style lead-owner API"): exact bodies,
state after the call, audit and outbox rows, one transaction, query budgets."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import DatabaseError
from drf_spectacular.generators import SchemaGenerator
from rest_framework.test import APIClient

from audit.models import AuditEntry
from crm.models import Record, User
from crm.modules import module_by_name
from crm.oauth.grants import issue_access_token
from owners import services
from owners.models import OutboxEntry
from tests.factories import RecordFactory, UserFactory
from tests.owners.conftest import CHANGE_OWNER_SCOPE
from tests.owners.queries import watch_checks

pytestmark = pytest.mark.django_db

CONTACTS = module_by_name("Contacts")


def bearer(user, *scopes: str, expires_in: timedelta | None = None) -> APIClient:
    extra = {"expires_in": expires_in} if expires_in is not None else {}
    token = issue_access_token(user=user, scopes=list(scopes), **extra)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client


@pytest.fixture
def kenbun(admin_user) -> APIClient:
    """Ann Lee (Administrator) with a Bearer token holding the change-owner scope."""
    return bearer(admin_user, CHANGE_OWNER_SCOPE)


@pytest.fixture
def lead(make_record):
    return make_record(module_name="Contacts", name="Smith")


def assign(client, lead_id, body, **extra):
    return client.post(f"/leads/{lead_id}/owner", body, format="json", **extra)


def bulk(client, body):
    return client.post("/leads/bulk-assign-owner", body, format="json")


def error(message: str) -> dict:
    return {"status": "error", "message": message}


def owner_of(record) -> int | None:
    return Record.objects.values_list("owner_id", flat=True).get(id=record.id)


def leads_of(organization, count: int, owner) -> list[Record]:
    return Record.objects.bulk_create(
        Record(organization=organization, module_id=CONTACTS.id, owner=owner, name=f"Lead {n}")
        for n in range(count)
    )


# --- one lead -----------------------------------------------------------------------------------


def test_assign_gives_the_lead_to_the_owner(kenbun, lead, new_owner):
    response = assign(kenbun, lead.id, {"owner_id": str(new_owner.id)})

    assert response.status_code == 200
    assert response.json() == {"status": "ok", "message": "owner assigned"}
    assert owner_of(lead) == new_owner.id


def test_assign_accepts_an_integer_id_and_a_matching_name_in_any_case(kenbun, lead, new_owner):
    body = {"owner_id": new_owner.id, "owner_name": "  chen WEI "}

    response = assign(kenbun, lead.id, body)

    assert response.json() == {"status": "ok", "message": "owner assigned"}
    assert owner_of(lead) == new_owner.id


@pytest.mark.parametrize(
    "body", [{"owner_id": None}, {}, {"owner_id": None, "owner_name": None}], ids=repr
)
def test_a_null_or_absent_owner_id_unassigns_the_lead(kenbun, lead, body):
    response = assign(kenbun, lead.id, body)

    assert response.status_code == 200
    assert response.json() == {"status": "ok", "message": "owner unassigned"}
    assert owner_of(lead) is None


def test_zoho_oauthtoken_works_too(client_for, admin_user, lead, new_owner):
    response = assign(client_for(admin_user), lead.id, {"owner_id": str(new_owner.id)})

    assert response.json() == {"status": "ok", "message": "owner assigned"}


def test_assigning_the_current_owner_is_a_success_that_writes_nothing(kenbun, lead, admin_user):
    before = Record.objects.values().get(id=lead.id)

    response = assign(kenbun, lead.id, {"owner_id": str(admin_user.id)})

    assert response.json() == {"status": "ok", "message": "owner assigned"}
    assert Record.objects.values().get(id=lead.id) == before
    assert not AuditEntry.objects.exists()
    assert not OutboxEntry.objects.exists()


@pytest.mark.parametrize("lead_id", ["123", "abc", "0", "99999999999999999999"])
def test_an_unknown_lead_answers_404(kenbun, new_owner, lead_id):
    response = assign(kenbun, lead_id, {"owner_id": str(new_owner.id)})

    assert response.status_code == 404
    assert response.json() == error("lead not found")


def test_another_organizations_lead_answers_the_same_404_and_stays_as_it_was(
    kenbun, new_owner, other_organization
):
    foreign = RecordFactory(organization=other_organization)

    response = assign(kenbun, foreign.id, {"owner_id": str(new_owner.id)})

    assert response.status_code == 404
    assert response.json() == error("lead not found")
    assert owner_of(foreign) == foreign.owner_id
    assert not AuditEntry.objects.exists()


def test_a_record_of_another_module_is_not_a_lead(kenbun, make_record, new_owner):
    pipeline = make_record(module_name="Pipelines")

    response = assign(kenbun, pipeline.id, {"owner_id": str(new_owner.id)})

    assert response.status_code == 404
    assert response.json() == error("lead not found")
    assert owner_of(pipeline) == pipeline.owner_id


# --- bad bodies and owners ---------------------------------------------------------------------

BAD_BODIES = [
    (["not", "an", "object"], "request body must be a JSON object"),
    ("text", "request body must be a JSON object"),
    ({"ownerId": "1"}, "unknown field: ownerId"),
    ({"owner_id": "abc"}, "owner_id must be a numeric id or null"),
    ({"owner_id": True}, "owner_id must be a numeric id or null"),
    ({"owner_id": -5}, "owner_id must be a numeric id or null"),
    ({"owner_id": {"id": "1"}}, "owner_id must be a numeric id or null"),
    ({"owner_id": None, "owner_name": 5}, "owner_name must be a string or null"),
    ({"owner_name": "Chen Wei"}, "owner_name given without owner_id"),
    ({"owner_id": "123"}, "owner_id is not an active user of this organization"),
]


@pytest.mark.parametrize(("body", "message"), BAD_BODIES, ids=[m for _, m in BAD_BODIES])
def test_a_bad_body_answers_400_and_changes_nothing(kenbun, lead, body, message):
    response = assign(kenbun, lead.id, body)

    assert response.status_code == 400
    assert response.json() == error(message)
    assert owner_of(lead) == lead.owner_id


def test_owner_name_must_match_the_owners_full_name(kenbun, lead, new_owner):
    body = {"owner_id": str(new_owner.id), "owner_name": "Chen Wu"}

    response = assign(kenbun, lead.id, body)

    assert response.status_code == 400
    assert response.json() == error("owner_name does not match the owner's name")
    assert owner_of(lead) == lead.owner_id


@pytest.mark.parametrize("status", [User.Status.DISABLED, User.Status.DELETED])
def test_an_inactive_owner_is_refused(kenbun, lead, make_user, status):
    inactive = make_user(status=status)

    response = assign(kenbun, lead.id, {"owner_id": str(inactive.id)})

    assert response.status_code == 400
    assert response.json() == error("owner_id is not an active user of this organization")
    assert owner_of(lead) == lead.owner_id


def test_a_user_of_another_organization_is_refused_like_an_unknown_one(
    kenbun, lead, other_organization
):
    stranger = UserFactory(organization=other_organization)

    response = assign(kenbun, lead.id, {"owner_id": str(stranger.id)})

    assert response.status_code == 400
    assert response.json() == error("owner_id is not an active user of this organization")


def test_malformed_json_answers_400(kenbun, lead):
    response = kenbun.post(
        f"/leads/{lead.id}/owner", data='{"owner_id": ', content_type="application/json"
    )

    assert response.status_code == 400
    assert response.json() == error("malformed JSON body")


def test_a_body_that_is_not_json_answers_400_whatever_its_content_type(kenbun, lead):
    response = kenbun.post(f"/leads/{lead.id}/owner", data="owner_id=1", content_type="text/plain")

    assert response.status_code == 400
    assert response.json() == error("malformed JSON body")


@pytest.mark.parametrize(
    "content_type", ["text/plain", "application/x-www-form-urlencoded", "", "application/json"]
)
def test_a_json_body_is_read_whatever_its_content_type(kenbun, lead, new_owner, content_type):
    body = f'{{"owner_id": "{new_owner.id}"}}'
    # generic(): sent as given; an empty Content-Type is the header's absence to the server.
    response = kenbun.generic("POST", f"/leads/{lead.id}/owner", body, content_type=content_type)

    assert response.status_code == 200
    assert response.json() == {"status": "ok", "message": "owner assigned"}
    assert owner_of(lead) == new_owner.id


# --- authentication, scope, permission, routing ------------------------------------------------

AUTH_FAILURES = [
    ({}, "authentication required"),
    ({"HTTP_AUTHORIZATION": "Basic YWxhZGRpbjpvcGVuc2VzYW1l"}, "authentication required"),
    ({"HTTP_AUTHORIZATION": "Bearer"}, "invalid or expired token"),
    ({"HTTP_AUTHORIZATION": "Bearer 1000.abc.def"}, "invalid or expired token"),
    ({"HTTP_AUTHORIZATION": "Zoho-oauthtoken 1000.abc.def"}, "invalid or expired token"),
]


@pytest.mark.parametrize(
    ("headers", "message"), AUTH_FAILURES, ids=[str(h) for h, _ in AUTH_FAILURES]
)
def test_a_missing_or_bad_token_answers_401(api_client, lead, new_owner, headers, message):
    response = assign(api_client, lead.id, {"owner_id": str(new_owner.id)}, **headers)

    assert response.status_code == 401
    assert response.json() == error(message)
    assert response["WWW-Authenticate"] == "Bearer"
    assert owner_of(lead) == lead.owner_id


def test_an_expired_token_answers_401(admin_user, lead, new_owner):
    client = bearer(admin_user, CHANGE_OWNER_SCOPE, expires_in=timedelta(seconds=-1))

    response = assign(client, lead.id, {"owner_id": str(new_owner.id)})

    assert response.status_code == 401
    assert response.json() == error("invalid or expired token")


def test_a_token_without_the_change_owner_scope_answers_401(admin_user, lead, new_owner):
    client = bearer(admin_user, "ZohoBigin.modules.Contacts.READ")

    response = assign(client, lead.id, {"owner_id": str(new_owner.id)})
    listing = client.get("/leads")

    assert response.status_code == 401
    assert response.json() == error("the token lacks the scope ZohoBigin.change_owner.CREATE")
    assert listing.status_code == 401
    assert listing.json() == error("the token lacks the scope ZohoBigin.change_owner.CREATE")
    assert owner_of(lead) == lead.owner_id


def test_a_profile_that_may_not_change_owners_answers_401(make_user, lead, new_owner):
    reader = make_user(profile_name="Read Only")

    response = assign(bearer(reader, CHANGE_OWNER_SCOPE), lead.id, {"owner_id": str(new_owner.id)})

    assert response.status_code == 401
    assert response.json() == error("your profile may not change lead owners")
    assert owner_of(lead) == lead.owner_id


def test_a_wrong_method_and_an_unknown_path_answer_in_kenbuns_shape(kenbun, lead):
    wrong_method = kenbun.get(f"/leads/{lead.id}/owner")
    unknown_path = kenbun.post(f"/leads/{lead.id}/owners", {}, format="json")

    assert wrong_method.status_code == 405
    assert wrong_method.json() == error("method not allowed")
    assert unknown_path.status_code == 404
    assert unknown_path.json() == error("not found")


# --- bulk ---------------------------------------------------------------------------------------


def test_bulk_affected_counts_only_the_leads_whose_owner_changed(
    kenbun, make_record, admin_user, new_owner
):
    changing = [make_record() for _ in range(3)]
    already = make_record(owner=new_owner)
    ids = [str(r.id) for r in [*changing, already]]

    response = bulk(kenbun, {"lead_ids": [*ids, ids[0]], "owner_id": str(new_owner.id)})

    assert response.status_code == 200
    assert response.json() == {"status": "ok", "affected": 3}
    assert {owner_of(r) for r in [*changing, already]} == {new_owner.id}


def test_bulk_with_a_null_owner_unassigns_and_counts_only_assigned_leads(
    kenbun, make_record, admin_user
):
    assigned = [make_record() for _ in range(2)]
    unassigned = make_record(owner=None)

    response = bulk(kenbun, {"lead_ids": [r.id for r in [*assigned, unassigned]], "owner_id": None})

    assert response.json() == {"status": "ok", "affected": 2}
    assert [owner_of(r) for r in [*assigned, unassigned]] == [None, None, None]


def test_bulk_with_ids_that_are_not_leads_of_the_organization_answers_404_and_changes_nothing(
    kenbun, make_record, new_owner, other_organization
):
    mine = make_record()
    pipeline = make_record(module_name="Pipelines")
    foreign = RecordFactory(organization=other_organization)
    ids = [str(mine.id), "123", str(foreign.id), str(pipeline.id)]

    response = bulk(kenbun, {"lead_ids": ids, "owner_id": str(new_owner.id)})

    assert response.status_code == 404
    assert response.json() == error(f"leads not found: 123, {foreign.id}, {pipeline.id}")
    assert owner_of(mine) == mine.owner_id
    assert not AuditEntry.objects.exists()
    assert not OutboxEntry.objects.exists()


BAD_BULK_BODIES = [
    ({"owner_id": None}, "lead_ids is required"),
    ({"lead_ids": None}, "lead_ids is required"),
    ({"lead_ids": []}, "lead_ids must not be empty"),
    ({"lead_ids": [str(n) for n in range(1, 502)]}, "lead_ids must have at most 500 entries"),
    ({"lead_ids": "1,2"}, "lead_ids must be an array"),
    ({"lead_ids": ["1", "x"]}, "lead_ids[1] is not a valid lead id"),
    ({"lead_ids": ["1"], "owner": "2"}, "unknown field: owner"),
    ({"lead_ids": ["1"], "owner_id": "abc"}, "owner_id must be a numeric id or null"),
    ({"lead_ids": ["1"], "owner_name": "Ann Lee"}, "owner_name given without owner_id"),
    ([], "request body must be a JSON object"),
]


@pytest.mark.parametrize(("body", "message"), BAD_BULK_BODIES, ids=[m for _, m in BAD_BULK_BODIES])
def test_a_bad_bulk_body_answers_400(kenbun, body, message):
    response = bulk(kenbun, body)

    assert response.status_code == 400
    assert response.json() == error(message)


def test_bulk_checks_the_owner_and_its_name(kenbun, lead, new_owner):
    unknown = bulk(kenbun, {"lead_ids": [lead.id], "owner_id": "123"})
    mismatch = bulk(kenbun, {"lead_ids": [lead.id], "owner_id": new_owner.id, "owner_name": "X"})

    assert unknown.status_code == mismatch.status_code == 400
    assert unknown.json() == error("owner_id is not an active user of this organization")
    assert mismatch.json() == error("owner_name does not match the owner's name")
    assert owner_of(lead) == lead.owner_id


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_bulk_is_one_transaction_a_failure_midway_changes_no_lead(
    organization, admin_user, new_owner, monkeypatch
):
    leads = leads_of(organization, 5, admin_user)
    owners_before = {r.id: r.owner_id for r in leads}

    def failing_insert(*args, **kwargs):
        raise DatabaseError("disk full (injected)")

    # The audit INSERT runs after the UPDATE of the leads: fail there.
    monkeypatch.setattr(services, "record_owner_changes", failing_insert)
    response = bulk(
        bearer(admin_user, CHANGE_OWNER_SCOPE),
        {"lead_ids": list(owners_before), "owner_id": str(new_owner.id)},
    )

    assert response.status_code == 500
    assert response.json() == error("internal server error")
    assert dict(Record.objects.values_list("id", "owner_id")) == owners_before
    assert not AuditEntry.objects.exists()
    assert not OutboxEntry.objects.exists()


# --- audit, notification, query budget ---------------------------------------------------------


def test_audit_rows_with_source_kenbun_for_every_changed_lead_and_none_for_no_ops(
    kenbun, make_record, admin_user, new_owner
):
    changing = [make_record() for _ in range(2)]
    unassigned = make_record(owner=None)
    already = make_record(owner=new_owner)
    ids = [r.id for r in [*changing, unassigned, already]]

    response = bulk(kenbun, {"lead_ids": ids, "owner_id": str(new_owner.id)})
    single = assign(kenbun, already.id, {"owner_id": None})

    assert response.json() == {"status": "ok", "affected": 3}
    assert single.json() == {"status": "ok", "message": "owner unassigned"}
    rows = list(
        AuditEntry.objects.order_by("created_time", "record_id").values(
            "record_id", "module_id", "previous_owner_id", "new_owner_id", "actor_id", "source"
        )
    )
    expected_bulk = [
        {
            "record_id": record.id,
            "module_id": CONTACTS.id,
            "previous_owner_id": previous,
            "new_owner_id": new_owner.id,
            "actor_id": admin_user.id,
            "source": "kenbun",
        }
        for record, previous in sorted(
            [(changing[0], admin_user.id), (changing[1], admin_user.id), (unassigned, None)],
            key=lambda pair: pair[0].id,
        )
    ]
    assert rows == [
        *expected_bulk,
        {
            "record_id": already.id,
            "module_id": CONTACTS.id,
            "previous_owner_id": new_owner.id,
            "new_owner_id": None,
            "actor_id": admin_user.id,
            "source": "kenbun",
        },
    ]
    # One batch per request.
    assert AuditEntry.objects.values("batch_id").distinct().count() == 2


def test_the_notify_job_is_written_when_the_new_owners_alert_is_on(
    kenbun, make_record, admin_user, new_owner
):
    assert new_owner.assignment_alert  # the default
    leads = [make_record() for _ in range(2)]

    response = bulk(kenbun, {"lead_ids": [r.id for r in leads], "owner_id": str(new_owner.id)})

    assert response.json() == {"status": "ok", "affected": 2}
    job = OutboxEntry.objects.get()
    assert (job.kind, job.status) == ("notify", "pending")
    assert str(job.batch_id) == str(AuditEntry.objects.values_list("batch_id", flat=True)[0])
    assert job.payload == {
        "module": "Contacts",
        "new_owner_id": str(new_owner.id),
        "actor_id": str(admin_user.id),
        "source": "kenbun",
        "record_ids": sorted(str(r.id) for r in leads),
    }


def test_no_notify_job_when_the_new_owners_alert_is_off(kenbun, lead, new_owner):
    User.objects.filter(id=new_owner.id).update(assignment_alert=False)

    response = assign(kenbun, lead.id, {"owner_id": str(new_owner.id)})

    assert response.json() == {"status": "ok", "message": "owner assigned"}
    assert owner_of(lead) == new_owner.id
    assert AuditEntry.objects.count() == 1
    assert not OutboxEntry.objects.exists()


@pytest.mark.parametrize("alert", [True, False])
def test_the_assignment_alert_email_goes_out_only_when_the_preference_is_on(
    kenbun, lead, new_owner, alert, in_process_tasks, mailoutbox, django_capture_on_commit_callbacks
):
    User.objects.filter(id=new_owner.id).update(assignment_alert=alert)

    with django_capture_on_commit_callbacks(execute=True):
        response = assign(kenbun, lead.id, {"owner_id": str(new_owner.id)})

    assert response.json() == {"status": "ok", "message": "owner assigned"}
    assert [message.to for message in mailoutbox] == ([[new_owner.email]] if alert else [])
    if alert:
        assert str(lead.id) in mailoutbox[0].body


def test_no_notify_job_for_an_unassignment_or_a_no_op(kenbun, lead, admin_user):
    assert admin_user.assignment_alert
    no_op = assign(kenbun, lead.id, {"owner_id": str(admin_user.id)})
    unassigned = assign(kenbun, lead.id, {"owner_id": None})

    assert no_op.json() == {"status": "ok", "message": "owner assigned"}
    assert unassigned.json() == {"status": "ok", "message": "owner unassigned"}
    assert not OutboxEntry.objects.exists()


# PostgreSQL: Django splits bulk INSERTs on SQLite by its 999-parameter limit.
@pytest.mark.postgres
@pytest.mark.parametrize("count", [1, 500])
def test_bulk_query_count_is_the_same_for_1_and_500_leads(
    kenbun, organization, admin_user, new_owner, django_assert_num_queries, count
):
    ids = [str(r.id) for r in leads_of(organization, count, admin_user)]
    body = {"lead_ids": ids, "owner_id": str(new_owner.id), "owner_name": "Chen Wei"}
    # 1 access token + user + organization + profile (one joined SELECT)
    # 2 the new owner, scoped to the organization
    # 3 SAVEPOINT (the service's durable transaction, nested in the test's transaction)
    # 4 SELECT ... ORDER BY id FOR UPDATE (lock the leads)
    # 5 UPDATE the leads whose owner differs
    # 6 INSERT the audit rows
    # 7 INSERT the notify outbox row (the new owner's alert is on)
    # 8 RELEASE SAVEPOINT
    with django_assert_num_queries(8):
        response = bulk(kenbun, body)

    assert response.json() == {"status": "ok", "affected": count}
    assert AuditEntry.objects.filter(source="kenbun").count() == count
    assert Record.objects.filter(owner=new_owner).count() == count


def test_single_assign_query_count(kenbun, lead, new_owner, django_assert_num_queries):
    # token; owner; SAVEPOINT; lock; UPDATE; audit INSERT; outbox INSERT; RELEASE SAVEPOINT
    # (elsewhere than on PostgreSQL: and the watch channels read, tests/owners/queries.py)
    with django_assert_num_queries(8 + watch_checks()):
        response = assign(kenbun, lead.id, {"owner_id": str(new_owner.id)})

    assert response.json() == {"status": "ok", "message": "owner assigned"}


# --- GET /leads ---------------------------------------------------------------------------------


def lead_row(record, owner) -> dict:
    return {
        "id": str(record.id),
        "name": record.name,
        "owner_id": str(owner.id) if owner else None,
        "owner_name": owner.full_name if owner else None,
    }


@pytest.fixture
def listed(make_record, admin_user, new_owner, other_organization):
    """Two leads of Ann's, one of Chen's, one unassigned; plus records that must never show."""
    make_record(module_name="Pipelines")
    RecordFactory(organization=other_organization)
    return {
        "ann": [make_record(name=f"Ann's {n}") for n in range(2)],
        "chen": [make_record(owner=new_owner, name="Chen's")],
        "nobody": [make_record(owner=None, name="Nobody's")],
    }


def test_list_shows_the_organizations_leads_with_owner_id_and_name(
    kenbun, listed, admin_user, new_owner, django_assert_num_queries
):
    # 1 access token + user + organization + profile; 2 COUNT; 3 the page, owners joined
    with django_assert_num_queries(3):
        response = kenbun.get("/leads?owner_id=&owner_name=&page=")

    expected = sorted(
        [
            *(lead_row(r, admin_user) for r in listed["ann"]),
            lead_row(listed["chen"][0], new_owner),
            lead_row(listed["nobody"][0], None),
        ],
        key=lambda row: int(row["id"]),
    )
    assert response.status_code == 200
    assert response.json() == {
        "status": "ok",
        "leads": expected,
        "page": 1,
        "per_page": 50,
        "total": 4,
    }


def test_list_filters_by_owner_id_owner_name_and_unassigned(kenbun, listed, admin_user, new_owner):
    by_id = kenbun.get("/leads", {"owner_id": str(new_owner.id)}).json()
    by_name = kenbun.get("/leads", {"owner_name": "ann LEE"}).json()
    both = kenbun.get("/leads", {"owner_id": str(new_owner.id), "owner_name": "Ann Lee"}).json()
    nobody = kenbun.get("/leads", {"owner_id": "null"}).json()
    stranger = kenbun.get("/leads", {"owner_id": "123"}).json()

    assert by_id["leads"] == [lead_row(listed["chen"][0], new_owner)]
    assert by_id["total"] == 1
    assert by_name["leads"] == [lead_row(r, admin_user) for r in listed["ann"]]
    assert by_name["total"] == 2
    assert (both["leads"], both["total"]) == ([], 0)
    assert nobody["leads"] == [lead_row(listed["nobody"][0], None)]
    assert (stranger["leads"], stranger["total"]) == ([], 0)


def test_list_pages_by_50_in_id_order_with_the_same_queries_on_every_page(
    kenbun, organization, admin_user, django_assert_num_queries
):
    leads = sorted(leads_of(organization, 120, admin_user), key=lambda r: r.id)
    pages = {}
    for page in (1, 2, 3, 4):
        # token; COUNT; the page
        with django_assert_num_queries(3):
            pages[page] = kenbun.get("/leads", {"page": str(page)}).json()

    assert [row["id"] for row in pages[1]["leads"]] == [str(r.id) for r in leads[:50]]
    assert [row["id"] for row in pages[2]["leads"]] == [str(r.id) for r in leads[50:100]]
    assert [row["id"] for row in pages[3]["leads"]] == [str(r.id) for r in leads[100:]]
    assert pages[4]["leads"] == []
    assert {p["total"] for p in pages.values()} == {120}
    assert [p["page"] for p in pages.values()] == [1, 2, 3, 4]


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ({"page": "0"}, "page must be an integer from 1 to 1000000"),
        ({"page": "-1"}, "page must be an integer from 1 to 1000000"),
        ({"page": "two"}, "page must be an integer from 1 to 1000000"),
        ({"page": "1000001"}, "page must be an integer from 1 to 1000000"),
        ({"page": "9" * 5000}, "page must be an integer from 1 to 1000000"),
        ({"owner_id": "abc"}, "owner_id must be a numeric id or null"),
        ({"ownerId": "1"}, "unknown query parameter: ownerId"),
    ],
    ids=lambda value: str(value)[:40],
)
def test_list_refuses_a_bad_query_string(kenbun, query, message):
    response = kenbun.get("/leads", query)

    assert response.status_code == 400
    assert response.json() == error(message)


def test_list_needs_a_token(api_client):
    response = api_client.get("/leads")

    assert response.status_code == 401
    assert response.json() == error("authentication required")


# --- OpenAPI -----------------------------------------------------------------------------------


def test_the_kenbun_endpoints_are_in_the_openapi_schema():
    schema = SchemaGenerator().get_schema(request=None, public=True)

    paths = schema["paths"]
    assert set(paths["/leads"]) == {"get"}
    assert set(paths["/leads/{lead_id}/owner"]) == {"post"}
    assert set(paths["/leads/bulk-assign-owner"]) == {"post"}
    bulk_op = paths["/leads/bulk-assign-owner"]["post"]
    # Its own, and the boundary's and the limits' (crm/http/boundary_docs.py).
    statuses = {"200", "400", "401", "404", "413", "414", "429", "431", "503"}
    assert set(bulk_op["responses"]) == statuses
    request_schema = schema["components"]["schemas"]["BulkAssignOwnerRequest"]
    assert request_schema["properties"]["lead_ids"]["maxItems"] == 500
    error_ref = bulk_op["responses"]["404"]["content"]["application/json"]["schema"]["$ref"]
    assert error_ref == "#/components/schemas/KenbunErrorResponse"
