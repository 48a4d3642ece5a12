from __future__ import annotations

from django.db import models
from django.utils import timezone

from crm.ids import IdField


class OutboxEntry(models.Model):
    """The outbox: follow-up work of one change of owner (its related transfer, its email) and
    the steps of transfer jobs (plan, chunk, digest), written in the transaction that asks for it.

    Celery executes an entry; a periodic sweep re-dispatches any that a lost message or a dead
    worker left behind. A worker claims an entry with a conditional UPDATE, so a duplicate
    delivery does nothing.
    """

    class Kind(models.TextChoices):
        RELATED_TRANSFER = "related_transfer"
        NOTIFY = "notify"
        # The chunks of a TransferJob (owners/transfers/engine.py), and its digest email.
        TRANSFER_PLAN = "transfer_plan"
        TRANSFER_CHUNK = "transfer_chunk"
        TRANSFER_DIGEST = "transfer_digest"
        # Watch notifications (owners/watch.py): an owner change to tell the organization's
        # channels about, and one callback to one channel.
        WATCH_EVENT = "watch_event"
        WATCH_DELIVERY = "watch_delivery"

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
        verbose_name = "outbox entry"
        verbose_name_plural = "outbox"
        indexes = [
            models.Index(
                fields=["status", "run_after"],
                name="outbox_open",
                condition=models.Q(status__in=["pending", "running"]),
            ),
            models.Index(fields=["batch_id"], name="outbox_batch"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.batch_id} ({self.status})"


class TransferJob(models.Model):
    """A job that moves many records: a mass change by criteria, a leaving user's records
    (offboarding), or the revert of a batch. Run by owners/transfers/engine.py.

    The job row holds what to move (modules in order, the criteria as validated JSON, the new
    owner, the related activity modules), where it is (`cursor_module`: the module being moved;
    each of its id-range chunks is an outbox entry of kind `transfer_chunk`) and the counts.
    """

    class Kind(models.TextChoices):
        MASS_CHANGE = "mass_change"
        OFFBOARDING = "offboarding"
        REVERT = "revert"

    class Status(models.TextChoices):
        SCHEDULED = "scheduled"
        RUNNING = "running"
        COMPLETED = "completed"
        FAILED = "failed"

    id = IdField()
    organization = models.ForeignKey("crm.Organization", on_delete=models.CASCADE, related_name="+")
    kind = models.CharField(max_length=20, choices=Kind.choices)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.SCHEDULED)
    # Stamped on every audit row the job writes.
    batch_id = models.UUIDField(unique=True)
    actor = models.ForeignKey(
        "crm.User", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    # None for a revert: each record goes back to its own previous owner.
    new_owner = models.ForeignKey(
        "crm.User", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    # Offboarding: the leaving user; `delete_user` false disables them instead.
    from_user = models.ForeignKey(
        "crm.User", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    delete_user = models.BooleanField(default=True)
    # Revert: the batch whose changes are undone.
    reverted_batch_id = models.UUIDField(null=True, blank=True)
    module_ids = models.JSONField(default=list)
    criteria = models.JSONField(null=True, blank=True)
    related_modules = models.JSONField(default=list)
    notify = models.BooleanField(default=False)
    cancelled = models.BooleanField(default=False)
    # Progress: the module (index into module_ids) whose chunks are planned or running, and its
    # chunks planned and done.
    cursor_module = models.PositiveIntegerField(default=0)
    chunks_planned = models.PositiveIntegerField(default=0)
    chunks_done = models.PositiveIntegerField(default=0)
    total_count = models.BigIntegerField(default=0)
    updated_count = models.BigIntegerField(default=0)
    skipped_count = models.BigIntegerField(default=0)
    failed_count = models.BigIntegerField(default=0)
    related_count = models.BigIntegerField(default=0)
    # A revert: its skipped records counted by why they stayed (owners/transfers/revert.py:
    # {"owner_not_active": n, "changed_since": m, ...}); they add up to `skipped_count`.
    skipped_reasons = models.JSONField(default=dict, blank=True)
    last_error = models.TextField(blank=True)
    created_time = models.DateTimeField(default=timezone.now)
    started_time = models.DateTimeField(null=True, blank=True)
    finished_time = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["organization", "created_time"], name="transfer_org_created"),
            models.Index(fields=["reverted_batch_id"], name="transfer_reverted_batch"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.id} ({self.status})"


class IdempotencyKey(models.Model):
    """A client's `Idempotency-Key` (ours, after Stripe's): the first answer to a write sent with
    it, kept per organization for `owners.idempotency.KEY_LIFETIME`, replayed to a repeat.

    `status_code` is None while the first request runs; `fingerprint` is a hash of what was asked
    (method, path, query and body), so the same key with another request is refused.
    """

    id = IdField()
    organization = models.ForeignKey("crm.Organization", on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=255)
    fingerprint = models.CharField(max_length=64)
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    body = models.JSONField(null=True, blank=True)
    headers = models.JSONField(default=dict, blank=True)
    created_time = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["organization", "key"], name="idempotency_key_once")
        ]
        indexes = [models.Index(fields=["created_time"], name="idempotency_key_created")]

    def __str__(self) -> str:
        return f"{self.key} ({self.status_code or 'in flight'})"


class WatchChannel(models.Model):
    """A channel of Bigin's notification API (`/bigin/v2/actions/watch`): the callbacks the
    organization asked for (`events` such as `Contacts.edit`), where to send them and until when.
    """

    id = IdField()
    organization = models.ForeignKey("crm.Organization", on_delete=models.CASCADE, related_name="+")
    # The client's own id for the channel (Bigin's `channel_id`), unique in the organization.
    channel_id = models.BigIntegerField()
    events = models.JSONField(default=list)
    notify_url = models.URLField(max_length=2000)
    token = models.CharField(max_length=50, blank=True)
    channel_expiry = models.DateTimeField()
    notify_on_related_action = models.BooleanField(default=False)
    created_by = models.ForeignKey(
        "crm.User", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_time = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "channel_id"], name="watch_channel_once"
            )
        ]

    def __str__(self) -> str:
        return f"channel {self.channel_id} ({', '.join(self.events)})"


class WatchDelivery(models.Model):
    """One callback to one channel (ours: the delivery log): the body as sent, each attempt's
    outcome, and whether it arrived. Its outbox entry (kind `watch_delivery`) sends it."""

    class Status(models.TextChoices):
        PENDING = "pending"
        DELIVERED = "delivered"
        FAILED = "failed"

    id = IdField()
    organization = models.ForeignKey("crm.Organization", on_delete=models.CASCADE, related_name="+")
    channel = models.ForeignKey(WatchChannel, on_delete=models.CASCADE, related_name="deliveries")
    batch_id = models.UUIDField()
    module_name = models.CharField(max_length=50)
    # The exact bytes POSTed (the signature is over them), as text.
    body = models.TextField()
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    last_status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    outbox_entry_id = models.BigIntegerField(null=True, blank=True)
    created_time = models.DateTimeField(default=timezone.now)
    delivered_time = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name_plural = "watch deliveries"
        indexes = [
            models.Index(fields=["channel", "created_time"], name="watch_delivery_channel"),
        ]

    def __str__(self) -> str:
        return f"{self.module_name} to channel {self.channel_id} ({self.status})"
