"""The sandbox at the HTTP boundary: fault rules and the request journal (docs/sandbox.md).

`SandboxMiddleware` is the first middleware (config/settings.py), so a fault answers before
anything else runs: the boundary's checks, authentication, the API limits, the view. With
SANDBOX_API off it hands every request straight on. With it on, for a call to one of the APIs
(Bigin, Zoho CRM, Kenbun, the token server) that it can tie to an organization, on PostgreSQL
with a good access token it adds no statement before the answer: the organization's rules, and
the note that the call is under way, come with the token lookup the API makes anyway, and the
call's journal entry is written after the server has sent the answer (the response's close).
Elsewhere (SQLite, the token server, a token that is not good) it costs one indexed query for
the organization's rules (the first call with a token also finds its organization) and the
note's INSERT before the call; more only when a rule applies.

The organization is found by what the call carries, without checking that it is valid (that is
the API's job, after the fault): the access token of its Authorization header, or on the token
server the client id or the token it names. A call that names none (or an unknown one) is
neither faulted nor journaled.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from urllib.parse import parse_qs

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.db import DatabaseError, connection
from django.http import HttpRequest, HttpResponse
from django.utils import timezone

from crm.http import boundary
from crm.models import AccessToken, OAuthClient, RefreshToken, User
from crm.oauth import authentication
from crm.oauth.authentication import SCHEMES
from crm.oauth.tokens import token_hash

from . import faults, journal
from .models import Fault

logger = logging.getLogger(__name__)

_FAULT_IDS = f"LEFT JOIN {Fault._meta.db_table} f ON f.organization_id = {{org}}"
_BY_ACCESS_TOKEN = (
    f"SELECT u.organization_id, f.id FROM {AccessToken._meta.db_table} t"
    f" JOIN {User._meta.db_table} u ON u.id = t.user_id "
    + _FAULT_IDS.format(org="u.organization_id")
    + " WHERE t.token_hash = %s"
)
_BY_REFRESH_TOKEN = _BY_ACCESS_TOKEN.replace(
    AccessToken._meta.db_table, RefreshToken._meta.db_table
)
_BY_CLIENT_ID = (
    f"SELECT c.organization_id, f.id FROM {OAuthClient._meta.db_table} c "
    + _FAULT_IDS.format(org="c.organization_id")
    + " WHERE c.client_id = %s"
)


_FAULTS_OF = f"SELECT id FROM {Fault._meta.db_table} WHERE organization_id = %s"

# Which organization a token or client id belongs to never changes (a user never moves, a
# client is made for one organization), so each process remembers it and then asks only for
# the organization's rules, the one thing that must be read on every call: a rule added by
# another process applies to the very next call. The organization of a deleted token is
# forgotten with the oldest entries; meanwhile its calls find no rules and no journal to write.
_organizations: OrderedDict[tuple[str, str], int] = OrderedDict()
_organizations_lock = threading.Lock()
REMEMBERED = 10_000


def _lookup(sql: str, value: str) -> tuple[int | None, list[int]]:
    key = (sql, value)
    with _organizations_lock:
        organization_id = _organizations.get(key)
        if organization_id is not None:
            _organizations.move_to_end(key)
    with connection.cursor() as cursor:
        if organization_id is not None:
            cursor.execute(_FAULTS_OF, [organization_id])
            return organization_id, [fault_id for (fault_id,) in cursor.fetchall()]
        cursor.execute(sql, [value])
        rows = cursor.fetchall()
    if not rows:
        return None, []
    with _organizations_lock:
        _organizations[key] = rows[0][0]
        if len(_organizations) > REMEMBERED:
            _organizations.popitem(last=False)
    return rows[0][0], [fault_id for _, fault_id in rows if fault_id is not None]


def _token_server_value(request: HttpRequest, body: bytes | None, name: str) -> str:
    values = request.GET.get(name)
    if values:
        return values
    if body and b"=" in body:
        form = parse_qs(body.decode("utf-8", errors="replace"))
        return (form.get(name) or [""])[0]
    return ""


# The organization's fault rules, as a column of the token lookup.
_FAULTS_OF_HOLDER = (
    f"ARRAY(SELECT id FROM {Fault._meta.db_table} WHERE organization_id = {{organization}})"
)


def _by_access_token(
    request: HttpRequest, raw: str, begun: journal.Beginning
) -> tuple[int | None, list[int], bool]:
    """On PostgreSQL a good token is looked up once for the whole call: the fault rules come
    with the lookup the API's authentication makes anyway, and it takes the result from here
    (authentication.RESOLVED); the call is noted as under way in the same statement. A token
    that is not good (the API answers INVALID_TOKEN) is still tied to its organization by its
    hash alone."""
    digest = token_hash(raw)
    if connection.vendor == "postgresql":
        found, fault_ids = authentication.lookup_with(
            digest,
            _FAULTS_OF_HOLDER,
            (journal.begin_sql("{organization}", "{holder}"), begun.params),
        )
        if found is not None:
            setattr(request, authentication.RESOLVED, {raw: found})
            return found[0].organization_id, list(fault_ids), True
    return *_lookup(_BY_ACCESS_TOKEN, digest), False


def organization_of(
    request: HttpRequest, body: bytes | None, begun: journal.Beginning
) -> tuple[int | None, list[int], bool]:
    """The organization a call belongs to, the ids of its fault rules (one query), and whether
    that query also noted the call as under way (journal.begin)."""
    scheme, _, raw = request.META.get("HTTP_AUTHORIZATION", "").partition(" ")
    if scheme.lower() in SCHEMES and raw.strip():
        return _by_access_token(request, raw.strip(), begun)
    if request.path.startswith("/oauth/"):
        client_id = _token_server_value(request, body, "client_id")
        if client_id:
            return *_lookup(_BY_CLIENT_ID, client_id), False
        token = _token_server_value(request, body, "token")  # /oauth/v2/token/revoke
        if token:
            found = _lookup(_BY_REFRESH_TOKEN, token_hash(token))
            if found[0] is None:
                found = _lookup(_BY_ACCESS_TOKEN, token_hash(token))
            return *found, False
    return None, [], False


def _body(request: HttpRequest) -> bytes | None:
    """The request body (read once here; Django keeps it for the view), or None when it is not
    readable as sent (a Content-Length that is not a number, or over the size limit): the
    boundary refuses those next."""
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return None
    if length > settings.API_MAX_BODY_BYTES:
        return None
    try:
        return request.body
    except RequestDataTooBig:
        return None


class SandboxMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if not settings.SANDBOX_API:
            return self.get_response(request)
        family = boundary.family_of(request.path)
        if family is None or request.path.startswith("/sandbox/"):
            return self.get_response(request)
        started, clock = timezone.now(), time.monotonic()
        body = _body(request)
        begun = journal.beginning(started)
        written = False
        try:
            organization_id, fault_ids, written = organization_of(request, body, begun)
            if organization_id is not None and not written:
                journal.begin(organization_id, begun)
                written = True
            rule = None
            if organization_id is not None and fault_ids:
                rules = list(Fault.objects.filter(id__in=fault_ids).order_by("created_time", "id"))
                rule = faults.choose(rules, request.method or "", request.path)
        except DatabaseError:
            # The database is out: the boundary answers that, as without the sandbox.
            logger.warning(
                "sandbox: no fault check or journal for %s (database error)", request.path
            )
            if written:
                _forget(begun)
            return self.get_response(request)
        if organization_id is None:
            return self.get_response(request)
        response: HttpResponse | None
        try:
            if rule is not None and "status" in rule.response:
                response = faults.answer(rule, family)
            elif rule is not None and "drop" in rule.response:
                faults.drop(request)
                response = None
            else:
                if rule is not None:
                    time.sleep(rule.response["delay_ms"] / 1000)
                response = self.get_response(request)
        except Exception:
            _forget(begun)  # the handler answers 500; the call has no entry
            raise
        complete = functools.partial(
            _complete,
            path=request.path,
            organization_id=organization_id,
            begun=begun,
            request=request,
            body=body,
            response=response,
            duration_ms=round((time.monotonic() - clock) * 1000),
            fault_id=rule.id if rule is not None else None,
        )
        if response is None:
            # After a drop the server's attempt to answer finds the connection closed.
            complete()
            return HttpResponse(status=204)
        # The server closes the response once it has sent it (WSGI), so the client does not
        # wait for its journal entry; journal.read waits for it instead. A closer's exception
        # is swallowed by Django: _complete logs its own.
        response._resource_closers.append(complete)
        return response


def _forget(begun: journal.Beginning) -> None:
    # Else the journal's trim deletes it once no call can still be running.
    with contextlib.suppress(DatabaseError):
        journal.forget(begun)


def _complete(*, path: str, **entry) -> None:
    try:
        try:
            journal.complete(**entry)
        except DatabaseError:
            if connection.in_atomic_block or connection.is_usable():
                raise
            # The call lost its connection (the API answered 503): a call the developer wants
            # to see. Once more, on a new one.
            connection.close()
            journal.complete(**entry)
    except DatabaseError as exc:
        # The organization went while the call ran, or the database is out: the answer stands
        # (it has been sent), only its journal entry is lost.
        logger.warning("sandbox: journal entry for %s not completed (%r)", path, exc)
    except Exception:
        # Django would swallow it without a word.
        logger.exception("sandbox: journal entry for %s not completed", path)
