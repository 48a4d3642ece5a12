"""`page_token`: Zoho CRM v8's cursor for lists, keyset underneath.

Zoho CRM v8 answers every list page with `info.next_page_token` (null on the last page) and
`info.page_token_expiry`; a client passes the token back as `page_token` to get the next page,
and it works for 24 hours. Zoho needs it past the first 2,000 records; here `page` keeps working
at any depth (it costs what its OFFSET costs), and the token is the cheap way down.

The token is opaque to clients and signed: it carries what the list was (organization, module,
sort, filter: its `scope`), the sort key of the last row of the page it came with (the column's
value and the id), the number of the next page and when it was issued. The next page is then
`WHERE (sort column, id) > (that key) ORDER BY sort column, id LIMIT per_page + 1`: one index
range scan, whatever the depth, where `OFFSET` reads and drops every row before the page.
A token of another list, a forged or truncated one, is invalid; an old one has expired.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from django.core import signing
from django.db.models import Q

PAGE_TOKEN_TTL = timedelta(hours=24)
_SALT = "crm.paging.page_token"
_VERSION = 1


class PageTokenInvalid(Exception):
    """Not a token this service issued for this list."""


class PageTokenExpired(Exception):
    """Issued more than PAGE_TOKEN_TTL ago."""


@dataclass(frozen=True)
class Cursor:
    """Where the next page starts: after the row whose sort key is `after`, page `page`."""

    after: tuple[Any, ...]
    page: int


def encode(scope: str, after: Sequence[Any], page: int, *, issued: float | None = None):
    """(token, expiry) for the page after the row with sort key `after`; `issued` (epoch seconds,
    default now) is for tests that need an old token."""
    issued = int(time.time() if issued is None else issued)
    values = [value.isoformat() if isinstance(value, datetime) else value for value in after]
    token = signing.dumps([_VERSION, scope, values, page, issued], salt=_SALT, compress=True)
    return token, datetime.fromtimestamp(issued, UTC) + PAGE_TOKEN_TTL


def decode(token: str, scope: str, *, datetime_positions: Sequence[int] = ()) -> Cursor:
    """The cursor of a token issued for `scope`; raises PageTokenInvalid or PageTokenExpired.

    `datetime_positions` are the indexes of `after` that hold datetimes (sent as ISO text)."""
    try:
        version, token_scope, values, page, issued = signing.loads(token, salt=_SALT)
    except (signing.BadSignature, ValueError, TypeError):
        raise PageTokenInvalid() from None
    if version != _VERSION or token_scope != scope or not isinstance(values, list):
        raise PageTokenInvalid()
    if time.time() - issued > PAGE_TOKEN_TTL.total_seconds():
        raise PageTokenExpired()
    try:
        after = tuple(
            datetime.fromisoformat(value) if n in datetime_positions else int(value)
            for n, value in enumerate(values)
        )
    except (TypeError, ValueError):
        raise PageTokenInvalid() from None
    return Cursor(after=after, page=int(page))


def after_condition(columns: Sequence[str], after: Sequence[Any], *, descending: bool) -> Q:
    """`(c1, c2, ...) > (v1, v2, ...)` (or `<` when descending) as an ORM condition, spelt out
    as `c1 > v1 OR (c1 = v1 AND (c2 > v2 ...))` so SQLite runs it too. With the id alone it is
    `id > v`, which PostgreSQL answers as an index range."""
    lookup = "lt" if descending else "gt"
    condition = Q(**{f"{columns[-1]}__{lookup}": after[-1]})
    for column, value in reversed(list(zip(columns[:-1], after[:-1], strict=True))):
        condition = Q(**{f"{column}__{lookup}": value}) | (Q(**{column: value}) & condition)
    return condition


def records_scope(
    *, organization_id: int, module_id: int, sort_by: str, sort_order: str, owner_id: int | None
) -> str:
    """What a records list token is valid for: the same organization, module, sort and filter."""
    return f"records:{organization_id}:{module_id}:{sort_by}:{sort_order}:{owner_id or ''}"


def users_scope(*, organization_id: int, user_type: str) -> str:
    return f"users:{organization_id}:{user_type}"


def info(
    *, per_page: int, count: int, page: int, more_records: bool, scope: str, last_key: Sequence[Any]
) -> dict[str, Any]:
    """A list's `info`, with Zoho CRM v8's token keys: the token of the next page and when it
    expires (both null on the last page). `previous_page_token` is null: the cursor only goes
    forward (a client going back keeps the tokens it has, or uses `page`)."""
    token, expiry = encode(scope, last_key, page + 1) if more_records else (None, None)
    return {
        "per_page": per_page,
        "count": count,
        "page": page,
        "more_records": more_records,
        "next_page_token": token,
        "previous_page_token": None,
        # As Zoho writes times (crm.representations.bigin_time; expiry is whole seconds, UTC).
        "page_token_expiry": expiry.isoformat() if expiry else None,
    }
