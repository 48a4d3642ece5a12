"""Helpers for the token-server tests: the HTTP calls a Zoho client makes."""

from __future__ import annotations

from urllib.parse import urlencode

from rest_framework.test import APIClient

from tests.crm.oauth.whoami_urls import WHOAMI_PATH

TOKEN_URL = "/oauth/v2/token"
REVOKE_URL = "/oauth/v2/token/revoke"
TOKEN_SHAPE = r"1000\.[0-9a-f]{32}\.[0-9a-f]{32}"

INVALID_TOKEN_BODY = {
    "code": "INVALID_TOKEN",
    "details": {},
    "message": "invalid oauth token",
    "status": "error",
}


def post_form(url: str, params: dict[str, str]):
    """POST the parameters form-encoded, as `curl -d` and Zoho's SDKs send them."""
    return APIClient().post(
        url, urlencode(params), content_type="application/x-www-form-urlencoded"
    )


def exchange(*, client_id: str, client_secret: str, code: str) -> dict:
    response = post_form(
        TOKEN_URL,
        {
            "grant_type": "authorization_code",
            "client_id": client_id,
            "client_secret": client_secret,
            "code": code,
            "redirect_uri": "http://localhost/callback",
        },
    )
    assert response.status_code == 200
    return response.json()


def refresh(*, client_id: str, client_secret: str, refresh_token: str) -> dict:
    response = post_form(
        TOKEN_URL,
        {
            "grant_type": "refresh_token",
            "client_id": client_id,
            "client_secret": client_secret,
            "refresh_token": refresh_token,
        },
    )
    assert response.status_code == 200
    return response.json()


def whoami(access_token: str, scheme: str = "Zoho-oauthtoken"):
    return APIClient().get(WHOAMI_PATH, HTTP_AUTHORIZATION=f"{scheme} {access_token}")
