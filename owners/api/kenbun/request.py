"""The Kenbun-style lead-owner API at the edge: its one table of errors, the exception handler
that renders every failure as `{"status": "error", "message": ...}`, and the parsing of its
bodies and query strings.

Kenbun clients know 400, 401 and 404 (plus 405 for a wrong method and 500 for a crash), never
Bigin's envelope, so these views do not use crm.http.errors' handler: the auth and scope
failures raised by the shared authentication and permission classes are translated here.

Choices (docs/kenbun.md):
- Unknown body fields are refused: a misspelt `ownerId` must not silently unassign.
- `owner_name` is optional; given with `owner_id` it must equal the owner's full name (ignoring
  case and surrounding spaces); given without an owner it is refused.
- Bulk is all or nothing: any id that is not a lead of the organization answers 404 naming it.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from django.http import Http404
from rest_framework import exceptions
from rest_framework.response import Response

from crm.http import boundary
from crm.http import errors as bigin_errors
from crm.ids import parse_id
from crm.models import Organization, User
from owners.statements import organization_user

logger = logging.getLogger(__name__)

MAX_LEAD_IDS = 500
PER_PAGE = 50
MAX_PAGE = 1_000_000  # keeps OFFSET within what the database accepts
CHANGE_OWNER_SCOPE = "ZohoBigin.change_owner.CREATE"


@dataclass(frozen=True)
class KenbunErrorKind:
    """One row of the table: HTTP status and message (a format string over the details)."""

    status: int
    message: str

    def __call__(self, **details: Any) -> KenbunError:
        return KenbunError(self.status, self.message.format(**details))


class KenbunError(exceptions.APIException):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status_code = status
        self.message = message


# The table. A new case is a new row.
MALFORMED_JSON = KenbunErrorKind(400, "malformed JSON body")
BODY_NOT_OBJECT = KenbunErrorKind(400, "request body must be a JSON object")
UNKNOWN_FIELD = KenbunErrorKind(400, "unknown field: {field}")
OWNER_ID_INVALID = KenbunErrorKind(400, "owner_id must be a numeric id or null")
OWNER_NAME_INVALID = KenbunErrorKind(400, "owner_name must be a string or null")
OWNER_NAME_WITHOUT_ID = KenbunErrorKind(400, "owner_name given without owner_id")
OWNER_NOT_ACTIVE = KenbunErrorKind(400, "owner_id is not an active user of this organization")
OWNER_NAME_MISMATCH = KenbunErrorKind(400, "owner_name does not match the owner's name")
LEAD_IDS_MISSING = KenbunErrorKind(400, "lead_ids is required")
LEAD_IDS_NOT_ARRAY = KenbunErrorKind(400, "lead_ids must be an array")
LEAD_IDS_EMPTY = KenbunErrorKind(400, "lead_ids must not be empty")
LEAD_IDS_TOO_MANY = KenbunErrorKind(400, f"lead_ids must have at most {MAX_LEAD_IDS} entries")
LEAD_ID_INVALID = KenbunErrorKind(400, "lead_ids[{index}] is not a valid lead id")
UNKNOWN_PARAMETER = KenbunErrorKind(400, "unknown query parameter: {name}")
OWNER_FILTER_INVALID = KenbunErrorKind(400, "owner_id must be a numeric id or null")
PAGE_INVALID = KenbunErrorKind(400, f"page must be an integer from 1 to {MAX_PAGE}")
PREFS_EMPTY = KenbunErrorKind(400, "request body must set notifications_enabled or prefs")
PREFS_ENABLED_INVALID = KenbunErrorKind(400, "notifications_enabled must be a boolean")
PREFS_NOT_ARRAY = KenbunErrorKind(400, "prefs must be an array")
PREFS_EVENT_INVALID = KenbunErrorKind(400, "prefs[{index}].event_type must be {event_type}")
PREFS_MUTED_INVALID = KenbunErrorKind(400, "prefs[{index}].muted must be a boolean")
PREFS_DISAGREE = KenbunErrorKind(400, "notifications_enabled and prefs disagree")
NOT_AUTHENTICATED = KenbunErrorKind(401, "authentication required")
TOKEN_INVALID = KenbunErrorKind(401, "invalid or expired token")
SCOPE_MISMATCH = KenbunErrorKind(401, f"the token lacks the scope {CHANGE_OWNER_SCOPE}")
# Kenbun has no 403: a caller whose profile may not change owners is not authorized (401).
NOT_PERMITTED = KenbunErrorKind(401, "your profile may not change lead owners")
LEAD_NOT_FOUND = KenbunErrorKind(404, "lead not found")
LEADS_NOT_FOUND = KenbunErrorKind(404, "leads not found: {ids}")
NOT_FOUND = KenbunErrorKind(404, "not found")
METHOD_NOT_ALLOWED = KenbunErrorKind(405, "method not allowed")
INTERNAL = KenbunErrorKind(500, "internal server error")

# The shared authentication and permission classes raise Bigin's errors; these are Kenbun's.
_FROM_BIGIN = {
    bigin_errors.AUTHENTICATION_FAILURE: NOT_AUTHENTICATED,
    bigin_errors.INVALID_TOKEN: TOKEN_INVALID,
    bigin_errors.OAUTH_SCOPE_MISMATCH: SCOPE_MISMATCH,
}
_FROM_DRF: tuple[tuple[type[Exception], KenbunErrorKind], ...] = (
    (exceptions.NotAuthenticated, NOT_AUTHENTICATED),
    (exceptions.AuthenticationFailed, TOKEN_INVALID),
    (exceptions.PermissionDenied, NOT_PERMITTED),
    (exceptions.ParseError, MALFORMED_JSON),
    (exceptions.MethodNotAllowed, METHOD_NOT_ALLOWED),
    (exceptions.NotFound, NOT_FOUND),
    (Http404, NOT_FOUND),
)


def error_body(message: str) -> dict[str, str]:
    return {"status": "error", "message": message}


def kenbun_exception_handler(exc: Exception, context: dict[str, Any]) -> Response:
    """Every failure of a Kenbun view in Kenbun's shape, a crash included."""
    if not isinstance(exc, KenbunError):
        kind = None
        if isinstance(exc, bigin_errors.ApiError):
            kind = _FROM_BIGIN.get(exc.kind)
        else:
            kind = next((kind for exc_type, kind in _FROM_DRF if isinstance(exc, exc_type)), None)
        if kind is None:
            # A client mistake the shared boundary knows (body too large, too many fields, a
            # value out of range, a limit reached, any other DRF 4xx): its status, our shape.
            problem = boundary.problem_for_exception(exc)
            if problem is not None:
                return Response(
                    problem.body(boundary.KENBUN), status=problem.status, headers=problem.headers
                )
            logger.exception(
                "Unexpected failure in %s", context.get("view").__class__.__name__, exc_info=exc
            )
            kind = INTERNAL
        exc = kind()
    headers = {"WWW-Authenticate": "Bearer"} if exc.status_code == 401 else None
    return Response(error_body(exc.message), status=exc.status_code, headers=headers)


# --- bodies -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class OwnerChange:
    lead_ids: tuple[int, ...]  # distinct, in first-seen order
    new_owner: User | None  # None unassigns


def _object(body: Any, allowed: Iterable[str]) -> Mapping[str, Any]:
    if not isinstance(body, dict):
        raise BODY_NOT_OBJECT()
    for field in body:
        if field not in allowed:
            raise UNKNOWN_FIELD(field=field)
    return body


def parse_lead_ids(body: Mapping[str, Any]) -> tuple[int, ...]:
    if "lead_ids" not in body or body["lead_ids"] is None:
        raise LEAD_IDS_MISSING()
    raw_ids = body["lead_ids"]
    if not isinstance(raw_ids, list):
        raise LEAD_IDS_NOT_ARRAY()
    if not raw_ids:
        raise LEAD_IDS_EMPTY()
    if len(raw_ids) > MAX_LEAD_IDS:
        raise LEAD_IDS_TOO_MANY()
    lead_ids = []
    for index, value in enumerate(raw_ids):
        lead_id = parse_id(value)
        if lead_id is None:
            raise LEAD_ID_INVALID(index=index)
        lead_ids.append(lead_id)
    return tuple(dict.fromkeys(lead_ids))


def parse_new_owner(body: Mapping[str, Any], organization: Organization) -> User | None:
    """The owner the body names: None when `owner_id` is null or absent (unassign)."""
    raw_id, name = body.get("owner_id"), body.get("owner_name")
    if name is not None and not isinstance(name, str):
        raise OWNER_NAME_INVALID()
    if raw_id is None:
        if name is not None:
            raise OWNER_NAME_WITHOUT_ID()
        return None
    owner_id = parse_id(raw_id)
    if owner_id is None:
        raise OWNER_ID_INVALID()
    owner = organization_user(organization=organization, user_id=owner_id)
    if owner is None or not owner.is_active:
        raise OWNER_NOT_ACTIVE()
    if name is not None and name.strip().casefold() != owner.full_name.strip().casefold():
        raise OWNER_NAME_MISMATCH()
    return owner


def parse_assign(body: Any, *, lead_id: int, organization: Organization) -> OwnerChange:
    body = _object(body, ("owner_id", "owner_name"))
    return OwnerChange(lead_ids=(lead_id,), new_owner=parse_new_owner(body, organization))


def parse_bulk_assign(body: Any, *, organization: Organization) -> OwnerChange:
    body = _object(body, ("lead_ids", "owner_id", "owner_name"))
    lead_ids = parse_lead_ids(body)
    return OwnerChange(lead_ids=lead_ids, new_owner=parse_new_owner(body, organization))


def missing_leads_error(missing_ids: tuple[int, ...]) -> KenbunError:
    return LEADS_NOT_FOUND(ids=", ".join(str(lead_id) for lead_id in missing_ids))


# --- the list's query string --------------------------------------------------------------------


@dataclass(frozen=True)
class LeadsQuery:
    owner_id: int | None
    unassigned: bool
    owner_name: str | None
    page: int

    @property
    def offset(self) -> int:
        return (self.page - 1) * PER_PAGE


LIST_PARAMETERS = ("owner_id", "owner_name", "page")


def parse_leads_query(params: Mapping[str, str]) -> LeadsQuery:
    """`?owner_id=&owner_name=&page=`: an empty value is no filter; `owner_id=null` asks for the
    unassigned leads."""
    for name in params:
        if name not in LIST_PARAMETERS:
            raise UNKNOWN_PARAMETER(name=name)
    raw_owner = params.get("owner_id", "").strip()
    owner_id, unassigned = None, False
    if raw_owner.lower() == "null":
        unassigned = True
    elif raw_owner:
        owner_id = parse_id(raw_owner)
        if owner_id is None:
            raise OWNER_FILTER_INVALID()
    raw_page = params.get("page", "").strip()
    page = 1
    if raw_page:
        # Length first: int() of thousands of digits is slow, then refused by Python itself.
        digits = raw_page.isascii() and raw_page.isdigit() and len(raw_page) <= len(str(MAX_PAGE))
        if not digits or not 1 <= int(raw_page) <= MAX_PAGE:
            raise PAGE_INVALID()
        page = int(raw_page)
    owner_name = params.get("owner_name", "").strip() or None
    return LeadsQuery(owner_id=owner_id, unassigned=unassigned, owner_name=owner_name, page=page)


# --- the caller's notification preference -------------------------------------------------------

# Kenbun's preferences list event types; this service sends one alert, on owner assignment.
ASSIGNMENT_EVENT = "owner.assigned"


def parse_notification_prefs(body: Any) -> bool:
    """The assignment-alert preference a `PUT /me/notification-prefs` body sets: Kenbun's master
    toggle `notifications_enabled`, or `prefs` entries muting or unmuting `owner.assigned`."""
    body = _object(body, ("notifications_enabled", "prefs"))
    if "notifications_enabled" not in body and "prefs" not in body:
        raise PREFS_EMPTY()
    wanted = set()
    if "notifications_enabled" in body:
        if not isinstance(body["notifications_enabled"], bool):
            raise PREFS_ENABLED_INVALID()
        wanted.add(body["notifications_enabled"])
    if "prefs" in body:
        prefs = body["prefs"]
        if not isinstance(prefs, list):
            raise PREFS_NOT_ARRAY()
        for index, pref in enumerate(prefs):
            if not isinstance(pref, dict) or pref.get("event_type") != ASSIGNMENT_EVENT:
                raise PREFS_EVENT_INVALID(index=index, event_type=ASSIGNMENT_EVENT)
            if not isinstance(pref.get("muted"), bool):
                raise PREFS_MUTED_INVALID(index=index)
            wanted.add(not pref["muted"])
    if len(wanted) != 1:
        raise PREFS_DISAGREE()
    return wanted.pop()


def render_notification_prefs(enabled: bool) -> dict[str, Any]:
    return {
        "notifications_enabled": enabled,
        "slack_user_id": None,  # no Slack here: the alert is an email
        "prefs": [{"event_type": ASSIGNMENT_EVENT, "muted": not enabled}],
    }
