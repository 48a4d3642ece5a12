"""What the sandbox controls keep (docs/sandbox.md): fault rules, the request journal and
snapshots. Imported by crm/models.py, so they are crm's models (and crm's migrations).

Every row belongs to one organization and goes with it.
"""

from __future__ import annotations

from django.db import models
from django.utils import timezone

from crm.ids import IdField


class Fault(models.Model):
    """A rule the sandbox applies to the next matching calls of an organization, before anything
    else runs (crm/sandbox/traffic.py): answer an error, wait, or close the connection."""

    id = IdField()
    organization = models.ForeignKey("crm.Organization", on_delete=models.CASCADE, related_name="+")
    # Empty: any method / any path. A path ending in `*` matches every path it starts.
    method = models.CharField(max_length=10, blank=True)
    path = models.CharField(max_length=2000, blank=True)
    # As validated (crm/sandbox/faults.py): {"status", "code", "message", "details",
    # "retry_after"} | {"delay_ms"} | {"drop": true}.
    response = models.JSONField()
    times = models.PositiveIntegerField(null=True, blank=True)  # None: until deleted
    remaining = models.PositiveIntegerField(null=True, blank=True)
    probability = models.FloatField(default=1.0)
    applied = models.PositiveIntegerField(default=0)
    created_time = models.DateTimeField(default=timezone.now)

    class Meta:
        db_table = "sandbox_fault"
        indexes = [models.Index(fields=["organization", "created_time"], name="fault_org_time")]

    def __str__(self) -> str:
        return f"fault {self.id} of {self.organization_id}"


class JournalEntry(models.Model):
    """One API call of an organization as the sandbox saw it: tokens and secrets masked, bodies
    cut at `journal.MAX_BODY_BYTES`. At most `journal.CAPACITY` are kept per organization."""

    id = IdField()
    organization = models.ForeignKey(
        "crm.Organization", on_delete=models.CASCADE, related_name="+", db_index=False
    )
    time = models.DateTimeField()
    method = models.CharField(max_length=10)
    path = models.TextField()
    query = models.TextField(blank=True)
    headers = models.JSONField(default=dict)
    body = models.TextField(blank=True)
    body_truncated = models.BooleanField(default=False)
    # None: the connection was dropped (a `drop` fault), nothing was answered.
    status = models.PositiveSmallIntegerField(null=True)
    response_body = models.TextField(blank=True)
    response_truncated = models.BooleanField(default=False)
    duration_ms = models.PositiveIntegerField(default=0)
    fault = models.BigIntegerField(null=True, blank=True)  # the rule that answered, if any

    class Meta:
        db_table = "sandbox_journal"
        verbose_name_plural = "journal entries"
        indexes = [models.Index(fields=["organization", "-time", "-id"], name="journal_org_time")]

    def __str__(self) -> str:
        return f"{self.method} {self.path} ({self.status})"


class Snapshot(models.Model):
    """An organization's records, users and owner history at one moment, for `reset`.

    Records are copied row for row into SnapshotRecord (one INSERT ... SELECT each way); users
    (their names, status, profile and role) and the owner history (the audit rows, which owners/
    keeps: `owners.sandbox.history`) are small and kept as JSON here."""

    CREATION = "creation"  # taken when the sandbox creates an organization

    id = IdField()
    organization = models.ForeignKey("crm.Organization", on_delete=models.CASCADE, related_name="+")
    name = models.CharField(max_length=100)
    created_time = models.DateTimeField(default=timezone.now)
    users = models.JSONField(default=list)
    history = models.JSONField(default=list)
    record_count = models.PositiveIntegerField(default=0)

    class Meta:
        db_table = "sandbox_snapshot"
        constraints = [
            models.UniqueConstraint(fields=["organization", "name"], name="snapshot_unique_name")
        ]

    def __str__(self) -> str:
        return f"snapshot {self.name!r} of {self.organization_id}"


class SnapshotRecord(models.Model):
    """A copy of one crm_record row in a snapshot: the same columns (`record_id` for `id`), no
    keys; tests/crm/sandbox/test_snapshots.py holds the two tables to the same columns."""

    row = models.BigAutoField(primary_key=True)
    # Indexed by snapshot_record below.
    snapshot = models.ForeignKey(
        Snapshot, on_delete=models.CASCADE, related_name="+", db_index=False
    )
    record_id = models.BigIntegerField()
    organization_id = models.BigIntegerField()
    module_id = models.BigIntegerField()
    owner_id = models.BigIntegerField(null=True)
    name = models.CharField(max_length=255, blank=True)
    fields = models.JSONField(default=dict, blank=True)
    related_to_id = models.BigIntegerField(null=True)
    created_time = models.DateTimeField()
    modified_time = models.DateTimeField()
    owner_changed_time = models.DateTimeField(null=True)
    modified_by_id = models.BigIntegerField(null=True)
    created_by_id = models.BigIntegerField(null=True)

    class Meta:
        db_table = "sandbox_snapshot_record"
        constraints = [
            # A reset finds a record's copy by this pair (snapshots._restore_records): one index
            # probe per record whatever plan a new organization's missing statistics give.
            models.UniqueConstraint(fields=["snapshot", "record_id"], name="snapshot_record")
        ]

    def __str__(self) -> str:
        return f"record {self.record_id} in snapshot {self.snapshot_id}"
