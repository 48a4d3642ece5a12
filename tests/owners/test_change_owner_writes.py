"""What a change_owner request writes: audit rows, outbox rows, nothing for no-ops, and the same
number of queries for 1 and 500 ids."""

from __future__ import annotations

import pytest
from django.db import connection

from audit.models import AuditEntry
from crm.models import Record
from owners.models import OutboxEntry
from tests.factories import RecordFactory

from .bigin import post_bulk, post_single, success

pytestmark = pytest.mark.django_db


def test_one_audit_row_per_changed_record_with_owners_actor_and_batch(
    admin_client, admin_user, make_record, new_owner
):
    changing = [make_record() for _ in range(2)]
    already = make_record(owner=new_owner)
    ids = [str(r.id) for r in [*changing, already]]

    response = post_bulk(admin_client, {"ids": ids, "owner": {"id": str(new_owner.id)}})

    assert response.status_code == 200
    rows = list(
        AuditEntry.objects.order_by("record_id").values(
            "record_id",
            "previous_owner_id",
            "new_owner_id",
            "actor_id",
            "source",
            "batch_id",
            "module_id",
        )
    )
    batch_id = response["X-Owner-Batch-Id"]
    assert [{**row, "batch_id": str(row["batch_id"])} for row in rows] == [
        {
            "record_id": record.id,
            "previous_owner_id": admin_user.id,
            "new_owner_id": new_owner.id,
            "actor_id": admin_user.id,
            "source": "api",
            "batch_id": batch_id,
            "module_id": record.module_id,
        }
        for record in sorted(changing, key=lambda r: r.id)
    ]


def test_a_no_op_request_succeeds_and_writes_only_the_outbox_rows_it_needs(
    admin_client, make_record, new_owner
):
    record = make_record(owner=new_owner)
    before = Record.objects.values().get(id=record.id)
    body = {
        "ids": [str(record.id)],
        "owner": {"id": str(new_owner.id)},
        "notify": True,
        "related_modules": [{"api_name": "Tasks"}],
    }

    response = post_bulk(admin_client, body)

    assert response.status_code == 200
    assert response.json() == {"data": [success(record.id)]}
    assert Record.objects.values().get(id=record.id) == before  # modified time untouched too
    assert not AuditEntry.objects.exists()
    # Nothing changed, so no email; the related records still follow (api-spec.md).
    assert list(OutboxEntry.objects.values_list("kind", flat=True)) == ["related_transfer"]


def test_outbox_rows_carry_the_requests_choices(admin_client, admin_user, make_record, new_owner):
    record = make_record()
    body = {
        "ids": [str(record.id)],
        "owner": {"id": str(new_owner.id)},
        "notify": True,
        "related_modules": [{"api_name": "Calls"}, {"id": "55"}],
    }
    response = post_bulk(admin_client, body)

    jobs = {job.kind: job for job in OutboxEntry.objects.all()}
    batch_id = response["X-Owner-Batch-Id"]
    assert {str(job.batch_id) for job in jobs.values()} == {batch_id}
    assert {job.status for job in jobs.values()} == {"pending"}
    common = {
        "module": "Contacts",
        "new_owner_id": str(new_owner.id),
        "actor_id": str(admin_user.id),
        "source": "api",
    }
    assert jobs["related_transfer"].payload == {
        **common,
        "parent_ids": [str(record.id)],
        "related_modules": ["Calls"],
        "related_ids": ["55"],
    }
    assert jobs["notify"].payload == {**common, "record_ids": [str(record.id)]}


# PostgreSQL: Django splits bulk INSERTs on SQLite by its 999-parameter limit.
@pytest.mark.postgres
@pytest.mark.parametrize("count", [1, 10, 500])
def test_change_owner_query_count_is_the_same_for_1_10_and_500_ids(
    admin_client, organization, admin_user, new_owner, django_assert_num_queries, count
):
    ids = [
        str(r.id)
        for r in RecordFactory.create_batch(count, organization=organization, owner=admin_user)
    ]
    body = {
        "ids": ids,
        "owner": {"id": str(new_owner.id)},
        "notify": True,
        "related_modules": [{"api_name": "Tasks"}],
    }
    # 1 access token + user + organization + profile (one joined SELECT)
    # 2 SAVEPOINT (the service's durable transaction, nested in the test's transaction)
    # 3 SELECT ... ORDER BY id FOR UPDATE (lock the targets, and read the new owner's status)
    # 4 UPDATE the records whose owner differs
    # 5 INSERT the audit rows
    # 6 INSERT the outbox rows (related transfer and notification)
    # 7 RELEASE SAVEPOINT
    with django_assert_num_queries(7):
        response = post_bulk(admin_client, body)
    assert response.status_code == 200
    assert AuditEntry.objects.count() == count


# PostgreSQL, connected directly (DATABASE_POOLER empty): psycopg prepares a statement after five
# runs on a connection (config/settings.py), so PostgreSQL no longer parses and plans the lock,
# the UPDATE and the audit INSERT of every request. Behind pgbouncer in transaction mode nothing
# is prepared (.ci/pgbouncer.sh runs this file there too).
@pytest.mark.postgres
def test_the_statements_of_a_change_are_prepared_after_five_requests_without_a_pooler(
    admin_client, admin_user, make_record, new_owner, settings
):
    record = make_record()
    for run in range(7):
        owner = new_owner if run % 2 == 0 else admin_user
        response = post_single(admin_client, record.id, {"owner": {"id": str(owner.id)}})
        assert response.status_code == 200

    with connection.cursor() as cursor:
        cursor.execute("SELECT statement FROM pg_prepared_statements WHERE from_sql = false")
        prepared = [statement for (statement,) in cursor.fetchall()]
    if settings.DATABASE_POOLER == "transaction":
        assert prepared == []
        return
    assert any("FOR UPDATE" in statement for statement in prepared)
    assert any(statement.startswith("UPDATE crm_record") for statement in prepared)
    assert any("INSERT INTO audit_auditentry" in statement for statement in prepared)
