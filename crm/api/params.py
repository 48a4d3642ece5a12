"""Query parameters of the read APIs, validated once at the edge. A bad value raises
INVALID_PARAMETER naming the parameter; an absent or empty one takes its default."""

from __future__ import annotations

from collections.abc import Sequence

from rest_framework.request import Request

from crm import paging as page_tokens
from crm.http.dialects import BIGIN, Dialect
from crm.http.errors import (
    INVALID_MODULE,
    INVALID_PARAMETER,
    INVALID_URL_PATTERN,
    PAGE_AND_PAGE_TOKEN,
    PAGE_TOKEN_EXPIRED,
    REQUIRED_PARAM_MISSING,
)
from crm.ids import parse_id
from crm.modules import ModuleInfo
from crm.selectors import MAX_PER_PAGE

# The last page a client may ask for (ours): with per_page 200, 200 million records; keeps the
# OFFSET within what every database accepts.
MAX_PAGE = 1_000_000


def _raw(request: Request, name: str) -> str | None:
    value = request.query_params.get(name)
    return value if value else None


def positive_int(request: Request, name: str, *, default: int, maximum: int | None = None) -> int:
    raw = _raw(request, name)
    if raw is None:
        return default
    digits = raw.lstrip("0")
    if not (raw.isascii() and raw.isdigit()) or not digits:
        raise INVALID_PARAMETER(param_name=name, expected_data_type="integer")
    # Compared as text first: a 4,400-digit number is too long for int() to convert at all.
    if maximum is not None and (len(digits) > len(str(maximum)) or int(digits) > maximum):
        raise INVALID_PARAMETER(param_name=name, maximum=maximum)
    if len(digits) > 18:
        raise INVALID_PARAMETER(param_name=name, expected_data_type="integer")
    return int(digits)


def paging(request: Request) -> tuple[int, int]:
    """(page, per_page): page 1 to MAX_PAGE, per_page 1 to 200, default 200 as Bigin's."""
    page = positive_int(request, "page", default=1, maximum=MAX_PAGE)
    per_page = positive_int(request, "per_page", default=MAX_PER_PAGE, maximum=MAX_PER_PAGE)
    return page, per_page


def page_cursor(
    request: Request, *, scope: str, datetime_positions: Sequence[int] = ()
) -> page_tokens.Cursor | None:
    """The cursor of `page_token` for the list `scope` (crm/paging.py), or None without one.
    `page` with it is ambiguous; a token of another list, or not ours at all, is invalid."""
    raw = _raw(request, "page_token")
    if raw is None:
        return None
    if _raw(request, "page") is not None:
        raise PAGE_AND_PAGE_TOKEN(ambiguity_due_to=["page", "page_token"])
    try:
        return page_tokens.decode(raw, scope, datetime_positions=datetime_positions)
    except page_tokens.PageTokenExpired:
        raise PAGE_TOKEN_EXPIRED(param_name="page_token") from None
    except page_tokens.PageTokenInvalid:
        raise INVALID_PARAMETER(param_name="page_token") from None


def choice(request: Request, name: str, choices: Sequence[str], *, default: str) -> str:
    raw = _raw(request, name)
    if raw is None:
        return default
    if raw not in choices:
        raise INVALID_PARAMETER(param_name=name, supported_values=list(choices))
    return raw


def optional_id(request: Request, name: str) -> int | None:
    raw = _raw(request, name)
    if raw is None:
        return None
    value = parse_id(raw)
    if value is None:
        raise INVALID_PARAMETER(param_name=name, expected_data_type="long")
    return value


def field_names(request: Request) -> tuple[str, ...] | None:
    """`fields=Last_Name,Email`: the names in order, without blanks and repeats; None for all."""
    raw = _raw(request, "fields")
    if raw is None:
        return None
    names = tuple(dict.fromkeys(name.strip() for name in raw.split(",") if name.strip()))
    return names or None


def path_module(name: str, dialect: Dialect = BIGIN) -> ModuleInfo:
    """The `{module}` of a /bigin/v2/{module}/... path (or the dialect's), matched
    case-insensitively, or INVALID_MODULE."""
    module = dialect.module(name)
    if module is None:
        raise INVALID_MODULE(resource_path_index=0)
    return module


def query_module(request: Request, dialect: Dialect = BIGIN) -> ModuleInfo:
    """The `module` query parameter of settings/fields and settings/layouts: required, and a
    module of the dialect."""
    raw = _raw(request, "module")
    if raw is None:
        raise REQUIRED_PARAM_MISSING(param="module")
    module = dialect.module(raw)
    if module is None:
        raise INVALID_MODULE(param_name="module")
    return module


# The fixed first segments under /bigin/v2 and /crm/v8 (crm/api/urls.py, the transfer routes):
# never a module. A path starting with one that names no endpoint (/bigin/v2/settings/unknown,
# /bigin/v2/org/x) reaches the module routes, which answer it 404 INVALID_URL_PATTERN.
NOT_MODULES = frozenset({"users", "settings", "org", "owner_batches"})


def reject_unserved_path(module_segment: str) -> None:
    """Called first thing by the module-position views, before authentication: an unknown path
    answers 404 before anything else."""
    if module_segment.lower() in NOT_MODULES:
        raise INVALID_URL_PATTERN()
