"""Snapshots of an organization, and reset to one (docs/sandbox.md, "Snapshots and reset").

A snapshot copies the organization's records row for row into crm_snapshotrecord with one
INSERT ... SELECT, and keeps its users (names, email, status, profile, role) and its owner
history (the audit rows, from owners/ through `Ownership.history`) as JSON.

Reset puts the organization back wholesale, in one transaction: pending work is dropped and the
audit rows are replaced by the snapshot's (`Ownership.restore`), the records are put back as the
snapshot holds them (three set-based statements, whatever the number, writing only the rows that
differ: `_restore_records`), and users get their snapshot values back. This is not a change of
owner through the ownership core: no audit row is written for it, and the history reads again
exactly as it did when the snapshot was taken, so every record's owner is still the new owner of
its latest audit row. Tokens, clients, fault rules, the journal and the organization's settings
are left as they are.
"""

from __future__ import annotations

from typing import Any

from django.db import connection, transaction
from django.utils import timezone

from crm.models import Organization, Record, User
from crm.representations import bigin_time

from .models import Snapshot, SnapshotRecord
from .ownership import Ownership

USER_FIELDS = ("full_name", "email", "status", "profile_id", "role_id", "assignment_alert")


def _columns() -> tuple[list[str], list[str]]:
    """crm_record's columns, and the same columns in crm_snapshotrecord (`record_id` for `id`)."""
    records = [field.column for field in Record._meta.concrete_fields]
    return records, ["record_id" if column == "id" else column for column in records]


def _sql_columns(columns: list[str]) -> str:
    return ", ".join(connection.ops.quote_name(column) for column in columns)


def take(organization: Organization, name: str, *, history: list[dict[str, Any]]) -> Snapshot:
    """Copy the organization's records and users into a new snapshot called `name` (the caller
    checked it is free), inside the caller's transaction or its own."""
    record_columns, snapshot_columns = _columns()
    with transaction.atomic():
        users = [
            {"id": user["id"], **{name: user[name] for name in USER_FIELDS}}
            for user in User.objects.filter(organization=organization)
            .order_by("id")
            .values("id", *USER_FIELDS)
        ]
        snapshot = Snapshot.objects.create(
            organization=organization, name=name, users=users, history=history
        )
        with connection.cursor() as cursor:
            cursor.execute(
                f"INSERT INTO {SnapshotRecord._meta.db_table}"
                f" (snapshot_id, {_sql_columns(snapshot_columns)})"
                f" SELECT %s, {_sql_columns(record_columns)} FROM {Record._meta.db_table}"
                " WHERE organization_id = %s",
                [snapshot.id, organization.id],
            )
            snapshot.record_count = cursor.rowcount
        Snapshot.objects.filter(id=snapshot.id).update(record_count=snapshot.record_count)
    return snapshot


def reset(organization: Organization, snapshot: Snapshot, *, ownership: Ownership) -> dict:
    """Put the organization back as `snapshot` holds it (the module docstring says how).
    Returns what was restored and dropped."""
    with transaction.atomic(durable=True):
        # One reset of an organization at a time; a request changing its owners meanwhile waits
        # on the records' locks and then finds them replaced.
        Organization.objects.select_for_update().filter(id=organization.id).first()
        dropped = ownership.restore(organization.id, snapshot.history)
        with connection.cursor() as cursor:
            _restore_records(cursor, organization.id, snapshot.id)
        users = _restore_users(organization, snapshot.users)
    return {
        "snapshot": snapshot.name,
        "records": snapshot.record_count,
        "users": users,
        "audit_entries": dropped["audit_entries"],
        "dropped": {
            "outbox_entries": dropped["outbox_entries"],
            "transfer_jobs": dropped["transfer_jobs"],
            "idempotency_keys": dropped["idempotency_keys"],
        },
    }


def _restore_records(cursor, organization_id: int, snapshot_id: int) -> None:
    """The organization's records as the snapshot holds them, in three set-based statements that
    touch only what differs: records made since go, records changed since get their snapshot
    values back (an UPDATE in place: ids unchanged, so no foreign-key check runs for them), and
    records deleted since come back. A reset after a few changes writes a few rows, and never
    makes PostgreSQL re-check every record's `related_to` keys at commit (a DELETE and
    re-INSERT of 10,000 rows did, 20,000 deferred checks with plans cached while the table was
    small)."""
    record_columns, snapshot_columns = _columns()
    records, saved = Record._meta.db_table, SnapshotRecord._meta.db_table
    quote = connection.ops.quote_name
    pairs = [
        (quote(column), quote(copy))
        for column, copy in zip(record_columns, snapshot_columns, strict=True)
        if column not in ("id", "organization_id")
    ]
    differs = " OR ".join(f"r.{column} IS DISTINCT FROM s.{copy}" for column, copy in pairs)
    cursor.execute(
        f"DELETE FROM {records} WHERE organization_id = %s AND NOT EXISTS"
        f" (SELECT 1 FROM {saved} s WHERE s.snapshot_id = %s AND s.record_id = {records}.id)",
        [organization_id, snapshot_id],
    )
    cursor.execute(
        f"UPDATE {records} AS r SET "
        + ", ".join(f"{column} = s.{copy}" for column, copy in pairs)
        + f" FROM {saved} s WHERE s.snapshot_id = %s AND s.record_id = r.id"
        f" AND r.organization_id = %s AND ({differs})",
        [snapshot_id, organization_id],
    )
    cursor.execute(
        f"INSERT INTO {records} ({_sql_columns(record_columns)})"
        f" SELECT {_sql_columns(snapshot_columns)} FROM {saved} s WHERE s.snapshot_id = %s"
        f" AND NOT EXISTS (SELECT 1 FROM {records} r WHERE r.id = s.record_id)",
        [snapshot_id],
    )


def _restore_users(organization: Organization, saved: list[dict[str, Any]]) -> int:
    """Users as the snapshot holds them (a handful: one UPDATE each that differs); users made
    since go, with their tokens."""
    current = {
        user["id"]: user
        for user in User.objects.filter(organization=organization).values("id", *USER_FIELDS)
    }
    now = timezone.now()
    for values in saved:
        row = current.get(values["id"])
        changed = {
            name: values[name] for name in USER_FIELDS if row is None or row[name] != values[name]
        }
        if row is not None and changed:
            User.objects.filter(id=values["id"]).update(**changed, modified_time=now)
    User.objects.filter(organization=organization).exclude(
        id__in=[values["id"] for values in saved]
    ).delete()
    return len(saved)


def summary(snapshot: Snapshot) -> dict[str, Any]:
    return {
        "name": snapshot.name,
        "created_time": bigin_time(snapshot.created_time),
        "records": snapshot.record_count,
        "users": len(snapshot.users),
        "audit_entries": len(snapshot.history),
    }
