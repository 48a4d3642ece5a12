"""OpenAPI: the answers of the HTTP boundary (crm/http/boundary.py: the database unavailable
included) and of the API limits (crm/http/metering.py, crm/oauth/guessing.py), added to every
operation of every API family.

A drf-spectacular postprocessing hook, so an endpoint added later is documented with them too.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from crm.ids import MAX_DIGITS, MAX_ID

from .boundary import BIGIN, KENBUN, OAUTH, family_of

# An id as clients may send it: a JSON string of 1 to 19 digits or a JSON integer (api-spec.md).
ID_SCHEMA = {
    "oneOf": [
        {"type": "string", "pattern": f"^[0-9]{{1,{MAX_DIGITS}}}$"},
        {"type": "integer", "minimum": 1, "maximum": MAX_ID},
    ],
    "description": f"A string of 1 to {MAX_DIGITS} digits or an integer, from 1 to {MAX_ID}.",
}


@extend_schema_field(ID_SCHEMA)
class IdField(serializers.Field):
    """Documents an id in a request body (the views parse bodies themselves)."""


# Request bodies whose unknown fields the server refuses: `additionalProperties: false`.
CLOSED_BODIES: set[str] = set()


def closed(serializer_class: type) -> type:
    """Class decorator: the body refuses fields it does not name."""
    CLOSED_BODIES.add(serializer_class.__name__.removesuffix("Serializer"))
    return serializer_class


_ENVELOPES = {
    BIGIN: {"$ref": "#/components/schemas/BiginError"},
    KENBUN: {"$ref": "#/components/schemas/KenbunErrorResponse"},
    OAUTH: {"$ref": "#/components/schemas/OAuthError"},
}
OAUTH_ERROR = {
    "type": "object",
    "properties": {
        "error": {"type": "string"},
        "error_description": {"type": "string"},
    },
    "required": ["error"],
}
RETRY_AFTER = {
    "Retry-After": {
        "schema": {"type": "integer", "minimum": 1},
        "required": True,
        "description": "Seconds to wait before trying again.",
    }
}

# (status, description, for which requests)
_BOUNDARY = (
    (400, "Malformed request: a NUL character, more than 1,000 query or form fields.", "all"),
    (413, "The body is larger than API_MAX_BODY_BYTES (LIMIT_EXCEEDED).", "body"),
    (414, "The URL is longer than API_MAX_URL_BYTES (LIMIT_EXCEEDED).", "all"),
    (431, "Too many or too large request headers (LIMIT_EXCEEDED).", "all"),
    (429, "TOO_MANY_REQUESTS: a limit of docs/limits.md was reached.", "limited"),
    (
        503,
        "SERVICE_UNAVAILABLE (the token server: temporarily_unavailable): the database cannot"
        " answer now; try again after Retry-After.",
        "all",
    ),
)


def _limited(path: str, operation: dict[str, Any]) -> bool:
    """Metered (an authenticated API call) or guessing-limited (the token endpoint)."""
    if family_of(path) == OAUTH:
        return path.rstrip("/").endswith("/token")
    return bool(operation.get("security"))


def add_boundary_responses(result, generator, request, public):
    schemas = result.setdefault("components", {}).setdefault("schemas", {})
    schemas.setdefault("OAuthError", OAUTH_ERROR)
    for name in CLOSED_BODIES & set(schemas):
        schemas[name]["additionalProperties"] = False
    for path, item in result.get("paths", {}).items():
        family = family_of(path)
        if family is None:
            continue
        for operation in item.values():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            responses = operation["responses"]
            if family == BIGIN and "{" in path:
                # A path parameter the routes cannot match (`/bigin/v2/0.5/...`): api-spec.md's
                # unknown path, before anything else.
                responses.setdefault(
                    "404",
                    {
                        "description": "INVALID_URL_PATTERN: no endpoint has this path.",
                        "content": {"application/json": {"schema": _ENVELOPES[BIGIN]}},
                    },
                )
            for status, description, applies in _BOUNDARY:
                if applies == "body" and "requestBody" not in operation:
                    continue
                if applies == "limited" and not _limited(path, operation):
                    continue
                response = responses.setdefault(
                    str(status),
                    {
                        "description": description,
                        "content": {"application/json": {"schema": _ENVELOPES[family]}},
                    },
                )
                if status in (429, 503):
                    response.setdefault("headers", {}).update(RETRY_AFTER)
    return result
