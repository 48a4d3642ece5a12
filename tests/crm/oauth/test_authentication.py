"""The token lookup on every request (crm/oauth/authentication.py): a token that worked stops
working on the very next request once it is revoked, its refresh token is revoked, or its user
is disabled or deleted. On PostgreSQL the lookup is one call of a function whose plan the server
session keeps, and nothing of it stays in the client's session, so it holds behind pgbouncer in
transaction mode (`make test` runs this file again through one)."""

from __future__ import annotations

import psycopg
import pytest
from django.db import connection
from django.forms.models import model_to_dict
from rest_framework.request import Request
from rest_framework.test import APIClient, APIRequestFactory

from crm.models import User
from crm.oauth import grants
from crm.oauth.authentication import ZohoOAuthTokenAuthentication
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


def test_the_lookup_loads_every_field_of_the_user_organization_and_profile(admin_user):
    token = grants.issue_access_token(user=admin_user, scopes=SCOPES)
    request = Request(APIRequestFactory().get("/", HTTP_AUTHORIZATION=f"Zoho-oauthtoken {token}"))

    user, access_token = ZohoOAuthTokenAuthentication().authenticate(request)

    stored = User.objects.select_related("organization", "profile").get(pk=admin_user.pk)
    assert model_to_dict(user) == model_to_dict(stored)
    assert model_to_dict(user.organization) == model_to_dict(stored.organization)
    assert model_to_dict(user.profile) == model_to_dict(stored.profile)
    assert access_token.scopes == SCOPES


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_the_lookup_keeps_nothing_in_the_session(admin_user, django_assert_num_queries):
    client = _client(grants.issue_access_token(user=admin_user, scopes=SCOPES))
    connection.close()  # a session of its own, where no earlier test left anything

    # one query a request: the token lookup
    with django_assert_num_queries(3):
        for _ in range(3):
            assert client.get(WHOAMI_PATH).status_code == 200
    with connection.cursor() as cursor:
        cursor.execute("SELECT name, statement FROM pg_prepared_statements")
        assert cursor.fetchall() == []


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_the_lookup_holds_when_the_next_transaction_runs_on_another_session(admin_user):
    """What pgbouncer in transaction mode does to a client (this test matters in make test's
    run through it; on a direct connection it holds trivially): the lookup ran on a server
    session, another client's transaction takes that session, so the next lookup runs on
    another one. A statement the client prepared on the first would not be there ("prepared
    statement does not exist"), and preparing it again where another client did fails ("already
    exists")."""
    client = _client(grants.issue_access_token(user=admin_user, scopes=SCOPES))
    assert client.get(WHOAMI_PATH).status_code == 200

    params = connection.get_connection_params()
    dsn = {
        key: params[key] for key in ("dbname", "user", "password", "host", "port") if key in params
    }
    with psycopg.connect(**dsn) as other:
        other.execute("SELECT 1")  # a transaction, kept open until the block ends

        assert client.get(WHOAMI_PATH).status_code == 200
    assert client.get(WHOAMI_PATH).status_code == 200


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_the_lookup_is_prepared_after_five_requests_without_a_pooler(admin_user, settings):
    """On a direct connection psycopg prepares the lookup's call after five runs
    (`prepare_threshold`), so PostgreSQL stops parsing it per request; behind pgbouncer in
    transaction mode (.ci/pgbouncer.sh runs this file there) nothing is prepared."""
    client = _client(grants.issue_access_token(user=admin_user, scopes=SCOPES))
    connection.close()
    for _ in range(7):
        assert client.get(WHOAMI_PATH).status_code == 200
    with connection.cursor() as cursor:
        cursor.execute("SELECT statement FROM pg_prepared_statements WHERE from_sql = false")
        prepared = [statement for (statement,) in cursor.fetchall()]
    if settings.DATABASE_POOLER == "transaction":
        assert prepared == []
        return
    assert any("crm_access_token_lookup" in statement for statement in prepared), prepared
