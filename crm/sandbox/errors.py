"""The sandbox controls' errors, in the Bigin envelope (docs/sandbox.md, "Errors"), and the
helpers that read their bodies: one table, so a new case is a row, not a branch."""

from __future__ import annotations

from typing import Any

from crm.http.errors import INVALID_BODY, ErrorKind

# A missing or wrong X-Sandbox-Key: details {"header_name": "X-Sandbox-Key"}.
KEY_REFUSED = ErrorKind(401, "AUTHENTICATION_FAILURE", "Authentication failed")
# An organization, fault or snapshot that does not exist: details {"resource", "id"}.
NOT_FOUND = ErrorKind(404, "INVALID_DATA", "the id given seems to be invalid")
# A body field: details {"api_name", "json_path"} and what was expected ("expected_data_type",
# "minimum", "maximum", "supported_values", or "reason").
MANDATORY_NOT_FOUND = ErrorKind(400, "MANDATORY_NOT_FOUND", "required field not found")
INVALID_FIELD = ErrorKind(400, "INVALID_DATA", "invalid data")
DUPLICATE = ErrorKind(400, "DUPLICATE_DATA", "duplicate data")
# A fault's response names none of its kinds: details {"expected_fields": [...]}.
EXPECTED_FIELD_MISSING = ErrorKind(400, "EXPECTED_FIELD_MISSING", "required field not found")
NOT_SUPPORTED = ErrorKind(400, "NOT_SUPPORTED", "The requested operation is not supported")

KEY_HEADER = "X-Sandbox-Key"


def object_body(data: Any) -> dict[str, Any]:
    """The request body as a JSON object; no body at all reads as `{}`."""
    if data is None or data == {}:
        return {}
    if not isinstance(data, dict):
        raise INVALID_BODY()
    return data


def field_path(api_name: str, parent: str = "$") -> str:
    return f"{parent}.{api_name}"


def invalid(api_name: str, json_path: str, **expected: Any):
    return INVALID_FIELD(api_name=api_name, json_path=json_path, **expected)


def _given(body: dict[str, Any], api_name: str, parent: str, required: bool) -> tuple[Any, str]:
    """A field's value (None when absent or null) and its JSON path; MANDATORY_NOT_FOUND when it
    is required and absent."""
    json_path = field_path(api_name, parent)
    value = body.get(api_name)
    if value is None and required:
        raise MANDATORY_NOT_FOUND(api_name=api_name, json_path=json_path)
    return value, json_path


def integer(
    body: dict[str, Any],
    api_name: str,
    *,
    minimum: int,
    maximum: int,
    parent: str = "$",
    required: bool = False,
) -> int | None:
    """An integer field in [minimum, maximum]; None when absent (or null) and not required."""
    value, json_path = _given(body, api_name, parent, required)
    if value is None:
        return None
    if type(value) is not int:
        raise invalid(api_name, json_path, expected_data_type="integer")
    if value < minimum:
        raise invalid(api_name, json_path, minimum=minimum)
    if value > maximum:
        raise invalid(api_name, json_path, maximum=maximum)
    return value


def text(
    body: dict[str, Any],
    api_name: str,
    *,
    max_length: int,
    parent: str = "$",
    required: bool = False,
) -> str | None:
    """A non-empty string field of at most `max_length` characters; None when absent."""
    value, json_path = _given(body, api_name, parent, required)
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise invalid(api_name, json_path, expected_data_type="string")
    if len(value) > max_length:
        raise invalid(api_name, json_path, maximum_length=max_length)
    return value
