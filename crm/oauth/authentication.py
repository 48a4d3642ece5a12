"""`Authorization: Zoho-oauthtoken <token>` (and `Bearer <token>`) for DRF."""

from __future__ import annotations

import functools

from django.db import connection
from django.utils import timezone
from rest_framework.authentication import BaseAuthentication
from rest_framework.request import Request

from crm.db_cursors import server_binding_cursor
from crm.http.errors import INVALID_TOKEN
from crm.models import AccessToken, Organization, Profile, User

from .tokens import token_hash

SCHEMES = ("zoho-oauthtoken", "bearer")

# A request attribute: {raw token: (user, token)} for a token already looked up, valid, earlier in
# the same request (the sandbox's middleware does, when it is on); authentication then takes it
# instead of asking the database again.
RESOLVED = "resolved_tokens"


# Every request pays for this lookup, so on PostgreSQL it is one call of a PL/pgSQL function
# (crm/migrations/0009): PostgreSQL plans the five-table query inside it once per server
# session and then only executes it. Planning it was about a third of a single-record
# change_owner's time (issue 19). Unlike the prepared statement it replaces, nothing of it lives
# in the client's session, so it holds behind pgbouncer in transaction mode, where a client's
# next transaction may run on another server session; the call itself is parsed on every request,
# which costs a little more than the prepared statement did and far less than planning the join
# (bench/token_lookup.py compares the three). It
# reads the database every time, so revoking a token or disabling its user takes effect on the
# very next request, which no cache of tokens can promise without an invalidation message racing
# the request.
def _columns(model, row: str) -> list[str]:
    return [f"({row}).{field.column}" for field in model._meta.concrete_fields]


def _instance(model, fields: list[str] | None, values):
    """A model instance from raw column values, converted as the ORM would (JSON fields arrive
    as text); `fields` None means every concrete field, in order."""
    concrete = model._meta.concrete_fields
    if fields is not None:
        concrete = [field for field in concrete if field.attname in fields]
    values = [
        field.from_db_value(value, None, connection) if hasattr(field, "from_db_value") else value
        for field, value in zip(concrete, values, strict=True)
    ]
    names = [field.attname for field in concrete]
    return model.from_db(connection.alias, names, values)


# The function returns whole rows; the columns are picked by name, so the function needs no
# change when a column is added to one of these tables.
_HOLDER_COLUMNS = (
    _columns(User, "f.holder")
    + _columns(Organization, "f.holder_organization")
    + _columns(Profile, "f.holder_profile")
)


@functools.cache
def _query(also: str = "", write: str = "") -> str:
    columns = _HOLDER_COLUMNS + (
        [also.format(organization="(f.holder).organization_id")] if also else []
    )
    select = "SELECT f.token_id, f.token_scopes, " + ", ".join(columns)
    if not write:
        return select + " FROM crm_access_token_lookup(%s, %s) f"
    return (
        "WITH f AS (SELECT * FROM crm_access_token_lookup(%s, %s)),"
        f" written AS ({write.format(holder='f', organization='(f.holder).organization_id')})"
        f" {select} FROM f"
    )


_LOOKUP = _query()


def lookup_with(
    digest: str, also: str, write: tuple[str, list] | None = None
) -> tuple[tuple[User, AccessToken] | None, object]:
    """The token lookup with one more column computed in the same query (PostgreSQL only):
    `also` is an SQL expression in which `{organization}` stands for the holder's organization
    id. `write`, an INSERT with its parameters, runs in the same statement, on the holder's row
    when the token is good (in its SQL `{holder}` is the lookup's FROM item, `{organization}` the
    holder's organization id). The sandbox's fault check and the start of its journal entry ride
    on it (crm/sandbox/traffic.py), so a journaled call costs no round trip more for them. A
    token that is not good finds nothing and writes nothing: (None, None)."""
    sql, params = write if write is not None else ("", [])
    row = _fetch(_query(also, sql), digest, params)
    return (None, None) if row is None else (_holder(row[:-1]), row[-1])


def _fetch(sql: str, digest: str, params: list | None = None):
    # Prepared after a few requests on a direct connection; sent whole behind pgbouncer in
    # transaction mode, where the function keeps its plan on the server side anyway.
    with server_binding_cursor() as cursor:
        cursor.execute(sql, [digest, timezone.now(), *(params or ())])
        return cursor.fetchone()


def _lookup_sql(digest: str) -> tuple[User, AccessToken] | None:
    row = _fetch(_LOOKUP, digest)
    return None if row is None else _holder(row)


def _holder(row) -> tuple[User, AccessToken]:
    token_id, scopes, values = row[0], row[1], row[2:]
    users = len(User._meta.concrete_fields)
    organizations = users + len(Organization._meta.concrete_fields)
    user = _instance(User, None, values[:users])
    user._state.fields_cache["organization"] = _instance(
        Organization, None, values[users:organizations]
    )
    user._state.fields_cache["profile"] = _instance(Profile, None, values[organizations:])
    # Only what request.auth is read for (its scopes); the rest stays deferred. The values go in
    # the model's field order (id, user, scopes).
    token = _instance(AccessToken, ["id", "user_id", "scopes"], [token_id, user.id, scopes])
    token._state.fields_cache["user"] = user
    return user, token


def _lookup_orm(digest: str) -> tuple[User, AccessToken] | None:
    """The same lookup through the ORM, where there is no PostgreSQL (SQLite under `make run`)."""
    token = (
        AccessToken.objects.select_related("user__organization", "user__profile", "refresh_token")
        .filter(token_hash=digest)
        .first()
    )
    if (
        token is None
        or token.revoked_at is not None
        or token.expires_at <= timezone.now()
        or not token.user.is_active
        or (token.refresh_token is not None and token.refresh_token.revoked_at is not None)
    ):
        return None
    return token.user, token


class ZohoOAuthTokenAuthentication(BaseAuthentication):
    """Resolves the token, its user, organization and profile in one indexed query.

    No header, or another scheme, authenticates nobody (the permission check then answers
    AUTHENTICATION_FAILURE); a token that is unknown, expired, revoked, or whose user is not
    active answers INVALID_TOKEN.
    """

    def authenticate(self, request: Request) -> tuple[User, AccessToken] | None:
        header = request.META.get("HTTP_AUTHORIZATION", "")
        scheme, _, raw = header.partition(" ")
        if scheme.lower() not in SCHEMES:
            return None
        raw = raw.strip()
        if not raw:
            raise INVALID_TOKEN()
        found = getattr(request, RESOLVED, {}).get(raw)
        if found is None:
            lookup = _lookup_sql if connection.vendor == "postgresql" else _lookup_orm
            found = lookup(token_hash(raw))
        if found is None:
            raise INVALID_TOKEN()
        return found

    def authenticate_header(self, request: Request) -> str:
        return "Zoho-oauthtoken"
