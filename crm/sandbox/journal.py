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

The client waits for none of it: `begin` notes the call as under way before it runs (on
PostgreSQL inside the token lookup the API makes anyway), `complete` writes its entry once the
server has sent the answer, and a read waits a moment for the calls under way, so that a client
reading the journal as soon as it has its answer finds that call in it.
"""

from __future__ import annotations

import functools
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


UNDER_WAY = "sandbox_call_under_way"  # crm migration 0016


@dataclass(frozen=True)
class Beginning:
    """A call under way: its entry's id and start time, as the SQL parameters of `begin_sql`
    before the organization's."""

    id: int
    params: list[Any]


def beginning(time: datetime) -> Beginning:
    entry_id = new_id()
    return Beginning(id=entry_id, params=[entry_id, _time(time)])


# On PostgreSQL each of the journal's statements is its own transaction, which does not wait for
# the disk at commit (`synchronous_commit` off for it alone, set inside the statement: no round
# trip more). An entry lost in a crash is a debugging aid lost, never data.
_NO_DISK_WAIT = "set_config('synchronous_commit', 'off', true) IS NOT NULL"


def begin_sql(organization: str = "%s", source: str = "") -> str:
    """The INSERT of a call under way: its parameters are the beginning's, then the
    organization's when `organization` is "%s" (else it is an SQL expression over `source`, a
    FROM item). Standing alone (`begin`) or inside the token lookup of the call
    (crm/sandbox/traffic.py), which then costs no round trip more."""
    insert = f"INSERT INTO {UNDER_WAY} (id, time, organization_id)"
    if connection.vendor != "postgresql":
        return f"{insert} VALUES (%s, %s, {organization})"
    from_source = f" FROM {source}" if source else ""
    return f"{insert} SELECT %s, %s, {organization}{from_source} WHERE {_NO_DISK_WAIT}"


def begin(organization_id: int, begun: Beginning) -> None:
    """Note a call under way before it runs (one statement)."""
    with server_binding_cursor() as cursor:
        cursor.execute(begin_sql(), [*begun.params, organization_id])


_written: defaultdict[int, int] = defaultdict(int)
_written_lock = threading.Lock()


def complete(
    *,
    organization_id: int,
    begun: Beginning,
    request: HttpRequest,
    body: bytes | None,
    response: HttpResponse | None,
    duration_ms: int,
    fault_id: int | None,
) -> None:
    """Keep one call (body None: not read, over the size limit; response None: the connection
    was dropped) and end it as a call under way, in one statement on PostgreSQL. Run after the
    answer has been sent (crm/sandbox/traffic.py), so the client waits for none of it; `read`
    waits for it instead."""
    if body is None:
        request_body, body_truncated = "(not read: over the body size limit)", True
    else:
        request_body, body_truncated = masked_text(body)
    response_body, response_truncated = "", False
    if response is not None and not response.streaming:
        response_body, response_truncated = masked_text(response.content)
    values = [
        *begun.params,
        organization_id,
        request.method or "",
        request.path,
        masked_query(request.META.get("QUERY_STRING", "")),
        json.dumps(request_headers(request)),
        request_body,
        body_truncated,
        response.status_code if response is not None else None,
        response_body,
        response_truncated,
        duration_ms,
        fault_id,
    ]
    with server_binding_cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(_complete_sql(), [begun.id, *values])
        else:
            # The entry first: a read sees the call under way or its entry, never neither.
            cursor.execute(_insert_sql(), values)
            cursor.execute(f"DELETE FROM {UNDER_WAY} WHERE id = %s", [begun.id])
    with _written_lock:
        _written[organization_id] += 1
        trim = _written[organization_id] % TRIM_EVERY == 0
    if trim:
        _trim(organization_id)


_COLUMNS = ("id", "time", "organization_id", "method", "path", "query", "headers", "body")
_COLUMNS += ("body_truncated", "status", "response_body", "response_truncated", "duration_ms")
_COLUMNS += ("fault",)


@functools.cache
def _insert_sql() -> str:
    columns = ", ".join(connection.ops.quote_name(column) for column in _COLUMNS)
    values = ", ".join("%s::jsonb" if column == "headers" else "%s" for column in _COLUMNS)
    if connection.vendor != "postgresql":
        values = ", ".join(["%s"] * len(_COLUMNS))
    return f"INSERT INTO {JournalEntry._meta.db_table} ({columns}) SELECT {values}"


@functools.cache
def _complete_sql() -> str:
    # Both writes in one statement and one transaction: the entry appears as the call stops
    # being under way.
    return (
        f"WITH ended AS (DELETE FROM {UNDER_WAY} WHERE id = %s) "
        + _insert_sql()
        + f" WHERE {_NO_DISK_WAIT}"
    )


def _newest_first(organization_id: int):
    return JournalEntry.objects.filter(organization_id=organization_id).order_by("-time", "-id")


def _trim(organization_id: int) -> None:
    """Older entries beyond CAPACITY go, and calls under way that never finished (their process
    was killed, or an error left them) once no call can still be running."""
    older = list(
        _newest_first(organization_id).values_list("id", flat=True)[CAPACITY : CAPACITY * 10]
    )
    if older:
        JournalEntry.objects.filter(id__in=older).delete()
    with connection.cursor() as cursor:
        cursor.execute(
            f"DELETE FROM {UNDER_WAY} WHERE organization_id = %s AND time < %s",
            [organization_id, _time(timezone.now() - UNDER_WAY_AT_MOST)],
        )


def _time(value: datetime) -> Any:
    return JournalEntry._meta.get_field("time").get_db_prep_value(value, connection)


# How long a read waits for calls under way, and for which: a call has answered within 60 s
# (gunicorn's worker timeout is 30 s, a fault's delay at most 20 s), so an older one never
# finished (its process was killed) and is not waited for.
ANSWER_WAIT_SECONDS = 1.0
UNDER_WAY_AT_MOST = timedelta(seconds=60)


def _wait_for_answers(organization_id: int) -> None:
    """A call's entry is written just after its answer has been sent (`complete`): a client that
    reads (or clears) the journal as soon as it has its answer may find it not written yet. Wait
    until no call of the organization begun before now is under way, for up to
    ANSWER_WAIT_SECONDS: a call that takes longer (a delay fault, a slow transfer) is left out of
    this read; calls begun since are not waited for."""
    deadline = clock.monotonic() + ANSWER_WAIT_SECONDS
    pause = 0.002
    now = timezone.now()
    sql = f"SELECT 1 FROM {UNDER_WAY} WHERE organization_id = %s AND time BETWEEN %s AND %s LIMIT 1"
    params = [organization_id, _time(now - UNDER_WAY_AT_MOST), _time(now)]
    with connection.cursor() as cursor:
        while True:
            cursor.execute(sql, params)
            if cursor.fetchone() is None or clock.monotonic() >= deadline:
                return
            clock.sleep(pause)
            pause = min(pause * 2, 0.05)


def forget(begun: Beginning) -> None:
    """A call under way that will have no entry (an error before its answer)."""
    with connection.cursor() as cursor:
        cursor.execute(f"DELETE FROM {UNDER_WAY} WHERE id = %s", [begun.id])


def forget_calls_under_way(organization_id: int) -> None:
    with connection.cursor() as cursor:
        cursor.execute(f"DELETE FROM {UNDER_WAY} WHERE organization_id = %s", [organization_id])


def read(
    organization_id: int, *, method: str | None, path: str | None, limit: int
) -> list[JournalEntry]:
    """The newest entries first, at most `limit` (itself at most CAPACITY); `path` as a fault
    rule's (exact, or a prefix when it ends with `*`)."""
    _wait_for_answers(organization_id)
    entries = _newest_first(organization_id)
    if method:
        entries = entries.filter(method=method.upper())
    if path and path.endswith("*"):
        entries = entries.filter(path__startswith=path[:-1])
    elif path:
        entries = entries.filter(path=path)
    return list(entries[:limit])


def clear(organization_id: int) -> int:
    """Delete the organization's entries, those of the calls that have just answered included
    (as `read` waits for them)."""
    _wait_for_answers(organization_id)
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
