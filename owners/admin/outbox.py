"""The outbox in the admin: the related-transfer and notification jobs every change of owner
leaves behind, so an operator sees what is pending, what failed and why, and retries it.

Read-only but for "Retry": the rows are the workers' (owners/outbox.py) to write.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from django.contrib import admin, messages
from django.db.models import Count, QuerySet
from django.http import HttpRequest
from django.template.defaultfilters import pluralize, truncatechars
from django.urls import reverse
from django.utils.html import format_html

from crm import policy
from crm.admin_scoping import OrganizationScopedAdmin, scope_to_organization
from owners.models import OutboxEntry
from owners.tasks import retry_failed_entries


def status_counts(queryset: QuerySet) -> list[tuple[str, str, int]]:
    """(status, label, count) for every status, zeros included: one GROUP BY query."""
    counts = dict(queryset.order_by().values_list("status").annotate(count=Count("id")))
    return [
        (status, label, counts.get(status, 0)) for status, label in queryset.model.Status.choices
    ]


def short_time(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S") if moment else "-"


@admin.register(OutboxEntry)
class OutboxEntryAdmin(OrganizationScopedAdmin, admin.ModelAdmin):
    list_display = (
        "id",
        "kind",
        "status",
        "batch_link",
        "attempts",
        "error",
        "created",
        "finished",
    )
    list_filter = ("status", "kind")
    list_select_related = ("organization",)
    search_fields = ("batch_id",)
    search_help_text = "Search by batch id (a UUID)."
    ordering = ("-created_time", "-id")
    show_full_result_count = False
    actions = ["retry_action"]
    change_list_template = "admin/owners/job_change_list.html"
    fields = (
        "id",
        "organization",
        "kind",
        "status",
        "batch_link",
        "attempts",
        "run_after",
        "claimed_at",
        "finished_at",
        "created_time",
        "last_error",
        "payload",
    )
    readonly_fields = fields

    def get_list_display(self, request: HttpRequest):
        if request.user.is_superuser:
            return (*self.list_display[:2], "organization", *self.list_display[2:])
        return self.list_display

    def get_search_results(self, request: HttpRequest, queryset: QuerySet, search_term: str):
        term = search_term.strip()
        if not term:
            return queryset, False
        try:
            return queryset.filter(batch_id=uuid.UUID(term)), False
        except ValueError:
            return queryset.none(), False

    def changelist_view(self, request: HttpRequest, extra_context: dict | None = None):
        # No navigation sidebar: every column fits at 1400 px.
        extra_context = {**(extra_context or {}), "is_nav_sidebar_enabled": False}
        if request.method == "GET":  # not for an action's POST, which redirects
            visible = scope_to_organization(OutboxEntry.objects.all(), "organization", request)
            extra_context["status_counts"] = status_counts(visible)
        return super().changelist_view(request, extra_context)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: OutboxEntry | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: OutboxEntry | None = None) -> bool:
        return False

    # Operators look at the outbox as they look at the audit log: any active staff user, their
    # organization's jobs only.
    def has_view_permission(self, request: HttpRequest, obj: OutboxEntry | None = None) -> bool:
        return request.user.is_active and request.user.is_staff

    def has_module_permission(self, request: HttpRequest) -> bool:
        return request.user.is_active and request.user.is_staff

    def has_retry_permission(self, request: HttpRequest) -> bool:
        return policy.staff_has_permission(request.user, policy.CHANGE_OWNER)

    @admin.display(description="Batch", ordering="batch_id")
    def batch_link(self, job: OutboxEntry) -> str:
        url = reverse("owners_admin:batch", args=[job.batch_id])
        return format_html(
            '<a class="batch-link" href="{}" title="{}">{}</a>',
            url,
            job.batch_id,
            str(job.batch_id)[:8],
        )

    @admin.display(description="Created (UTC)", ordering="created_time")
    def created(self, job: OutboxEntry) -> str:
        return short_time(job.created_time)

    @admin.display(description="Finished (UTC)", ordering="finished_at")
    def finished(self, job: OutboxEntry) -> str:
        return short_time(job.finished_at)

    @admin.display(description="Last error")
    def error(self, job: OutboxEntry) -> str:
        return truncatechars(job.last_error, 80) or "-"

    @admin.action(description="Retry the selected failed jobs", permissions=["retry"])
    def retry_action(self, request: HttpRequest, queryset: QuerySet[OutboxEntry]) -> None:
        # The queryset is the changelist's, already limited to the user's organization.
        selected = queryset.count()
        retried = len(retry_failed_entries(job_ids=queryset.values_list("id", flat=True)))
        message = f"{retried} failed job{pluralize(retried)} sent to the workers again."
        if selected > retried:
            left = selected - retried
            as_is = pluralize(left, "it is,they are")
            message += (
                f" {left} selected job{pluralize(left)} left as {as_is}: not failed, or part of"
                " a transfer job (retry those on the job's page)."
            )
        self.message_user(request, message, messages.SUCCESS if retried else messages.WARNING)
