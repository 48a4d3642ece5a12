"""Guessing limits of the token endpoint, as Zoho's accounts server has them: failed attempts
(a wrong client secret, an unknown client, a wrong or spent code or refresh token) are counted per
source address and per client_id over 10 minutes; past either limit the endpoint answers Zoho's
"Access Denied" without checking anything (docs/limits.md).

A refused attempt is not counted again, so one address hammering a client cannot push that
client over its own limit: the owner of the right secret, elsewhere, still gets in.
"""

from __future__ import annotations

import hashlib

from django.conf import settings

from crm.http import limits

WINDOW = limits.Window(bucket_seconds=10, buckets=60)  # 10 minutes
ACCESS_DENIED = {
    "error": "Access Denied",
    "error_description": (
        "You have made too many requests continuously. Please try again after some time."
    ),
}


def _counters(client_id: str, address: str) -> list[tuple[str, int]]:
    client_key = hashlib.sha256(client_id.encode()).hexdigest()[:32]
    return [
        (f"oauth-failures:address:{address}", settings.OAUTH_FAILURES_PER_ADDRESS),
        (f"oauth-failures:client:{client_key}", settings.OAUTH_FAILURES_PER_CLIENT),
    ]


def refused(*, client_id: str, address: str) -> int | None:
    """Seconds to wait when this address or client has failed too often lately, else None."""
    store, now = limits.FailOpen(limits.store()), limits.now()
    waits = []
    for key, limit in _counters(client_id, address):
        decision = store.take(key, cost=1, limit=limit, window=WINDOW, now=now, record=False)
        if not decision.allowed:
            waits.append(decision.retry_after)
    return max(waits) if waits else None


def record_failure(*, client_id: str, address: str) -> None:
    store, now = limits.FailOpen(limits.store()), limits.now()
    for key, _ in _counters(client_id, address):
        store.take(key, cost=1, limit=2**62, window=WINDOW, now=now)
