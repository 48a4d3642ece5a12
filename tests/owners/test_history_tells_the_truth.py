"""Every owner write is audited: after API changes, a `make run` restart (seed_demo) and the
reload of a changed sandbox file, the latest audit row of every record names its owner."""

from __future__ import annotations

import json
from io import StringIO

import pytest
from django.core.management import call_command

from audit.models import AuditEntry
from crm.models import Record, User
from crm.sandbox import demo

from .bigin import post_bulk

pytestmark = pytest.mark.django_db


def run(*args: str) -> str:
    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def file_owners(data) -> dict[int, int | None]:
    return {
        int(record["id"]): int(record["owner"]) if record.get("owner") else None
        for organization in data["organizations"]
        for record in organization["records"]
    }


def assert_history_matches_every_owner(created_with: dict[int, int | None]) -> None:
    """Walk every record: its latest audit row names its owner; a record with no audit row still
    has the owner it was created with."""
    latest: dict[int, int | None] = {}
    for record_id, new_owner_id in AuditEntry.objects.order_by("created_time", "id").values_list(
        "record_id", "new_owner_id"
    ):
        latest[record_id] = new_owner_id
    records = dict(Record.objects.values_list("id", "owner_id"))
    assert len(records) == len(created_with)
    mismatches = {
        record_id: (owner_id, latest.get(record_id, created_with[record_id]))
        for record_id, owner_id in records.items()
        if owner_id != latest.get(record_id, created_with[record_id])
    }
    assert mismatches == {}


def test_the_history_matches_the_owners_after_api_changes_restarts_and_sandbox_reloads(
    auth_client, tmp_path
):
    data = demo.build()
    created_with = file_owners(data)
    run("seed_demo", "--admin-password", "zylker-demo")
    admin = User.objects.get(email=demo.ADMIN_EMAIL)
    ben = User.objects.get(email="ben.ortiz@zylker.test")
    chen = User.objects.get(email="chen.wei@zylker.test")
    contacts = list(
        Record.objects.filter(organization_id=demo.ZYLKER_ID, module__api_name="Contacts")
        .exclude(owner=ben)
        .order_by("id")[:3]
    )

    # 1. An operator gives three contacts to Ben through the API.
    client = auth_client(admin, "ZohoBigin.change_owner.CREATE")
    response = post_bulk(
        client, {"ids": [str(c.id) for c in contacts], "owner": {"id": str(ben.id)}}
    )
    assert response.status_code == 200

    # 2. `make run` starts again: seed_demo creates nothing and reverts nothing.
    output = run("seed_demo", "--admin-password", "zylker-demo")
    assert output.startswith(
        "Demo sandbox: organizations: 0 created, 0 updated; users: 0 created, 0 updated; "
        "records: 0 created, 0 updated\n"
    )
    assert set(
        Record.objects.filter(id__in=[c.id for c in contacts]).values_list("owner_id", flat=True)
    ) == {ben.id}
    assert AuditEntry.objects.filter(source="sandbox").count() == 0
    assert_history_matches_every_owner(created_with)

    # 3. The demo file, edited to give two pipelines to Chen, is loaded explicitly: the file is
    # the truth then, for those two and for the three contacts the API moved.
    pipelines = [
        record
        for record in data["organizations"][0]["records"]
        if record["module"] == "Pipelines" and int(record["owner"]) != chen.id
    ][:2]
    for record in pipelines:
        record["owner"] = str(chen.id)
    path = tmp_path / "demo-changed.json"
    path.write_text(json.dumps(data), encoding="utf-8")

    output = run("load_sandbox", str(path))

    assert "records: 0 created, 5 updated" in output
    rows = list(
        AuditEntry.objects.filter(source="sandbox").values_list(
            "record_id", "previous_owner_id", "new_owner_id", "actor_id"
        )
    )
    assert sorted(rows) == sorted(
        [(int(r["id"]), created_with[int(r["id"])], chen.id, None) for r in pipelines]
        + [(c.id, ben.id, created_with[c.id], None) for c in contacts]
    )
    assert AuditEntry.objects.filter(source="sandbox").values("batch_id").distinct().count() == 1
    assert_history_matches_every_owner(created_with)

    # 4. Loading the same file again changes nothing and writes no audit row.
    output = run("load_sandbox", str(path))
    assert "records: 0 created, 0 updated" in output
    assert AuditEntry.objects.filter(source="sandbox").count() == 5
    assert_history_matches_every_owner(created_with)


def test_reloading_a_file_with_a_changed_owner_writes_one_audit_row_per_changed_owner(tmp_path):
    data = demo.build()
    run("seed_demo")
    records = data["organizations"][1]["records"]
    users = [u["id"] for u in data["organizations"][1]["users"]]
    changed = [r for r in records if r["module"] == "Accounts"][:4]
    for record in changed:
        record["owner"] = next(user for user in users if user != record["owner"])
    path = tmp_path / "changed.json"
    path.write_text(json.dumps(data), encoding="utf-8")

    run("load_sandbox", str(path))

    assert sorted(
        AuditEntry.objects.filter(source="sandbox").values_list("record_id", "new_owner_id")
    ) == sorted((int(r["id"]), int(r["owner"])) for r in changed)
    assert {
        record_id: owner_id
        for record_id, owner_id in Record.objects.filter(
            id__in=[int(r["id"]) for r in changed]
        ).values_list("id", "owner_id")
    } == {int(r["id"]): int(r["owner"]) for r in changed}
