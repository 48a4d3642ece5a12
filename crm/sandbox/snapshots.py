"""Snapshots of an organization, and reset to one (docs/sandbox.md, "Snapshots and reset").

A snapshot copies the organization's records row for row into crm_snapshotrecord with one
INSERT ... SELECT, and keeps its users (names, email, status, profile, role) and its owner
history (the audit rows, from owners/ through `Ownership.history`) as JSON.

Reset puts the organization back wholesale, in one transaction: pending work is dropped and the
audit rows are replaced by the snapshot's (`Ownership.restore`), every record is deleted and the
snapshot's rows are copied back (one DELETE, one INSERT ... SELECT, whatever the number), and
users get their snapshot values back. This is not a change of owner through the ownership core:
no audit row is written for it, and the history reads again exactly as it did when the snapshot
was taken, so every record's owner is still the new owner of its latest audit row. Tokens,
clients, fault rules, the journal and the organization's settings are left as they are.
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
    record_columns, snapshot_columns = _columns()
    with transaction.atomic(durable=True):
        # One reset of an organization at a time; a request changing its owners meanwhile waits
        # on the records' locks and then finds them replaced.
        Organization.objects.select_for_update().filter(id=organization.id).first()
        dropped = ownership.restore(organization.id, snapshot.history)
        with connection.cursor() as cursor:
            cursor.execute(
                f"DELETE FROM {Record._meta.db_table} WHERE organization_id = %s", [organization.id]
            )
            cursor.execute(
                f"INSERT INTO {Record._meta.db_table} ({_sql_columns(record_columns)})"
                f" SELECT {_sql_columns(snapshot_columns)} FROM {SnapshotRecord._meta.db_table}"
                " WHERE snapshot_id = %s",
                [snapshot.id],
            )
            restored = cursor.rowcount
        users = _restore_users(organization, snapshot.users)
    return {
        "snapshot": snapshot.name,
        "records": restored,
        "users": users,
        "audit_entries": dropped["audit_entries"],
        "dropped": {
            "outbox_entries": dropped["outbox_entries"],
            "transfer_jobs": dropped["transfer_jobs"],
        },
    }


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
