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

    id = IdField()
    # Unindexed foreign keys: audit_org_record serves lookups by organization, and nothing looks
    # entries up by module or previous owner alone; each index is one more write per change.
    organization = models.ForeignKey(
        "crm.Organization", on_delete=models.PROTECT, related_name="+", db_index=False
    )
    module = models.ForeignKey(
        "crm.Module", on_delete=models.PROTECT, related_name="+", db_index=False
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
    )
    new_owner = models.ForeignKey(
        "crm.User", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    actor = models.ForeignKey(
        "crm.User", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
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
