"""The /bigin/v2 routes that are not module names. Included before the module router
(config/api_router.py), so `users` and `settings` are never taken for a module."""

from __future__ import annotations

from django.urls import path

from . import views as api

urlpatterns = [
    path("users", api.UsersView.as_view(), name="bigin-users"),
    path("users/<str:user_id>", api.UserDetailView.as_view(), name="bigin-user"),
    path("settings/modules", api.ModulesSettingsView.as_view(), name="bigin-modules"),
    path("settings/fields", api.FieldsSettingsView.as_view(), name="bigin-fields"),
    path("settings/layouts", api.LayoutsSettingsView.as_view(), name="bigin-layouts"),
    path("org", api.OrgView.as_view(), name="bigin-org"),
]
