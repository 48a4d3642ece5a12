"""OpenAPI pieces shared by the API views: the Zoho-oauthtoken security scheme, the Bigin error
envelope and the response bodies of the read APIs.

The serializers here only describe bodies for drf-spectacular; responses are built as plain dicts
(crm/representations.py). Imported by CrmConfig.ready() so the extensions are registered.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from drf_spectacular.extensions import OpenApiAuthenticationExtension, OpenApiSerializerExtension
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, OpenApiResponse
from rest_framework import serializers

from .errors import (
    AUTHENTICATION_FAILURE,
    INTERNAL_ERROR,
    INVALID_TOKEN,
    OAUTH_SCOPE_MISMATCH,
    ErrorKind,
)
from .modules import MODULES
from .selectors import MAX_PER_PAGE

SECURITY_SCHEME = "ZohoOAuthToken"


class ZohoOAuthTokenScheme(OpenApiAuthenticationExtension):
    target_class = "crm.authentication.ZohoOAuthTokenAuthentication"
    name = SECURITY_SCHEME

    def get_security_definition(self, auto_schema: Any) -> dict[str, Any]:
        # An API key in the Authorization header, because the value carries Zoho's own scheme
        # word: paste "Zoho-oauthtoken 1000.xxx" (or "Bearer 1000.xxx") into Swagger UI.
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": (
                "`Zoho-oauthtoken <access token>`; `Bearer <access token>` works too. "
                "Each endpoint lists the scopes it accepts; a `.ALL` scope satisfies the "
                "other operations of its resource."
            ),
        }


class EnvelopeAutoSchema(AutoSchema):
    """Bigin wraps a list in an object (`{"data": [...], "info": {...}}`), so the response of a
    ViewSet's `list` action is that object, not an array of it."""

    def _is_list_view(self, serializer: Any = None) -> bool:
        return False


# Bodies


class BiginErrorSerializer(serializers.Serializer):
    code = serializers.CharField(help_text="Bigin error code, e.g. INVALID_TOKEN.")
    details = serializers.DictField(help_text="What the error is about; {} when nothing.")
    message = serializers.CharField()
    status = serializers.CharField(help_text='Always "error".')


class NamedRefSerializer(serializers.Serializer):
    name = serializers.CharField()
    id = serializers.CharField(help_text="Numeric id, as a string.")


class PageInfoSerializer(serializers.Serializer):
    per_page = serializers.IntegerField()
    count = serializers.IntegerField(help_text="Entries on this page.")
    page = serializers.IntegerField()
    more_records = serializers.BooleanField(help_text="Whether a next page has entries.")
    next_page_token = serializers.CharField(
        allow_null=True, help_text="`page_token` of the next page; null on the last page."
    )
    previous_page_token = serializers.CharField(
        allow_null=True, help_text="Always null: tokens only go forward."
    )
    page_token_expiry = serializers.DateTimeField(
        allow_null=True, help_text="When next_page_token stops working (24 hours)."
    )


class UserSerializer(serializers.Serializer):
    id = serializers.CharField()
    full_name = serializers.CharField()
    first_name = serializers.CharField(allow_null=True)
    last_name = serializers.CharField()
    email = serializers.EmailField()
    status = serializers.CharField(help_text='"active", "disabled" or "deleted".')
    role = NamedRefSerializer(allow_null=True)
    profile = NamedRefSerializer()
    created_time = serializers.DateTimeField()
    Modified_Time = serializers.DateTimeField()


class UsersPageSerializer(serializers.Serializer):
    users = UserSerializer(many=True)
    info = PageInfoSerializer()


class UserDetailSerializer(serializers.Serializer):
    users = UserSerializer(many=True, help_text="The one user.")


class OwnerSerializer(serializers.Serializer):
    name = serializers.CharField()
    id = serializers.CharField()
    email = serializers.EmailField()


class RecordSerializer(serializers.Serializer):
    id = serializers.CharField()
    # Only `id` is always there: `fields=` may leave out the others.
    Owner = OwnerSerializer(
        allow_null=True, required=False, help_text="Null only for a record unassigned by Kenbun."
    )
    Created_Time = serializers.DateTimeField(required=False)
    Modified_Time = serializers.DateTimeField(required=False)
    What_Id = NamedRefSerializer(
        allow_null=True, required=False, help_text="Activities only: the related record."
    )

    def get_fields(self) -> dict[str, serializers.Field]:
        fields = super().get_fields()
        # Not a Python name, so it cannot be declared as a class attribute.
        fields["$se_module"] = serializers.CharField(
            allow_null=True, required=False, help_text="Activities only: the related module."
        )
        return fields


class RecordSchema(OpenApiSerializerExtension):
    """A record also carries its module's own fields (Last_Name, Email, ...), merged in."""

    target_class = RecordSerializer

    def map_serializer(self, auto_schema: Any, direction: str) -> dict[str, Any]:
        schema = auto_schema._map_basic_serializer(self.target, direction)
        schema["additionalProperties"] = True
        return schema


class RecordsPageSerializer(serializers.Serializer):
    data = RecordSerializer(many=True)
    info = PageInfoSerializer()


class RecordDetailSerializer(serializers.Serializer):
    data = RecordSerializer(many=True, help_text="The one record.")


class ModuleSerializer(serializers.Serializer):
    api_name = serializers.CharField()
    module_name = serializers.CharField()
    singular_label = serializers.CharField()
    plural_label = serializers.CharField()
    id = serializers.CharField()
    api_supported = serializers.BooleanField()


class ModulesSerializer(serializers.Serializer):
    modules = ModuleSerializer(many=True)


# Parameters

PAGE_PARAMETER = OpenApiParameter(
    "page", {"type": "integer", "minimum": 1, "default": 1}, description="Page number, from 1."
)
PAGE_TOKEN_PARAMETER = OpenApiParameter(
    "page_token",
    str,
    description=(
        "The `info.next_page_token` of the previous page (Zoho CRM v8): the next page at the "
        "cost of the first, whatever the depth. Valid 24 hours, for the same list (module, "
        "sort, filter) only; not with `page`."
    ),
)
PER_PAGE_PARAMETER = OpenApiParameter(
    "per_page",
    {"type": "integer", "minimum": 1, "maximum": MAX_PER_PAGE, "default": MAX_PER_PAGE},
    description=f"Entries per page, at most {MAX_PER_PAGE}.",
)
MODULE_PARAMETER = OpenApiParameter(
    "module",
    str,
    OpenApiParameter.PATH,
    description=(
        "Module API name, matched case-insensitively: "
        + ", ".join(module.api_name for module in MODULES)
        + "."
    ),
)


# Responses


def no_content(description: str) -> OpenApiResponse:
    return OpenApiResponse(description=f"{description} No body.")


def error_responses(*cases: tuple[ErrorKind, dict[str, Any]]) -> dict[int, OpenApiResponse]:
    """The Bigin envelope for these errors, with one example each, grouped by HTTP status. The
    errors every authenticated endpoint can answer (401s and 500) are always included."""
    all_cases = (
        (AUTHENTICATION_FAILURE, {}),
        (INVALID_TOKEN, {}),
        (OAUTH_SCOPE_MISMATCH, {}),
        *cases,
        (INTERNAL_ERROR, {}),
    )
    by_status: dict[int, list[OpenApiExample]] = defaultdict(list)
    for kind, details in all_cases:
        param = details.get("param_name", "")
        # The name becomes the example's key; the summary is what Swagger UI shows.
        name = "".join(word.capitalize() for word in f"{kind.code}_{param}".split("_"))
        by_status[kind.status].append(
            OpenApiExample(
                name,
                summary=f"{kind.code} ({param})" if param else kind.code,
                value=kind.body(details),
                response_only=True,
                status_codes=[str(kind.status)],
            )
        )
    return {
        status: OpenApiResponse(
            BiginErrorSerializer,
            description=", ".join(example.summary for example in examples),
            examples=examples,
        )
        for status, examples in sorted(by_status.items())
    }
