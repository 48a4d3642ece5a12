"""Acceptance 4 and 5: every way a request can fail authentication, with Bigin's exact bodies, and
a token resolving to its own user and organization.

The endpoint is the test-only `whoami` (tests/crm/oauth/whoami_urls.py), which accepts
`ZohoBigin.users.READ` as the real users endpoint does.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from rest_framework.test import APIClient

from crm.oauth import grants
from tests.crm.oauth.whoami_urls import WHOAMI_PATH

pytestmark = pytest.mark.django_db

AUTHENTICATION_FAILURE = {
    "code": "AUTHENTICATION_FAILURE",
    "details": {},
    "message": "Authentication failed",
    "status": "error",
}
INVALID_TOKEN = {
    "code": "INVALID_TOKEN",
    "details": {},
    "message": "invalid oauth token",
    "status": "error",
}
OAUTH_SCOPE_MISMATCH = {
    "code": "OAUTH_SCOPE_MISMATCH",
    "details": {},
    "message": "invalid oauth scope to access this URL",
    "status": "error",
}


def _live(user, scopes=("ZohoBigin.users.READ",)):
    return grants.issue_access_token(user=user, scopes=list(scopes))


def _expired(user):
    return grants.issue_access_token(
        user=user, scopes=["ZohoBigin.users.READ"], expires_in=timedelta(seconds=-1)
    )


def _revoked_refresh_token(user):
    client = grants.create_self_client(organization=user.organization, name="Sync job")
    code = grants.issue_grant(client=client.client, user=user, scopes=["ZohoBigin.users.READ"])
    issued = grants.exchange_code(
        client_id=client.client.client_id, client_secret=client.client_secret, code=code
    )
    grants.revoke(token=issued.refresh_token)
    return issued.access_token


def _revoked_access_token(user):
    token = _live(user)
    grants.revoke(token=token)
    return token


def _of_user_with_status(status):
    def build(user):
        token = _live(user)
        user.status = status
        user.save()
        return token

    return build


# (case, the Authorization header built from the user, expected status, expected body)
MATRIX = [
    ("missing header", None, 401, AUTHENTICATION_FAILURE),
    ("basic scheme", lambda u: f"Basic {_live(u)}", 401, AUTHENTICATION_FAILURE),
    ("token without scheme", lambda u: _live(u), 401, AUTHENTICATION_FAILURE),
    ("empty token", lambda u: "Zoho-oauthtoken ", 401, INVALID_TOKEN),
    (
        "unknown token",
        lambda u: "Zoho-oauthtoken 1000." + "0" * 32 + "." + "0" * 32,
        401,
        INVALID_TOKEN,
    ),
    ("expired token", lambda u: f"Zoho-oauthtoken {_expired(u)}", 401, INVALID_TOKEN),
    (
        "revoked refresh token's access token",
        lambda u: f"Zoho-oauthtoken {_revoked_refresh_token(u)}",
        401,
        INVALID_TOKEN,
    ),
    (
        "revoked access token",
        lambda u: f"Bearer {_revoked_access_token(u)}",
        401,
        INVALID_TOKEN,
    ),
    (
        "disabled user",
        lambda u: f"Zoho-oauthtoken {_of_user_with_status('disabled')(u)}",
        401,
        INVALID_TOKEN,
    ),
    (
        "deleted user",
        lambda u: f"Zoho-oauthtoken {_of_user_with_status('deleted')(u)}",
        401,
        INVALID_TOKEN,
    ),
    (
        "scope not accepted",
        lambda u: f"Zoho-oauthtoken {_live(u, ['ZohoBigin.modules.READ'])}",
        401,
        OAUTH_SCOPE_MISMATCH,
    ),
    (
        "ALL of another resource",
        lambda u: f"Zoho-oauthtoken {_live(u, ['ZohoBigin.modules.ALL'])}",
        401,
        OAUTH_SCOPE_MISMATCH,
    ),
    (
        "another operation on the resource",
        lambda u: f"Zoho-oauthtoken {_live(u, ['ZohoBigin.users.CREATE'])}",
        401,
        OAUTH_SCOPE_MISMATCH,
    ),
    ("accepted scope", lambda u: f"Zoho-oauthtoken {_live(u)}", 200, None),
    (
        "ALL of the resource",
        lambda u: f"Zoho-oauthtoken {_live(u, ['ZohoBigin.users.ALL'])}",
        200,
        None,
    ),
    (
        "accepted scope among others",
        lambda u: f"Zoho-oauthtoken {_live(u, ['ZohoBigin.modules.ALL', 'ZohoBigin.users.READ'])}",
        200,
        None,
    ),
    ("bearer scheme", lambda u: f"Bearer {_live(u)}", 200, None),
    ("scheme in lower case", lambda u: f"zoho-oauthtoken {_live(u)}", 200, None),
]


@pytest.mark.urls("tests.crm.oauth.whoami_urls")
@pytest.mark.parametrize(
    "header, status, body", [case[1:] for case in MATRIX], ids=[case[0] for case in MATRIX]
)
def test_authentication_matrix(admin_user, header, status, body):
    client = APIClient()
    if header is not None:
        client.credentials(HTTP_AUTHORIZATION=header(admin_user))

    response = client.get(WHOAMI_PATH)

    assert response.status_code == status
    if body is None:
        body = {"id": str(admin_user.id), "organization_id": str(admin_user.organization_id)}
    assert response.json() == body


@pytest.mark.urls("tests.crm.oauth.whoami_urls")
def test_token_resolves_to_its_own_user_and_organization(
    admin_user, other_organization, make_user, django_assert_num_queries
):
    other_user = make_user(organization=other_organization)

    for user in (admin_user, other_user):
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Zoho-oauthtoken {_live(user)}")
        # One indexed query resolves the token, its user, organization, profile and refresh token.
        with django_assert_num_queries(1):
            response = client.get(WHOAMI_PATH)
        assert response.json() == {
            "id": str(user.id),
            "organization_id": str(user.organization_id),
        }
    assert admin_user.organization_id != other_organization.id


@pytest.mark.urls("tests.crm.oauth.whoami_urls")
def test_auth_is_checked_before_the_method():
    response = APIClient().post(WHOAMI_PATH)

    assert response.status_code == 401
    assert response.json() == AUTHENTICATION_FAILURE


def test_the_test_endpoint_is_not_part_of_the_product(admin_user):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Zoho-oauthtoken {_live(admin_user)}")

    response = client.get(WHOAMI_PATH)

    assert response.status_code == 404
    assert response.json() == {
        "code": "INVALID_URL_PATTERN",
        "details": {},
        "message": "Please check if the URL trying to access is a correct one",
        "status": "error",
    }
