"""The audit log in the admin: read-only for everyone, superusers included (append-only rows)."""

from __future__ import annotations

import uuid

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html

from crm.ids import parse_id

from .models import AuditEntry


@admin.register(AuditEntry)
class AuditEntryAdmin(admin.ModelAdmin):
    list_display = (
        "created_time",
        "organization",
        "module",
        "record_link",
        "previous_owner_name",
        "new_owner_name",
        "actor_name",
        "source",
        "batch_id",
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

    def get_queryset(self, request: HttpRequest) -> QuerySet[AuditEntry]:
        entries = super().get_queryset(request)
        if not request.user.is_superuser:
            entries = entries.filter(organization_id=request.user.organization_id)
        return entries

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

    @admin.display(description="Record", ordering="record_id")
    def record_link(self, entry: AuditEntry) -> str:
        url = reverse("admin:crm_record_change", args=[entry.record_id])
        return format_html('<a href="{}">{}</a>', url, entry.record_id)

    @admin.display(description="Previous owner", ordering="previous_owner__full_name")
    def previous_owner_name(self, entry: AuditEntry) -> str:
        return _user_name(entry.previous_owner)

    @admin.display(description="New owner", ordering="new_owner__full_name")
    def new_owner_name(self, entry: AuditEntry) -> str:
        return _user_name(entry.new_owner)

    @admin.display(description="Actor", ordering="actor__full_name")
    def actor_name(self, entry: AuditEntry) -> str:
        return _user_name(entry.actor)


def _user_name(user) -> str:
    return user.full_name if user else "(nobody)"
