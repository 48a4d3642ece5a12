"""The Bigin error envelope: one exception type, one table of the common errors, one handler.

Every error under /bigin/v2 answers `{"code", "details", "message", "status": "error"}`, Django's
own 404 and 500 included.
"""

from __future__ import annotations

import logging
import sys
from dataclasses import dataclass
from typing import Any

from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.views import defaults
from django.views.decorators.csrf import csrf_exempt
from rest_framework import exceptions
from rest_framework.response import Response

from . import boundary

logger = logging.getLogger(__name__)

API_PREFIXES = ("/bigin/v2/", "/crm/v8/")  # the two dialects (crm/dialects.py)


@dataclass(frozen=True)
class ErrorKind:
    """One row of an error table: HTTP status, Bigin code and message."""

    status: int
    code: str
    message: str

    def __call__(self, **details: Any) -> ApiError:
        return ApiError(self, details)

    def body(self, details: dict[str, Any] | None = None) -> dict[str, Any]:
        return {
            "code": self.code,
            "details": details or {},
            "message": self.message,
            "status": "error",
        }


class ApiError(exceptions.APIException):
    """A business-rule failure, rendered in the Bigin envelope."""

    def __init__(self, kind: ErrorKind, details: dict[str, Any] | None = None) -> None:
        super().__init__(kind.message)
        self.kind = kind
        self.status_code = kind.status
        self.details = details or {}

    def body(self) -> dict[str, Any]:
        return self.kind.body(self.details)


# The errors common to every /bigin/v2 endpoint (api-spec.md, "Common to every endpoint").
AUTHENTICATION_FAILURE = ErrorKind(401, "AUTHENTICATION_FAILURE", "Authentication failed")
INVALID_TOKEN = ErrorKind(401, "INVALID_TOKEN", "invalid oauth token")
OAUTH_SCOPE_MISMATCH = ErrorKind(
    401, "OAUTH_SCOPE_MISMATCH", "invalid oauth scope to access this URL"
)
INVALID_URL_PATTERN = ErrorKind(
    404, "INVALID_URL_PATTERN", "Please check if the URL trying to access is a correct one"
)
INVALID_REQUEST_METHOD = ErrorKind(
    405, "INVALID_REQUEST_METHOD", "The http request method type is not a valid one"
)
INVALID_MODULE = ErrorKind(400, "INVALID_MODULE", "the module name given seems to be invalid")
REQUIRED_PARAM_MISSING = ErrorKind(
    400, "REQUIRED_PARAM_MISSING", "One of the expected parameter is missing"
)
INVALID_BODY = ErrorKind(
    400, "INVALID_DATA", "either the request body or parameters is in wrong format"
)
NO_PERMISSION = ErrorKind(
    403, "NO_PERMISSION", "You do not have permission to perform this operation"
)
INTERNAL_ERROR = ErrorKind(500, "INTERNAL_ERROR", "Internal Server Error")
# A query parameter of a read API out of range or of the wrong type (ours: Bigin documents the
# code, not the details). Details name the parameter and what was expected, one of:
# {"param_name", "maximum": 200}, {"param_name", "expected_data_type": "integer" | "long"},
# {"param_name", "supported_values": [...]}.
INVALID_PARAMETER = ErrorKind(400, "INVALID_DATA", "invalid data")
# page_token (Zoho CRM v8's codes; the messages and details are ours): a token issued more than
# 24 hours ago {"param_name": "page_token"}; `page` and `page_token` in one request
# {"ambiguity_due_to": ["page", "page_token"]}. A token that is not one of ours for this list is
# INVALID_PARAMETER {"param_name": "page_token"}.
PAGE_TOKEN_EXPIRED = ErrorKind(400, "EXPIRED_VALUE", "the page token has expired")
PAGE_AND_PAGE_TOKEN = ErrorKind(
    400, "AMBIGUITY_DURING_PROCESSING", "page and page_token cannot be used together"
)

# DRF's own exceptions, as Bigin names them.
_DRF_EQUIVALENTS: tuple[tuple[type[Exception], ErrorKind], ...] = (
    (exceptions.NotAuthenticated, AUTHENTICATION_FAILURE),
    (exceptions.AuthenticationFailed, AUTHENTICATION_FAILURE),
    (exceptions.MethodNotAllowed, INVALID_REQUEST_METHOD),
    (exceptions.ParseError, INVALID_BODY),
    (exceptions.UnsupportedMediaType, INVALID_BODY),
    (exceptions.NotFound, INVALID_URL_PATTERN),
    (Http404, INVALID_URL_PATTERN),
    (exceptions.PermissionDenied, NO_PERMISSION),
)


def error_response(kind: ErrorKind, details: dict[str, Any] | None = None) -> Response:
    return Response(kind.body(details), status=kind.status)


def bigin_exception_handler(exc: Exception, context: dict[str, Any]) -> Response:
    """DRF's exception handler for the Bigin API: every failure in the envelope, even a crash.

    Client mistakes the boundary knows (crm/http/boundary.py) answer their 4xx in the envelope of
    the family the path belongs to (the token server's views use this handler too) and log
    nothing; only a real failure logs its traceback.
    """
    if isinstance(exc, ApiError):
        return Response(exc.body(), status=exc.status_code)
    for exc_type, kind in _DRF_EQUIVALENTS:
        if isinstance(exc, exc_type):
            return error_response(kind)
    request = context.get("request")
    family = boundary.family_of(request.path) if request is not None else boundary.BIGIN
    problem = boundary.problem_for_exception(exc)
    if problem is not None:
        return Response(problem.body(family), status=problem.status, headers=problem.headers)
    logger.exception(
        "Unexpected failure in %s", context.get("view").__class__.__name__, exc_info=exc
    )
    if family == boundary.OAUTH:
        return Response({"error": "server_error"}, status=500)
    return error_response(INTERNAL_ERROR)


def _is_api(request: HttpRequest) -> bool:
    return request.path.startswith(API_PREFIXES)


@csrf_exempt
def api_not_found(request: HttpRequest) -> HttpResponse:
    return JsonResponse(INVALID_URL_PATTERN.body(), status=404)


def page_not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    if _is_api(request):
        return JsonResponse(INVALID_URL_PATTERN.body(), status=404)
    return defaults.page_not_found(request, exception)


def server_error(request: HttpRequest) -> HttpResponse:
    # Django calls this while it handles the exception, so the exception is at hand: the
    # database unavailable outside a DRF view (a middleware, a plain view) answers its 503 too.
    family = boundary.family_of(request.path)
    if family is not None and sys.exc_info()[1] is not None:
        problem = boundary.problem_for_exception(sys.exc_info()[1])
        if problem is boundary.DATABASE_UNAVAILABLE:
            return boundary.problem_response(family, problem)
    if _is_api(request):
        return JsonResponse(INTERNAL_ERROR.body(), status=500)
    return defaults.server_error(request)
