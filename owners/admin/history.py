"""Entries in the admin's own history ("Recent actions", each object's History page) for what
the owners' pages do: Django's admin logs its own add/change/delete, not our actions."""

from __future__ import annotations

from collections.abc import Iterable

from django.contrib.admin.models import CHANGE, LogEntry
from django.contrib.contenttypes.models import ContentType
from django.http import HttpRequest

from crm.models import Record
from owners.history import log_job_scheduled
from owners.models import TransferJob


def log_owner_changes(
    request: HttpRequest, records: Iterable[tuple[int, str]], message: str
) -> None:
    """One CHANGE entry per record whose owner the staff user changed: (id, name) pairs, one
    INSERT (the action's selections are small: larger ones are jobs, logged once each)."""
    content_type_id = ContentType.objects.get_for_model(Record).id
    LogEntry.objects.bulk_create(
        LogEntry(
            user_id=request.user.pk,
            content_type_id=content_type_id,
            object_id=str(record_id),
            object_repr=(name or str(record_id))[:200],
            action_flag=CHANGE,
            change_message=message,
        )
        for record_id, name in records
    )


def log_scheduled(request: HttpRequest, transfer: TransferJob, message: str) -> None:
    """One ADDITION entry for a job the staff user scheduled (its actor)."""
    log_job_scheduled(transfer=transfer, message=message)
