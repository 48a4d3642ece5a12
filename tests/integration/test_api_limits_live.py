"""API limits across processes: two gunicorn servers sharing one Redis count, as two hosts would.

An organization with `api_credits_per_day: 30` gets 30 answers then 429 with Retry-After, whichever
process serves it; another organization is unaffected.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
import uuid

import pytest

from tests.factories import OrganizationFactory, UserFactory
from tests.integration.live import live_gunicorn  # noqa: F401 (the fixture)

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.redis,
    # The servers see committed rows; the flush afterwards takes the migrations' rows too
    # (modules, content types), which serialized_rollback puts back for the tests that follow.
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]

SCOPE = "ZohoBigin.users.READ"


def _get(url: str, token: str) -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(
        url, headers={"Authorization": f"Zoho-oauthtoken {token}", "Connection": "close"}
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


def test_thirty_credits_then_429_across_two_servers(live_gunicorn, token_for):  # noqa: F811
    limited = OrganizationFactory(name="Limited", api_credits_per_day=30)
    other = OrganizationFactory(name="Unlimited")
    limited_token = token_for(UserFactory(organization=limited), SCOPE)
    other_token = token_for(UserFactory(organization=other), SCOPE)
    shared = {"API_LIMITS_KEY_PREFIX": f"test-{uuid.uuid4().hex[:12]}:"}
    servers = [live_gunicorn(workers=1, **shared), live_gunicorn(workers=1, **shared)]

    statuses = [_get(f"{servers[n % 2].url}/bigin/v2/users", limited_token)[0] for n in range(30)]
    refused = [_get(f"{server.url}/bigin/v2/users", limited_token) for server in servers]

    assert statuses == [200] * 30
    for status, headers, body in refused:
        assert status == 429
        assert json.loads(body) == {
            "code": "TOO_MANY_REQUESTS",
            "details": {"limit_type": "credits", "limit": 30, "window_seconds": 86400},
            "message": "the API credits of the organization for the last 24 hours are used up",
            "status": "error",
        }
        # The first credit frees up 24 hours after it was spent.
        assert 0 < int(headers["Retry-After"]) <= 86400
    assert [_get(f"{s.url}/bigin/v2/users", other_token)[0] for s in servers] == [200, 200]
