"""The batch page: what one change of owner did (the records it moved, who by, the related
activities that followed, the email), reachable from the audit list and the change-owner
message."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from django.contrib import admin
from django.http import Http404, HttpRequest
from django.template.response import TemplateResponse
from django.urls import reverse

from crm.modules import module_by_name
from owners.models import OwnerJob
from owners.selectors import BatchOverview, batch_overview

# What each kind of outbox job's statuses mean to an operator.
STATUS_WORDS = {
    OwnerJob.Kind.NOTIFY: {"pending": "queued", "running": "sending", "done": "sent"},
    OwnerJob.Kind.RELATED_TRANSFER: {"pending": "waiting", "running": "running", "done": "done"},
}


@dataclass(frozen=True)
class JobLine:
    id: int
    url: str
    description: str
    status: str
    status_label: str
    attempts: int
    finished_at: datetime | None
    last_error: str


def organization_scope(request: HttpRequest) -> int | None:
    """The organization whose rows `request.user` may see; None for a superuser (every one)."""
    return None if request.user.is_superuser else request.user.organization_id


def _job_line(job: OwnerJob, overview: BatchOverview) -> JobLine:
    payload = job.payload
    module = module_by_name(payload.get("module") or "")
    label = module.plural_label if module else "records"
    owner = overview.user(payload.get("new_owner_id"))
    if job.kind == OwnerJob.Kind.NOTIFY:
        count = len(payload.get("record_ids", ()))
        description = f"Email to {owner} listing {count} {label}"
    else:
        related = ", ".join(payload.get("related_modules", ())) or "Chosen activities"
        count = len(payload.get("parent_ids", ()))
        name = owner.full_name if owner else "(nobody)"
        description = f"{related} related to {count} {label} follow to {name}"
    words = STATUS_WORDS.get(job.kind, {})
    return JobLine(
        id=job.id,
        url=reverse("admin:owners_ownerjob_change", args=[job.id]),
        description=description,
        status=job.status,
        status_label=words.get(job.status, job.get_status_display().lower()),
        attempts=job.attempts,
        finished_at=job.finished_at,
        last_error=job.last_error,
    )


def _overview_or_404(request: HttpRequest, batch_id: uuid.UUID) -> BatchOverview:
    overview = batch_overview(organization_id=organization_scope(request), batch_id=batch_id)
    if overview is None:
        raise Http404("No such batch.")
    return overview


def _context(request: HttpRequest, overview: BatchOverview, title: str) -> dict:
    request.current_app = admin.site.name
    return {
        **admin.site.each_context(request),
        "title": title,
        "overview": overview,
    }


def batch_view(request: HttpRequest, batch_id: uuid.UUID) -> TemplateResponse:
    overview = _overview_or_404(request, batch_id)
    context = _context(request, overview, f"Batch {str(batch_id)[:8]}")
    context["jobs"] = [_job_line(job, overview) for job in overview.jobs]
    return TemplateResponse(request, "admin/owners/batch.html", context)
