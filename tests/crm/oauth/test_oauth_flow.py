"""Acceptance 1: the whole OAuth flow over HTTP, as a Zoho client walks it."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone
from rest_framework.test import APIClient

from crm.models import AccessToken, GrantCode, RefreshToken
from crm.oauth import grants
from tests.crm.oauth.oauth_helpers import (
    INVALID_TOKEN_BODY,
    REVOKE_URL,
    TOKEN_SHAPE,
    TOKEN_URL,
    exchange,
    post_form,
    refresh,
    whoami,
)

pytestmark = [pytest.mark.django_db, pytest.mark.urls("tests.crm.oauth.whoami_urls")]

SCOPES = ["ZohoBigin.users.READ", "ZohoBigin.change_owner.CREATE"]


@pytest.fixture
def self_client(organization):
    return grants.create_self_client(organization=organization, name="Sync job")


def test_full_flow_code_exchange_call_refresh_revoke(self_client, admin_user, settings):
    settings.API_DOMAIN = "https://api.bigin.test"
    credentials = {
        "client_id": self_client.client.client_id,
        "client_secret": self_client.client_secret,
    }
    code = grants.issue_grant(client=self_client.client, user=admin_user, scopes=SCOPES)

    issued = exchange(**credentials, code=code)

    assert issued == {
        "access_token": issued["access_token"],
        "refresh_token": issued["refresh_token"],
        "scope": "ZohoBigin.users.READ ZohoBigin.change_owner.CREATE",
        "api_domain": "https://api.bigin.test",
        "token_type": "Bearer",
        "expires_in": 3600,
    }
    assert re.fullmatch(TOKEN_SHAPE, issued["access_token"])
    assert re.fullmatch(TOKEN_SHAPE, issued["refresh_token"])

    # The access token calls an endpoint, with either scheme.
    for scheme in ("Zoho-oauthtoken", "Bearer"):
        response = whoami(issued["access_token"], scheme)
        assert response.status_code == 200
        assert response.json() == {
            "id": str(admin_user.id),
            "organization_id": str(admin_user.organization_id),
        }

    refreshed = refresh(**credentials, refresh_token=issued["refresh_token"])

    assert refreshed == {
        "access_token": refreshed["access_token"],
        "scope": "ZohoBigin.users.READ ZohoBigin.change_owner.CREATE",
        "api_domain": "https://api.bigin.test",
        "token_type": "Bearer",
        "expires_in": 3600,
    }
    assert refreshed["access_token"] != issued["access_token"]
    assert whoami(refreshed["access_token"]).status_code == 200
    assert whoami(issued["access_token"]).status_code == 200  # refreshing doesn't retire it

    response = APIClient().post(f"{REVOKE_URL}?token={issued['refresh_token']}")

    assert response.status_code == 200
    assert response.json() == {"status": "success"}
    for access_token in (issued["access_token"], refreshed["access_token"]):
        response = whoami(access_token)
        assert response.status_code == 401
        assert response.json() == INVALID_TOKEN_BODY
    assert refresh(**credentials, refresh_token=issued["refresh_token"]) == {
        "error": "invalid_code"
    }
    token = RefreshToken.objects.get()
    assert token.revoked_at is not None
    assert not AccessToken.objects.filter(refresh_token=token, revoked_at__isnull=True).exists()


def test_parameters_may_come_in_the_query_string(self_client, admin_user):
    code = grants.issue_grant(client=self_client.client, user=admin_user, scopes=SCOPES)
    query = (
        f"grant_type=authorization_code&client_id={self_client.client.client_id}"
        f"&client_secret={self_client.client_secret}&code={code}"
    )

    response = APIClient().post(f"{TOKEN_URL}?{query}")

    assert response.status_code == 200
    assert whoami(response.json()["access_token"]).status_code == 200


def test_reused_grant_code_answers_invalid_code(self_client, admin_user):
    credentials = {
        "client_id": self_client.client.client_id,
        "client_secret": self_client.client_secret,
    }
    code = grants.issue_grant(client=self_client.client, user=admin_user, scopes=SCOPES)
    assert "access_token" in exchange(**credentials, code=code)

    assert exchange(**credentials, code=code) == {"error": "invalid_code"}
    assert RefreshToken.objects.count() == 1


def test_grant_code_expires_after_three_minutes(self_client, admin_user):
    credentials = {
        "client_id": self_client.client.client_id,
        "client_secret": self_client.client_secret,
    }
    start = timezone.now()
    with time_machine.travel(start, tick=False) as traveller:
        late = grants.issue_grant(client=self_client.client, user=admin_user, scopes=SCOPES)
        in_time = grants.issue_grant(client=self_client.client, user=admin_user, scopes=SCOPES)

        traveller.shift(timedelta(minutes=3) - timedelta(seconds=1))
        assert "access_token" in exchange(**credentials, code=in_time)

        traveller.shift(timedelta(seconds=1))
        assert exchange(**credentials, code=late) == {"error": "invalid_code"}
    assert GrantCode.objects.filter(used_at__isnull=True).count() == 1


@pytest.mark.parametrize(
    "field, value",
    [
        ("client_secret", "wrong-secret"),
        ("client_secret", ""),
        ("client_id", "1000.NOSUCHCLIENT"),
        ("client_id", ""),
    ],
)
def test_wrong_client_credentials_answer_invalid_client(self_client, admin_user, field, value):
    code = grants.issue_grant(client=self_client.client, user=admin_user, scopes=SCOPES)
    params = {
        "client_id": self_client.client.client_id,
        "client_secret": self_client.client_secret,
        "code": code,
    }
    params[field] = value

    assert exchange(**params) == {"error": "invalid_client"}
    # A failed client check doesn't burn the code.
    assert GrantCode.objects.get().used_at is None


def test_wrong_secret_on_refresh_answers_invalid_client(self_client, admin_user):
    code = grants.issue_grant(client=self_client.client, user=admin_user, scopes=SCOPES)
    issued = exchange(
        client_id=self_client.client.client_id, client_secret=self_client.client_secret, code=code
    )

    assert refresh(
        client_id=self_client.client.client_id,
        client_secret="wrong-secret",
        refresh_token=issued["refresh_token"],
    ) == {"error": "invalid_client"}


def test_code_and_refresh_token_only_work_for_their_own_client(self_client, admin_user):
    other = grants.create_self_client(organization=admin_user.organization, name="Other")
    other_credentials = {
        "client_id": other.client.client_id,
        "client_secret": other.client_secret,
    }
    code = grants.issue_grant(client=self_client.client, user=admin_user, scopes=SCOPES)

    assert exchange(**other_credentials, code=code) == {"error": "invalid_code"}

    issued = exchange(
        client_id=self_client.client.client_id, client_secret=self_client.client_secret, code=code
    )
    assert refresh(**other_credentials, refresh_token=issued["refresh_token"]) == {
        "error": "invalid_code"
    }


def test_unknown_code_and_refresh_token_answer_invalid_code(self_client):
    credentials = {
        "client_id": self_client.client.client_id,
        "client_secret": self_client.client_secret,
    }
    unknown = "1000." + "a" * 32 + "." + "b" * 32

    assert exchange(**credentials, code=unknown) == {"error": "invalid_code"}
    assert exchange(**credentials, code="") == {"error": "invalid_code"}
    assert refresh(**credentials, refresh_token=unknown) == {"error": "invalid_code"}


def test_code_of_a_user_disabled_since_answers_invalid_code(self_client, admin_user):
    code = grants.issue_grant(client=self_client.client, user=admin_user, scopes=SCOPES)
    admin_user.status = "disabled"
    admin_user.save()

    assert exchange(
        client_id=self_client.client.client_id, client_secret=self_client.client_secret, code=code
    ) == {"error": "invalid_code"}


def test_unknown_grant_type_is_refused():
    response = post_form(TOKEN_URL, {"grant_type": "password"})

    assert response.status_code == 200
    assert response.json() == {"error": "unsupported_grant_type"}


def test_revoking_one_access_token_leaves_its_refresh_token_working(self_client, admin_user):
    credentials = {
        "client_id": self_client.client.client_id,
        "client_secret": self_client.client_secret,
    }
    code = grants.issue_grant(client=self_client.client, user=admin_user, scopes=SCOPES)
    issued = exchange(**credentials, code=code)

    response = post_form(REVOKE_URL, {"token": issued["access_token"]})

    assert response.json() == {"status": "success"}
    assert whoami(issued["access_token"]).json() == INVALID_TOKEN_BODY
    refreshed = refresh(**credentials, refresh_token=issued["refresh_token"])
    assert whoami(refreshed["access_token"]).status_code == 200


def test_revoking_an_unknown_token_answers_success():
    response = APIClient().post(f"{REVOKE_URL}?token=1000.nothing")

    assert response.status_code == 200
    assert response.json() == {"status": "success"}


def test_exchange_refresh_and_revoke_query_counts(
    self_client, admin_user, django_assert_num_queries
):
    credentials = {
        "client_id": self_client.client.client_id,
        "client_secret": self_client.client_secret,
    }
    code = grants.issue_grant(client=self_client.client, user=admin_user, scopes=SCOPES)

    # client; grant code + user; SAVEPOINT (the test's stand-in for BEGIN); UPDATE code used;
    # INSERT refresh token; SELECT refresh tokens beyond the user's newest 20 (none); INSERT
    # access token; RELEASE SAVEPOINT (COMMIT).
    with django_assert_num_queries(8):
        issued = grants.exchange_code(**credentials, code=code)

    # client; refresh token + user; INSERT access token; DELETE retired access tokens.
    with django_assert_num_queries(4):
        grants.refresh(**credentials, refresh_token=issued.refresh_token)

    # refresh token by hash; SAVEPOINT; UPDATE refresh token; UPDATE its access tokens; RELEASE.
    with django_assert_num_queries(5):
        grants.revoke(token=issued.refresh_token)
