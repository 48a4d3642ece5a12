"""Admin for the token server: staff see clients and tokens, never a secret or a hash, and can
revoke tokens. Clients are created with `manage.py create_self_client`, which shows the secret once;
the admin can't add them because it would have nowhere safe to show that secret."""

from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils import timezone

from crm.admin_scoping import OrganizationScopedAdmin
from crm.models import AccessToken, GrantCode, OAuthClient, RefreshToken

from . import grants


class ReadOnlyTokenAdmin(OrganizationScopedAdmin, admin.ModelAdmin):
    """Rows are created by the token server only; staff may look, revoke and delete."""

    organization_field = "user__organization"
    list_select_related = ("user", "user__organization")
    search_fields = ("user__email", "user__full_name")
    # Hash fields are never listed, shown or searchable.
    exclude = ("token_hash",)

    def get_readonly_fields(self, request: HttpRequest, obj=None) -> list[str]:
        return [f.name for f in self.model._meta.fields if f.name not in self.exclude]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    @admin.display(description="organization")
    def organization(self, obj) -> str:
        return str(obj.user.organization)

    @admin.display(boolean=True, description="live")
    def live(self, obj) -> bool:
        expires_at = getattr(obj, "expires_at", None)
        return obj.revoked_at is None and (expires_at is None or expires_at > timezone.now())


@admin.register(OAuthClient)
class OAuthClientAdmin(OrganizationScopedAdmin, admin.ModelAdmin):
    list_display = ("name", "client_id", "organization", "created_time")
    list_filter = ("organization",)
    search_fields = ("name", "client_id")
    exclude = ("secret_hash",)
    readonly_fields = ("client_id", "organization", "created_time")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False


@admin.register(RefreshToken)
class RefreshTokenAdmin(ReadOnlyTokenAdmin):
    list_display = ("id", "user", "organization", "client", "scopes", "created_time", "live")
    list_filter = ("user__organization", "client")
    list_select_related = ("user", "user__organization", "client")
    actions = ["revoke"]

    @admin.action(
        permissions=["change"],
        description="Revoke the selected refresh tokens and their access tokens",
    )
    def revoke(self, request: HttpRequest, queryset: QuerySet[RefreshToken]) -> None:
        count = grants.revoke_refresh_tokens(ids=list(queryset.values_list("pk", flat=True)))
        self.message_user(request, f"Revoked {count} refresh token(s).", messages.SUCCESS)


@admin.register(AccessToken)
class AccessTokenAdmin(ReadOnlyTokenAdmin):
    list_display = ("id", "user", "organization", "scopes", "expires_at", "refresh_token", "live")
    list_filter = ("user__organization",)
    # The refresh token column: one JOIN rather than one query per row.
    list_select_related = ("user", "user__organization", "refresh_token")
    raw_id_fields = ("refresh_token",)
    actions = ["revoke"]

    @admin.action(permissions=["change"], description="Revoke the selected access tokens")
    def revoke(self, request: HttpRequest, queryset: QuerySet[AccessToken]) -> None:
        count = grants.revoke_access_tokens(ids=list(queryset.values_list("pk", flat=True)))
        self.message_user(request, f"Revoked {count} access token(s).", messages.SUCCESS)


@admin.register(GrantCode)
class GrantCodeAdmin(ReadOnlyTokenAdmin):
    exclude = ("code_hash",)
    list_display = ("id", "user", "organization", "client", "scopes", "expires_at", "used_at")
    list_filter = ("user__organization", "client")
    list_select_related = ("user", "user__organization", "client")
