"""Fault rules: what an organization's next matching calls get instead of their answer
(docs/sandbox.md, "Faults"), in the manner of WireMock's faults and LocalStack's chaos API.

A rule matches a method and a path (exact, or a prefix when it ends with `*`), and answers one of:

- `{"status", "code"?, "message"?, "details"?, "retry_after"?}`: that error in the envelope of
  the API family the path belongs to (Bigin's, Kenbun's or the token server's), with a
  `Retry-After` header when `retry_after` is given (a 429 always has one: 1 unless given);
- `{"delay_ms"}`: the call waits that long, then runs as usual;
- `{"drop": true}`: the connection is closed without an answer. That needs the client's socket,
  which gunicorn hands the application (`make sandbox`, production) and Django's development
  server (`make run`) does not: there the rule is refused with NOT_SUPPORTED.

`times` limits how many calls a rule answers (claimed one at a time by a conditional UPDATE, so
two processes never both take its last one); `probability` makes it answer that share of the
calls it matches. Of the rules that match a call, the oldest that fires answers it; at most one
rule applies to a call.
"""

from __future__ import annotations

import contextlib
import random
import socket
from typing import Any

from django.db.models import F
from django.http import HttpRequest, HttpResponse

from crm.http import boundary
from crm.representations import bigin_time

from .errors import (
    EXPECTED_FIELD_MISSING,
    INVALID_FIELD,
    MANDATORY_NOT_FOUND,
    NOT_SUPPORTED,
    invalid,
    text,
)
from .models import Fault

MAX_DELAY_MS = 20_000  # below gunicorn's worker timeout (30 s), which would kill the worker
MAX_TIMES = 1_000_000
MAX_RETRY_AFTER = 86_400
METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
KINDS = ("status", "delay_ms", "drop")
STATUS_KEYS = ("status", "code", "message", "details", "retry_after")
# The code and message an injected status answers unless the rule gives them: the service's own
# answers for that status (docs/errors.md).
ANSWERS = {
    400: ("INVALID_DATA", "either the request body or parameters is in wrong format"),
    401: ("INVALID_TOKEN", "invalid oauth token"),
    403: ("NO_PERMISSION", "You do not have permission to perform this operation"),
    404: ("INVALID_URL_PATTERN", "Please check if the URL trying to access is a correct one"),
    429: ("TOO_MANY_REQUESTS", "Too many requests"),
}
SERVER_ERROR = ("INTERNAL_ERROR", "Internal Server Error")
CLIENT_ERROR = ANSWERS[400]


def drop_supported(request: HttpRequest) -> bool:
    """Whether this server lets the application close the client's connection."""
    return isinstance(request.META.get("gunicorn.socket"), socket.socket)


def _object(value: Any, api_name: str, json_path: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise invalid(api_name, json_path, expected_data_type="jsonobject")
    return value


def _integer(value: Any, api_name: str, json_path: str, minimum: int, maximum: int) -> int:
    if type(value) is not int:
        raise invalid(api_name, json_path, expected_data_type="integer")
    if not minimum <= value <= maximum:
        raise invalid(api_name, json_path, minimum=minimum, maximum=maximum)
    return value


def _match(body: dict[str, Any]) -> tuple[str, str]:
    match = body.get("match")
    if match is None:
        return "", ""
    match = _object(match, "match", "$.match")
    method = match.get("method")
    if method is not None:
        if not isinstance(method, str) or method.upper() not in METHODS:
            raise invalid("method", "$.match.method", supported_values=list(METHODS))
        method = method.upper()
    path = match.get("path")
    if path is not None and (
        not isinstance(path, str) or not path.startswith("/") or len(path) > 2000
    ):
        raise invalid("path", "$.match.path", expected_data_type="string", reason="a path from /")
    return method or "", path or ""


def _status_response(response: dict[str, Any]) -> dict[str, Any]:
    status = _integer(response["status"], "status", "$.response.status", 400, 599)
    default_code, default_message = ANSWERS.get(
        status, SERVER_ERROR if status >= 500 else CLIENT_ERROR
    )
    code = text(response, "code", max_length=100, parent="$.response") or default_code
    message = text(response, "message", max_length=1000, parent="$.response")
    if message is None:
        message = default_message if code == default_code else code.replace("_", " ").lower()
    details = response.get("details", {})
    details = _object(details, "details", "$.response.details")
    retry_after = response.get("retry_after")
    if retry_after is not None:
        retry_after = _integer(
            retry_after, "retry_after", "$.response.retry_after", 0, MAX_RETRY_AFTER
        )
    elif status == 429:
        retry_after = 1
    return {
        "status": status,
        "code": code,
        "message": message,
        "details": details,
        "retry_after": retry_after,
    }


def _response(body: dict[str, Any], *, can_drop: bool) -> dict[str, Any]:
    if body.get("response") is None:
        raise MANDATORY_NOT_FOUND(api_name="response", json_path="$.response")
    response = _object(body["response"], "response", "$.response")
    kinds = [kind for kind in KINDS if kind in response]
    if not kinds:
        raise EXPECTED_FIELD_MISSING(
            expected_fields=[
                {"api_name": kind, "json_path": f"$.response.{kind}"} for kind in KINDS
            ]
        )
    if len(kinds) > 1:
        raise invalid("response", "$.response", reason="one of status, delay_ms and drop")
    kind = kinds[0]
    if kind == "status":
        unknown = sorted(set(response) - set(STATUS_KEYS))
        if unknown:
            raise NOT_SUPPORTED(api_name=unknown[0], json_path=f"$.response.{unknown[0]}")
        return _status_response(response)
    if len(response) > 1:
        other = sorted(set(response) - {kind})[0]
        raise NOT_SUPPORTED(api_name=other, json_path=f"$.response.{other}")
    if kind == "delay_ms":
        return {
            "delay_ms": _integer(
                response["delay_ms"], "delay_ms", "$.response.delay_ms", 1, MAX_DELAY_MS
            )
        }
    if response["drop"] is not True:
        raise invalid("drop", "$.response.drop", supported_values=[True])
    if not can_drop:
        raise NOT_SUPPORTED(
            api_name="drop",
            json_path="$.response.drop",
            reason="this server cannot close a connection: serve with gunicorn (make sandbox)",
        )
    return {"drop": True}


def parse(body: dict[str, Any], *, can_drop: bool) -> dict[str, Any]:
    """A rule's fields from a request body, or the ApiError that names the first mistake."""
    method, path = _match(body)
    response = _response(body, can_drop=can_drop)
    times = body.get("times")
    if times is not None:
        times = _integer(times, "times", "$.times", 1, MAX_TIMES)
    probability = body.get("probability", 1)
    if (
        isinstance(probability, bool)
        or not isinstance(probability, int | float)
        or not 0 < probability <= 1
    ):
        raise INVALID_FIELD(
            api_name="probability",
            json_path="$.probability",
            exclusive_minimum=0,
            maximum=1,
        )
    return {
        "method": method,
        "path": path,
        "response": response,
        "times": times,
        "remaining": times,
        "probability": float(probability),
    }


def representation(fault: Fault) -> dict[str, Any]:
    return {
        "id": str(fault.id),
        "match": {"method": fault.method or None, "path": fault.path or None},
        "response": fault.response,
        "times": fault.times,
        "remaining": fault.remaining,
        "probability": fault.probability,
        "applied": fault.applied,
        "created_time": bigin_time(fault.created_time),
    }


def path_matches(pattern: str, path: str) -> bool:
    if not pattern:
        return True
    if pattern.endswith("*"):
        return path.startswith(pattern[:-1])
    return path == pattern


def _claim(fault: Fault) -> bool:
    """Take one of the rule's calls: a conditional UPDATE, so of two processes racing for its
    last one only one gets it."""
    rows = Fault.objects.filter(id=fault.id)
    if fault.times is not None:
        rows = rows.filter(remaining__gt=0)
        changes = {"remaining": F("remaining") - 1, "applied": F("applied") + 1}
    else:
        changes = {"applied": F("applied") + 1}
    return rows.update(**changes) == 1


def choose(rules: list[Fault], method: str, path: str) -> Fault | None:
    """The rule that answers this call, if any (the oldest that matches and fires)."""
    for rule in rules:
        if rule.method and rule.method != method:
            continue
        if not path_matches(rule.path, path):
            continue
        if rule.times is not None and not rule.remaining:
            continue
        if rule.probability < 1 and random.random() >= rule.probability:
            continue
        if _claim(rule):
            return rule
    return None


def answer(rule: Fault, family: str) -> HttpResponse:
    """The injected error of a `status` rule, in the family's envelope."""
    response = rule.response
    problem = boundary.Problem(
        status=response["status"],
        code=response["code"],
        message=response["message"],
        kenbun_message=response["message"],
        details=response["details"],
        oauth_error=response["code"].lower(),
        retry_after=response["retry_after"],
    )
    return boundary.problem_response(family, problem)


def drop(request: HttpRequest) -> None:
    """Close the client's connection: it reads no answer at all (the server's own attempt to
    write one then fails quietly)."""
    client = request.META["gunicorn.socket"]
    with contextlib.suppress(OSError):
        client.shutdown(socket.SHUT_RDWR)
