"""Parsing and validating a Bigin change_owner body, once, at the edge.

The checks run in api-spec.md's order and every failure is a row of the table below, so a new
case is a new row, not a new branch.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from crm.http.errors import INVALID_BODY, ApiError, ErrorKind
from crm.ids import parse_id
from crm.models import Organization, User
from crm.modules import ACTIVITY_MODULES
from owners.services import RelatedSelection
from owners.statements import organization_user

MAX_IDS = 500
MAX_RELATED = 5

MANDATORY_NOT_FOUND = ErrorKind(400, "MANDATORY_NOT_FOUND", "required field not found")
INVALID_TYPE = ErrorKind(400, "INVALID_DATA", "invalid data")
IDS_LIMIT_EXCEEDED = ErrorKind(
    400, "LIMIT_EXCEEDED", "Limit Exceeded, You cannot give more than 500 record ids"
)
RELATED_LIMIT_EXCEEDED = ErrorKind(
    400, "LIMIT_EXCEEDED", "Limit Exceeded, You cannot give more than 5 record ids"
)
OWNER_UNKNOWN = ErrorKind(400, "INVALID_DATA", "the owner id given is invalid")
OWNER_DISABLED = ErrorKind(
    400,
    "INVALID_DATA",
    "The user to whom you are trying to transfer the records is not active.",
)
OWNER_DELETED = ErrorKind(
    403,
    "INVALID_DATA",
    "The user to whom you are trying to transfer the records has closed their account.",
)
RELATED_FIELD_MISSING = ErrorKind(400, "EXPECTED_FIELD_MISSING", "required field not found")
RELATED_NOT_SUPPORTED = ErrorKind(400, "NOT_SUPPORTED", "The requested operation is not supported")

# Per-record results.
RECORD_SUCCESS = ("SUCCESS", "owner is successfully updated", "success")
RECORD_INVALID = ("INVALID_DATA", "the id given seems to be invalid", "error")

OWNER_STATUS_ERRORS = {
    User.Status.DISABLED: (OWNER_DISABLED, "inactive"),
    User.Status.DELETED: (OWNER_DELETED, "deleted"),
}
RELATED_MODULE_NAMES = {module.api_name.lower(): module.api_name for module in ACTIVITY_MODULES}
TRUE_FALSE = {"true": True, "false": False}


@dataclass(frozen=True)
class ChangeOwnerRequest:
    record_ids: tuple[int, ...]  # distinct, in first-seen order
    # Checked for its form only: the records' lock reads the user's status (`check_owner` where
    # it locked nothing).
    new_owner_id: int
    notify: bool
    related: RelatedSelection


def _type_error(expected: str, api_name: str, json_path: str):
    return INVALID_TYPE(expected_data_type=expected, api_name=api_name, json_path=json_path)


def parse_ids(body: dict[str, Any]) -> tuple[int, ...]:
    ids = body.get("ids")
    if ids is None or ids == []:
        raise MANDATORY_NOT_FOUND(api_name="ids", json_path="$.ids")
    if not isinstance(ids, list):
        raise _type_error("jsonarray", "ids", "$.ids")
    if len(ids) > MAX_IDS:
        raise IDS_LIMIT_EXCEEDED(limit=MAX_IDS, api_name="ids", json_path="$.ids")
    parsed = []
    for index, value in enumerate(ids):
        record_id = parse_id(value)
        if record_id is None:
            raise _type_error("long", "ids", f"$.ids[{index}]")
        parsed.append(record_id)
    return tuple(dict.fromkeys(parsed))


def parse_owner_id(body: dict[str, Any]) -> int:
    owner = body.get("owner")
    if not isinstance(owner, dict):
        raise MANDATORY_NOT_FOUND(api_name="owner", json_path="$.owner")
    if owner.get("id") is None:
        raise MANDATORY_NOT_FOUND(api_name="id", json_path="$.owner.id")
    owner_id = parse_id(owner["id"])
    if owner_id is None:
        raise _type_error("long", "id", "$.owner.id")
    return owner_id


def parse_owner(body: dict[str, Any], organization: Organization) -> User:
    owner_id = parse_owner_id(body)
    user = organization_user(organization=organization, user_id=owner_id)
    check_owner_status(None if user is None else user.status)
    return user


def check_owner(organization: Organization, owner_id: int) -> None:
    """Raise the owner's error unless `owner_id` is an active user of `organization`."""
    user = organization_user(organization=organization, user_id=owner_id)
    check_owner_status(None if user is None else user.status)


def check_owner_status(status: str | None) -> None:
    if status is None or status in OWNER_STATUS_ERRORS:
        raise owner_status_error(status)


def owner_status_error(status: str | None) -> ApiError:
    """The error for a new owner that is not active (disabled or deleted), or no longer a user of
    the organization (`status` None: its row went away between the check and the lock)."""
    if status not in OWNER_STATUS_ERRORS:
        return OWNER_UNKNOWN(api_name="id", json_path="$.owner.id")
    kind, owner_status = OWNER_STATUS_ERRORS[status]
    return kind(api_name="id", json_path="$.owner.id", owner_status=owner_status)


def parse_notify(body: dict[str, Any]) -> bool:
    notify = body.get("notify")
    if notify is None:
        return False
    if isinstance(notify, bool):
        return notify
    if isinstance(notify, str) and notify.lower() in TRUE_FALSE:
        return TRUE_FALSE[notify.lower()]
    raise _type_error("boolean", "notify", "$.notify")


def parse_related(body: dict[str, Any]) -> RelatedSelection:
    entries = body.get("related_modules")
    if entries is None:
        return RelatedSelection()
    if not isinstance(entries, list):
        raise _type_error("jsonarray", "related_modules", "$.related_modules")
    if len(entries) > MAX_RELATED:
        raise RELATED_LIMIT_EXCEEDED(
            limit=MAX_RELATED, api_name="related_modules", json_path="$.related_modules"
        )
    modules: list[str] = []
    record_ids: list[int] = []
    for index, entry in enumerate(entries):
        path = f"$.related_modules[{index}]"
        entry = entry if isinstance(entry, dict) else {}
        api_name, raw_id = entry.get("api_name"), entry.get("id")
        if api_name is None and raw_id is None:
            raise RELATED_FIELD_MISSING(
                expected_fields=[
                    {"api_name": "api_name", "json_path": f"{path}.api_name"},
                    {"api_name": "id", "json_path": f"{path}.id"},
                ]
            )
        if raw_id is not None:
            # A valid id wins over an invalid api_name (api-spec.md); a present but malformed id
            # is refused rather than widened to the whole module (ours).
            record_id = parse_id(raw_id)
            if record_id is None:
                raise _type_error("long", "id", f"{path}.id")
            record_ids.append(record_id)
            continue
        module = RELATED_MODULE_NAMES.get(api_name.lower()) if isinstance(api_name, str) else None
        if module is None:
            raise RELATED_NOT_SUPPORTED(api_name="api_name", json_path=f"{path}.api_name")
        modules.append(module)
    return RelatedSelection(
        modules=tuple(dict.fromkeys(modules)), record_ids=tuple(dict.fromkeys(record_ids))
    )


def parse_change_owner(
    body: Any, *, organization: Organization, record_ids: tuple[int, ...] | None = None
) -> ChangeOwnerRequest:
    """Validate a body in api-spec.md's order. The one-record form passes `record_ids` from its
    path (its body's `ids` is ignored).

    Whether the owner is an active user of the organization is read with the records' lock, in
    the change's own transaction, rather than by a query of its own here: the caller checks it
    (`check_owner`) only where that lock read nothing, and here only before reporting an error
    that api-spec.md's order puts after the owner's."""
    if not isinstance(body, dict):
        raise INVALID_BODY()
    ids = parse_ids(body) if record_ids is None else record_ids
    owner_id = parse_owner_id(body)
    try:
        notify, related = parse_notify(body), parse_related(body)
    except ApiError:
        check_owner(organization, owner_id)
        raise
    return ChangeOwnerRequest(record_ids=ids, new_owner_id=owner_id, notify=notify, related=related)


def record_result(record_id: int | str, found: frozenset[int]) -> dict[str, Any]:
    code, message, status = RECORD_SUCCESS if record_id in found else RECORD_INVALID
    return {"code": code, "details": {"id": str(record_id)}, "message": message, "status": status}


def record_results(requested: tuple[int, ...], found: frozenset[int]) -> list[dict[str, Any]]:
    """One entry per distinct requested id, in order: plain dicts, built fast for 500 ids."""
    return [record_result(record_id, found) for record_id in requested]


def response_status(results: list[dict]) -> int:
    successes = sum(1 for result in results if result["status"] == "success")
    if successes == len(results):
        return 200
    return 202 if successes else 400
