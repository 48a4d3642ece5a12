"""The token commands: what they print, and what they refuse."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from datetime import timedelta
from io import StringIO

import pytest
import time_machine
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from crm.models import AccessToken, OAuthClient
from crm.oauth.tokens import token_hash
from tests.crm.oauth.oauth_helpers import INVALID_TOKEN_BODY, TOKEN_SHAPE, exchange, whoami

pytestmark = [pytest.mark.django_db, pytest.mark.urls("tests.crm.oauth.whoami_urls")]


def _run(*args: str) -> str:
    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


@pytest.mark.parametrize("lookup", ["email", "id"])
def test_issue_token_prints_a_working_token_alone(admin_user, lookup):
    user = admin_user.email if lookup == "email" else str(admin_user.id)

    output = _run("issue_token", "--user", user, "--scope", "ZohoBigin.users.READ")

    assert re.fullmatch(TOKEN_SHAPE + "\n", output)
    response = whoami(output.strip())
    assert response.status_code == 200
    assert response.json()["id"] == str(admin_user.id)


def test_issue_token_takes_comma_separated_scopes(admin_user):
    token = _run(
        "issue_token",
        "--user",
        admin_user.email,
        "--scope",
        "ZohoBigin.change_owner.CREATE, ZohoBigin.users.READ",
    ).strip()

    assert AccessToken.objects.get(token_hash=token_hash(token)).scopes == [
        "ZohoBigin.change_owner.CREATE",
        "ZohoBigin.users.READ",
    ]


def test_issue_token_expires_in(admin_user):
    start = timezone.now()
    with time_machine.travel(start, tick=False) as traveller:
        token = _run(
            "issue_token",
            "--user",
            admin_user.email,
            "--scope",
            "ZohoBigin.users.READ",
            "--expires-in",
            "60",
        ).strip()
        traveller.shift(timedelta(seconds=59))
        assert whoami(token).status_code == 200
        traveller.shift(timedelta(seconds=1))
        assert whoami(token).json() == INVALID_TOKEN_BODY


@pytest.mark.parametrize("status", ["disabled", "deleted"])
def test_issue_token_refuses_an_inactive_user(make_user, status):
    user = make_user(status=status)

    with pytest.raises(CommandError, match=f"is {status}") as failure:
        _run("issue_token", "--user", user.email, "--scope", "ZohoBigin.users.READ")

    assert failure.value.returncode == 1
    assert not AccessToken.objects.exists()


def test_issue_token_on_the_command_line_stdout_and_exit_status(tmp_path):
    """The real `manage.py` in a child process, on a throwaway SQLite database: an active user's
    token is the only thing on stdout; a disabled or deleted user exits non-zero with stdout empty.
    (A child process, because Django closes the database connections when a command line ends,
    which the test's own transaction would not survive.)"""
    sandbox = tmp_path / "sandbox.json"
    sandbox.write_text(
        json.dumps(
            {
                "organizations": [
                    {
                        "name": "Zylker",
                        "users": [
                            {
                                "full_name": "Ann Lee",
                                "email": f"{status}@zylker.test",
                                "status": status,
                                "profile": "Administrator",
                            }
                            for status in ("active", "disabled", "deleted")
                        ],
                        "records": [],
                    }
                ]
            }
        )
    )
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        "DJANGO_SECRET_KEY": "test-only",
        "REDIS_URL": "",
        "CELERY_BROKER_URL": "",
    }

    def manage(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=settings.BASE_DIR,
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )

    for args in (("migrate", "--no-input"), ("load_sandbox", str(sandbox))):
        assert manage(*args).returncode == 0

    scope = ("--scope", "ZohoBigin.users.READ")
    active = manage("issue_token", "--user", "active@zylker.test", *scope)
    assert active.returncode == 0, active.stderr
    assert re.fullmatch(TOKEN_SHAPE + "\n", active.stdout)
    for status in ("disabled", "deleted"):
        refused = manage("issue_token", "--user", f"{status}@zylker.test", *scope)
        assert refused.returncode == 1
        assert refused.stdout == ""
        assert f"is {status}" in refused.stderr


@pytest.mark.parametrize(
    "user, scope, message",
    [
        ("nobody@nowhere.test", "ZohoBigin.users.READ", "No user with id or email"),
        ("ADMIN", "", "at least one scope is required"),
        ("ADMIN", "ZohoDesk.users.READ", "not a ZohoBigin or ZohoCRM scope"),
        ("ADMIN", "ZohoBigin.users", "not a ZohoBigin or ZohoCRM scope"),
    ],
)
def test_issue_token_refuses_bad_arguments(admin_user, user, scope, message):
    user = admin_user.email if user == "ADMIN" else user

    with pytest.raises(CommandError, match=message):
        _run("issue_token", "--user", user, "--scope", scope)
    assert not AccessToken.objects.exists()


def test_issue_token_refuses_a_non_positive_lifetime(admin_user):
    with pytest.raises(CommandError, match="positive"):
        _run(
            "issue_token",
            "--user",
            admin_user.email,
            "--scope",
            "ZohoBigin.users.READ",
            "--expires-in",
            "0",
        )


@pytest.mark.parametrize("lookup", ["name", "id"])
def test_create_self_client_prints_id_then_secret_and_nothing_else(organization, lookup):
    org = organization.name if lookup == "name" else str(organization.id)

    output = _run("create_self_client", "--org", org, "--name", "Sync job")

    client_id, secret = output.splitlines()
    assert output == f"{client_id}\n{secret}\n"
    client = OAuthClient.objects.get()
    assert client.client_id == client_id
    assert client.organization == organization
    assert client.name == "Sync job"
    assert client.secret_hash == token_hash(secret)


def test_create_self_client_refuses_an_unknown_organization(organization):
    with pytest.raises(CommandError, match="No organization"):
        _run("create_self_client", "--org", "Nowhere", "--name", "Sync job")


def test_issue_grant_prints_a_code_that_exchanges_once(organization, admin_user):
    client_id, secret = _run(
        "create_self_client", "--org", organization.name, "--name", "Sync job"
    ).splitlines()

    output = _run(
        "issue_grant",
        "--client-id",
        client_id,
        "--user",
        admin_user.email,
        "--scope",
        "ZohoBigin.users.READ,ZohoBigin.change_owner.CREATE",
    )

    assert re.fullmatch(TOKEN_SHAPE + "\n", output)
    issued = exchange(client_id=client_id, client_secret=secret, code=output.strip())
    assert issued["scope"] == "ZohoBigin.users.READ ZohoBigin.change_owner.CREATE"
    assert whoami(issued["access_token"]).status_code == 200


def test_issue_grant_refuses_a_user_of_another_organization(
    organization, other_organization, make_user
):
    client_id, _ = _run(
        "create_self_client", "--org", organization.name, "--name", "Sync job"
    ).splitlines()
    outsider = make_user(organization=other_organization)

    with pytest.raises(CommandError, match="not in the client's organization"):
        _run(
            "issue_grant",
            "--client-id",
            client_id,
            "--user",
            outsider.email,
            "--scope",
            "ZohoBigin.users.READ",
        )


def test_issue_grant_refuses_an_unknown_client(admin_user):
    with pytest.raises(CommandError, match="No OAuth client"):
        _run(
            "issue_grant",
            "--client-id",
            "1000.NOPE",
            "--user",
            admin_user.email,
            "--scope",
            "ZohoBigin.users.READ",
        )
