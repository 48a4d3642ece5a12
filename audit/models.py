from __future__ import annotations

from django.db import models
from django.utils import timezone

from crm.ids import IdField


class AuditEntry(models.Model):
    """One row per record whose owner changed. Append-only: nothing updates or deletes it."""

    class Source(models.TextChoices):
        API = "api"
        ADMIN = "admin"
        RELATED_TRANSFER = "related_transfer"
        KENBUN = "kenbun"
        COMMAND = "command"
        # A sandbox file loaded again with other owners for existing records (load_sandbox).
        SANDBOX = "sandbox"
        # Transfer jobs (owners/transfers/).
        MASS_CHANGE = "mass_change"
        OFFBOARDING = "offboarding"
        REVERT = "revert"
        # The record APIs (owners/records/writes.py): an add gives a record its first owner, an
        # update or upsert may give it another.
        INSERT = "insert"
        UPDATE = "update"

    id = IdField()
    # Unindexed foreign keys: audit_org_record serves lookups by organization, and nothing looks
    # entries up by module or previous owner alone; each index is one more write per change.
    #
    # No database constraints on the five keys (`db_constraint=False`): an append-only log of
    # values copied from rows the same transaction has just locked and changed. The owners come
    # from crm_record, whose composite key refuses, at the same commit, an owner that is not a
    # user of the record's organization; the organization and module are the change's own; the
    # actor is the authenticated caller. Five commit-time checks per row would check those
    # again (about 1 s per 50,000 rows, bench/transfer50k.py). Deleting a user, module or
    # organization that an entry names is still refused, by Django (on_delete=PROTECT), and
    # every read is filtered by organization as before.
    organization = models.ForeignKey(
        "crm.Organization",
        on_delete=models.PROTECT,
        related_name="+",
        db_index=False,
        db_constraint=False,
    )
    module = models.ForeignKey(
        "crm.Module",
        on_delete=models.PROTECT,
        related_name="+",
        db_index=False,
        db_constraint=False,
    )
    # A plain id, not a foreign key: the history outlives the record.
    record_id = models.BigIntegerField()
    previous_owner = models.ForeignKey(
        "crm.User",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        db_index=False,
        db_constraint=False,
    )
    new_owner = models.ForeignKey(
        "crm.User",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        db_constraint=False,
    )
    actor = models.ForeignKey(
        "crm.User",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        db_constraint=False,
    )
    source = models.CharField(max_length=20, choices=Source.choices)
    batch_id = models.UUIDField()
    created_time = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name_plural = "audit entries"
        indexes = [
            models.Index(fields=["organization", "record_id"], name="audit_org_record"),
            models.Index(fields=["batch_id"], name="audit_batch"),
        ]

    def __str__(self) -> str:
        return f"{self.module_id}/{self.record_id}: {self.previous_owner_id} -> {self.new_owner_id}"
