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
"""

from __future__ import annotations

import json
import threading
from collections import defaultdict
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, urlencode

from django.db import connection
from django.http import HttpRequest, HttpResponse

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


_written: defaultdict[int, int] = defaultdict(int)
_written_lock = threading.Lock()


def record(
    *,
    organization_id: int,
    request: HttpRequest,
    time: datetime,
    body: bytes | None,
    response: HttpResponse | None,
    duration_ms: int,
    fault_id: int | None,
) -> None:
    """Keep one call (response None: the connection was dropped)."""
    if body is None:
        request_body, body_truncated = "(not read: over the body size limit)", True
    else:
        request_body, body_truncated = masked_text(body)
    response_body, response_truncated = "", False
    if response is not None and not response.streaming:
        response_body, response_truncated = masked_text(response.content)
    _insert(
        id=new_id(),
        organization_id=organization_id,
        time=time,
        method=request.method or "",
        path=request.path,
        query=masked_query(request.META.get("QUERY_STRING", "")),
        headers=json.dumps(request_headers(request)),
        body=request_body,
        body_truncated=body_truncated,
        status=response.status_code if response is not None else None,
        response_body=response_body,
        response_truncated=response_truncated,
        duration_ms=duration_ms,
        fault=fault_id,
    )
    with _written_lock:
        _written[organization_id] += 1
        trim = _written[organization_id] % TRIM_EVERY == 0
    if trim:
        _trim(organization_id)


_COLUMNS = [field.column for field in JournalEntry._meta.concrete_fields]


def _insert_sql() -> str:
    columns = ", ".join(connection.ops.quote_name(column) for column in _COLUMNS)
    table = JournalEntry._meta.db_table
    if connection.vendor == "postgresql":
        selected = ", ".join("%s::jsonb" if column == "headers" else "%s" for column in _COLUMNS)
        return (
            f"INSERT INTO {table} ({columns}) SELECT {selected}"
            " WHERE set_config('synchronous_commit', 'off', true) IS NOT NULL"
        )
    return f"INSERT INTO {table} ({columns}) VALUES ({', '.join(['%s'] * len(_COLUMNS))})"


_INSERT: dict[str, str] = {}  # by database vendor


def _insert(**values: Any) -> None:
    """One row, by hand and in one statement: the ORM's INSERT costs more than the row on every
    journaled call. On PostgreSQL the statement's own transaction does not wait for the disk at
    commit (`synchronous_commit` off for it alone, set inside the statement: no extra round
    trip): a journal entry lost in a crash is a debugging aid lost, never data."""
    sql = _INSERT.get(connection.vendor) or _INSERT.setdefault(connection.vendor, _insert_sql())
    with connection.cursor() as cursor:
        cursor.execute(sql, [_adapt(column, values[column]) for column in _COLUMNS])


def _adapt(column: str, value: Any) -> Any:
    if column == "time":
        return JournalEntry._meta.get_field("time").get_db_prep_value(value, connection)
    return value


def _newest_first(organization_id: int):
    return JournalEntry.objects.filter(organization_id=organization_id).order_by("-time", "-id")


def _trim(organization_id: int) -> None:
    older = list(
        _newest_first(organization_id).values_list("id", flat=True)[CAPACITY : CAPACITY * 10]
    )
    if older:
        JournalEntry.objects.filter(id__in=older).delete()


def read(
    organization_id: int, *, method: str | None, path: str | None, limit: int
) -> list[JournalEntry]:
    """The newest entries first, at most `limit` (itself at most CAPACITY); `path` as a fault
    rule's (exact, or a prefix when it ends with `*`)."""
    entries = _newest_first(organization_id)
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
