"""The HTTP boundary every API family shares: whatever a client sends, it gets a 4xx in the
envelope of the family it addressed, never a 5xx, an HTML page or a traceback in the log.

Families, by path: `/bigin/...`, `/crm/...` and `/sandbox/...` answer Bigin's envelope
(`{"code", "details", "message", "status": "error"}`), `/leads...` Kenbun's
(`{"status": "error", "message"}`), `/oauth/...` the token server's
(`{"error", "error_description"}`).

Two layers:
- `BoundaryMiddleware` refuses, before any view runs, what can be seen on the request itself:
  a URL or headers over the limits, a NUL character in the path, query or body, too many query
  fields, a body over `API_MAX_BODY_BYTES` (by its Content-Length).
- `problem_for_exception` turns what a view can still raise on client input (Django's size and
  field limits, a value the database refuses, a recursion too deep, any DRF exception the
  family's handler does not name) into the same problems; each family's exception handler renders
  them and logs nothing. One problem is not the client's: the database unavailable, a 503 with
  `Retry-After` (logged as a warning, one line a request).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.core.exceptions import RequestDataTooBig, TooManyFieldsSent, TooManyFilesSent
from django.db import DataError
from django.http import HttpRequest, HttpResponse, JsonResponse
from rest_framework import exceptions
from rest_framework.negotiation import DefaultContentNegotiation

from crm.db_errors import database_unavailable

logger = logging.getLogger(__name__)

BIGIN, KENBUN, OAUTH = "bigin", "kenbun", "oauth"
WRONG_FORMAT = "either the request body or parameters is in wrong format"


def family_of(path: str) -> str | None:
    """The API family a path belongs to, or None outside the APIs (admin, docs, health)."""
    if path.startswith(("/bigin/", "/crm/", "/sandbox/")):
        return BIGIN
    # Kenbun's routes: /leads, /leads/..., /lead/{id} (its docs' spelling), /me/notification-prefs.
    if path == "/leads" or path.startswith(("/leads/", "/lead/", "/me/")):
        return KENBUN
    if path.startswith("/oauth/"):
        return OAUTH
    return None


@dataclass(frozen=True)
class Problem:
    """What a client is told about a request the service cannot take (its own mistake, or a
    moment to wait), with what each family says about it."""

    status: int
    code: str  # Bigin / Zoho CRM code
    message: str  # Bigin / Zoho CRM message
    kenbun_message: str
    details: dict[str, Any] = field(default_factory=dict)
    oauth_error: str = "invalid_request"
    retry_after: int | None = None

    def body(self, family: str | None) -> dict[str, Any]:
        if family == KENBUN:
            return {"status": "error", "message": self.kenbun_message}
        if family == OAUTH:
            return {"error": self.oauth_error, "error_description": self.kenbun_message}
        return {
            "code": self.code,
            "details": self.details,
            "message": self.message,
            "status": "error",
        }

    @property
    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.retry_after)} if self.retry_after is not None else {}


def body_too_large() -> Problem:
    limit = settings.API_MAX_BODY_BYTES
    return Problem(
        413,
        "LIMIT_EXCEEDED",
        "the request body is too large",
        f"request body must be at most {limit} bytes",
        {"max_body_bytes": limit},
    )


def too_many_fields() -> Problem:
    limit = settings.DATA_UPLOAD_MAX_NUMBER_FIELDS
    return Problem(
        400,
        "INVALID_DATA",
        WRONG_FORMAT,
        f"at most {limit} query or form parameters are allowed",
        {"max_fields": limit},
    )


NUL_CHARACTER = Problem(400, "INVALID_DATA", WRONG_FORMAT, "NUL characters are not allowed")
TOO_DEEP = Problem(400, "INVALID_DATA", WRONG_FORMAT, "request body is nested too deeply")
OUT_OF_RANGE = Problem(400, "INVALID_DATA", WRONG_FORMAT, "a value is out of range")


def url_too_long() -> Problem:
    limit = settings.API_MAX_URL_BYTES
    return Problem(
        414,
        "LIMIT_EXCEEDED",
        "the request URL is too long",
        f"request URL must be at most {limit} bytes",
        {"max_url_bytes": limit},
    )


def headers_too_large() -> Problem:
    fields, size = settings.API_MAX_HEADER_FIELDS, settings.API_MAX_HEADER_BYTES
    return Problem(
        431,
        "LIMIT_EXCEEDED",
        "the request headers are too large",
        f"at most {fields} headers of at most {size} bytes each are allowed",
        {"max_header_fields": fields, "max_header_bytes": size},
    )


# The database cannot answer now: PostgreSQL down or restarting, no connection to be had (at
# pgbouncer either), a deadlock, a statement cancelled, a connection lost whatever the driver
# calls the error (crm/db_errors.py). Nothing of the request was committed unless its
# transaction had already ended, and the same request may well succeed in a moment: 503 with
# Retry-After, RFC 6749's `temporarily_unavailable` on the token server, and a code of our own
# for Bigin, which documents no 503 (ours).
DATABASE_RETRY_AFTER_SECONDS = 5
UNAVAILABLE_MESSAGE = "the service is temporarily unavailable, try again later"
DATABASE_UNAVAILABLE = Problem(
    503,
    "SERVICE_UNAVAILABLE",
    UNAVAILABLE_MESSAGE,
    UNAVAILABLE_MESSAGE,
    oauth_error="temporarily_unavailable",
    retry_after=DATABASE_RETRY_AFTER_SECONDS,
)


# A DRF exception no family handler names, by its status (the status is kept).
_BY_STATUS = {
    400: ("INVALID_DATA", WRONG_FORMAT),
    401: ("AUTHENTICATION_FAILURE", "Authentication failed"),
    403: ("NO_PERMISSION", "You do not have permission to perform this operation"),
    404: ("INVALID_URL_PATTERN", "Please check if the URL trying to access is a correct one"),
    405: ("INVALID_REQUEST_METHOD", "The http request method type is not a valid one"),
    413: ("LIMIT_EXCEEDED", "the request body is too large"),
    415: ("INVALID_DATA", WRONG_FORMAT),
    429: ("TOO_MANY_REQUESTS", "Too many requests"),
}


def _drf_problem(exc: exceptions.APIException) -> Problem:
    status = exc.status_code if 400 <= exc.status_code < 500 else 400
    code, message = _BY_STATUS.get(status, ("INVALID_REQUEST", WRONG_FORMAT))
    detail = exc.detail if isinstance(exc.detail, str) else WRONG_FORMAT
    retry_after = None
    if isinstance(exc, exceptions.Throttled) and exc.wait is not None:
        retry_after = max(int(exc.wait + 0.999), 1)
    return Problem(status, code, message, str(detail), retry_after=retry_after)


def problem_for_exception(exc: Exception | None) -> Problem | None:
    """The problem behind an exception a view raised, or None for a real failure."""
    problem = getattr(exc, "problem", None)
    if isinstance(problem, Problem):
        return problem
    if exc is not None and database_unavailable(exc):
        # Not a bug of ours to trace, but operators must see it: one line, with the cause.
        logger.warning("database unavailable: %s", str(exc).strip() or type(exc).__name__)
        return DATABASE_UNAVAILABLE
    if isinstance(exc, RequestDataTooBig):
        return body_too_large()
    if isinstance(exc, TooManyFieldsSent | TooManyFilesSent):
        return too_many_fields()
    if isinstance(exc, RecursionError):
        return TOO_DEEP
    if isinstance(exc, DataError | OverflowError):
        # What the database (or SQLite's driver) refuses of a value the client sent: a number
        # out of range, a NUL character. Checks at the edge catch these first; this is the net.
        return OUT_OF_RANGE
    if isinstance(exc, exceptions.APIException):
        return _drf_problem(exc)
    return None


def client_address(request: HttpRequest) -> str:
    """The client's address: REMOTE_ADDR, or behind TRUSTED_PROXY_COUNT proxies the entry of
    X-Forwarded-For the nearest trusted proxy appended."""
    count = settings.TRUSTED_PROXY_COUNT
    if count:
        forwarded = [a.strip() for a in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")]
        if len(forwarded) >= count and forwarded[-count]:
            return forwarded[-count]
    return request.META.get("REMOTE_ADDR", "")


def problem_response(family: str | None, problem: Problem) -> HttpResponse:
    if family is None:
        return HttpResponse(problem.message, status=problem.status, content_type="text/plain")
    headers = problem.headers
    if family == OAUTH:
        headers = {**headers, "Cache-Control": "no-store", "Pragma": "no-cache"}
    return JsonResponse(problem.body(family), status=problem.status, headers=headers)


class IgnoreAcceptNegotiation(DefaultContentNegotiation):
    """An `Accept` the API cannot honour is ignored: the answer is JSON (api-spec.md)."""

    def select_renderer(self, request, renderers, format_suffix=None):
        try:
            return super().select_renderer(request, renderers, format_suffix)
        except exceptions.NotAcceptable:
            return renderers[0], renderers[0].media_type


_FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


def _body_has_nul(request: HttpRequest) -> bool:
    """A NUL in the body as its declared charset reads it (UTF-16 bodies are full of zero bytes):
    raw, escaped in a JSON string, or percent-encoded in a form."""
    body = request.body
    charset = request.content_params.get("charset") or "utf-8"
    try:
        text = body.decode(charset, errors="replace")
    except LookupError:
        text = body.decode("utf-8", errors="replace")  # the parser refuses the charset itself
    if "\x00" in text or "\\u0000" in text:
        return True
    # Percent-encoded in a form body (a JSON body may carry "%00" as plain text).
    is_form = request.META.get("CONTENT_TYPE", "").startswith(_FORM_TYPES)
    return is_form and text.lstrip()[:1] not in ("{", "[") and "%00" in text


def request_problem(request: HttpRequest) -> Problem | None:
    """What is wrong with the request itself, before any view reads it."""
    meta = request.META
    if len(meta.get("PATH_INFO", "")) + len(meta.get("QUERY_STRING", "")) > (
        settings.API_MAX_URL_BYTES
    ):
        return url_too_long()
    headers = [value for key, value in meta.items() if key.startswith("HTTP_")]
    if len(headers) > settings.API_MAX_HEADER_FIELDS or any(
        len(value) > settings.API_MAX_HEADER_BYTES for value in headers if isinstance(value, str)
    ):
        return headers_too_large()
    if "\x00" in request.path or "%00" in meta.get("QUERY_STRING", ""):
        return NUL_CHARACTER
    try:
        request.GET  # noqa: B018 (parses the query string, counting its fields)
    except TooManyFieldsSent:
        return too_many_fields()
    raw_length = meta.get("CONTENT_LENGTH") or "0"
    try:
        length = int(raw_length)
    except ValueError:
        return Problem(400, "INVALID_DATA", WRONG_FORMAT, "Content-Length is not a number")
    if length > settings.API_MAX_BODY_BYTES:
        return body_too_large()
    if length and request.method in ("POST", "PUT", "PATCH"):
        try:
            if _body_has_nul(request):
                return NUL_CHARACTER
        except RequestDataTooBig:
            return body_too_large()
    return None


class BoundaryMiddleware:
    """First in MIDDLEWARE: refuses a malformed or oversized request in its family's envelope."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        problem = request_problem(request)
        if problem is not None:
            return problem_response(family_of(request.path), problem)
        try:
            response = self.get_response(request)
        finally:
            release = getattr(request, "api_limits_release", None)
            if release is not None:
                release()
        allow = response.get("Allow")
        if allow and "OPTIONS" in allow:
            # DRF lists OPTIONS on every view, but OPTIONS answers 405 here (no metadata).
            methods = [m.strip() for m in allow.split(",") if m.strip() != "OPTIONS"]
            response["Allow"] = ", ".join(methods)
        return response
