"""The request journal: what an organization's client actually sent, and what it got (WireMock's
request journal, for Bigin). docs/sandbox.md, "The journal".

Every API call the sandbox can tie to an organization (by its access token, or on the token
server by its client id or token) is kept: time, method, path, query, headers, body, status,
response body. Secrets never reach the table: the Authorization header keeps its scheme and the
token's last four characters, and fields that carry a secret (tokens, grant codes, client
secrets, passwords) are masked the same way wherever they appear in a query, a form or JSON
body, or a JSON answer. Bodies are cut at `MAX_BODY_BYTES`. At most `CAPACITY` entries are kept
per organization: reads never show more, and older ones are deleted every `TRIM_EVERY` entries a
process writes for it.

An entry is written in two steps, neither of which the client waits for beyond what its call
costs anyway: `begin` (the request, before the call runs; on PostgreSQL inside the token lookup
the API makes anyway) and `complete` (the answer, once the server has sent it). A read leaves
out the calls still under way, after waiting a moment for those that have just answered.
"""

from __future__ import annotations

import json
import threading
import time as clock
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl, urlencode

from django.db import connection
from django.http import HttpRequest, HttpResponse
from django.utils import timezone

from crm.db_cursors import server_binding_cursor
from crm.ids import new_id

from .models import JournalEntry

CAPACITY = 1_000
MAX_BODY_BYTES = 64 * 1024
TRIM_EVERY = 50
MASK = "****"
SECRET_HEADERS = frozenset({"authorization", "proxy-authorization", "cookie", "x-sandbox-key"})
SECRET_FIELDS = frozenset(
    {
        "access_token",
        "refresh_token",
        "client_secret",
        "grant_token",
        "token",
        "password",
        "id_token",
    }
)
# In a query or form (the token endpoint's grant code) but not in JSON, where Bigin's `code` is
# an answer's code ("SUCCESS").
FORM_SECRET_FIELDS = SECRET_FIELDS | {"code"}
# The request headers kept besides the HTTP_* ones.
PLAIN_HEADERS = {"CONTENT_TYPE": "Content-Type", "CONTENT_LENGTH": "Content-Length"}


def masked(secret: str) -> str:
    """A secret as the journal shows it: its last four characters, if it is long enough that
    they give nothing away."""
    return MASK + secret[-4:] if len(secret) >= 16 else MASK


def _header_value(name: str, value: str) -> str:
    if name.lower() not in SECRET_HEADERS:
        return value
    scheme, _, credentials = value.partition(" ")
    if name.lower() == "authorization" and credentials:
        return f"{scheme} {masked(credentials.strip())}"
    return masked(value)


def request_headers(request: HttpRequest) -> dict[str, str]:
    headers = {}
    for key, value in request.META.items():
        if key.startswith("HTTP_"):
            name = key[5:].replace("_", "-").title()
        elif key in PLAIN_HEADERS and value:
            name = PLAIN_HEADERS[key]
        else:
            continue
        headers[name] = _header_value(name, str(value))
    return headers


def _mask_json(value: Any) -> Any:
    if isinstance(value, dict):
        return {
            key: masked(item)
            if key.lower() in SECRET_FIELDS and isinstance(item, str)
            else _mask_json(item)
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [_mask_json(item) for item in value]
    return value


def _mask_pairs(text: str) -> str | None:
    """A query or form body with its secret fields masked; None when it is not one."""
    if "=" not in text or any(character in text for character in " \n{["):
        return None
    pairs = parse_qsl(text, keep_blank_values=True)
    if not any(key.lower() in FORM_SECRET_FIELDS for key, _ in pairs):
        return text
    return urlencode(
        [
            (key, masked(value) if key.lower() in FORM_SECRET_FIELDS else value)
            for key, value in pairs
        ]
    )


def _may_hold_a_secret(text: str) -> bool:
    """Whether a secret field's name appears at all: most bodies are parsed for nothing else
    (Bigin's answers all say "code", which is a secret in a form only)."""
    lowered = text.lower()
    names = SECRET_FIELDS if lowered.lstrip()[:1] in ("{", "[") else FORM_SECRET_FIELDS
    return any(name in lowered for name in names)


def masked_text(raw: bytes) -> tuple[str, bool]:
    """A body as the journal keeps it: text, secrets masked, cut at MAX_BODY_BYTES (and whether
    it was cut)."""
    text = raw.decode("utf-8", errors="replace")
    if _may_hold_a_secret(text):
        try:
            parsed = json.loads(text)
        except ValueError:
            pairs = _mask_pairs(text.strip())
            text = pairs if pairs is not None else text
        else:
            hidden = _mask_json(parsed)
            if hidden != parsed:  # else kept as sent, byte for byte
                text = json.dumps(hidden, ensure_ascii=False)
    data = text.encode()
    if len(data) <= MAX_BODY_BYTES:
        return text, False
    return data[:MAX_BODY_BYTES].decode("utf-8", errors="ignore"), True


def masked_query(query: str) -> str:
    pairs = _mask_pairs(query) if query else None
    return pairs if pairs is not None else query


@dataclass(frozen=True)
class Beginning:
    """A call's entry as far as its request goes: `values` in _BEGUN's order after the id and the
    organization."""

    id: int
    values: list[Any]


def beginning(request: HttpRequest, time: datetime, body: bytes | None) -> Beginning:
    """The request half of a call's entry (body None: not read, over the size limit)."""
    if body is None:
        request_body, body_truncated = "(not read: over the body size limit)", True
    else:
        request_body, body_truncated = masked_text(body)
    return Beginning(
        id=new_id(),
        values=[
            JournalEntry._meta.get_field("time").get_db_prep_value(time, connection),
            request.method or "",
            request.path,
            masked_query(request.META.get("QUERY_STRING", "")),
            json.dumps(request_headers(request)),
            request_body,
            body_truncated,
        ],
    )


# What `begin` writes: the request, and an answer still to come.
_BEGUN = ("id", "organization_id", "time", "method", "path", "query", "headers", "body")
_BEGUN += ("body_truncated", "status", "response_body", "response_truncated", "duration_ms")
_BEGUN += ("fault", "complete")
_NO_ANSWER_YET = "NULL, '', false, 0, NULL, false"
# On PostgreSQL each of the journal's statements is its own transaction, which does not wait for
# the disk at commit (`synchronous_commit` off for it alone, set inside the statement: no round
# trip more). An entry lost in a crash is a debugging aid lost, never data.
_NO_DISK_WAIT = "set_config('synchronous_commit', 'off', true) IS NOT NULL"


def begin_sql(organization: str = "%s", source: str = "") -> str:
    """The INSERT of a beginning; its parameters are the id, the organization's when
    `organization` is "%s" (else an SQL expression over `source`, a FROM item), and the
    beginning's values. Standing alone (`begin`) or inside the token lookup of the call
    (crm/sandbox/traffic.py), which then costs no round trip more."""
    table = JournalEntry._meta.db_table
    columns = ", ".join(connection.ops.quote_name(column) for column in _BEGUN)
    if connection.vendor != "postgresql":
        return f"INSERT INTO {table} ({columns}) VALUES ({'%s, ' * 9}{_NO_ANSWER_YET})"
    return (
        f"INSERT INTO {table} ({columns})"
        f" SELECT %s, {organization}, %s, %s, %s, %s, %s::jsonb, %s, %s, {_NO_ANSWER_YET}"
        + (f" FROM {source}" if source else "")
        + f" WHERE {_NO_DISK_WAIT}"
    )


def begin(organization_id: int, begun: Beginning) -> None:
    """Write a call's entry before the call runs (one statement); `complete` ends it."""
    with server_binding_cursor() as cursor:
        cursor.execute(begin_sql(), [begun.id, organization_id, *begun.values])


_written: defaultdict[int, int] = defaultdict(int)
_written_lock = threading.Lock()


def complete(
    *,
    organization_id: int,
    entry_id: int,
    response: HttpResponse | None,
    duration_ms: int,
    fault_id: int | None,
) -> None:
    """Write a call's answer into its entry (response None: the connection was dropped). Run
    after the answer has been sent (crm/sandbox/traffic.py), so the client does not wait for it;
    `read` waits for it instead."""
    response_body, response_truncated = "", False
    if response is not None and not response.streaming:
        response_body, response_truncated = masked_text(response.content)
    sql = _COMPLETE.get(connection.vendor) or _COMPLETE.setdefault(
        connection.vendor, _complete_sql()
    )
    with server_binding_cursor() as cursor:
        cursor.execute(
            sql,
            [
                response.status_code if response is not None else None,
                response_body,
                response_truncated,
                duration_ms,
                fault_id,
                entry_id,
            ],
        )
    with _written_lock:
        _written[organization_id] += 1
        trim = _written[organization_id] % TRIM_EVERY == 0
    if trim:
        _trim(organization_id)


def _complete_sql() -> str:
    table = JournalEntry._meta.db_table
    sql = (
        f"UPDATE {table} SET status = %s, response_body = %s, response_truncated = %s,"
        " duration_ms = %s, fault = %s, complete = true WHERE id = %s"
    )
    return sql + f" AND {_NO_DISK_WAIT}" if connection.vendor == "postgresql" else sql


_COMPLETE: dict[str, str] = {}  # by database vendor


def _newest_first(organization_id: int):
    return JournalEntry.objects.filter(organization_id=organization_id).order_by("-time", "-id")


def _trim(organization_id: int) -> None:
    older = list(
        _newest_first(organization_id).values_list("id", flat=True)[CAPACITY : CAPACITY * 10]
    )
    if older:
        JournalEntry.objects.filter(id__in=older).delete()


# How long a read waits for the entries of calls still under way, and for which: a call has
# answered within 60 s (gunicorn's worker timeout is 30 s, a fault's delay at most 20 s), so an
# older entry never completed (its process was killed) and is not waited for.
ANSWER_WAIT_SECONDS = 1.0
UNDER_WAY_AT_MOST = timedelta(seconds=60)


def _wait_for_answers(organization_id: int) -> None:
    """A call's answer is written into its entry just after it has been sent (`complete`): a
    client that reads the journal as soon as it has its answer may find it not written yet. Wait
    until no call of the organization is under way, for up to ANSWER_WAIT_SECONDS: a call that
    takes longer (a delay fault, a slow transfer) is left out of this read."""
    deadline = clock.monotonic() + ANSWER_WAIT_SECONDS
    pause = 0.002
    under_way = JournalEntry.objects.filter(organization_id=organization_id, complete=False)
    while (
        under_way.filter(time__gte=timezone.now() - UNDER_WAY_AT_MOST).exists()
        and clock.monotonic() < deadline
    ):
        clock.sleep(pause)
        pause = min(pause * 2, 0.05)


def read(
    organization_id: int, *, method: str | None, path: str | None, limit: int
) -> list[JournalEntry]:
    """The newest entries of calls that have answered first, at most `limit` (itself at most
    CAPACITY); `path` as a fault rule's (exact, or a prefix when it ends with `*`)."""
    _wait_for_answers(organization_id)
    entries = _newest_first(organization_id).filter(complete=True)
    if method:
        entries = entries.filter(method=method.upper())
    if path and path.endswith("*"):
        entries = entries.filter(path__startswith=path[:-1])
    elif path:
        entries = entries.filter(path=path)
    return list(entries[:limit])


def clear(organization_id: int) -> int:
    return JournalEntry.objects.filter(organization_id=organization_id).delete()[0]


def representation(entry: JournalEntry) -> dict[str, Any]:
    return {
        "id": str(entry.id),
        "time": entry.time.astimezone(UTC).isoformat(timespec="milliseconds"),
        "method": entry.method,
        "path": entry.path,
        "query": entry.query,
        "headers": entry.headers,
        "body": entry.body,
        "body_truncated": entry.body_truncated,
        "status": entry.status,
        "response_body": entry.response_body,
        "response_truncated": entry.response_truncated,
        "duration_ms": entry.duration_ms,
        "fault_id": str(entry.fault) if entry.fault is not None else None,
    }
