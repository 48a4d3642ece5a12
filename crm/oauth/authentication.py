"""`Authorization: Zoho-oauthtoken <token>` (and `Bearer <token>`) for DRF."""

from __future__ import annotations

from django.utils import timezone
from rest_framework.authentication import BaseAuthentication
from rest_framework.request import Request

from crm.http.errors import INVALID_TOKEN
from crm.models import AccessToken, User

from .tokens import token_hash

SCHEMES = ("zoho-oauthtoken", "bearer")


class ZohoOAuthTokenAuthentication(BaseAuthentication):
    """Resolves the token, its user, organization, profile and refresh token in one indexed query.

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
        token = (
            AccessToken.objects.select_related(
                "user__organization", "user__profile", "refresh_token"
            )
            .filter(token_hash=token_hash(raw))
            .first()
            if raw
            else None
        )
        if (
            token is None
            or token.revoked_at is not None
            or token.expires_at <= timezone.now()
            or not token.user.is_active
            # Revoking a refresh token also marks its access tokens, but an access token issued
            # by a refresh racing the revocation would miss that UPDATE; this check catches it.
            or (token.refresh_token is not None and token.refresh_token.revoked_at is not None)
        ):
            raise INVALID_TOKEN()
        return token.user, token

    def authenticate_header(self, request: Request) -> str:
        return "Zoho-oauthtoken"
