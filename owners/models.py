from __future__ import annotations

from django.db import models
from django.utils import timezone

from crm.ids import IdField


class OwnerJob(models.Model):
    """The outbox: work to do after a change of owner, written in the change's transaction.

    Celery executes a job; a periodic sweep re-dispatches any that a lost message or a dead
    worker left behind. A worker claims a job with a conditional UPDATE, so a duplicate delivery
    does nothing.
    """

    class Kind(models.TextChoices):
        RELATED_TRANSFER = "related_transfer"
        NOTIFY = "notify"

    class Status(models.TextChoices):
        PENDING = "pending"
        RUNNING = "running"
        DONE = "done"
        FAILED = "failed"

    id = IdField()
    organization = models.ForeignKey("crm.Organization", on_delete=models.CASCADE, related_name="+")
    kind = models.CharField(max_length=20, choices=Kind.choices)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    batch_id = models.UUIDField()
    # What the job needs, as plain JSON: the module, the record ids, the new owner, the related
    # selection, the actor, the source.
    payload = models.JSONField()
    attempts = models.PositiveIntegerField(default=0)
    run_after = models.DateTimeField()
    claimed_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    # What the job did, written with `done` (a related transfer: moved and skipped counts).
    result = models.JSONField(default=dict, blank=True)
    created_time = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [
            models.Index(
                fields=["status", "run_after"],
                name="ownerjob_open",
                condition=models.Q(status__in=["pending", "running"]),
            ),
            models.Index(fields=["batch_id"], name="ownerjob_batch"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.batch_id} ({self.status})"
