"""Acceptance 3: no client secret, grant code or token is stored in clear, anywhere."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command
from django.db import connection

from crm.oauth import grants
from crm.oauth.tokens import token_hash
from tests.crm.oauth.oauth_helpers import REVOKE_URL, exchange, post_form, refresh

pytestmark = [pytest.mark.django_db, pytest.mark.urls("tests.crm.oauth.whoami_urls")]


def _database_dump() -> str:
    """Every cell of every table, as text: a plain search target for the issued strings."""
    cells = []
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names():
            cursor.execute(f"SELECT * FROM {connection.ops.quote_name(table)}")
            cells.extend(str(value) for row in cursor.fetchall() for value in row)
    return "\n".join(cells)


def test_no_secret_code_or_token_is_stored_in_clear(organization, admin_user):
    out = StringIO()
    call_command("create_self_client", org=organization.name, name="Sync job", stdout=out)
    client_id, client_secret = out.getvalue().splitlines()
    out = StringIO()
    call_command(
        "issue_grant",
        client_id=client_id,
        user=admin_user.email,
        scope="ZohoBigin.users.READ",
        stdout=out,
    )
    code = out.getvalue().strip()
    issued = exchange(client_id=client_id, client_secret=client_secret, code=code)
    refreshed = refresh(
        client_id=client_id, client_secret=client_secret, refresh_token=issued["refresh_token"]
    )
    out = StringIO()
    call_command("issue_token", user=admin_user.email, scope="ZohoBigin.users.READ", stdout=out)
    command_token = out.getvalue().strip()
    direct_token = grants.issue_access_token(user=admin_user, scopes=["ZohoBigin.users.READ"])
    post_form(REVOKE_URL, {"token": issued["refresh_token"]})

    secrets = {
        "client secret": client_secret,
        "grant code": code,
        "refresh token": issued["refresh_token"],
        "access token (code grant)": issued["access_token"],
        "access token (refresh grant)": refreshed["access_token"],
        "access token (issue_token)": command_token,
        "access token (service)": direct_token,
    }
    dump = _database_dump()

    # The search works: each hash is there (and the client id, which is public).
    assert client_id in dump
    for secret in secrets.values():
        assert token_hash(secret) in dump
    # The secrets, or their random halves, are not.
    for name, secret in secrets.items():
        for fragment in {secret, *secret.split(".")[1:]}:
            assert fragment not in dump, f"{name} found in clear in the database"
