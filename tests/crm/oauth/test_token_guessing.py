"""Guessing limits of the token endpoint (crm/oauth/guessing.py) and its Cache-Control."""

from __future__ import annotations

import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlencode

import pytest
from django.db import connection
from rest_framework.test import APIClient

from crm.http import limits
from crm.oauth import grants, guessing
from tests.crm.oauth.oauth_helpers import TOKEN_URL

pytestmark = pytest.mark.django_db

ACCESS_DENIED = {
    "error": "Access Denied",
    "error_description": (
        "You have made too many requests continuously. Please try again after some time."
    ),
}


@pytest.fixture(params=["in_process", pytest.param("redis", marks=pytest.mark.redis)])
def store_kind(request, settings):
    settings.API_LIMITS_REDIS_URL = "" if request.param == "in_process" else settings.REDIS_URL
    settings.API_LIMITS_KEY_PREFIX = f"test-{uuid.uuid4().hex[:12]}:"
    limits._store_for.cache_clear()
    yield request.param
    limits._store_for.cache_clear()


@pytest.fixture
def self_client(organization):
    return grants.create_self_client(organization=organization, name="Sync job")


@pytest.fixture
def refresh_token(self_client, admin_user) -> str:
    code = grants.issue_grant(
        client=self_client.client, user=admin_user, scopes=["ZohoBigin.users.READ"]
    )
    return grants.exchange_code(
        client_id=self_client.client.client_id,
        client_secret=self_client.client_secret,
        code=code,
    ).refresh_token


FORM = "application/x-www-form-urlencoded"
# One client for the module: a new APIClient loads the middleware again, which costs more than
# the request.
CLIENT = APIClient()


def _refresh(client_id: str, secret: str, refresh_token: str, address: str, client=CLIENT):
    body = urlencode(
        {
            "grant_type": "refresh_token",
            "client_id": client_id,
            "client_secret": secret,
            "refresh_token": refresh_token,
        }
    )
    return client.post(TOKEN_URL, body, content_type=FORM, REMOTE_ADDR=address)


def test_a_thousand_wrong_secrets_from_one_address_are_cut_off(
    store_kind, self_client, refresh_token
):
    client_id = self_client.client.client_id
    answers = [_refresh(client_id, f"wrong-{n}", refresh_token, "203.0.113.7") for n in range(1000)]

    assert [a.json() for a in answers[:20]] == [{"error": "invalid_client"}] * 20
    assert {(a.status_code, str(a.json())) for a in answers[20:]} == {(429, str(ACCESS_DENIED))}
    assert 0 < int(answers[-1]["Retry-After"]) <= 600
    # The right secret, from the same address: still refused (the address is cut off) ...
    same_address = _refresh(client_id, self_client.client_secret, refresh_token, "203.0.113.7")
    assert same_address.status_code == 429
    # ... and from another address it works: failures are counted per address only.
    right = _refresh(client_id, self_client.client_secret, refresh_token, "198.51.100.20")
    assert right.status_code == 200
    assert set(right.json()) == {"access_token", "scope", "api_domain", "token_type", "expires_in"}


def test_guessing_from_many_addresses_never_locks_the_owner_out(
    store_kind, self_client, refresh_token
):
    """The client id is public: 120 wrong secrets from eight addresses (15 each, under the limit
    of 20 per address) refuse none of them, and the owner's right secret works from its own
    address as from one of the guessers'."""
    client_id = self_client.client.client_id
    guessers = [f"203.0.113.{n}" for n in range(8)]
    answers = [
        _refresh(client_id, f"wrong-{n}", refresh_token, address)
        for address in guessers
        for n in range(15)
    ]

    owner = _refresh(client_id, self_client.client_secret, refresh_token, "198.51.100.20")
    from_a_guesser = _refresh(client_id, self_client.client_secret, refresh_token, guessers[0])

    assert {(a.status_code, str(a.json())) for a in answers} == {
        (200, str({"error": "invalid_client"}))
    }
    assert owner.status_code == 200, owner.json()
    assert set(owner.json()) == {"access_token", "scope", "api_domain", "token_type", "expires_in"}
    assert from_a_guesser.status_code == 200, from_a_guesser.json()


# Committed for real: the guesses run in threads, each with its own connection.
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_concurrent_guesses_from_one_address_stop_exactly_at_the_limit(
    store_kind, settings, monkeypatch, self_client, refresh_token
):
    """Twenty wrong secrets from one address arrive at once, each checked slowly: exactly the
    limit of 5 are checked (and counted), the other 15 are refused unchecked."""
    settings.OAUTH_FAILURES_PER_ADDRESS = 5
    client_id, address = self_client.client.client_id, "203.0.113.7"
    checked = []
    real_refresh = grants.refresh

    def slow_refresh(**credentials):
        checked.append(credentials["client_secret"])
        time.sleep(0.3)  # the other guesses arrive while this one is checked
        return real_refresh(**credentials)

    monkeypatch.setattr(grants, "refresh", slow_refresh)
    start = threading.Barrier(20)

    def guess(n: int):
        start.wait()
        try:
            return _refresh(client_id, f"wrong-{n}", refresh_token, address, APIClient())
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=20) as pool:
        answers = list(pool.map(guess, range(20)))

    bodies = sorted((a.status_code, str(a.json())) for a in answers)
    assert (
        bodies == [(200, str({"error": "invalid_client"}))] * 5 + [(429, str(ACCESS_DENIED))] * 15
    )
    assert len(checked) == 5
    failures = limits.store().used(
        f"oauth-failures:address:{address}", window=guessing.WINDOW, now=limits.now()
    )
    assert failures == 5
    monkeypatch.setattr(grants, "refresh", real_refresh)
    right = _refresh(client_id, self_client.client_secret, refresh_token, "198.51.100.20")
    assert right.status_code == 200


def test_a_right_secret_is_not_a_failure(store_kind, settings, self_client, refresh_token):
    """Each attempt counts until it succeeds: an address may refresh as often as it likes."""
    settings.OAUTH_FAILURES_PER_ADDRESS = 2
    client_id = self_client.client.client_id
    rights = [
        _refresh(client_id, self_client.client_secret, refresh_token, "198.51.100.20")
        for _ in range(5)
    ]
    unsupported = [
        CLIENT.post(
            TOKEN_URL, "grant_type=password", content_type=FORM, REMOTE_ADDR="198.51.100.20"
        )
        for _ in range(3)
    ]
    wrong = [_refresh(client_id, "wrong", refresh_token, "198.51.100.20") for _ in range(3)]

    assert [a.status_code for a in rights] == [200] * 5
    assert [a.json() for a in unsupported] == [{"error": "unsupported_grant_type"}] * 3
    assert [a.json() for a in wrong] == [{"error": "invalid_client"}] * 2 + [ACCESS_DENIED]


def test_wrong_codes_count_as_failures(store_kind, settings, self_client):
    settings.OAUTH_FAILURES_PER_ADDRESS = 3
    body = {
        "grant_type": "authorization_code",
        "client_id": self_client.client.client_id,
        "client_secret": self_client.client_secret,
        "code": "1000.guess",
    }
    answers = [
        CLIENT.post(TOKEN_URL, urlencode(body), content_type="application/x-www-form-urlencoded")
        for _ in range(4)
    ]

    assert [a.json() for a in answers] == [{"error": "invalid_code"}] * 3 + [ACCESS_DENIED]


def test_token_answers_are_never_cached(self_client, refresh_token):
    client_id = self_client.client.client_id
    success = _refresh(client_id, self_client.client_secret, refresh_token, "198.51.100.20")
    failure = _refresh(client_id, "wrong", refresh_token, "198.51.100.20")
    revoke = CLIENT.post("/oauth/v2/token/revoke?token=unknown")
    oversized = CLIENT.post(
        TOKEN_URL, "a=" + "x" * (3 * 1024 * 1024), content_type="application/x-www-form-urlencoded"
    )

    for response in (success, failure, revoke, oversized):
        assert response["Cache-Control"] == "no-store"
        assert response["Pragma"] == "no-cache"


def test_behind_proxies_the_forwarded_address_counts(store_kind, settings, self_client):
    settings.TRUSTED_PROXY_COUNT = 1
    settings.OAUTH_FAILURES_PER_ADDRESS = 2
    client_id = self_client.client.client_id

    def attempt(forwarded: str):
        return CLIENT.post(
            TOKEN_URL,
            urlencode(
                {"grant_type": "refresh_token", "client_id": client_id, "client_secret": "x"}
            ),
            content_type="application/x-www-form-urlencoded",
            REMOTE_ADDR="10.0.0.1",
            HTTP_X_FORWARDED_FOR=forwarded,
        )

    first = [attempt("spoofed, 203.0.113.9").status_code for _ in range(3)]
    other = attempt("203.0.113.10")

    assert first == [200, 200, 429]
    assert other.json() == {"error": "invalid_client"}
