"""The token server's services: self clients, grant codes, the two grants, revocation.

Every secret handed out here (client secrets, grant codes, refresh and access tokens) is returned
in clear exactly once and stored only as its SHA-256 (crm/oauth/tokens.py); lookups go by hash.

Zoho's limits, enforced here:
  - a grant code lives 3 minutes and works once;
  - an access token lives 1 hour;
  - a refresh token has at most 15 live access tokens (issuing the 16th deletes the oldest);
  - a user has at most 20 live refresh tokens (issuing the 21st deletes the oldest).
"""

from __future__ import annotations

import hmac
import re
from dataclasses import dataclass
from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from crm.models import AccessToken, GrantCode, OAuthClient, Organization, RefreshToken, User

from .tokens import new_client_id, new_client_secret, new_token, token_hash

ACCESS_TOKEN_LIFETIME = timedelta(hours=1)
GRANT_CODE_LIFETIME = timedelta(minutes=3)
MAX_ACCESS_TOKENS_PER_REFRESH_TOKEN = 15
MAX_REFRESH_TOKENS_PER_USER = 20

# `ZohoBigin.<resource>[.<sub-resource>...].<OPERATION>`, e.g. ZohoBigin.modules.contacts.READ.
_SCOPE = re.compile(
    r"(?:ZohoBigin|ZohoCRM)(\.[A-Za-z0-9_]+)+\.(ALL|READ|CREATE|UPDATE|DELETE|WRITE)"
    # What record search needs besides the module's scope.
    r"|ZohoSearch\.securesearch\.(ALL|READ)"
)


class OAuthError(Exception):
    """A failed grant; `error` is the value of Zoho's `{"error": ...}` body."""

    def __init__(self, error: str) -> None:
        super().__init__(error)
        self.error = error


INVALID_CLIENT = "invalid_client"
INVALID_CODE = "invalid_code"


@dataclass(frozen=True)
class SelfClient:
    client: OAuthClient
    client_secret: str  # in clear: shown once, never stored


@dataclass(frozen=True)
class IssuedTokens:
    access_token: str
    refresh_token: str | None  # only the authorization_code grant issues one
    scopes: list[str]
    expires_in: int


def parse_scopes(text: str) -> list[str]:
    """Zoho's comma-separated scope list, validated; raises ValueError naming a bad scope."""
    scopes = [scope.strip() for scope in text.split(",") if scope.strip()]
    if not scopes:
        raise ValueError("at least one scope is required")
    for scope in scopes:
        if not _SCOPE.fullmatch(scope):
            raise ValueError(f"not a ZohoBigin or ZohoCRM scope: {scope!r}")
    return list(dict.fromkeys(scopes))


def create_self_client(*, organization: Organization, name: str) -> SelfClient:
    secret = new_client_secret()
    client = OAuthClient.objects.create(
        organization=organization,
        name=name,
        client_id=new_client_id(),
        secret_hash=token_hash(secret),
    )
    return SelfClient(client=client, client_secret=secret)


def issue_grant(*, client: OAuthClient, user: User, scopes: list[str]) -> str:
    """A single-use grant code for `user`, valid for 3 minutes; returned in clear."""
    if user.organization_id != client.organization_id:
        raise ValueError("the user is not in the client's organization")
    if not user.is_active:
        raise ValueError(f"the user is {user.status}")
    code = new_token()
    GrantCode.objects.create(
        code_hash=token_hash(code),
        client=client,
        user=user,
        scopes=list(scopes),
        expires_at=timezone.now() + GRANT_CODE_LIFETIME,
    )
    return code


def issue_access_token(
    *,
    user: User,
    scopes: list[str],
    expires_in: timedelta = ACCESS_TOKEN_LIFETIME,
    refresh_token: RefreshToken | None = None,
) -> str:
    """Create an access token and return it in clear; only its hash is stored.

    With a refresh token, that refresh token's access tokens beyond the newest 15 live ones are
    deleted in the same statement, along with its expired and revoked ones.
    """
    now = timezone.now()
    # savepoint=False: inside a caller's transaction this adds no SAVEPOINT round trips.
    with transaction.atomic(savepoint=False):
        raw = _create_access_token(
            user=user, scopes=scopes, expires_at=now + expires_in, refresh_token=refresh_token
        )
        if refresh_token is not None:
            _retire_access_tokens(refresh_token, now)
    return raw


def _create_access_token(
    *, user: User, scopes: list[str], expires_at, refresh_token: RefreshToken | None
) -> str:
    raw = new_token()
    AccessToken.objects.create(
        token_hash=token_hash(raw),
        user=user,
        scopes=list(scopes),
        refresh_token=refresh_token,
        expires_at=expires_at,
    )
    return raw


def _retire_access_tokens(refresh_token: RefreshToken, now) -> None:
    # One DELETE with a sub-select: AccessToken has no dependants, so Django deletes it fast.
    # Ids grow within a process (within a thread on SQLite; crm/ids.py): they break the
    # created_time ties of tokens made by one process.
    newest_live = AccessToken.objects.filter(
        refresh_token=refresh_token, revoked_at__isnull=True, expires_at__gt=now
    ).order_by("-created_time", "-id")[:MAX_ACCESS_TOKENS_PER_REFRESH_TOKEN]
    AccessToken.objects.filter(refresh_token=refresh_token).exclude(
        pk__in=newest_live.values("pk")
    ).delete()


def _authenticate_client(client_id: str, client_secret: str) -> OAuthClient:
    client = OAuthClient.objects.filter(client_id=client_id).first() if client_id else None
    if client is None or not hmac.compare_digest(client.secret_hash, token_hash(client_secret)):
        raise OAuthError(INVALID_CLIENT)
    return client


def exchange_code(*, client_id: str, client_secret: str, code: str) -> IssuedTokens:
    """The authorization_code grant: a refresh token and a first access token for the code."""
    client = _authenticate_client(client_id, client_secret)
    now = timezone.now()
    grant = (
        GrantCode.objects.select_related("user")
        .filter(code_hash=token_hash(code), client=client)
        .first()
        if code
        else None
    )
    if (
        grant is None
        or grant.used_at is not None
        or grant.expires_at <= now
        or not grant.user.is_active
    ):
        raise OAuthError(INVALID_CODE)
    with transaction.atomic(durable=True):
        # The conditional UPDATE is what makes the code single-use: of two concurrent exchanges,
        # only one sees a row still unused.
        if not GrantCode.objects.filter(pk=grant.pk, used_at__isnull=True).update(used_at=now):
            raise OAuthError(INVALID_CODE)
        raw_refresh = new_token()
        refresh_token = RefreshToken.objects.create(
            token_hash=token_hash(raw_refresh),
            client=client,
            user=grant.user,
            scopes=grant.scopes,
            created_time=now,
        )
        _retire_refresh_tokens(grant.user, now)
        # A new refresh token has no access tokens to retire yet.
        access = _create_access_token(
            user=grant.user,
            scopes=grant.scopes,
            expires_at=now + ACCESS_TOKEN_LIFETIME,
            refresh_token=refresh_token,
        )
    return IssuedTokens(
        access_token=access,
        refresh_token=raw_refresh,
        scopes=grant.scopes,
        expires_in=int(ACCESS_TOKEN_LIFETIME.total_seconds()),
    )


def _retire_refresh_tokens(user: User, now) -> None:
    # Django selects the doomed refresh tokens, then deletes their access tokens and them: three
    # statements when there is something to delete, one SELECT when there is not.
    newest_live = RefreshToken.objects.filter(user=user, revoked_at__isnull=True).order_by(
        "-created_time", "-id"
    )[:MAX_REFRESH_TOKENS_PER_USER]
    RefreshToken.objects.filter(user=user, revoked_at__isnull=True).exclude(
        pk__in=newest_live.values("pk")
    ).delete()


def refresh(*, client_id: str, client_secret: str, refresh_token: str) -> IssuedTokens:
    """The refresh_token grant: a new access token with the refresh token's scopes."""
    client = _authenticate_client(client_id, client_secret)
    token = (
        RefreshToken.objects.select_related("user")
        .filter(token_hash=token_hash(refresh_token), client=client)
        .first()
        if refresh_token
        else None
    )
    if token is None or token.revoked_at is not None or not token.user.is_active:
        raise OAuthError(INVALID_CODE)
    access = issue_access_token(user=token.user, scopes=token.scopes, refresh_token=token)
    return IssuedTokens(
        access_token=access,
        refresh_token=None,
        scopes=token.scopes,
        expires_in=int(ACCESS_TOKEN_LIFETIME.total_seconds()),
    )


def revoke_refresh_tokens(*, ids: list[int]) -> int:
    """Revoke these refresh tokens and every access token issued from them; returns how many
    refresh tokens were live. Two UPDATEs whatever the number of tokens."""
    now = timezone.now()
    with transaction.atomic(durable=True):
        count = RefreshToken.objects.filter(pk__in=ids, revoked_at__isnull=True).update(
            revoked_at=now
        )
        AccessToken.objects.filter(refresh_token__in=ids, revoked_at__isnull=True).update(
            revoked_at=now
        )
    return count


def revoke_access_tokens(*, ids: list[int]) -> int:
    return AccessToken.objects.filter(pk__in=ids, revoked_at__isnull=True).update(
        revoked_at=timezone.now()
    )


def revoke(*, token: str) -> None:
    """`/oauth/v2/token/revoke`: a refresh token (and its access tokens), or one access token.

    An unknown token is not an error (RFC 7009: the client's goal, a dead token, is reached).
    """
    if not token:
        return
    digest = token_hash(token)
    refresh_ids = list(RefreshToken.objects.filter(token_hash=digest).values_list("pk", flat=True))
    if refresh_ids:
        revoke_refresh_tokens(ids=refresh_ids)
    else:
        AccessToken.objects.filter(token_hash=digest, revoked_at__isnull=True).update(
            revoked_at=timezone.now()
        )
