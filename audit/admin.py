"""The audit log in the admin: read-only for everyone, superusers included (append-only rows)."""

from __future__ import annotations

import uuid

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html

from crm.admin_scoping import OrganizationScopedAdmin
from crm.ids import parse_id
from crm.models import User

from .models import AuditEntry


def user_name(user: User | None) -> str:
    """A user as the audit shows it: the full name, or "(nobody)" for an unassigned record."""
    return user.full_name if user else "(nobody)"


@admin.register(AuditEntry)
class AuditEntryAdmin(OrganizationScopedAdmin, admin.ModelAdmin):
    # Short headers and values, and no navigation sidebar: every column fits at 1400 px (the
    # browser test measures it). The batch is its first 8 characters, linking to its page.
    list_display = (
        "time",
        "module",
        "record_link",
        "previous_owner_name",
        "new_owner_name",
        "actor_name",
        "source",
        "batch_link",
    )
    list_filter = (
        "source",
        ("organization", admin.RelatedOnlyFieldListFilter),
        ("actor", admin.RelatedOnlyFieldListFilter),
        ("new_owner", admin.RelatedOnlyFieldListFilter),
    )
    list_select_related = ("organization", "module", "previous_owner", "new_owner", "actor")
    search_fields = ("record_id", "batch_id")
    search_help_text = "Search by record id (all digits) or batch id (a UUID)."
    ordering = ("-created_time", "-id")
    show_full_result_count = False

    def get_list_display(self, request: HttpRequest):
        if request.user.is_superuser:  # the only ones who see several organizations
            return (*self.list_display[:1], "organization", *self.list_display[1:])
        return self.list_display

    def changelist_view(self, request: HttpRequest, extra_context: dict | None = None):
        extra_context = {**(extra_context or {}), "is_nav_sidebar_enabled": False}
        return super().changelist_view(request, extra_context)

    def get_search_results(self, request: HttpRequest, queryset: QuerySet, search_term: str):
        # Exact, indexed matches: a term is either a record id or a batch id, never a substring.
        term = search_term.strip()
        if not term:
            return queryset, False
        record_id = parse_id(term)
        if record_id is not None:
            return queryset.filter(record_id=record_id), False
        try:
            batch_id = uuid.UUID(term)
        except ValueError:
            return queryset.none(), False
        return queryset.filter(batch_id=batch_id), False

    def has_view_permission(self, request: HttpRequest, obj: AuditEntry | None = None) -> bool:
        return request.user.is_active and request.user.is_staff

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: AuditEntry | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: AuditEntry | None = None) -> bool:
        return False

    @admin.display(description="Time (UTC)", ordering="created_time")
    def time(self, entry: AuditEntry) -> str:
        return entry.created_time.strftime("%Y-%m-%d %H:%M:%S")

    @admin.display(description="Record", ordering="record_id")
    def record_link(self, entry: AuditEntry) -> str:
        url = reverse("admin:crm_record_change", args=[entry.record_id])
        return format_html('<a href="{}">{}</a>', url, entry.record_id)

    @admin.display(description="From", ordering="previous_owner__full_name")
    def previous_owner_name(self, entry: AuditEntry) -> str:
        return user_name(entry.previous_owner)

    @admin.display(description="To", ordering="new_owner__full_name")
    def new_owner_name(self, entry: AuditEntry) -> str:
        return user_name(entry.new_owner)

    @admin.display(description="By", ordering="actor__full_name")
    def actor_name(self, entry: AuditEntry) -> str:
        return user_name(entry.actor)

    @admin.display(description="Batch", ordering="batch_id")
    def batch_link(self, entry: AuditEntry) -> str:
        # The batch page is the owners app's (it shows the batch's jobs too): linked by name.
        url = reverse("owners_admin:batch", args=[entry.batch_id])
        return format_html(
            '<a class="batch-link" href="{}" title="{}">{}</a>',
            url,
            entry.batch_id,
            str(entry.batch_id)[:8],
        )
