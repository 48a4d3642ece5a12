"""The token server's admin: staff see clients and tokens, never a secret or a hash, and revoke."""

from __future__ import annotations

import pytest
from django.test import Client

from crm.models import AccessToken, GrantCode, OAuthClient, RefreshToken
from crm.oauth import grants

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff_client(admin_user):
    admin_user.is_staff = True
    admin_user.is_superuser = True
    admin_user.save()
    client = Client()
    client.force_login(admin_user)
    return client


@pytest.fixture
def issued(admin_user):
    created = grants.create_self_client(organization=admin_user.organization, name="Sync job")
    code = grants.issue_grant(
        client=created.client, user=admin_user, scopes=["ZohoBigin.users.READ"]
    )
    spare_code = grants.issue_grant(
        client=created.client, user=admin_user, scopes=["ZohoBigin.users.READ"]
    )
    tokens = grants.exchange_code(
        client_id=created.client.client_id, client_secret=created.client_secret, code=code
    )
    return {
        "client secret": created.client_secret,
        "grant code": spare_code,
        "refresh token": tokens.refresh_token,
        "access token": tokens.access_token,
    }


def test_staff_see_clients_and_tokens_but_never_a_secret_or_hash(staff_client, issued):
    hashes = [
        *OAuthClient.objects.values_list("secret_hash", flat=True),
        *GrantCode.objects.values_list("code_hash", flat=True),
        *RefreshToken.objects.values_list("token_hash", flat=True),
        *AccessToken.objects.values_list("token_hash", flat=True),
    ]
    pages = []
    for model in (OAuthClient, GrantCode, RefreshToken, AccessToken):
        name = model._meta.model_name
        pages.append(f"/admin/crm/{name}/")
        pages.append(f"/admin/crm/{name}/{model.objects.first().pk}/change/")

    for page in pages:
        response = staff_client.get(page)
        assert response.status_code == 200, page
        html = response.content.decode()
        for secret in (*issued.values(), *hashes):
            assert secret not in html, page
    assert OAuthClient.objects.get().client_id in staff_client.get("/admin/crm/oauthclient/").text


def test_revoke_action_revokes_refresh_tokens_and_their_access_tokens(staff_client, issued):
    token = RefreshToken.objects.get()

    response = staff_client.post(
        "/admin/crm/refreshtoken/", {"action": "revoke", "_selected_action": [token.pk]}
    )

    assert response.status_code == 302
    token.refresh_from_db()
    assert token.revoked_at is not None
    assert not AccessToken.objects.filter(revoked_at__isnull=True).exists()


def test_tokens_cannot_be_added_in_the_admin(staff_client):
    for name in ("oauthclient", "grantcode", "refreshtoken", "accesstoken"):
        assert staff_client.get(f"/admin/crm/{name}/add/").status_code == 403


@pytest.mark.parametrize("count", [3, 30])
def test_the_access_token_changelist_costs_a_fixed_number_of_queries(
    staff_client, admin_user, make_user, count, django_assert_num_queries
):
    created = grants.create_self_client(organization=admin_user.organization, name="Sync job")
    for _ in range(count):
        code = grants.issue_grant(
            client=created.client, user=make_user(), scopes=["ZohoBigin.users.READ"]
        )
        grants.exchange_code(
            client_id=created.client.client_id, client_secret=created.client_secret, code=code
        )

    # 1 session, 2 the logged-in user, 3 the organization filter's choices, 4 COUNT(*) of the
    # list and 5 of the whole table (show_full_result_count), 6 the page of tokens with their
    # user, organization and refresh token JOINed: never one query per row.
    with django_assert_num_queries(6):
        response = staff_client.get("/admin/crm/accesstoken/")

    assert len(response.context["cl"].result_list) == count
