"""Acceptance 2: Zoho's limits on access and refresh tokens."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from crm.models import AccessToken, RefreshToken
from crm.oauth import grants
from tests.crm.oauth.oauth_helpers import INVALID_TOKEN_BODY, whoami

pytestmark = [pytest.mark.django_db, pytest.mark.urls("tests.crm.oauth.whoami_urls")]

SCOPES = ["ZohoBigin.users.READ"]


@pytest.fixture
def self_client(organization):
    return grants.create_self_client(organization=organization, name="Sync job")


def _credentials(self_client) -> dict[str, str]:
    return {"client_id": self_client.client.client_id, "client_secret": self_client.client_secret}


def _new_refresh_token(self_client, user) -> grants.IssuedTokens:
    code = grants.issue_grant(client=self_client.client, user=user, scopes=SCOPES)
    return grants.exchange_code(**_credentials(self_client), code=code)


def test_sixteenth_access_token_retires_the_oldest(self_client, admin_user):
    issued = _new_refresh_token(self_client, admin_user)
    access_tokens = [issued.access_token]  # the code exchange's token is the first of 15
    for _ in range(14):
        access_tokens.append(
            grants.refresh(
                **_credentials(self_client), refresh_token=issued.refresh_token
            ).access_token
        )
    assert AccessToken.objects.count() == 15
    assert all(whoami(token).status_code == 200 for token in access_tokens)

    sixteenth = grants.refresh(**_credentials(self_client), refresh_token=issued.refresh_token)

    assert AccessToken.objects.count() == 15
    assert whoami(access_tokens[0]).json() == INVALID_TOKEN_BODY
    assert all(whoami(token).status_code == 200 for token in access_tokens[1:])
    assert whoami(sixteenth.access_token).status_code == 200


def test_access_token_limit_is_per_refresh_token(self_client, admin_user):
    first = _new_refresh_token(self_client, admin_user)
    second = _new_refresh_token(self_client, admin_user)
    for _ in range(20):
        grants.refresh(**_credentials(self_client), refresh_token=second.refresh_token)

    assert whoami(first.access_token).status_code == 200
    assert AccessToken.objects.filter(refresh_token__user=admin_user).count() == 16


def test_refresh_retires_expired_access_tokens_first(self_client, admin_user):
    start = timezone.now()
    with time_machine.travel(start, tick=False) as traveller:
        issued = _new_refresh_token(self_client, admin_user)
        traveller.shift(timedelta(hours=1))

        grants.refresh(**_credentials(self_client), refresh_token=issued.refresh_token)

    assert AccessToken.objects.count() == 1


def test_refresh_query_count_is_the_same_at_the_limit(
    self_client, admin_user, django_assert_num_queries
):
    issued = _new_refresh_token(self_client, admin_user)
    for _ in range(15):
        grants.refresh(**_credentials(self_client), refresh_token=issued.refresh_token)

    # client; refresh token + user; INSERT access token; one DELETE retiring the oldest.
    with django_assert_num_queries(4):
        grants.refresh(**_credentials(self_client), refresh_token=issued.refresh_token)
    assert AccessToken.objects.count() == 15


def test_twenty_first_refresh_token_deletes_the_oldest(self_client, admin_user, make_user):
    bystander = make_user()
    kept = _new_refresh_token(self_client, bystander)
    issued = [_new_refresh_token(self_client, admin_user) for _ in range(20)]
    assert RefreshToken.objects.filter(user=admin_user).count() == 20

    twenty_first = _new_refresh_token(self_client, admin_user)

    assert RefreshToken.objects.filter(user=admin_user).count() == 20
    # The oldest is gone, and the access tokens it issued with it.
    assert whoami(issued[0].access_token).json() == INVALID_TOKEN_BODY
    assert AccessToken.objects.filter(user=admin_user).count() == 20
    for tokens in (*issued[1:], twenty_first):
        assert whoami(tokens.access_token).status_code == 200
    assert whoami(kept.access_token).status_code == 200  # another user's tokens are untouched


def test_deleted_oldest_refresh_token_answers_invalid_code(self_client, admin_user):
    oldest = _new_refresh_token(self_client, admin_user)
    for _ in range(20):
        _new_refresh_token(self_client, admin_user)

    with pytest.raises(grants.OAuthError) as failure:
        grants.refresh(**_credentials(self_client), refresh_token=oldest.refresh_token)
    assert failure.value.error == "invalid_code"


def test_revoked_refresh_tokens_do_not_count_toward_the_twenty(self_client, admin_user):
    revoked = _new_refresh_token(self_client, admin_user)
    grants.revoke(token=revoked.refresh_token)
    live = [_new_refresh_token(self_client, admin_user) for _ in range(20)]

    assert RefreshToken.objects.filter(user=admin_user, revoked_at__isnull=True).count() == 20
    assert all(whoami(tokens.access_token).status_code == 200 for tokens in live)


def test_twenty_first_refresh_token_query_count(self_client, admin_user, django_assert_num_queries):
    for _ in range(20):
        _new_refresh_token(self_client, admin_user)
    code = grants.issue_grant(client=self_client.client, user=admin_user, scopes=SCOPES)

    # client; grant code + user; SAVEPOINT; UPDATE code used; INSERT refresh token; SELECT the
    # refresh tokens beyond the newest 20 (one); DELETE their access tokens; DELETE them; INSERT
    # access token; RELEASE SAVEPOINT.
    with django_assert_num_queries(10):
        grants.exchange_code(**_credentials(self_client), code=code)


def test_access_token_expires_after_one_hour(self_client, admin_user):
    start = timezone.now()
    with time_machine.travel(start, tick=False) as traveller:
        issued = _new_refresh_token(self_client, admin_user)

        traveller.shift(timedelta(hours=1) - timedelta(seconds=1))
        assert whoami(issued.access_token).status_code == 200

        traveller.shift(timedelta(seconds=1))
        response = whoami(issued.access_token)
        assert response.status_code == 401
        assert response.json() == INVALID_TOKEN_BODY

        # The refresh token outlives it and issues a fresh hour.
        refreshed = grants.refresh(**_credentials(self_client), refresh_token=issued.refresh_token)
        assert whoami(refreshed.access_token).status_code == 200
