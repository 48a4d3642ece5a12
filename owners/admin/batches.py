"""The batch page: what one change of owner did (the records it moved, who by, the related
activities that followed, the email, the job that ran it), reachable from the audit list and the
change-owner message; and "Revert this batch", with a confirmation page saying what will and
will not go back. The revert itself is the engine's job (`schedule_revert`)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse

from crm import policy
from crm.models import Organization
from crm.modules import module_by_name
from owners.models import OutboxEntry, TransferJob
from owners.selectors import BatchOverview, batch_overview, revert_preview, reverted_operation
from owners.transfers import engine, revert

from .history import log_scheduled

# What each kind of outbox entry's statuses mean to an operator.
STATUS_WORDS = {
    OutboxEntry.Kind.NOTIFY: {"pending": "queued", "running": "sending", "done": "sent"},
    OutboxEntry.Kind.TRANSFER_DIGEST: {"pending": "queued", "running": "sending", "done": "sent"},
    OutboxEntry.Kind.RELATED_TRANSFER: {"pending": "waiting", "running": "running", "done": "done"},
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


def _job_line(job: OutboxEntry, overview: BatchOverview) -> JobLine:
    payload = job.payload
    module = module_by_name(payload.get("module") or "")
    label = module.plural_label if module else "records"
    owner = overview.user(payload.get("new_owner_id"))
    if owner is None and overview.transfer is not None:
        owner = overview.user(overview.transfer.new_owner_id)
    if job.kind == OutboxEntry.Kind.NOTIFY:
        count = len(payload.get("record_ids", ()))
        description = f"Email to {owner} listing {count} {label}"
    elif job.kind == OutboxEntry.Kind.TRANSFER_DIGEST:
        description = f"Email to {owner} summing up the job"
    else:
        related = ", ".join(payload.get("related_modules", ())) or "Chosen activities"
        count = len(payload.get("parent_ids", ()))
        name = owner.full_name if owner else "(nobody)"
        description = f"{related} related to {count} {label} follow to {name}"
    words = STATUS_WORDS.get(job.kind, {})
    return JobLine(
        id=job.id,
        url=reverse("admin:owners_outboxentry_change", args=[job.id]),
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


@dataclass(frozen=True)
class SkipLine:
    """Records a revert job left alone for one reason (owners/transfers/revert.py)."""

    reason: str
    label: str
    count: int


def skip_lines(transfer: TransferJob) -> list[SkipLine]:
    """A revert job's skipped records by reason, the reasons it had; [] for other jobs."""
    if transfer.kind != TransferJob.Kind.REVERT:
        return []
    counts = revert.skipped_reasons(transfer.skipped_reasons)
    return [
        SkipLine(reason, revert.SKIP_REASON_LABELS[reason], count)
        for reason, count in counts.items()
        if count
    ]


# Why the admin does not revert a batch: the engine's refusals (schedule_revert), in words.
NOT_PERMITTED = {
    policy.MANAGE_USERS: "Only an Administrator reverts an offboarding, as only an "
    "Administrator offboards. Nothing was scheduled.",
    policy.CHANGE_OWNER: "Your profile may not change owners. Nothing was scheduled.",
}
STILL_RUNNING = (
    "This batch is still {status}: records may still move. Revert it once its job has "
    "finished. Nothing was scheduled."
)


def revert_refusal(request: HttpRequest, overview: BatchOverview, operation: str) -> str | None:
    """Why `request.user` may not revert this batch (that `operation` wrote) now, said before
    they press the button, as schedule_revert would refuse it (which decides on POST)."""
    if not policy.may_revert(request.user, operation):
        return NOT_PERMITTED[policy.permission_to_revert(operation)]
    if overview.unfinished_status is not None:
        return STILL_RUNNING.format(status=overview.unfinished_status)
    return None


def _context(request: HttpRequest, overview: BatchOverview, title: str) -> dict:
    request.current_app = admin.site.name
    operation = reverted_operation(overview)
    return {
        **admin.site.each_context(request),
        "title": title,
        "overview": overview,
        "operation": operation,
        "may_revert": policy.staff_has_permission(request.user, policy.CHANGE_OWNER)
        and bool(overview.moves)
        and policy.may_revert(request.user, operation),
        "transfer_skips": skip_lines(overview.transfer) if overview.transfer else [],
        "reverts": [(job, skip_lines(job)) for job in overview.reverts],
    }


def batch_view(request: HttpRequest, batch_id: uuid.UUID) -> TemplateResponse:
    overview = _overview_or_404(request, batch_id)
    context = _context(request, overview, f"Batch {str(batch_id)[:8]}")
    context["jobs"] = [_job_line(job, overview) for job in overview.jobs]
    return TemplateResponse(request, "admin/owners/batch.html", context)


def revert_view(request: HttpRequest, batch_id: uuid.UUID) -> HttpResponse:
    """GET: what a revert would do now, or why it may not. POST: schedule it and go to the
    job's page; the engine's refusals come back as a message on the batch page."""
    if not policy.staff_has_permission(request.user, policy.CHANGE_OWNER):
        raise PermissionDenied
    overview = _overview_or_404(request, batch_id)
    if request.method == "POST":
        organization = Organization.objects.get(id=overview.organization_id)
        batch_page = HttpResponseRedirect(reverse("owners_admin:batch", args=[batch_id]))
        try:
            transfer = engine.schedule_revert(
                organization=organization, actor=request.user, batch_id=batch_id
            )
        except engine.NothingToRevert:
            messages.error(request, "This batch changed no record: there is nothing to revert.")
            return batch_page
        except engine.RevertNotPermitted as refused:
            messages.error(request, NOT_PERMITTED[refused.permission])
            return batch_page
        except engine.BatchStillRunning as running:
            messages.error(request, STILL_RUNNING.format(status=running.status))
            return batch_page
        log_scheduled(request, transfer, f"Revert of batch {batch_id} scheduled")
        messages.success(
            request,
            f"Revert of batch {str(batch_id)[:8]} scheduled: job {transfer.id}.",
        )
        return HttpResponseRedirect(reverse("admin:owners_transferjob_change", args=[transfer.id]))
    lines = revert_preview(organization_id=overview.organization_id, batch_id=batch_id)
    context = _context(request, overview, f"Revert batch {str(batch_id)[:8]}")
    context.update(
        {
            "refusal": revert_refusal(request, overview, context["operation"]),
            "will_revert": [line for line in lines if line.will_revert],
            "will_not_revert": [line for line in lines if not line.will_revert],
            "revert_count": sum(line.count for line in lines if line.will_revert),
            "kept_count": sum(line.count for line in lines if not line.will_revert),
            "previous_reverts": [
                t for t in overview.reverts if t.status != TransferJob.Status.FAILED
            ],
        }
    )
    return TemplateResponse(request, "admin/owners/revert.html", context)
