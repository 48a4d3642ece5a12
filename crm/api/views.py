"""The Bigin read APIs: users, records (list and get) and settings/modules. Thin: parse the query,
call a selector, render plain dicts."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import viewsets
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from crm import selectors
from crm.http import openapi
from crm.http.errors import INVALID_MODULE, INVALID_PARAMETER
from crm.ids import parse_id
from crm.modules import MODULES, ModuleInfo
from crm.representations import render_module, render_record, render_user

from . import docs, params

USERS_SCOPES = ("ZohoBigin.users.READ",)
MODULES_SETTINGS_SCOPES = ("ZohoBigin.settings.modules.READ", "ZohoBigin.settings.ALL")


def _info(page: selectors.Page) -> dict[str, Any]:
    return {
        "per_page": page.per_page,
        "count": len(page.items),
        "page": page.page,
        "more_records": page.more_records,
    }


def _scopes_text(scopes: tuple[str, ...]) -> str:
    return "Scopes: " + ", ".join(f"`{scope}`" for scope in scopes) + "."


_PER_PAGE_ERRORS = (
    (INVALID_PARAMETER, {"param_name": "per_page", "maximum": selectors.MAX_PER_PAGE}),
    (INVALID_PARAMETER, {"param_name": "page", "expected_data_type": "integer"}),
)


class UsersView(APIView):
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
        result = selectors.users_page(
            organization=request.user.organization,
            user_type=user_type,
            current_user=request.user,
            page=page,
            per_page=per_page,
        )
        if not result.items:
            return Response(status=204)
        return Response({"users": [render_user(u) for u in result.items], "info": _info(result)})


class UserDetailView(APIView):
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


class ModulesSettingsView(APIView):
    required_scopes = MODULES_SETTINGS_SCOPES

    @extend_schema(
        operation_id="settings_modules_list",
        tags=["Settings"],
        summary="List the modules",
        description=_scopes_text(MODULES_SETTINGS_SCOPES),
        responses={200: docs.ModulesSerializer, **openapi.error_responses()},
    )
    def get(self, request: Request) -> Response:
        return Response({"modules": [render_module(module) for module in MODULES]})


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
class RecordViewSet(viewsets.ViewSet):
    """GET /bigin/v2/{module} and /bigin/v2/{module}/{record_id}, read only."""

    lookup_url_kwarg = "record_id"
    schema = openapi.EnvelopeAutoSchema()

    def get_required_scopes(self, request: Request) -> tuple[str, ...]:
        module = self.kwargs.get("module", "").lower()
        return (
            "ZohoBigin.modules.ALL",
            "ZohoBigin.modules.READ",
            f"ZohoBigin.modules.{module}.READ",
        )

    def _module(self) -> ModuleInfo:
        # Resolved in the handler, not in initial(), so a wrong method answers 405 first.
        return params.path_module(self.kwargs["module"])

    def list(self, request: Request, module: str) -> Response:
        module_info = self._module()
        fields = params.field_names(request)
        page, per_page = params.paging(request)
        sort_by = params.choice(
            request, "sort_by", tuple(selectors.RECORD_SORT_FIELDS), default="id"
        )
        sort_order = params.choice(request, "sort_order", selectors.SORT_ORDERS, default="asc")
        owner_id = params.optional_id(request, "owner_id")
        result = selectors.records_page(
            organization=request.user.organization,
            module=module_info,
            page=page,
            per_page=per_page,
            sort_by=sort_by,
            sort_order=sort_order,
            owner_id=owner_id,
        )
        if not result.items:
            return Response(status=204)
        data = [render_record(record, module_info, fields) for record in result.items]
        return Response({"data": data, "info": _info(result)})

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
        return Response({"data": [render_record(record, module_info, fields)]})
