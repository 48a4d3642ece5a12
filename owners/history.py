"""Entries in the Django admin's own history for the transfer jobs, whichever door scheduled
them: the admin's pages, and the API for a job its token's user scheduled. An operator finds
them where Django's admin puts history: the job's History page (every entry, whoever wrote it)
and, for the user who scheduled it, "Recent actions" on the admin's home page. An entry is
attributed to the job's actor, the user whose token or session asked for it (LogEntry needs a
user; the API's actor is one)."""

from __future__ import annotations

from django.contrib.admin.models import ADDITION, LogEntry
from django.contrib.contenttypes.models import ContentType

from owners.models import TransferJob


def log_job_scheduled(*, transfer: TransferJob, message: str) -> None:
    """One ADDITION entry for a scheduled job (not one per record it moves). A job without an
    actor (`manage.py transfer_records`) has nobody to attribute it to and writes none."""
    if transfer.actor_id is None:
        return
    LogEntry.objects.create(
        user_id=transfer.actor_id,
        content_type_id=ContentType.objects.get_for_model(TransferJob).id,
        object_id=str(transfer.id),
        object_repr=f"{transfer.get_kind_display()} job {transfer.id}",
        action_flag=ADDITION,
        change_message=message,
    )
