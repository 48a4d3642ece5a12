"""The Bigin read APIs: users, records (list and get) and settings/modules. Thin: parse the query,
call a selector, render plain dicts."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiParameter,
    extend_schema,
    extend_schema_view,
)
from rest_framework import viewsets
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from crm import metadata, paging, selectors
from crm.http import openapi
from crm.http.dialects import BIGIN, Dialect
from crm.http.errors import (
    INVALID_MODULE,
    INVALID_PARAMETER,
    PAGE_AND_PAGE_TOKEN,
    PAGE_TOKEN_EXPIRED,
    REQUIRED_PARAM_MISSING,
)
from crm.ids import parse_id
from crm.modules import MODULES, ModuleInfo
from crm.replica import ReadsFromReplica
from crm.representations import render_module, render_record, render_user

from . import docs, params

USERS_SCOPES = ("ZohoBigin.users.READ",)
MODULES_SETTINGS_SCOPES = ("ZohoBigin.settings.modules.READ", "ZohoBigin.settings.ALL")
FIELDS_SETTINGS_SCOPES = ("ZohoBigin.settings.fields.READ", "ZohoBigin.settings.ALL")
LAYOUTS_SETTINGS_SCOPES = ("ZohoBigin.settings.layouts.READ", "ZohoBigin.settings.ALL")
ORG_SCOPES = ("ZohoBigin.org.READ", "ZohoBigin.org.ALL")


def _info(page: selectors.Page, *, scope: str, last_key: tuple[Any, ...]) -> dict[str, Any]:
    return paging.info(
        per_page=page.per_page,
        count=len(page.items),
        page=page.page,
        more_records=page.more_records,
        scope=scope,
        last_key=last_key,
    )


def _scopes_text(scopes: tuple[str, ...]) -> str:
    return "Scopes: " + ", ".join(f"`{scope}`" for scope in scopes) + "."


_PER_PAGE_ERRORS = (
    (INVALID_PARAMETER, {"param_name": "per_page", "maximum": selectors.MAX_PER_PAGE}),
    (INVALID_PARAMETER, {"param_name": "page", "expected_data_type": "integer"}),
    (INVALID_PARAMETER, {"param_name": "page_token"}),
    (PAGE_TOKEN_EXPIRED, {"param_name": "page_token"}),
    (PAGE_AND_PAGE_TOKEN, {"ambiguity_due_to": ["page", "page_token"]}),
)


class DialectView(ReadsFromReplica, APIView):
    """An endpoint every dialect serves: the CRM v8 routes set `dialect` (owners/api/crm_v8.py)."""

    dialect: Dialect = BIGIN


class UsersView(DialectView):
    required_scopes = USERS_SCOPES

    @extend_schema(
        operation_id="users_list",
        tags=["Users"],
        summary="List the organization's users",
        description=(
            "`type`: AllUsers (active and disabled), ActiveUsers, DeactiveUsers (disabled), "
            "DeletedUsers, AdminUsers (Administrator profile, not deleted), CurrentUser. "
            + _scopes_text(USERS_SCOPES)
        ),
        parameters=[
            OpenApiParameter(
                "type",
                str,
                # Empty is the default, as for every parameter of the read APIs.
                enum=[*selectors.USER_TYPES, ""],
                default="AllUsers",
            ),
            openapi.PAGE_PARAMETER,
            openapi.PAGE_TOKEN_PARAMETER,
            openapi.PER_PAGE_PARAMETER,
        ],
        responses={
            200: docs.UsersPageSerializer,
            204: openapi.no_content("No user on this page."),
            **openapi.error_responses(
                *_PER_PAGE_ERRORS,
                (
                    INVALID_PARAMETER,
                    {"param_name": "type", "supported_values": list(selectors.USER_TYPES)},
                ),
            ),
        },
    )
    def get(self, request: Request) -> Response:
        user_type = params.choice(request, "type", selectors.USER_TYPES, default="AllUsers")
        page, per_page = params.paging(request)
        scope = paging.users_scope(
            organization_id=request.user.organization_id, user_type=user_type
        )
        cursor = params.page_cursor(request, scope=scope)
        result = selectors.users_page(
            organization=request.user.organization,
            user_type=user_type,
            current_user=request.user,
            page=cursor.page if cursor else page,
            per_page=per_page,
            after=cursor.after if cursor else None,
        )
        if not result.items:
            return Response(status=204)
        info = _info(result, scope=scope, last_key=(result.items[-1].id,))
        return Response({"users": [render_user(u) for u in result.items], "info": info})


class UserDetailView(DialectView):
    required_scopes = USERS_SCOPES

    @extend_schema(
        operation_id="users_retrieve",
        tags=["Users"],
        summary="Get one user",
        description="Any user of the organization, deleted ones included. "
        + _scopes_text(USERS_SCOPES),
        parameters=[docs.USER_ID_PARAMETER],
        responses={
            200: docs.UserDetailSerializer,
            204: openapi.no_content("No such user in the organization."),
            **openapi.error_responses(),
        },
    )
    def get(self, request: Request, user_id: str) -> Response:
        number = parse_id(user_id)
        user = (
            None
            if number is None
            else selectors.user_by_id(organization=request.user.organization, user_id=number)
        )
        if user is None:
            return Response(status=204)
        return Response({"users": [render_user(user)]})


class ModulesSettingsView(DialectView):
    required_scopes = MODULES_SETTINGS_SCOPES

    @extend_schema(
        operation_id="settings_modules_list",
        tags=["Settings"],
        summary="List the modules",
        description=_scopes_text(MODULES_SETTINGS_SCOPES),
        responses={200: docs.ModulesSerializer, **openapi.error_responses()},
    )
    def get(self, request: Request) -> Response:
        return Response({"modules": [render_module(module, self.dialect) for module in MODULES]})


_QUERY_MODULE_ERRORS = (
    (REQUIRED_PARAM_MISSING, {"param": "module"}),
    (INVALID_MODULE, {"param_name": "module"}),
)
_MODULE_QUERY_PARAMETER = OpenApiParameter(
    "module",
    str,
    required=True,
    description="A module API name, e.g. Contacts.",
    examples=[OpenApiExample("Contacts", value="Contacts")],
)


class OrgView(DialectView):
    required_scopes = ORG_SCOPES

    @extend_schema(
        operation_id="org_retrieve",
        tags=["Settings"],
        summary="The caller's organization",
        description="Zoho's org object; what the service does not model is null. "
        + _scopes_text(ORG_SCOPES),
        responses={200: docs.OrgSerializer, **openapi.error_responses()},
    )
    def get(self, request: Request) -> Response:
        return Response({"org": [metadata.render_org(request.user.organization)]})


class FieldsSettingsView(DialectView):
    required_scopes = FIELDS_SETTINGS_SCOPES

    @extend_schema(
        operation_id="settings_fields_list",
        tags=["Settings"],
        summary="A module's fields",
        description="The fields its records carry, then the system fields. "
        + _scopes_text(FIELDS_SETTINGS_SCOPES),
        parameters=[_MODULE_QUERY_PARAMETER],
        responses={
            200: docs.FieldsSerializer,
            **openapi.error_responses(*_QUERY_MODULE_ERRORS),
        },
    )
    def get(self, request: Request) -> Response:
        module = params.query_module(request, self.dialect)
        fields = metadata.module_fields(request.user.organization, module, self.dialect)
        return Response({"fields": fields})


class LayoutsSettingsView(DialectView):
    required_scopes = LAYOUTS_SETTINGS_SCOPES

    @extend_schema(
        operation_id="settings_layouts_list",
        tags=["Settings"],
        summary="A module's layout",
        description="One standard layout with one section holding every field. "
        + _scopes_text(LAYOUTS_SETTINGS_SCOPES),
        parameters=[_MODULE_QUERY_PARAMETER],
        responses={
            200: docs.LayoutsSerializer,
            **openapi.error_responses(*_QUERY_MODULE_ERRORS),
        },
    )
    def get(self, request: Request) -> Response:
        module = params.query_module(request, self.dialect)
        layouts = metadata.module_layouts(request.user.organization, module, self.dialect)
        return Response({"layouts": layouts})


_RECORD_SCOPES_TEXT = (
    "Scopes: `ZohoBigin.modules.ALL`, `ZohoBigin.modules.READ`, "
    "`ZohoBigin.modules.<module in lower case>.READ`."
)
_MODULE_ERROR = (INVALID_MODULE, {"resource_path_index": 0})


@extend_schema_view(
    list=extend_schema(
        operation_id="records_list",
        tags=["Records"],
        summary="List a module's records",
        description=(
            "Without `fields`, every field; with it, `id` and the fields named (null when a "
            "record lacks one). Sorted by `sort_by` then id. " + _RECORD_SCOPES_TEXT
        ),
        parameters=[
            openapi.MODULE_PARAMETER,
            OpenApiParameter("fields", str, description="Comma-separated field API names."),
            openapi.PAGE_PARAMETER,
            openapi.PAGE_TOKEN_PARAMETER,
            openapi.PER_PAGE_PARAMETER,
            # Empty is the default, as for every parameter of the read APIs.
            OpenApiParameter(
                "sort_by", str, enum=[*selectors.RECORD_SORT_FIELDS, ""], default="id"
            ),
            OpenApiParameter("sort_order", str, enum=[*selectors.SORT_ORDERS, ""], default="asc"),
            OpenApiParameter(
                "owner_id",
                {"type": "string", "pattern": "^([0-9]{1,19})?$"},
                description="Only the records of this owner (empty: no filter).",
            ),
        ],
        responses={
            200: docs.RecordsPageSerializer,
            204: openapi.no_content("No record on this page."),
            **openapi.error_responses(
                _MODULE_ERROR,
                *_PER_PAGE_ERRORS,
                (
                    INVALID_PARAMETER,
                    {
                        "param_name": "sort_by",
                        "supported_values": list(selectors.RECORD_SORT_FIELDS),
                    },
                ),
                (INVALID_PARAMETER, {"param_name": "owner_id", "expected_data_type": "long"}),
            ),
        },
    ),
    retrieve=extend_schema(
        operation_id="records_retrieve",
        tags=["Records"],
        summary="Get one record",
        description=_RECORD_SCOPES_TEXT,
        parameters=[
            openapi.MODULE_PARAMETER,
            openapi.RECORD_ID_PARAMETER,
            OpenApiParameter("fields", str, description="Comma-separated field API names."),
        ],
        responses={
            200: docs.RecordDetailSerializer,
            204: openapi.no_content("No such record in the module and organization."),
            **openapi.error_responses(_MODULE_ERROR),
        },
    ),
)
class RecordViewSet(ReadsFromReplica, viewsets.ViewSet):
    """GET /bigin/v2/{module} and /bigin/v2/{module}/{record_id}, read only."""

    lookup_url_kwarg = "record_id"
    schema = openapi.EnvelopeAutoSchema()
    dialect: Dialect = BIGIN

    def get_required_scopes(self, request: Request) -> tuple[str, ...]:
        module = self.kwargs.get("module", "").lower()
        return (
            "ZohoBigin.modules.ALL",
            "ZohoBigin.modules.READ",
            f"ZohoBigin.modules.{module}.READ",
        )

    def initial(self, request: Request, *args, **kwargs) -> None:
        params.reject_unserved_path(kwargs["module"])
        super().initial(request, *args, **kwargs)

    def _module(self) -> ModuleInfo:
        # Resolved in the handler, not in initial(), so a wrong method answers 405 first.
        return params.path_module(self.kwargs["module"], self.dialect)

    def list(self, request: Request, module: str) -> Response:
        module_info = self._module()
        fields = params.field_names(request)
        if fields is None and self.dialect.list_needs_fields:
            raise REQUIRED_PARAM_MISSING(param="fields")
        page, per_page = params.paging(request)
        sort_by = params.choice(
            request, "sort_by", tuple(selectors.RECORD_SORT_FIELDS), default="id"
        )
        sort_order = params.choice(request, "sort_order", selectors.SORT_ORDERS, default="asc")
        owner_id = params.optional_id(request, "owner_id")
        scope = paging.records_scope(
            organization_id=request.user.organization_id,
            module_id=module_info.id,
            sort_by=sort_by,
            sort_order=sort_order,
            owner_id=owner_id,
        )
        # A time sort's key is (time, id): the time travels as ISO text.
        cursor = params.page_cursor(
            request, scope=scope, datetime_positions=(0,) if sort_by != "id" else ()
        )
        result = selectors.records_page(
            organization=request.user.organization,
            module=module_info,
            page=cursor.page if cursor else page,
            per_page=per_page,
            sort_by=sort_by,
            sort_order=sort_order,
            owner_id=owner_id,
            after=cursor.after if cursor else None,
        )
        if not result.items:
            return Response(status=204)
        data = [render_record(record, module_info, fields, self.dialect) for record in result.items]
        last_key = selectors.record_sort_key(result.items[-1], sort_by)
        return Response({"data": data, "info": _info(result, scope=scope, last_key=last_key)})

    def retrieve(self, request: Request, module: str, record_id: str) -> Response:
        module_info = self._module()
        fields = params.field_names(request)
        number = parse_id(record_id)
        record = (
            None
            if number is None
            else selectors.record_by_id(
                organization=request.user.organization, module=module_info, record_id=number
            )
        )
        if record is None:
            return Response(status=204)
        return Response({"data": [render_record(record, module_info, fields, self.dialect)]})
