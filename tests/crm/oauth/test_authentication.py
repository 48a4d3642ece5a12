"""The token lookup on every request (crm/oauth/authentication.py): a token that worked stops
working on the very next request once it is revoked, its refresh token is revoked, or its user
is disabled or deleted; on PostgreSQL the lookup is one statement prepared once per connection,
so each of these runs on a connection where it is already prepared."""

from __future__ import annotations

import pytest
from django.db import connection
from rest_framework.test import APIClient

from crm.oauth import grants
from tests.crm.oauth.oauth_helpers import INVALID_TOKEN_BODY

pytestmark = [pytest.mark.django_db, pytest.mark.urls("tests.crm.oauth.whoami_urls")]

WHOAMI_PATH = "/bigin/v2/test-only/who/am-i"
SCOPES = ["ZohoBigin.users.READ"]


def _client(token: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Zoho-oauthtoken {token}")
    return client


def _issue_with_refresh_token(user) -> tuple[str, str]:
    client = grants.create_self_client(organization=user.organization, name="Sync job")
    code = grants.issue_grant(client=client.client, user=user, scopes=SCOPES)
    issued = grants.exchange_code(
        client_id=client.client.client_id, client_secret=client.client_secret, code=code
    )
    return issued.access_token, issued.refresh_token


def _revoke_access_token(user, token, refresh):
    grants.revoke(token=token)


def _revoke_refresh_token(user, token, refresh):
    grants.revoke(token=refresh)


def _set_status(status):
    def change(user, token, refresh):
        user.status = status
        user.save()

    return change


@pytest.mark.parametrize(
    "withdraw",
    [
        _revoke_access_token,
        _revoke_refresh_token,
        _set_status("disabled"),
        _set_status("deleted"),
    ],
    ids=["access token revoked", "refresh token revoked", "user disabled", "user deleted"],
)
def test_a_withdrawn_token_fails_on_the_next_request(admin_user, withdraw):
    token, refresh = _issue_with_refresh_token(admin_user)
    client = _client(token)
    assert client.get(WHOAMI_PATH).status_code == 200

    withdraw(admin_user, token, refresh)
    response = client.get(WHOAMI_PATH)

    assert response.status_code == 401
    assert response.json() == INVALID_TOKEN_BODY


def test_the_lookup_gives_the_caller_and_their_organization(admin_user, organization):
    response = _client(grants.issue_access_token(user=admin_user, scopes=SCOPES)).get(WHOAMI_PATH)

    # The profile it loads with them decides NO_PERMISSION (tests/owners/api).
    assert response.json() == {"id": str(admin_user.id), "organization_id": str(organization.id)}


def test_an_authenticated_request_costs_one_query_for_the_token(
    admin_user, django_assert_num_queries
):
    client = _client(grants.issue_access_token(user=admin_user, scopes=SCOPES))
    client.get(WHOAMI_PATH)  # the connection's first lookup may prepare the statement

    # 1. the access token with its user, organization and profile (the whoami view reads
    #    nothing else)
    with django_assert_num_queries(1):
        assert client.get(WHOAMI_PATH).status_code == 200


@pytest.mark.postgres
def test_the_lookup_is_prepared_once_per_connection(admin_user):
    client = _client(grants.issue_access_token(user=admin_user, scopes=SCOPES))
    for _ in range(3):
        assert client.get(WHOAMI_PATH).status_code == 200

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT name, parameter_types::text[] FROM pg_prepared_statements"
            " WHERE name = 'crm_access_token'"
        )
        assert cursor.fetchall() == [("crm_access_token", ["text", "timestamp with time zone"])]
