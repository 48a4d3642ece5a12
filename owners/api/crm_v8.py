"""The Zoho CRM v8 dialect: the same views as the Bigin one, other names (crm/http/dialects.py)."""

from __future__ import annotations

from django.urls import include, path, re_path
from drf_spectacular.utils import extend_schema

from crm.api import views as crm_api
from crm.api.routers import ModuleRouter
from crm.http import errors
from crm.http.dialects import CRM_V8, MODULE_PREFIX

from .bigin.views import ChangeOwnerViewSet
from .records.views import RecordWriteViewSet
from .transfers import views as transfers
from .watch.urls import urlpatterns_for as watch_urlpatterns


def _crm(view_class: type) -> type:
    """The view with the CRM dialect. The OpenAPI document describes each endpoint once, under
    /bigin/v2; docs/clients.md's table maps the CRM paths onto them."""
    crm_view = type(f"CrmV8{view_class.__name__}", (view_class,), {"dialect": CRM_V8})
    return extend_schema(exclude=True)(crm_view)


router = ModuleRouter()
router.register(MODULE_PREFIX, _crm(RecordWriteViewSet), basename="crm-v8-records")
router.register(MODULE_PREFIX, _crm(ChangeOwnerViewSet), basename="crm-v8-change-owner")
router.register(
    MODULE_PREFIX, _crm(transfers.MassChangeOwnerViewSet), basename="crm-v8-mass-change-owner"
)

urlpatterns = [
    path("users", _crm(crm_api.UsersView).as_view(), name="crm-v8-users"),
    path(
        "users/actions/transfer_and_delete",
        _crm(transfers.TransferAndDeleteView).as_view(),
        name="crm-v8-transfer-and-delete",
    ),
    path(
        "users/<str:user_id>/actions/transfer_and_delete",
        _crm(transfers.UserTransferAndDeleteView).as_view(),
        name="crm-v8-user-transfer-and-delete",
    ),
    path("users/<str:user_id>", _crm(crm_api.UserDetailView).as_view(), name="crm-v8-user"),
    path("org", _crm(crm_api.OrgView).as_view(), name="crm-v8-org"),
    path("settings/modules", _crm(crm_api.ModulesSettingsView).as_view(), name="crm-v8-modules"),
    path("settings/fields", _crm(crm_api.FieldsSettingsView).as_view(), name="crm-v8-fields"),
    path("settings/layouts", _crm(crm_api.LayoutsSettingsView).as_view(), name="crm-v8-layouts"),
    *watch_urlpatterns("crm-v8-", _crm),
    path("", include(router.urls)),
    # Anything else under /crm/v8 answers the 404 envelope, as under /bigin/v2.
    re_path(r"^.*$", errors.api_not_found),
]
