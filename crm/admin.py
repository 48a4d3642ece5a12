"""Admin for the tenants and the people in them. Records are administered in owners/admin/,
next to the change-owner action; the token models in crm/oauth/admin.py."""

from __future__ import annotations

from django import forms
from django.contrib import admin
from django.contrib.auth import forms as auth_forms
from django.contrib.auth.admin import GroupAdmin as DjangoGroupAdmin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.contrib.auth.models import Group
from django.db.models import ForeignKey
from django.http import HttpRequest

from . import policy
from .admin_scoping import OrganizationScopedAdmin
from .http import metering
from .models import Module, Organization, Profile, Role, User

admin.site.site_header = "Bigin record ownership"
admin.site.site_title = "Bigin record ownership"
admin.site.index_title = "Administration"


class _EmailNormalizingForm(forms.ModelForm):
    def clean_email(self) -> str:
        # Sandbox files and the token server match users by lower-cased email.
        return self.cleaned_data["email"].strip().lower()


class UserCreationForm(_EmailNormalizingForm, auth_forms.AdminUserCreationForm):
    class Meta:
        model = User
        fields = ("email", "full_name", "organization", "profile", "role", "status")


class UserChangeForm(_EmailNormalizingForm, auth_forms.UserChangeForm):
    class Meta:
        model = User
        fields = (
            "email",
            "password",
            "full_name",
            "organization",
            "status",
            "profile",
            "role",
            "assignment_alert",
            "is_staff",
            "is_superuser",
            "groups",
            "user_permissions",
        )


def _org_qualified_label(obj: Profile | Role) -> str:
    # Every organization has an "Administrator" profile: name the organization in the choices.
    return f"{obj.organization.name} / {obj.name}"


@admin.register(Organization)
class OrganizationAdmin(OrganizationScopedAdmin, admin.ModelAdmin):
    organization_field = "id"
    list_display = ("name", "id", "edition", "api_credits", "created_time")
    search_fields = ("name", "=id")
    ordering = ("name",)
    readonly_fields = ("id", "api_credits")
    fields = ("id", "name", "created_time", "edition", "api_credits_per_day", "api_credits")

    def has_add_permission(self, request: HttpRequest) -> bool:
        # A new tenant is the platform's business: staff of one organization never see another.
        return request.user.is_superuser

    def get_readonly_fields(self, request: HttpRequest, obj=None):
        # An organization's own staff must not raise its API limits.
        if request.user.is_superuser:
            return self.readonly_fields
        return (*self.readonly_fields, "edition", "api_credits_per_day")

    @admin.display(description="API credits used (24 h)")
    def api_credits(self, obj: Organization) -> str:
        """Credits spent in the rolling 24 hours over the organization's limit (docs/limits.md)."""
        used = metering.credits_used(obj)
        limit = metering.credits_per_day(obj)
        return f"{'unknown' if used is None else f'{used:,}'} of {limit:,}"


@admin.register(User)
class UserAdmin(OrganizationScopedAdmin, DjangoUserAdmin):
    form = UserChangeForm
    add_form = UserCreationForm
    list_display = (
        "email",
        "full_name",
        "status",
        "profile",
        "role",
        "organization",
        "is_staff",
    )
    list_filter = ("status", "organization", "profile__name", "is_staff", "is_superuser")
    list_select_related = ("organization", "profile", "role")
    search_fields = ("email", "full_name", "=id")
    ordering = ("email",)
    readonly_fields = ("id", "last_login", "created_time", "modified_time")
    fieldsets = (
        (None, {"fields": ("id", "email", "password")}),
        (
            "Bigin",
            {
                "fields": (
                    "full_name",
                    "organization",
                    "status",
                    "profile",
                    "role",
                    "assignment_alert",
                )
            },
        ),
        ("Admin access", {"fields": ("is_staff", "is_superuser", "groups", "user_permissions")}),
        ("Dates", {"fields": ("last_login", "created_time", "modified_time")}),
    )
    add_fieldsets = (
        (
            None,
            {
                "classes": ("wide",),
                "fields": (
                    "email",
                    "full_name",
                    "organization",
                    "profile",
                    "role",
                    "status",
                    "usable_password",
                    "password1",
                    "password2",
                ),
            },
        ),
    )

    # Who may edit which user, and which of their fields, is the policy's (crm/policy.py). The
    # add form has none of the locked fields but the organization, whose choices are scoped.
    def get_readonly_fields(self, request: HttpRequest, obj: User | None = None):
        readonly = super().get_readonly_fields(request, obj)
        return (*readonly, *policy.locked_user_fields(request.user, obj))

    def has_change_permission(self, request: HttpRequest, obj: User | None = None) -> bool:
        return super().has_change_permission(request, obj) and policy.may_manage_user(
            request.user, obj
        )

    def has_delete_permission(self, request: HttpRequest, obj: User | None = None) -> bool:
        return super().has_delete_permission(request, obj) and policy.may_manage_user(
            request.user, obj
        )

    def formfield_for_foreignkey(
        self, db_field: ForeignKey, request: HttpRequest, **kwargs
    ) -> forms.Field:
        field = super().formfield_for_foreignkey(db_field, request, **kwargs)
        if db_field.name in ("profile", "role"):
            field.queryset = field.queryset.select_related("organization").order_by(
                "organization__name", "name"
            )
            field.label_from_instance = _org_qualified_label
        return field


@admin.register(Profile)
class ProfileAdmin(OrganizationScopedAdmin, admin.ModelAdmin):
    list_display = ("name", "organization", "can_change_owner", "can_write_records", "id")
    list_filter = ("organization", "can_change_owner", "can_write_records")
    list_select_related = ("organization",)
    search_fields = ("name", "organization__name")
    ordering = ("organization__name", "name")
    readonly_fields = ("id",)


@admin.register(Role)
class RoleAdmin(OrganizationScopedAdmin, admin.ModelAdmin):
    list_display = ("name", "organization", "id")
    list_filter = ("organization",)
    list_select_related = ("organization",)
    search_fields = ("name", "organization__name")
    ordering = ("organization__name", "name")
    readonly_fields = ("id",)


@admin.register(Module)
class ModuleAdmin(admin.ModelAdmin):
    """The seven modules are fixed by a data migration: shown, never edited."""

    list_display = (
        "api_name",
        "id",
        "module_name",
        "singular_label",
        "plural_label",
        "is_activity",
    )
    ordering = ("api_name",)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Module | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Module | None = None) -> bool:
        return False


# Groups carry permissions across organizations: only superusers manage them, or a staff user
# allowed to change groups could grant its own group anything.
admin.site.unregister(Group)


@admin.register(Group)
class GroupAdmin(DjangoGroupAdmin):
    def has_module_permission(self, request: HttpRequest) -> bool:
        return request.user.is_superuser

    def has_view_permission(self, request: HttpRequest, obj: Group | None = None) -> bool:
        return request.user.is_superuser

    def has_add_permission(self, request: HttpRequest) -> bool:
        return request.user.is_superuser

    def has_change_permission(self, request: HttpRequest, obj: Group | None = None) -> bool:
        return request.user.is_superuser

    def has_delete_permission(self, request: HttpRequest, obj: Group | None = None) -> bool:
        return request.user.is_superuser


from .oauth import admin as oauth_admin  # noqa: E402, F401  (registers the token models)
