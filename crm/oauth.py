"""Token issuing: the one place that creates access tokens (the token endpoint, `issue_token` and
the tests all call it)."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

from .models import AccessToken, RefreshToken, User
from .tokens import new_token, token_hash

ACCESS_TOKEN_LIFETIME = timedelta(hours=1)


def issue_access_token(
    *,
    user: User,
    scopes: list[str],
    expires_in: timedelta = ACCESS_TOKEN_LIFETIME,
    refresh_token: RefreshToken | None = None,
) -> str:
    """Create an access token and return it in clear; only its hash is stored."""
    raw = new_token()
    AccessToken.objects.create(
        token_hash=token_hash(raw),
        user=user,
        scopes=list(scopes),
        refresh_token=refresh_token,
        expires_at=timezone.now() + expires_in,
    )
    return raw
