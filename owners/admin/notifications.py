"""Watch channels and their delivery log in the admin (docs/notifications.md): operators see
which systems are told about owner changes, which callbacks failed and why, and send a failed one
again. Read-only but for "Send again" and removing a channel: channels are the API clients' to
write, deliveries the workers'."""

from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.template.defaultfilters import pluralize, truncatechars

from crm import policy
from crm.admin_scoping import OrganizationScopedAdmin
from owners.models import WatchChannel, WatchDelivery
from owners.tasks import redeliver_callbacks

from .outbox import short_time


class _OperatorsLook:
    """Any active staff user looks, at their organization's rows only (as at the outbox)."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_view_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return request.user.is_active and request.user.is_staff

    def has_module_permission(self, request: HttpRequest) -> bool:
        return request.user.is_active and request.user.is_staff


@admin.register(WatchChannel)
class WatchChannelAdmin(_OperatorsLook, OrganizationScopedAdmin, admin.ModelAdmin):
    list_display = ("channel_id", "watched_events", "notify_url", "expiry", "created_by")
    list_select_related = ("created_by",)
    search_fields = ("=channel_id",)
    ordering = ("channel_id",)
    fields = (
        "channel_id",
        "organization",
        "events",
        "notify_url",
        "channel_expiry",
        "notify_on_related_action",
        "created_by",
        "created_time",
    )
    readonly_fields = fields

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return policy.staff_has_permission(request.user, policy.CHANGE_OWNER)

    @admin.display(description="Events")
    def watched_events(self, channel: WatchChannel) -> str:
        return ", ".join(channel.events)

    @admin.display(description="Expires (UTC)", ordering="channel_expiry")
    def expiry(self, channel: WatchChannel) -> str:
        return short_time(channel.channel_expiry)


@admin.register(WatchDelivery)
class WatchDeliveryAdmin(_OperatorsLook, OrganizationScopedAdmin, admin.ModelAdmin):
    list_display = (
        "id",
        "channel",
        "module_name",
        "status",
        "attempts",
        "last_status_code",
        "error",
        "created",
        "delivered",
    )
    list_filter = ("status",)
    list_select_related = ("channel",)
    ordering = ("-created_time", "-id")
    show_full_result_count = False
    actions = ["redeliver_action"]
    fields = (
        "id",
        "channel",
        "batch_id",
        "module_name",
        "status",
        "attempts",
        "last_status_code",
        "last_error",
        "created_time",
        "delivered_time",
        "body",
    )
    readonly_fields = fields

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_redeliver_permission(self, request: HttpRequest) -> bool:
        return policy.staff_has_permission(request.user, policy.CHANGE_OWNER)

    @admin.display(description="Last error")
    def error(self, delivery: WatchDelivery) -> str:
        return truncatechars(delivery.last_error, 80) or "-"

    @admin.display(description="Created (UTC)", ordering="created_time")
    def created(self, delivery: WatchDelivery) -> str:
        return short_time(delivery.created_time)

    @admin.display(description="Delivered (UTC)", ordering="delivered_time")
    def delivered(self, delivery: WatchDelivery) -> str:
        return short_time(delivery.delivered_time)

    @admin.action(description="Send the selected failed callbacks again", permissions=["redeliver"])
    def redeliver_action(self, request: HttpRequest, queryset: QuerySet[WatchDelivery]) -> None:
        # The queryset is the changelist's, already limited to the user's organization.
        by_organization: dict[int, list[int]] = {}
        for delivery_id, organization_id in queryset.values_list("id", "organization_id"):
            by_organization.setdefault(organization_id, []).append(delivery_id)
        sent = sum(
            len(redeliver_callbacks(organization_id=organization_id, delivery_ids=ids))
            for organization_id, ids in by_organization.items()
        )
        self.message_user(
            request,
            f"{sent} failed callback{pluralize(sent)} sent to the workers again.",
            messages.SUCCESS if sent else messages.WARNING,
        )
