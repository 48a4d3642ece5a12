"""The audit table by month (audit/partitions.py): partitions ahead, a default one that loses
nothing, retention by whole months, and the reads still indexed."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from io import StringIO

import pytest
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django.utils import timezone

from audit import partitions
from audit.models import AuditEntry
from audit.tasks import create_audit_partitions_task
from crm.modules import module_by_name
from owners.statements import record_owner_changes

pytestmark = pytest.mark.django_db


def _at(month, day: int = 15) -> datetime:
    return datetime(month.year, month.month, day, 12, tzinfo=UTC)


def _audit(organization, user, when: datetime, record_id: int = 1) -> None:
    record_owner_changes(
        organization_id=organization.id,
        changes=[(record_id, module_by_name("Contacts").id, None)],
        new_owner_id=user.id,
        actor_id=user.id,
        source=AuditEntry.Source.API,
        batch_id=uuid.uuid4(),
        now=when,
    )


def _partition_of(entry_filter: dict) -> list[str]:
    ids = list(AuditEntry.objects.filter(**entry_filter).values_list("id", flat=True))
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT tableoid::regclass::text FROM {partitions.PARENT} WHERE id = ANY(%s)", [ids]
        )
        return [name for (name,) in cursor.fetchall()]


THIS_MONTH = partitions.month_of(timezone.now())


@pytest.mark.postgres
def test_migrate_leaves_the_table_partitioned_this_month_and_three_ahead_and_a_default():
    assert partitions.is_partitioned()
    names = [p.name for p in partitions.partitions()]
    ahead = [partitions.partition_name(partitions.add_months(THIS_MONTH, n)) for n in range(4)]
    assert set(ahead) <= set(names)
    assert names[-1] == partitions.DEFAULT_PARTITION


@pytest.mark.postgres
def test_a_row_no_month_covers_lands_in_the_default_partition_then_moves_to_its_month(
    organization, admin_user
):
    later = partitions.add_months(THIS_MONTH, 12)
    _audit(organization, admin_user, _at(later), record_id=7)
    assert _partition_of({"record_id": 7}) == [partitions.DEFAULT_PARTITION]

    # The beat's run in that month creates its partition, which takes the row along.
    assert partitions.ensure_partitions(now=_at(later), months_ahead=0) == 1

    assert _partition_of({"record_id": 7}) == [partitions.partition_name(later)]
    assert AuditEntry.objects.filter(record_id=7).count() == 1


@pytest.mark.postgres
def test_the_beat_task_creates_a_missing_partition_ahead():
    gone = partitions.partition_name(partitions.add_months(THIS_MONTH, 3))
    with connection.cursor() as cursor:
        cursor.execute(f'DROP TABLE "{gone}"')

    assert create_audit_partitions_task() == 1

    assert gone in [p.name for p in partitions.partitions()]
    assert create_audit_partitions_task() == 0
    schedule = settings.CELERY_BEAT_SCHEDULE["create-audit-partitions"]
    assert schedule["task"] == "audit.tasks.create_audit_partitions_task"


def test_retention_removes_the_months_before_those_kept_and_a_dry_run_nothing(
    organization, admin_user
):
    months = [partitions.add_months(THIS_MONTH, -n) for n in (5, 3, 2, 1, 0)]
    if partitions.is_partitioned():
        # Months 3, 2 and 1 back have partitions; 5 back went to the default partition.
        for month in months[1:4]:
            partitions.create_month(month)
    for record_id, month in enumerate(months, start=1):
        _audit(organization, admin_user, _at(month), record_id=record_id)
    cutoff = months[3]  # keep 2 months: this one and the last

    out = StringIO()
    call_command("audit_retention", keep_months=2, dry_run=True, stdout=out)

    assert out.getvalue().splitlines()[-1] == (
        f"dry run: 3 audit rows before {cutoff} would be removed; nothing changed."
    )
    assert AuditEntry.objects.count() == 5

    out = StringIO()
    call_command("audit_retention", keep_months=2, stdout=out, stderr=StringIO())

    # PostgreSQL: two month partitions dropped and the default partition's old rows deleted;
    # elsewhere: three months' rows deleted.
    assert out.getvalue() == f"removed 3 audit rows before {cutoff} (3 parts); kept 2 months.\n"
    assert sorted(AuditEntry.objects.values_list("record_id", flat=True)) == [4, 5]
    if partitions.is_partitioned():
        names = {p.name for p in partitions.partitions()}
        assert partitions.partition_name(months[1]) not in names
        assert partitions.partition_name(months[2]) not in names
        assert partitions.partition_name(months[3]) in names


def test_retention_refuses_to_keep_no_month():
    with pytest.raises(CommandError, match="--keep-months must be at least 1"):
        call_command("audit_retention", keep_months=0)


@pytest.mark.postgres
@pytest.mark.parametrize(
    "read",
    [
        # A record's history (the admin, the model test's invariant).
        lambda org, batch: AuditEntry.objects.filter(organization_id=org, record_id=42),
        # A batch's overview and a job's counts by module.
        lambda org, batch: AuditEntry.objects.filter(organization_id=org, batch_id=batch),
        # A revert chunk.
        lambda org, batch: AuditEntry.objects.filter(
            organization_id=org, batch_id=batch, record_id__gt=10, record_id__lte=5000
        ),
    ],
    ids=["history", "batch", "revert"],
)
def test_the_history_batch_and_revert_reads_are_index_scans_on_every_partition(
    read, organization, admin_user
):
    _audit(organization, admin_user, timezone.now() - timedelta(days=1))
    with connection.cursor() as cursor:
        # Forbids a sequential scan where an index can serve (it stays in the plan when none can).
        cursor.execute("SET LOCAL enable_seqscan = off")

    plan = read(organization.id, uuid.uuid4()).explain()

    assert "Seq Scan" not in plan
    scanned = plan.count(" on audit_auditentry_")
    assert scanned >= 5, plan  # this month, three ahead and the default one at least
    assert plan.count("Index") >= scanned, plan
