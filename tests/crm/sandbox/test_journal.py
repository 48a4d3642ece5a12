"""The request journal: what a client sent and got, newest first, secrets masked, bodies cut at
64 KiB, at most 1,000 per organization (docs/sandbox.md, "The journal")."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from urllib.parse import urlencode

import pytest
from django.test import Client
from django.utils import timezone
from rest_framework.test import APIClient

from crm.sandbox import journal
from crm.sandbox.models import JournalEntry

from .conftest import CHANGE_OWNER

pytestmark = pytest.mark.django_db


@pytest.fixture
def requests_url(org):
    return f"/sandbox/v1/organizations/{org['organization']['id']}/requests"


def test_a_call_is_kept_as_sent_and_answered_with_the_token_masked(
    controls, requests_url, api, org
):
    token = org["users"][0]["access_token"]
    body = {"ids": ["3001"], "owner": {"id": org["users"][1]["id"]}}
    answer = api.post(f"{CHANGE_OWNER}?trace=1", body, format="json", HTTP_X_TRACE="abc")
    sent = json.dumps(body, separators=(",", ":"))  # as DRF's test client renders it

    listed = controls.get(requests_url)

    assert listed.status_code == 200
    [entry] = listed.json()["requests"]
    entry["headers"].pop("Cookie", None)  # the test client's own (masked like any cookie)
    saved = JournalEntry.objects.get()
    assert entry == {
        "id": str(saved.id),
        "time": entry["time"],
        "method": "POST",
        "path": CHANGE_OWNER,
        "query": "trace=1",
        "headers": {
            "Authorization": f"Zoho-oauthtoken ****{token[-4:]}",
            "Content-Type": "application/json",
            "Content-Length": str(len(sent)),
            "X-Trace": "abc",
        },
        "body": sent,
        "body_truncated": False,
        "status": 200,
        "response_body": answer.content.decode(),
        "response_truncated": False,
        "duration_ms": entry["duration_ms"],
        "fault_id": None,
    }
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+00:00", entry["time"])
    assert entry["duration_ms"] >= 0


def test_no_token_or_secret_is_stored_in_clear(controls, requests_url, api, org):
    client_id, client_secret = org["client"]["client_id"], org["client"]["client_secret"]
    refresh_token = org["users"][0]["refresh_token"]
    form = {
        "grant_type": "refresh_token",
        "client_id": client_id,
        "client_secret": client_secret,
        "refresh_token": refresh_token,
    }
    refreshed = Client().post(
        "/oauth/v2/token", urlencode(form), content_type="application/x-www-form-urlencoded"
    )
    new_access_token = refreshed.json()["access_token"]
    Client().post(f"/oauth/v2/token?{urlencode(form)}")
    api.get("/bigin/v2/users", HTTP_COOKIE=f"sessionid={client_secret}")
    api.post(
        CHANGE_OWNER,
        {"token": new_access_token, "nested": [{"password": "hunter2-long-password"}]},
        format="json",
    )
    revoked = Client().post(f"/oauth/v2/token/revoke?token={refresh_token}")
    assert revoked.json() == {"status": "success"}

    entries = controls.get(requests_url).json()["requests"]

    assert [entry["path"] for entry in entries] == [
        "/oauth/v2/token/revoke",
        CHANGE_OWNER,
        "/bigin/v2/users",
        "/oauth/v2/token",
        "/oauth/v2/token",
    ]
    stored = json.dumps(list(JournalEntry.objects.values()), default=str)
    secrets = [
        org["users"][0]["access_token"],
        org["users"][1]["access_token"],
        refresh_token,
        client_secret,
        new_access_token,
        "hunter2-long-password",
    ]
    assert [secret for secret in secrets if secret in stored] == []
    form_entry = entries[-1]
    assert dict(pair.split("=", 1) for pair in form_entry["body"].split("&")) == {
        "grant_type": "refresh_token",
        "client_id": client_id,
        "client_secret": "%2A%2A%2A%2A" + client_secret[-4:],
        "refresh_token": "%2A%2A%2A%2A" + refresh_token[-4:],
    }
    assert json.loads(form_entry["response_body"])["access_token"] == (
        "****" + new_access_token[-4:]
    )
    assert "refresh_token=%2A%2A%2A%2A" in entries[-2]["query"]
    assert json.loads(entries[1]["body"]) == {
        "token": "****" + new_access_token[-4:],
        "nested": [{"password": "****" + "hunter2-long-password"[-4:]}],
    }
    assert entries[2]["headers"]["Cookie"] == "****" + client_secret[-4:]


def test_newest_first_filtered_by_method_and_path_and_limited(controls, requests_url, api, org):
    api.get("/bigin/v2/users")
    api.get("/bigin/v2/Contacts/3001")
    api.post(CHANGE_OWNER, {"ids": ["3001"], "owner": {"id": org["users"][1]["id"]}}, format="json")
    api.get("/crm/v8/org")

    def paths(**query) -> list[str]:
        answer = controls.get(requests_url, query)
        assert answer.status_code == 200
        return [entry["path"] for entry in answer.json()["requests"]]

    assert paths() == ["/crm/v8/org", CHANGE_OWNER, "/bigin/v2/Contacts/3001", "/bigin/v2/users"]
    assert paths(method="post") == [CHANGE_OWNER]
    assert paths(path="/bigin/v2/*") == [CHANGE_OWNER, "/bigin/v2/Contacts/3001", "/bigin/v2/users"]
    assert paths(path="/bigin/v2/users") == ["/bigin/v2/users"]
    assert paths(limit=2) == ["/crm/v8/org", CHANGE_OWNER]
    assert paths(method="GET", path="/bigin/v2/*", limit=1) == ["/bigin/v2/Contacts/3001"]


@pytest.mark.parametrize(
    ("query", "details"),
    [
        ({"limit": "0"}, {"param_name": "limit", "minimum": 1, "maximum": 1000}),
        ({"limit": "1001"}, {"param_name": "limit", "minimum": 1, "maximum": 1000}),
        ({"limit": "ten"}, {"param_name": "limit", "expected_data_type": "integer"}),
        (
            {"method": "TRACE"},
            {"param_name": "method", "supported_values": ["GET", "POST", "PUT", "PATCH", "DELETE"]},
        ),
    ],
)
def test_bad_journal_parameters_are_refused(controls, requests_url, query, details):
    answer = controls.get(requests_url, query)

    assert (answer.status_code, answer.json()) == (
        400,
        {"code": "INVALID_DATA", "details": details, "message": "invalid data", "status": "error"},
    )


def test_delete_clears_the_journal_of_the_organization_only(controls, requests_url, api, created):
    other = created(name="Other", users=[{"full_name": "Oz", "email": "oz@o.test"}], records=[])
    APIClient().get(
        "/bigin/v2/users", HTTP_AUTHORIZATION=f"Zoho-oauthtoken {other['users'][0]['access_token']}"
    )
    api.get("/bigin/v2/users")

    assert len(controls.get(requests_url).json()["requests"]) == 1  # not the other's call
    assert controls.delete(requests_url).status_code == 204

    assert controls.get(requests_url).json() == {"requests": []}
    assert JournalEntry.objects.filter(organization_id=other["organization"]["id"]).count() == 1


def test_the_controls_and_calls_without_an_organization_are_not_kept(controls, requests_url):
    APIClient().get("/bigin/v2/users")
    controls.get(requests_url)

    assert not JournalEntry.objects.exists()


def test_a_body_over_64_kib_is_cut(controls, requests_url, api):
    body = {"ids": ["3001"], "owner": {"id": "1"}, "padding": "x" * 70_000}
    api.post(CHANGE_OWNER, body, format="json")

    [entry] = controls.get(requests_url).json()["requests"]

    assert entry["body_truncated"] is True
    assert len(entry["body"].encode()) == journal.MAX_BODY_BYTES
    assert entry["body"] == json.dumps(body, separators=(",", ":"))[: journal.MAX_BODY_BYTES]


def test_at_most_1000_entries_are_kept_per_organization(controls, requests_url, api, org):
    organization_id = int(org["organization"]["id"])
    long_ago = timezone.now() - timedelta(days=1)
    JournalEntry.objects.bulk_create(
        JournalEntry(
            organization_id=organization_id,
            time=long_ago + timedelta(seconds=n),
            method="GET",
            path="/bigin/v2/old",
            status=200,
        )
        for n in range(1_100)
    )
    # A call under way whose process was killed long ago.
    _under_way(organization_id, long_ago)
    # A process trims an organization's journal every TRIM_EVERY entries it writes for it, and
    # its calls under way that cannot be running any more.
    for _ in range(2 * journal.TRIM_EVERY):
        api.get("/bigin/v2/users")

    listed = controls.get(requests_url, {"limit": "1000"}).json()["requests"]

    kept = JournalEntry.objects.filter(organization_id=organization_id)
    assert journal.CAPACITY <= kept.count() < journal.CAPACITY + journal.TRIM_EVERY
    assert not kept.filter(time__lt=long_ago + timedelta(seconds=100)).exists()
    assert len(listed) == 1_000
    assert [entry["path"] for entry in listed[:100]] == ["/bigin/v2/users"] * 100
    assert listed[-1]["time"] > (long_ago + timedelta(seconds=99)).isoformat()
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(f"SELECT count(*) FROM {journal.UNDER_WAY}")
        assert cursor.fetchone() == (0,)


def test_a_faulted_call_names_its_rule(controls, requests_url, api, org):
    fault = controls.post(
        f"/sandbox/v1/organizations/{org['organization']['id']}/faults",
        {"response": {"status": 429}, "times": 1},
        format="json",
    ).json()["id"]
    api.get("/bigin/v2/users")
    api.get("/bigin/v2/users")

    entries = controls.get(requests_url).json()["requests"]

    assert [(entry["status"], entry["fault_id"]) for entry in entries] == [
        (200, None),
        (429, fault),
    ]
    assert json.loads(entries[1]["response_body"])["code"] == "TOO_MANY_REQUESTS"


def test_a_journaled_call_adds_no_statement_before_its_answer_on_postgresql(
    sandbox_on, api, org, settings
):
    """On PostgreSQL the fault rules and the start of the call's journal entry come with the
    token lookup the API makes anyway, so the controls add no statement before the answer; its
    answer is written into the entry once it has been sent (the response's close, which the test
    client calls before handing it over). Elsewhere the organization and its rules are one
    query more and the entry's start one INSERT."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    users = [org["users"][0]["id"], org["users"][1]["id"]]

    def statements(sandbox: bool, owner: str) -> list[str]:
        settings.SANDBOX_API = sandbox
        with CaptureQueriesContext(connection) as captured:
            answer = api.post(CHANGE_OWNER, {"ids": ["3001"], "owner": {"id": owner}}, "json")
        assert answer.status_code == 200, answer.json()
        return [query["sql"] for query in captured.captured_queries]

    statements(False, users[1])  # both calls below change the owner
    off = statements(False, users[0])
    on = statements(True, users[1])

    [entry] = JournalEntry.objects.all()
    assert entry.status == 200
    if connection.vendor == "postgresql":
        assert len(on) == len(off) + 1
        assert "crm_access_token_lookup" in on[0] and "sandbox_fault" in on[0]
        assert "INSERT INTO sandbox_call_under_way" in on[0]
        assert on[-1].startswith("WITH ended AS (DELETE FROM sandbox_call_under_way")
        assert "INSERT INTO sandbox_journal" in on[-1]
    else:
        assert on[1].startswith("INSERT INTO sandbox_call_under_way")
        assert on[-2].startswith("INSERT INTO sandbox_journal")
        assert on[-1].startswith("DELETE FROM sandbox_call_under_way")
        assert len(on) == len(off) + 4


def _under_way(organization_id: int, started) -> None:
    from django.db import connection

    time = JournalEntry._meta.get_field("time").get_db_prep_value(started, connection)
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {journal.UNDER_WAY} (id, organization_id, time) VALUES (%s, %s, %s)",
            [1, organization_id, time],
        )


def test_a_read_waits_for_a_call_under_way_but_not_for_one_whose_process_is_gone(
    controls, requests_url, org
):
    """A call under way whose entry does not come (its process was killed) holds a read up for
    ANSWER_WAIT_SECONDS while it is recent, and not at all once it is older than any call runs:
    the read then asks once."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    organization_id = int(org["organization"]["id"])

    def probes(started) -> int:
        with connection.cursor() as cursor:
            cursor.execute(f"DELETE FROM {journal.UNDER_WAY}")
        _under_way(organization_id, started)
        with CaptureQueriesContext(connection) as captured:
            assert controls.get(requests_url).json() == {"requests": []}
        return sum(journal.UNDER_WAY in query["sql"] for query in captured.captured_queries)

    assert probes(timezone.now() - journal.UNDER_WAY_AT_MOST - timedelta(seconds=1)) == 1
    assert probes(timezone.now() + timedelta(seconds=5)) == 1  # begun after the read
    assert probes(timezone.now()) > 1


def test_a_clear_waits_for_a_call_under_way_too(controls, requests_url, org):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    _under_way(int(org["organization"]["id"]), timezone.now())
    with CaptureQueriesContext(connection) as captured:
        assert controls.delete(requests_url).status_code == 204

    assert sum(journal.UNDER_WAY in query["sql"] for query in captured.captured_queries) > 1


def test_deleting_an_organization_forgets_its_calls_under_way(controls, created):
    from django.db import connection

    kept = created()
    deleted = created(name="Other", users=[{"full_name": "Oz", "email": "oz@o.test"}], records=[])
    for org in (kept, deleted):
        _under_way(int(org["organization"]["id"]), timezone.now())

    answer = controls.delete(f"/sandbox/v1/organizations/{deleted['organization']['id']}")

    assert answer.status_code == 204
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT organization_id FROM {journal.UNDER_WAY}")
        assert cursor.fetchall() == [(int(kept["organization"]["id"]),)]
