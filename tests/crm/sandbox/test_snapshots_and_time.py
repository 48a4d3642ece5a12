"""Snapshots and reset, the organization's own scheduler delay, and running its jobs now
(docs/sandbox.md, "Snapshots and reset" and "Time")."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from rest_framework.test import APIClient

from audit.models import AuditEntry
from crm.models import AccessToken, Organization, Record, User
from crm.representations import bigin_time
from crm.sandbox.models import Snapshot, SnapshotRecord
from owners.models import OutboxEntry, TransferJob

from .conftest import CHANGE_OWNER, invalid

pytestmark = pytest.mark.django_db


@pytest.fixture
def url(org):
    return f"/sandbox/v1/organizations/{org['organization']['id']}"


def change_owner(api, org, *, related=True, notify=False):
    body = {"ids": ["3001"], "owner": {"id": org["users"][1]["id"]}, "notify": notify}
    if related:
        body["related_modules"] = [{"api_name": "Tasks"}]
    answer = api.post(CHANGE_OWNER, body, format="json")
    assert answer.status_code == 200, answer.json()
    return answer


def owners(organization_id) -> dict[int, int]:
    return dict(
        Record.objects.filter(organization_id=organization_id).values_list("id", "owner_id")
    )


# --- snapshots and reset ---------------------------------------------------------------------


def test_a_snapshot_is_taken_and_listed_after_the_one_of_creation(controls, url, api, org):
    change_owner(api, org, related=False)

    taken = controls.post(f"{url}/snapshots", {"name": "after one change"}, format="json")
    listed = controls.get(f"{url}/snapshots")

    creation, named = Snapshot.objects.order_by("created_time")
    assert (taken.status_code, taken.json()) == (
        201,
        {
            "snapshot": {
                "name": "after one change",
                "created_time": bigin_time(named.created_time),
                "records": 2,
                "users": 2,
                "audit_entries": 1,
            }
        },
    )
    assert listed.json() == {
        "snapshots": [
            {
                "name": "creation",
                "created_time": bigin_time(creation.created_time),
                "records": 2,
                "users": 2,
                "audit_entries": 0,
            },
            taken.json()["snapshot"],
        ]
    }


@pytest.mark.parametrize(
    ("snapshot_body", "expected"),
    [
        (
            {},
            {
                "code": "MANDATORY_NOT_FOUND",
                "details": {"api_name": "name", "json_path": "$.name"},
                "message": "required field not found",
                "status": "error",
            },
        ),
        ({"name": ""}, invalid("name", "$.name", expected_data_type="string")),
        ({"name": "x" * 101}, invalid("name", "$.name", maximum_length=100)),
        (
            {"name": "creation"},
            {
                "code": "DUPLICATE_DATA",
                "details": {"api_name": "name", "json_path": "$.name"},
                "message": "duplicate data",
                "status": "error",
            },
        ),
    ],
)
def test_a_bad_snapshot_is_refused(controls, url, snapshot_body, expected):
    answer = controls.post(f"{url}/snapshots", snapshot_body, format="json")

    assert (answer.status_code, answer.json()) == (400, expected)
    assert Snapshot.objects.count() == 1


def test_reset_goes_back_to_creation_dropping_history_and_pending_work(
    controls, url, api, org, mailoutbox
):
    organization_id = int(org["organization"]["id"])
    before = owners(organization_id)
    change_owner(api, org, notify=True)  # a related transfer and an email, both pending
    disabled = User.objects.get(email="sam@acme.test")
    User.objects.filter(id=disabled.id).update(status="disabled")
    assert OutboxEntry.objects.filter(organization_id=organization_id).count() == 2

    answer = controls.post(f"{url}/actions/reset", format="json")

    assert (answer.status_code, answer.json()) == (
        200,
        {
            "reset": {
                "snapshot": "creation",
                "records": 2,
                "users": 2,
                "audit_entries": 0,
                "dropped": {"outbox_entries": 2, "transfer_jobs": 0, "idempotency_keys": 0},
            }
        },
    )
    assert owners(organization_id) == before
    assert not AuditEntry.objects.filter(organization_id=organization_id).exists()
    assert not OutboxEntry.objects.filter(organization_id=organization_id).exists()
    assert User.objects.get(id=disabled.id).status == "active"
    assert mailoutbox == []
    # Tokens keep working: the caller's test goes on with them.
    assert api.get("/bigin/v2/users").status_code == 200


def test_reset_to_a_snapshot_restores_its_records_and_its_history_exactly(controls, url, api, org):
    organization_id = int(org["organization"]["id"])
    change_owner(api, org, related=False)
    controls.post(f"{url}/snapshots", {"name": "one change"}, format="json")
    at_snapshot = {
        "records": list(
            Record.objects.filter(organization_id=organization_id).order_by("id").values()
        ),
        "audit": list(AuditEntry.objects.filter(organization_id=organization_id).values()),
    }
    # Everything back to Ann, a mass change scheduled, a record's fields edited.
    ann = org["users"][0]["id"]
    api.post(CHANGE_OWNER, {"ids": ["3001"], "owner": {"id": ann}}, format="json")
    Record.objects.filter(id=3001).update(fields={"Last_Name": "Edited"}, name="Edited")
    mass = APIClient()
    mass.credentials(HTTP_AUTHORIZATION=f"Zoho-oauthtoken {org['users'][0]['access_token']}")
    scheduled = mass.post(
        "/bigin/v2/Contacts/actions/mass_change_owner",
        {
            "owner": {"id": org["users"][1]["id"]},
            "criteria": {"field": {"api_name": "id"}, "comparator": "equal", "value": "3001"},
        },
        format="json",
    )
    assert scheduled.status_code == 202

    answer = controls.post(f"{url}/actions/reset", {"snapshot": "one change"}, format="json")

    assert answer.json()["reset"] == {
        "snapshot": "one change",
        "records": 2,
        "users": 2,
        "audit_entries": 1,
        "dropped": {"outbox_entries": 1, "transfer_jobs": 1, "idempotency_keys": 0},
    }
    assert (
        list(Record.objects.filter(organization_id=organization_id).order_by("id").values())
        == at_snapshot["records"]
    )
    assert (
        list(AuditEntry.objects.filter(organization_id=organization_id).values())
        == (at_snapshot["audit"])
    )
    assert not TransferJob.objects.exists()
    # The history still explains every owner: the latest audit row of each record names it.
    for record in Record.objects.filter(organization_id=organization_id):
        latest = AuditEntry.objects.filter(record_id=record.id).order_by("-created_time").first()
        assert latest is None or latest.new_owner_id == record.owner_id


def test_reset_removes_records_made_since_and_users_made_since(controls, url, org):
    organization_id = int(org["organization"]["id"])
    organization = Organization.objects.get(id=organization_id)
    newcomer = User.objects.create(
        organization=organization,
        email="new@acme.test",
        full_name="New Comer",
        profile=organization.profiles.get(name="Standard"),
    )
    Record.objects.create(
        organization=organization, module_id=Record.objects.get(id=3001).module_id, owner=newcomer
    )

    controls.post(f"{url}/actions/reset", format="json")

    assert set(owners(organization_id)) == {int(r["id"]) for r in org["records"]}
    assert not User.objects.filter(id=newcomer.id).exists()


def test_a_key_used_before_a_reset_does_its_work_again_after_it(controls, url, api, org):
    """A client's retry answers come from the state the reset discards: a test that reuses its
    Idempotency-Key after resetting gets a change, not the answer of one that no longer exists."""
    organization_id = int(org["organization"]["id"])
    body = {"ids": ["3001"], "owner": {"id": org["users"][1]["id"]}}
    first = api.post(CHANGE_OWNER, body, format="json", HTTP_IDEMPOTENCY_KEY="sync-3001")
    assert first.status_code == 200, first.json()

    answer = controls.post(f"{url}/actions/reset", format="json")
    assert answer.json()["reset"]["dropped"]["idempotency_keys"] == 1

    again = api.post(CHANGE_OWNER, body, format="json", HTTP_IDEMPOTENCY_KEY="sync-3001")
    assert again.status_code == 200, again.json()
    assert "Idempotent-Replayed" not in again.headers
    assert again.headers["X-Owner-Batch-Id"] != first.headers["X-Owner-Batch-Id"]
    assert Record.objects.get(id=3001).owner_id == int(org["users"][1]["id"])
    assert AuditEntry.objects.filter(organization_id=organization_id).count() == 1


def test_reset_brings_back_records_deleted_since_and_their_values(controls, url, api, org):
    organization_id = int(org["organization"]["id"])
    before = dict(
        Record.objects.filter(organization_id=organization_id).values_list("id", "fields")
    )
    task = Record.objects.get(organization_id=organization_id, module__api_name="Tasks").id
    Record.objects.filter(id=3001).update(fields={"Last_Name": "Changed"})
    Record.objects.filter(id=task).delete()

    controls.post(f"{url}/actions/reset", format="json")

    after = dict(Record.objects.filter(organization_id=organization_id).values_list("id", "fields"))
    assert after == before
    assert Record.objects.get(id=task).related_to_id == 3001


@pytest.mark.skipif(
    connection.vendor != "postgresql", reason="row versions (xmin) are PostgreSQL's"
)
def test_reset_rewrites_only_the_records_that_differ(controls, url, api, org):
    """A record nobody touched keeps its row version: the reset neither deletes and re-inserts
    the organization's records (which had PostgreSQL re-check every `related_to` key at commit)
    nor rewrites rows that already hold the snapshot's values."""
    organization_id = int(org["organization"]["id"])
    task = Record.objects.get(organization_id=organization_id, module__api_name="Tasks")

    def version(record_id):
        with connection.cursor() as cursor:
            cursor.execute("SELECT xmin::text FROM crm_record WHERE id = %s", [record_id])
            return cursor.fetchone()[0]

    untouched = version(task.id)
    change_owner(api, org, related=False)
    changed = version(3001)

    controls.post(f"{url}/actions/reset", format="json")

    assert version(task.id) == untouched
    assert version(3001) != changed
    assert Record.objects.get(id=3001).owner_id == int(org["users"][0]["id"])


def test_reset_to_an_unknown_snapshot_is_refused_and_changes_nothing(controls, url, api, org):
    change_owner(api, org, related=False)

    answer = controls.post(f"{url}/actions/reset", {"snapshot": "nope"}, format="json")

    assert (answer.status_code, answer.json()) == (
        400,
        invalid("snapshot", "$.snapshot", reason="no snapshot of that name"),
    )
    assert AuditEntry.objects.count() == 1


def test_reset_of_one_organization_leaves_another_alone(controls, url, created, org):
    other = created(name="Other", users=[{"full_name": "Oz", "email": "oz@o.test"}], records=[])
    other_client = APIClient()
    other_client.credentials(
        HTTP_AUTHORIZATION=f"Zoho-oauthtoken {other['users'][0]['access_token']}"
    )
    Record.objects.create(
        organization_id=other["organization"]["id"],
        module_id=Record.objects.get(id=3001).module_id,
        owner_id=other["users"][0]["id"],
    )

    controls.post(f"{url}/actions/reset", format="json")

    assert Record.objects.filter(organization_id=other["organization"]["id"]).count() == 1


def test_the_snapshot_table_has_the_columns_of_the_records_table():
    record_columns = [field.column for field in Record._meta.concrete_fields]
    snapshot_columns = [
        field.column for field in SnapshotRecord._meta.concrete_fields if field.column != "row"
    ]
    assert snapshot_columns == ["snapshot_id"] + [
        "record_id" if column == "id" else column for column in record_columns
    ]
    with connection.cursor() as cursor:
        record_types = {
            column.name: column.type_code
            for column in connection.introspection.get_table_description(
                cursor, Record._meta.db_table
            )
        }
        snapshot_types = {
            column.name: column.type_code
            for column in connection.introspection.get_table_description(
                cursor, SnapshotRecord._meta.db_table
            )
        }
    assert {
        ("id" if name == "record_id" else name): kind
        for name, kind in snapshot_types.items()
        if name not in ("row", "snapshot_id")
    } == record_types


# --- the organization's scheduler delay ------------------------------------------------------


def test_the_delay_is_the_setting_until_the_organization_sets_its_own(
    controls, url, api, org, settings
):
    assert controls.get(f"{url}/settings").json() == {
        "settings": {"related_owner_delay_seconds": None}
    }

    changed = controls.put(f"{url}/settings", {"related_owner_delay_seconds": 0}, format="json")
    change_owner(api, org)

    assert (changed.status_code, changed.json()) == (
        200,
        {"settings": {"related_owner_delay_seconds": 0}},
    )
    entry = OutboxEntry.objects.get(kind="related_transfer")
    assert entry.run_after == entry.created_time
    back = controls.put(f"{url}/settings", {"related_owner_delay_seconds": None}, format="json")
    assert back.json() == {"settings": {"related_owner_delay_seconds": None}}
    OutboxEntry.objects.all().delete()
    change_owner(api, org)
    entry = OutboxEntry.objects.get(kind="related_transfer")
    assert entry.run_after - entry.created_time == timedelta(
        seconds=settings.RELATED_OWNER_DELAY_SECONDS
    )


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (
            {"related_owner_delay_seconds": -1},
            invalid("related_owner_delay_seconds", "$.related_owner_delay_seconds", minimum=0),
        ),
        (
            {"related_owner_delay_seconds": 3600},
            invalid("related_owner_delay_seconds", "$.related_owner_delay_seconds", maximum=3599),
        ),
        (
            {"related_owner_delay_seconds": "5"},
            invalid(
                "related_owner_delay_seconds",
                "$.related_owner_delay_seconds",
                expected_data_type="integer",
            ),
        ),
        (
            {"timezone": "UTC"},
            {
                "code": "NOT_SUPPORTED",
                "details": {"api_name": "timezone", "json_path": "$.timezone"},
                "message": "The requested operation is not supported",
                "status": "error",
            },
        ),
    ],
)
def test_bad_settings_are_refused(controls, url, change, expected):
    answer = controls.put(f"{url}/settings", change, format="json")

    assert (answer.status_code, answer.json()) == (400, expected)
    assert Organization.objects.get().related_owner_delay_seconds is None


# --- run the organization's jobs now ---------------------------------------------------------


def test_run_jobs_runs_the_related_transfer_and_the_email_now_and_says_so(
    controls, url, api, org, mailoutbox, created
):
    other = created(name="Other", users=[{"full_name": "Oz", "email": "oz@o.test"}], records=[])
    other_entry = OutboxEntry.objects.create(
        organization_id=other["organization"]["id"],
        kind="notify",
        batch_id="00000000-0000-0000-0000-000000000001",
        payload={},
        run_after="2000-01-01T00:00:00Z",
    )
    answer = change_owner(api, org, notify=True)
    batch = answer["X-Owner-Batch-Id"]
    task_id = int(org["records"][1]["id"])
    assert Record.objects.get(id=task_id).owner_id == int(org["users"][0]["id"])  # not yet

    ran = controls.post(f"{url}/actions/run_jobs", format="json")

    entries = {entry.kind: entry for entry in OutboxEntry.objects.filter(batch_id=batch)}
    assert ran.status_code == 200
    assert sorted(ran.json()["ran"], key=lambda entry: entry["kind"]) == [
        {
            "id": str(entries["notify"].id),
            "kind": "notify",
            "batch_id": batch,
            "status": "done",
        },
        {
            "id": str(entries["related_transfer"].id),
            "kind": "related_transfer",
            "batch_id": batch,
            "status": "done",
        },
    ]
    assert ran.json()["still_running"] == 0
    assert Record.objects.get(id=task_id).owner_id == int(org["users"][1]["id"])
    assert [message.to for message in mailoutbox] == [["sam@acme.test"]]
    assert OutboxEntry.objects.get(id=other_entry.id).status == "pending"
    # Nothing left: a second call runs nothing.
    assert controls.post(f"{url}/actions/run_jobs", format="json").json() == {
        "ran": [],
        "still_running": 0,
    }


def test_run_jobs_runs_a_mass_change_through_all_its_steps(controls, url, api, org):
    scheduled = api.post(
        "/bigin/v2/Contacts/actions/mass_change_owner",
        {
            "owner": {"id": org["users"][1]["id"]},
            "criteria": {"field": {"api_name": "id"}, "comparator": "equal", "value": "3001"},
            "notify": True,
        },
        format="json",
    )
    job_id = scheduled.json()["data"][0]["details"]["job_id"]

    ran = controls.post(f"{url}/actions/run_jobs", format="json").json()

    kinds = [entry["kind"] for entry in ran["ran"]]
    # Planned, its chunk moved, planned again (nothing left), then the digest email.
    assert (kinds[0], kinds[-1]) == ("transfer_plan", "transfer_digest")
    assert "transfer_chunk" in kinds
    assert {entry["status"] for entry in ran["ran"]} == {"done"}
    assert TransferJob.objects.get(id=job_id).status == "completed"
    assert Record.objects.get(id=3001).owner_id == int(org["users"][1]["id"])


def test_an_entry_a_worker_holds_is_left_to_it_and_counted(controls, url, api, org):
    change_owner(api, org)
    OutboxEntry.objects.update(status="running", claimed_at="2999-01-01T00:00:00Z")

    ran = controls.post(f"{url}/actions/run_jobs", format="json").json()

    assert ran == {"ran": [], "still_running": 1}
    assert AccessToken.objects.exists()
