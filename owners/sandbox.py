"""What the sandbox controls (crm/sandbox) need from the ownership core: an organization's owner
history and pending work forgotten, kept in a snapshot and restored, and its outbox run now.
config/urls.py hands this module to the controls as their `Ownership` (crm/sandbox/ownership.py).

- `run_jobs` runs every pending outbox entry of one organization at once, through
  `owners.tasks.run_entry` like a worker does: each is claimed by the same conditional UPDATE,
  so a worker that gets the same entry later does nothing, and an entry a worker holds right now
  is left to it. Entries a step creates (a transfer job's chunks, its digest) run in the same
  call.
- `restore` replaces the audit rows wholesale (no audit row is written for a reset: the history
  reads as it did when the snapshot was taken) and deletes pending work, which belonged to a
  state that no longer exists.
"""

from __future__ import annotations

import logging
import uuid
from datetime import datetime
from typing import Any

from django.db import transaction
from django.utils import timezone

from audit.models import AuditEntry

from . import tasks
from .models import IdempotencyKey, OutboxEntry, TransferJob

logger = logging.getLogger(__name__)

# A step creates more entries (a plan its chunks, the last chunk its digest): rounds until none
# is left, bounded so a runaway never holds the request forever.
MAX_ROUNDS = 100


def forget(organization_id: int) -> None:
    OutboxEntry.objects.filter(organization_id=organization_id).delete()
    TransferJob.objects.filter(organization_id=organization_id).delete()
    AuditEntry.objects.filter(organization_id=organization_id).delete()


def history(organization_id: int) -> list[dict[str, Any]]:
    return [
        {name: _json_value(value) for name, value in entry.items()}
        for entry in AuditEntry.objects.filter(organization_id=organization_id)
        .order_by("created_time", "id")
        .values(*(field.attname for field in AuditEntry._meta.concrete_fields))
    ]


def _json_value(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    return value


def restore(organization_id: int, saved: list[dict[str, Any]]) -> dict[str, int]:
    fields = AuditEntry._meta.concrete_fields
    with transaction.atomic():
        outbox_entries = OutboxEntry.objects.filter(organization_id=organization_id).delete()[0]
        transfer_jobs = TransferJob.objects.filter(organization_id=organization_id).delete()[0]
        # Answers kept for retries belong to the state that goes too: a key used before the reset
        # does its work again after it.
        idempotency_keys, _ = IdempotencyKey.objects.filter(
            organization_id=organization_id
        ).delete()
        AuditEntry.objects.filter(organization_id=organization_id).delete()
        AuditEntry.objects.bulk_create(
            AuditEntry(
                **{
                    field.attname: None
                    if values[field.attname] is None
                    else field.to_python(values[field.attname])
                    for field in fields
                }
            )
            for values in saved
        )
    return {
        "audit_entries": len(saved),
        "outbox_entries": outbox_entries,
        "transfer_jobs": transfer_jobs,
        "idempotency_keys": idempotency_keys,
    }


def run_jobs(organization_id: int) -> dict[str, Any]:
    started = timezone.now()
    tried: set[int] = set()
    for _ in range(MAX_ROUNDS):
        due = [
            entry_id
            for entry_id in OutboxEntry.objects.filter(
                organization_id=organization_id, status=OutboxEntry.Status.PENDING
            )
            .order_by("run_after", "id")
            .values_list("id", flat=True)
            if entry_id not in tried
        ]
        if not due:
            break
        for entry_id in due:
            tried.add(entry_id)
            try:
                tasks.run_entry(entry_id)
            except Exception as exc:  # marked failed, or released for a retry: its row says
                logger.warning("sandbox run_jobs: outbox entry %s: %r", entry_id, exc)
    finished = OutboxEntry.objects.filter(
        organization_id=organization_id, finished_at__gte=started
    ).order_by("finished_at", "id")
    return {
        "ran": [
            {
                "id": str(entry.id),
                "kind": entry.kind,
                "batch_id": str(entry.batch_id),
                "status": entry.status,
            }
            for entry in finished.only("id", "kind", "batch_id", "status")
        ],
        "still_running": OutboxEntry.objects.filter(
            organization_id=organization_id, status=OutboxEntry.Status.RUNNING
        ).count(),
    }
