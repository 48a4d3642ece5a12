"""`Authorization: Zoho-oauthtoken <token>` (and `Bearer <token>`) for DRF."""

from __future__ import annotations

from django.db import connection
from django.utils import timezone
from rest_framework.authentication import BaseAuthentication
from rest_framework.request import Request

from crm.http.errors import INVALID_TOKEN
from crm.models import AccessToken, Organization, Profile, User

from .tokens import token_hash

SCHEMES = ("zoho-oauthtoken", "bearer")


# Every request pays for this lookup, so on PostgreSQL it is one prepared statement per database
# connection: parsed and planned once, then only executed. The ORM compiled the same five-table
# query and PostgreSQL planned it on every request, about a third of a single-record
# change_owner's time (issue 19; bench/). It reads the database every time, so revoking a token
# or disabling its user takes effect on the very next request, which no cache of tokens can
# promise without an invalidation message racing the request. (Needs a session that keeps its
# prepared statements: a direct connection or a session pooler, not a transaction pooler.)
def _columns(model, alias: str) -> list[str]:
    return [f"{alias}.{field.column}" for field in model._meta.concrete_fields]


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


_STATEMENT = "crm_access_token"
# A token is good when it is not revoked or expired, its user is active and its refresh token
# (if any) is not revoked: revoking a refresh token also marks its access tokens, but an access
# token issued by a refresh racing the revocation would miss that UPDATE; the join catches it.
_PREPARE = (
    f"PREPARE {_STATEMENT} (text, timestamptz) AS SELECT t.id, t.scopes, "
    + ", ".join(_columns(User, "u") + _columns(Organization, "o") + _columns(Profile, "p"))
    + f" FROM {AccessToken._meta.db_table} t"
    f" JOIN {User._meta.db_table} u ON u.id = t.user_id"
    f" JOIN {Organization._meta.db_table} o ON o.id = u.organization_id"
    f" JOIN {Profile._meta.db_table} p ON p.id = u.profile_id"
    " LEFT JOIN crm_refreshtoken r ON r.id = t.refresh_token_id"
    " WHERE t.token_hash = $1 AND t.revoked_at IS NULL AND t.expires_at > $2"
    f" AND u.status = '{User.Status.ACTIVE}' AND r.revoked_at IS NULL"
)


def _lookup_prepared(digest: str) -> tuple[User, AccessToken] | None:
    with connection.cursor() as cursor:
        raw = connection.connection
        # Set up once per connection, on the driver's connection: it is not a query of the
        # request (nor of the query counts the tests assert).
        if not getattr(raw, "_crm_access_token_prepared", False):
            raw.execute(_PREPARE)
            raw._crm_access_token_prepared = True
        cursor.execute(f"EXECUTE {_STATEMENT} (%s, %s)", [digest, timezone.now()])
        row = cursor.fetchone()
    if row is None:
        return None
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
        lookup = _lookup_prepared if connection.vendor == "postgresql" else _lookup_orm
        found = lookup(token_hash(raw))
        if found is None:
            raise INVALID_TOKEN()
        return found

    def authenticate_header(self, request: Request) -> str:
        return "Zoho-oauthtoken"
