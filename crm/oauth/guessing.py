"""Guessing limits of the token endpoint: failed attempts (a wrong client secret, an unknown
client, a wrong or spent code or refresh token) are counted per source address over 10 minutes;
past the limit the endpoint answers Zoho's "Access Denied" without checking anything
(docs/limits.md).

Per address only: a client id is public (it travels in every authorization URL), so a count per
client would let anyone who knows it lock its owner out by guessing from elsewhere. What stops
guessing a secret from many addresses is the secret itself (168 random bits, crm/oauth/tokens.py).

Check and count are one step of the store: `take_attempt` counts the attempt as a failure as it
admits it, so concurrent guesses from one address can never get past the limit between a check
and a count. An attempt that succeeds (or was no guess at a secret) is given back. So an
attempt counts from the moment it arrives until it succeeds; a refused attempt is not counted.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings

from crm.http import limits

WINDOW = limits.Window(bucket_seconds=10, buckets=60)  # 10 minutes
ACCESS_DENIED = {
    "error": "Access Denied",
    "error_description": (
        "You have made too many requests continuously. Please try again after some time."
    ),
}


@dataclass(frozen=True)
class Attempt:
    address: str
    taken_at: float
    refused: bool
    retry_after: int  # seconds to wait, when refused


def _key(address: str) -> str:
    return f"oauth-failures:address:{address}"


def take_attempt(*, address: str) -> Attempt:
    """Admit an attempt from `address` and count it as a failure, in one step; refused (and not
    counted) when the address has failed `OAUTH_FAILURES_PER_ADDRESS` times lately."""
    store, now = limits.FailOpen(limits.store()), limits.now()
    decision = store.take(
        _key(address), cost=1, limit=settings.OAUTH_FAILURES_PER_ADDRESS, window=WINDOW, now=now
    )
    return Attempt(address, now, not decision.allowed, decision.retry_after)


def give_back(attempt: Attempt) -> None:
    """The attempt did not fail: it no longer counts."""
    store = limits.FailOpen(limits.store())
    store.give_back(
        _key(attempt.address), cost=1, window=WINDOW, taken_at=attempt.taken_at, now=limits.now()
    )
