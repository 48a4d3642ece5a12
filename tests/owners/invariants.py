"""The owner invariants the model test checks after every step (tests/owners/test_model.py), and
the topology test once its load and faults are over (tests/integration/test_topology.py): on the
database, whatever wrote it."""

from __future__ import annotations

import itertools
from collections import defaultdict

from audit.models import AuditEntry
from crm.models import Organization, Record, User
from owners.models import OutboxEntry, TransferJob

JOB_SOURCES = {
    AuditEntry.Source.MASS_CHANGE,
    AuditEntry.Source.OFFBOARDING,
    AuditEntry.Source.REVERT,
    AuditEntry.Source.RELATED_TRANSFER,
}
FINISHED = (TransferJob.Status.COMPLETED, TransferJob.Status.FAILED)


def check_owner_invariants(organization: Organization, first_owner: dict[int, int]) -> None:
    """`first_owner`: the owner each record was created with (a record without an audit row
    still has it)."""
    jobs = list(TransferJob.objects.filter(organization=organization).order_by("id"))
    audit = list(
        AuditEntry.objects.filter(organization=organization)
        .order_by("created_time", "id")
        .values_list("record_id", "new_owner_id", "batch_id", "source", "created_time")
    )
    history: dict[int, list[tuple]] = defaultdict(list)
    for row in audit:
        history[row[0]].append(row)
    owners = dict(Record.objects.filter(organization=organization).values_list("id", "owner_id"))
    # Each record's owner is the new owner of its latest audit row.
    for record_id, owner_id in owners.items():
        rows = history.get(record_id)
        expected = rows[-1][1] if rows else first_owner[record_id]
        assert owner_id == expected, (record_id, owner_id, rows)
    # No record is owned by a deleted user.
    deleted = set(
        User.objects.filter(organization=organization, status=User.Status.DELETED).values_list(
            "id", flat=True
        )
    )
    assert not {owner for owner in owners.values() if owner in deleted}
    # Newest write wins: a job writes over no change made at or after its scheduling.
    scheduled = {
        job.batch_id: job.created_time
        for job in TransferJob.objects.filter(organization=organization)
    }
    scheduled.update(
        OutboxEntry.objects.filter(
            organization=organization, kind=OutboxEntry.Kind.RELATED_TRANSFER
        ).values_list("batch_id", "created_time")
    )
    for rows in history.values():
        for previous, row in itertools.pairwise(rows):
            if row[3] in JOB_SOURCES and row[2] in scheduled and previous[2] != row[2]:
                assert previous[4] < scheduled[row[2]], (
                    "overwrote a newer change",
                    previous,
                    row,
                )
    # A revert is never overtaken by the batch it reverts.
    for job in jobs:
        if job.kind == TransferJob.Kind.REVERT and job.status == TransferJob.Status.COMPLETED:
            late = [
                row
                for row in audit
                if row[2] == job.reverted_batch_id and row[4] > job.created_time
            ]
            assert not late, ("the reverted batch changed records after its revert", late)
    # Counts add up (a cancelled job leaves the rest not updated).
    for job in jobs:
        done = job.updated_count + job.failed_count + job.skipped_count
        if job.status in FINISHED and not job.cancelled:
            assert job.total_count == done, (job.kind, job.status, job.total_count, done)
        assert done <= job.total_count or job.status not in FINISHED, (job.kind, done)
