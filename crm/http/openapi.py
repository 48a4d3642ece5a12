"""OpenAPI pieces every API dialect shares: the Zoho-oauthtoken security scheme, the Bigin error
envelope, the common parameters and the error responses.

Imported by CrmConfig.ready() so the extensions are registered. The bodies of each API are
described next to its views (crm/api/docs.py, owners/api/*/docs.py).
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, OpenApiResponse
from rest_framework import serializers

from crm.api.params import MAX_PAGE
from crm.modules import MODULES
from crm.sandbox import demo
from crm.selectors import MAX_PER_PAGE

from .errors import (
    AUTHENTICATION_FAILURE,
    INTERNAL_ERROR,
    INVALID_TOKEN,
    OAUTH_SCOPE_MISMATCH,
    ErrorKind,
)

SECURITY_SCHEME = "ZohoOAuthToken"


class ZohoOAuthTokenScheme(OpenApiAuthenticationExtension):
    target_class = "crm.oauth.authentication.ZohoOAuthTokenAuthentication"
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


class JSONBodyAutoSchema(AutoSchema):
    """Bodies are documented as `application/json`, what clients should send, although the
    parser (crm/http/parsers.py) reads JSON under any Content-Type."""

    def map_parsers(self) -> list[str]:
        return ["application/json" if media == "*/*" else media for media in super().map_parsers()]


class EnvelopeAutoSchema(JSONBodyAutoSchema):
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


# Parameters


def integer_or_empty(minimum: int, maximum: int, default: int) -> dict:
    """A whole-number query parameter; empty means absent (the default), as everywhere here."""
    return {
        "anyOf": [
            {"type": "integer", "minimum": minimum, "maximum": maximum},
            {"type": "string", "maxLength": 0},
        ],
        "default": default,
    }


PAGE_PARAMETER = OpenApiParameter(
    "page",
    integer_or_empty(1, MAX_PAGE, 1),
    description=f"Page number, from 1 to {MAX_PAGE:,}.",
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
    integer_or_empty(1, MAX_PER_PAGE, MAX_PER_PAGE),
    description=f"Entries per page, at most {MAX_PER_PAGE}.",
)
MODULE_PARAMETER = OpenApiParameter(
    "module",
    {"type": "string", "enum": [module.api_name for module in MODULES]},
    OpenApiParameter.PATH,
    description=(
        "Module API name, matched case-insensitively: "
        + ", ".join(module.api_name for module in MODULES)
        + "."
    ),
    examples=[OpenApiExample("Contacts", value="Contacts")],
)
# Ids of the demo sandbox, so Swagger UI's "Try it out" works as shown after `make run`.
_DEMO = demo.api_examples()
RECORD_ID_PARAMETER = OpenApiParameter(
    "record_id",
    str,
    OpenApiParameter.PATH,
    examples=[OpenApiExample("DemoContact", summary="A demo contact", value=_DEMO.contact_ids[0])],
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
