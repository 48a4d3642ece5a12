"""The `Idempotency-Key` header on the write endpoints (ours; owners/idempotency.py keeps the
keys): `@idempotent` on a view's handler, under DRF's `@action` where there is one.

Without the header a handler runs as before, with no query more. With it, the handler runs once
per key and organization; a repeat gets the stored answer with `Idempotent-Replayed: true`.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from drf_spectacular.utils import OpenApiParameter
from rest_framework.request import Request
from rest_framework.response import Response

from crm.http.errors import ErrorKind
from owners import idempotency

HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
IN_FLIGHT_RETRY_AFTER_SECONDS = 1

KEY_REUSED = ErrorKind(400, "INVALID_DATA", "the Idempotency-Key was used for another request")
KEY_INVALID = ErrorKind(400, "INVALID_DATA", "the Idempotency-Key header is invalid")
KEY_IN_FLIGHT = ErrorKind(
    409, "REQUEST_IN_PROGRESS", "a request with this Idempotency-Key is still running"
)

PARAMETER = OpenApiParameter(
    HEADER,
    str,
    OpenApiParameter.HEADER,
    required=False,
    description=(
        "(ours) Any string of up to 255 printable ASCII characters. The same key and request "
        "within 24 hours answer the first answer again, without doing anything twice; the same "
        "key with another request answers 400. See docs/idempotency.md."
    ),
)

# Headers of an answer that a replay sends again (DRF and Django add the rest when rendering).
_NOT_REPLAYED = {"content-type", "content-length", "vary", "allow"}


def _valid(key: str) -> bool:
    return 0 < len(key) <= idempotency.MAX_KEY_LENGTH and all(" " <= c <= "~" for c in key)


def idempotent(handler: Callable[..., Response]) -> Callable[..., Response]:
    @functools.wraps(handler)
    def wrapper(view: Any, request: Request, *args: Any, **kwargs: Any) -> Response:
        key = request.headers.get(HEADER)
        if key is None:
            return handler(view, request, *args, **kwargs)
        details = {"header_name": HEADER}
        if not _valid(key):
            body = KEY_INVALID.body({**details, "maximum_length": idempotency.MAX_KEY_LENGTH})
            return Response(body, status=KEY_INVALID.status)
        begun = idempotency.begin(
            organization_id=request.user.organization_id,
            key=key,
            request_fingerprint=idempotency.fingerprint(
                method=request.method,
                path=request.path,
                query=request.META.get("QUERY_STRING", ""),
                body=request.body,
            ),
        )
        if begun.mismatch:
            return Response(KEY_REUSED.body(details), status=KEY_REUSED.status)
        if begun.in_flight:
            return Response(
                KEY_IN_FLIGHT.body(details),
                status=KEY_IN_FLIGHT.status,
                headers={"Retry-After": str(IN_FLIGHT_RETRY_AFTER_SECONDS)},
            )
        if begun.replay is not None:
            stored = begun.replay
            return Response(
                stored.body,
                status=stored.status_code,
                headers={**stored.headers, REPLAYED_HEADER: "true"},
            )
        try:
            response = handler(view, request, *args, **kwargs)
        except BaseException:
            idempotency.abandon(begun.key_id)
            raise
        headers = {
            name: value for name, value in response.items() if name.lower() not in _NOT_REPLAYED
        }
        idempotency.finish(
            begun.key_id,
            status_code=response.status_code,
            body=response.data,
            headers=headers,
        )
        return response

    return wrapper
