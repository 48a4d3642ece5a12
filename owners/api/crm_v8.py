"""The Zoho CRM v8 dialect: the same views as the Bigin one, other names (crm/http/dialects.py)."""

from __future__ import annotations

from django.urls import include, path, re_path
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework.routers import SimpleRouter

from crm.api import views as crm_api
from crm.http import errors
from crm.http.dialects import CRM_V8, MODULE_PREFIX

from .bigin.views import ChangeOwnerViewSet

# The OpenAPI document describes each endpoint once, under /bigin/v2; the README's table maps it.
_UNDOCUMENTED = extend_schema(exclude=True)


def _crm(view_class):
    return _UNDOCUMENTED(type(f"CrmV8{view_class.__name__}", (view_class,), {"dialect": CRM_V8}))


class CrmV8RecordViewSet(crm_api.RecordViewSet):
    dialect = CRM_V8


class CrmV8ChangeOwnerViewSet(ChangeOwnerViewSet):
    dialect = CRM_V8


extend_schema_view(list=_UNDOCUMENTED, retrieve=_UNDOCUMENTED)(CrmV8RecordViewSet)
extend_schema_view(bulk=_UNDOCUMENTED, single=_UNDOCUMENTED)(CrmV8ChangeOwnerViewSet)

router = SimpleRouter(trailing_slash=False)
router.register(MODULE_PREFIX, CrmV8RecordViewSet, basename="crm-v8-records")
router.register(MODULE_PREFIX, CrmV8ChangeOwnerViewSet, basename="crm-v8-change-owner")

urlpatterns = [
    path("users", _crm(crm_api.UsersView).as_view(), name="crm-v8-users"),
    path("users/<str:user_id>", _crm(crm_api.UserDetailView).as_view(), name="crm-v8-user"),
    path("org", _crm(crm_api.OrgView).as_view(), name="crm-v8-org"),
    path("settings/modules", _crm(crm_api.ModulesSettingsView).as_view(), name="crm-v8-modules"),
    path("settings/fields", _crm(crm_api.FieldsSettingsView).as_view(), name="crm-v8-fields"),
    path("settings/layouts", _crm(crm_api.LayoutsSettingsView).as_view(), name="crm-v8-layouts"),
    path("", include(router.urls)),
    re_path(r"^.*$", errors.api_not_found),
]
