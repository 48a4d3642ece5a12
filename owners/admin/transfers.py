"""Transfer jobs in the admin (mass changes, offboardings, reverts): the list with status filters,
counts, progress and last error; the job page with its live progress bar; cancel and retry.

Every write goes through the engine's public functions (owners/transfers/engine.py); this module
only reads rows and renders them.
"""

from __future__ import annotations

from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import get_object_or_404
from django.template.defaultfilters import pluralize, truncatechars
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html
from django.views.decorators.http import require_POST

from crm import policy
from crm.admin_scoping import OrganizationScopedAdmin, scope_to_organization
from crm.models import User
from crm.modules import module_by_id
from owners.models import TransferJob
from owners.selectors import transfer_module_counts
from owners.transfers import engine, revert
from owners.transfers.criteria import owner_ids_in

from .outbox import short_time, status_counts

# How often the job page asks for fresh counts, and every how many polls for what moved per
# module too.
POLL_MILLISECONDS = 1000
MODULES_EVERY_POLLS = 5


def status_label(status: str, *, cancelled: bool) -> str:
    if cancelled:
        finished = status in (TransferJob.Status.COMPLETED, TransferJob.Status.FAILED)
        return "Cancelled" if finished else "Cancelling"
    return TransferJob.Status(status).label


def not_updated_label(progress) -> str:
    """What the records neither moved, skipped nor failed are: work still pending while the job
    runs, what a cancel left undone once it has ended."""
    if not progress.finished:
        return "Still to do"
    return "Left undone (cancelled)" if progress.cancelled else "Left undone"


def describe(transfer: TransferJob) -> str:
    """The job in a sentence, for its page (one query for the owners its criteria name)."""
    new_owner = transfer.new_owner.full_name if transfer.new_owner else "(nobody)"
    if transfer.kind == TransferJob.Kind.OFFBOARDING:
        then = "deleted" if transfer.delete_user else "disabled"
        leaving = transfer.from_user.full_name
        return (
            f"Every record of {leaving}, in every module, and the activities related to them, "
            f"to {new_owner}; then {leaving} {then}."
        )
    if transfer.kind == TransferJob.Kind.REVERT:
        return f"Every record batch {transfer.reverted_batch_id} changed, back to its owner."
    modules = ", ".join(module_by_id(module_id).plural_label for module_id in transfer.module_ids)
    related = ", ".join(transfer.related_modules)
    with_related = f", with their related {related}" if related else ""
    criteria = describe_criteria(transfer.criteria, organization_id=transfer.organization_id)
    return f"{modules} matching {criteria} to {new_owner}{with_related}."


def describe_criteria(criteria: dict | None, *, organization_id: int) -> str:
    """The criteria in words: "Owner is Ben Ortiz", "id between 1 and ...". One query for the
    names of the owners an `Owner equal` condition names (none when there is no such condition).
    """
    owner_ids = owner_ids_in(criteria)
    names = {}
    if owner_ids:
        users = User.objects.filter(organization_id=organization_id, id__in=owner_ids)
        names = dict(users.values_list("id", "full_name"))
    return _describe(criteria, names)


def _describe(criteria: dict | None, names: dict[int, str]) -> str:
    if not criteria:
        return "nothing"
    if "group" in criteria:
        operator = f" {criteria['group_operator']} "
        return "(" + operator.join(_describe(node, names) for node in criteria["group"]) + ")"
    field, comparator, value = (
        criteria["field"]["api_name"],
        criteria["comparator"],
        criteria["value"],
    )
    if field == "Owner" and comparator == "equal" and int(value["id"]) in names:
        return f"Owner is {names[int(value['id'])]}"
    if isinstance(value, dict):
        value = value.get("id")
    if isinstance(value, list):
        value = " and ".join(
            str(item.get("id") if isinstance(item, dict) else item) for item in value
        )
    return f"{field} {comparator.replace('_', ' ')} {value}"


def progress_payload(transfer: TransferJob, progress, modules) -> dict:
    """What the job page's script renders; also the first render, server-side. `modules` is
    None when the poll did not ask for them."""
    done = progress.updated_count + progress.skipped_count + progress.failed_count
    total = progress.total_count
    shown = min(done, total) if total else (1 if progress.finished else 0)
    return {
        "id": str(progress.job_id),
        "kind": progress.kind,
        "status": progress.status,
        # From the engine's read, as the counts: the row read to scope the request is older, and
        # a label from it could say "Running" beside a finished job's counts.
        "status_label": status_label(progress.status, cancelled=progress.cancelled),
        "finished": progress.finished,
        "cancelled": progress.cancelled,
        "total_count": total,
        "updated_count": progress.updated_count,
        "skipped_count": progress.skipped_count,
        "failed_count": progress.failed_count,
        "related_count": progress.related_count,
        # Each record once: the job's own records that moved, and the activities of other
        # owners that followed them; the batch's changed_count.
        "changed_count": progress.updated_count + progress.related_count,
        "not_updated_count": progress.not_updated_count,
        "not_updated_label": not_updated_label(progress),
        "done_count": shown,
        "percent": 100 * shown // total if total else (100 if progress.finished else 0),
        "batch_url": reverse("owners_admin:batch", args=[progress.batch_id]),
        "last_error": transfer.last_error,
        # A revert's skipped records by reason (owners/transfers/revert.py); None for the others.
        "skipped_reasons": revert.skipped_reasons(transfer.skipped_reasons)
        if transfer.kind == TransferJob.Kind.REVERT
        else None,
        "modules": None
        if modules is None
        else [{"label": module.plural_label, "count": count} for module, count in modules],
    }


@admin.register(TransferJob)
class TransferJobAdmin(OrganizationScopedAdmin, admin.ModelAdmin):
    list_display = (
        "id",
        "kind",
        "status_display",
        "progress_display",
        "from_name",
        "to_name",
        "actor_name",
        "created",
        "error",
        "batch_link",
    )
    list_display_links = ("id",)
    list_filter = ("status", "kind", "cancelled")
    list_select_related = ("new_owner", "from_user", "actor")
    ordering = ("-created_time", "-id")
    show_full_result_count = False
    actions = ["cancel_action", "retry_action"]
    change_list_template = "admin/owners/job_change_list.html"

    def get_urls(self):
        info = f"{self.opts.app_label}_{self.opts.model_name}"
        return [
            path(
                "<path:object_id>/progress/",
                self.admin_site.admin_view(self.progress_view),
                name=f"{info}_progress",
            ),
            path(
                "<path:object_id>/cancel/",
                self.admin_site.admin_view(require_POST(self.cancel_view)),
                name=f"{info}_cancel",
            ),
            path(
                "<path:object_id>/retry/",
                self.admin_site.admin_view(require_POST(self.retry_view)),
                name=f"{info}_retry",
            ),
            *super().get_urls(),
        ]

    def changelist_view(self, request: HttpRequest, extra_context: dict | None = None):
        # No navigation sidebar: every column fits at 1400 px.
        extra_context = {
            **(extra_context or {}),
            "is_nav_sidebar_enabled": False,
            "may_offboard": policy.staff_has_permission(request.user, policy.MANAGE_USERS),
        }
        if request.method == "GET":  # not for an action's POST, which redirects
            visible = scope_to_organization(TransferJob.objects.all(), "organization", request)
            extra_context["status_counts"] = status_counts(visible)
        return super().changelist_view(request, extra_context)

    # Jobs are created by scheduling (offboarding, select all, revert), never by hand.
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_view_permission(self, request: HttpRequest, obj=None) -> bool:
        return request.user.is_active and request.user.is_staff

    def has_module_permission(self, request: HttpRequest) -> bool:
        return request.user.is_active and request.user.is_staff

    def has_control_permission(self, request: HttpRequest) -> bool:
        return policy.staff_has_permission(request.user, policy.CHANGE_OWNER)

    @admin.display(description="Status", ordering="status")
    def status_display(self, transfer: TransferJob) -> str:
        return status_label(transfer.status, cancelled=transfer.cancelled)

    @admin.display(description="Progress")
    def progress_display(self, transfer: TransferJob) -> str:
        done = transfer.updated_count + transfer.skipped_count + transfer.failed_count
        total = max(transfer.total_count, 1)
        return format_html(
            '<progress max="{}" value="{}"></progress> {} / {}',
            total,
            min(done, total),
            f"{done:,}",
            f"{transfer.total_count:,}",
        )

    @admin.display(description="From", ordering="from_user__full_name")
    def from_name(self, transfer: TransferJob) -> str:
        return transfer.from_user.full_name if transfer.from_user else "-"

    @admin.display(description="To", ordering="new_owner__full_name")
    def to_name(self, transfer: TransferJob) -> str:
        return transfer.new_owner.full_name if transfer.new_owner else "(previous owners)"

    @admin.display(description="By", ordering="actor__full_name")
    def actor_name(self, transfer: TransferJob) -> str:
        return transfer.actor.full_name if transfer.actor else "-"

    @admin.display(description="Created (UTC)", ordering="created_time")
    def created(self, transfer: TransferJob) -> str:
        return short_time(transfer.created_time)

    @admin.display(description="Last error")
    def error(self, transfer: TransferJob) -> str:
        return truncatechars(transfer.last_error, 60) or "-"

    @admin.display(description="Batch")
    def batch_link(self, transfer: TransferJob) -> str:
        url = reverse("owners_admin:batch", args=[transfer.batch_id])
        return format_html(
            '<a class="batch-link" href="{}" title="{}">{}</a>',
            url,
            transfer.batch_id,
            str(transfer.batch_id)[:8],
        )

    # The job page -------------------------------------------------------------------------

    def _scoped_transfer(self, request: HttpRequest, object_id: str) -> TransferJob:
        return get_object_or_404(
            self.get_queryset(request).select_related(
                "organization", "new_owner", "from_user", "actor"
            ),
            pk=unquote(object_id),
        )

    def change_view(self, request: HttpRequest, object_id: str, form_url="", extra_context=None):
        transfer = self._scoped_transfer(request, object_id)
        progress = engine.transfer_progress(
            organization=transfer.organization, transfer_id=transfer.id
        )
        payload = progress_payload(transfer, progress, transfer_module_counts(transfer))
        info = f"admin:{self.opts.app_label}_{self.opts.model_name}"
        context = {
            **self.admin_site.each_context(request),
            "title": f"{transfer.get_kind_display()} job {transfer.id}",
            "opts": self.opts,
            "transfer": transfer,
            "description": describe(transfer),
            "progress": payload,
            "skips": [
                (reason, revert.SKIP_REASON_LABELS[reason], count)
                for reason, count in (payload["skipped_reasons"] or {}).items()
            ],
            "progress_url": reverse(f"{info}_progress", args=[transfer.id]),
            "cancel_url": reverse(f"{info}_cancel", args=[transfer.id]),
            "retry_url": reverse(f"{info}_retry", args=[transfer.id]),
            "may_control": self.has_control_permission(request),
            "poll_ms": POLL_MILLISECONDS,
            "modules_every": MODULES_EVERY_POLLS,
        }
        request.current_app = self.admin_site.name
        return TemplateResponse(request, "admin/owners/transferjob/job.html", context)

    def progress_view(self, request: HttpRequest, object_id: str) -> JsonResponse:
        transfer = self._scoped_transfer(request, object_id)
        progress = engine.transfer_progress(
            organization=transfer.organization, transfer_id=transfer.id
        )
        # What moved per module is a GROUP BY over the job's audit rows (0.1-0.4 s from 150,000
        # to 1,000,000 rows: bench/admin_poll.py), so the page asks for it every few polls
        # (`?modules=1`), not every second. Never cached (admin_view): each poll reads again.
        modules = transfer_module_counts(transfer) if request.GET.get("modules") else None
        return JsonResponse(progress_payload(transfer, progress, modules))

    def cancel_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        transfer = self._scoped_transfer(request, object_id)
        if not self.has_control_permission(request):
            return HttpResponse(status=403)
        engine.cancel_transfer(organization=transfer.organization, transfer_id=transfer.id)
        self.message_user(
            request,
            f"Job {transfer.id} stops after the chunks running now; what it changed stays "
            "changed (revert its batch to undo it).",
            messages.SUCCESS,
        )
        return HttpResponseRedirect(reverse("admin:owners_transferjob_change", args=[transfer.id]))

    def retry_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        transfer = self._scoped_transfer(request, object_id)
        if not self.has_control_permission(request):
            return HttpResponse(status=403)
        retried = engine.retry_transfer(organization=transfer.organization, transfer_id=transfer.id)
        if retried is not None and retried.status == TransferJob.Status.RUNNING:
            self.message_user(
                request, f"Job {transfer.id}: failed chunks sent again.", messages.SUCCESS
            )
        else:
            self.message_user(
                request, f"Job {transfer.id} has not failed: nothing to retry.", messages.WARNING
            )
        return HttpResponseRedirect(reverse("admin:owners_transferjob_change", args=[transfer.id]))

    # The list's actions ---------------------------------------------------------------------

    @admin.action(description="Cancel the selected running jobs", permissions=["control"])
    def cancel_action(self, request: HttpRequest, queryset: QuerySet[TransferJob]) -> None:
        running = list(
            queryset.filter(
                status__in=[TransferJob.Status.SCHEDULED, TransferJob.Status.RUNNING],
                cancelled=False,
            ).select_related("organization")
        )
        for transfer in running:
            engine.cancel_transfer(organization=transfer.organization, transfer_id=transfer.id)
        count = len(running)
        self.message_user(
            request,
            f"{count} job{pluralize(count)} cancelled: each stops after the chunks running now.",
            messages.SUCCESS if count else messages.WARNING,
        )

    @admin.action(description="Retry the selected failed jobs", permissions=["control"])
    def retry_action(self, request: HttpRequest, queryset: QuerySet[TransferJob]) -> None:
        failed = list(
            queryset.filter(status=TransferJob.Status.FAILED).select_related("organization")
        )
        for transfer in failed:
            engine.retry_transfer(organization=transfer.organization, transfer_id=transfer.id)
        count = len(failed)
        self.message_user(
            request,
            f"{count} failed job{pluralize(count)} sent to the workers again.",
            messages.SUCCESS if count else messages.WARNING,
        )
