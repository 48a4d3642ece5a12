"""The pytest plugin: a fresh Bigin organization per test, deleted after it (docs/sandbox.md).

    def test_my_client(bigin_org):
        client = MyClient(bigin_org.api_domain, bigin_org.users[0].access_token)

The sandbox is the one `make sandbox` (or `make run`) serves: its address and key come from
`--bigin-sandbox-url` / `--bigin-sandbox-key`, else the BIGIN_SANDBOX_URL / BIGIN_SANDBOX_KEY
environment variables. Without them a test that asks for the fixtures is skipped with the
reason, or fails when CI=true (a missing sandbox in CI is an error, not a skip).

`@pytest.mark.bigin_org(users=[...], records=[...], ...)` gives the organization's content in the
sandbox file's shape; without it the organization has an administrator and a sales rep with
unique emails and no records.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest

from .client import Organization, Sandbox, SandboxError

MARKER = "bigin_org"


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("bigin-sandbox", "the Bigin sandbox (bigin_sandbox plugin)")
    group.addoption("--bigin-sandbox-url", help="default: $BIGIN_SANDBOX_URL")
    group.addoption("--bigin-sandbox-key", help="default: $BIGIN_SANDBOX_KEY")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        f"{MARKER}(**body): the content of the test's organization (users, records, edition,"
        " scopes), in the sandbox file's shape",
    )


def _missing(reason: str) -> None:
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{reason} (CI=true: a missing sandbox is a failure, not a skip)")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def bigin_sandbox(pytestconfig: pytest.Config) -> Sandbox:
    """The sandbox's controls."""
    url = pytestconfig.getoption("bigin_sandbox_url") or os.environ.get("BIGIN_SANDBOX_URL")
    key = pytestconfig.getoption("bigin_sandbox_key") or os.environ.get("BIGIN_SANDBOX_KEY")
    if not url or not key:
        _missing(
            "no Bigin sandbox: run `make sandbox` and set BIGIN_SANDBOX_URL and BIGIN_SANDBOX_KEY"
        )
    return Sandbox(url, key)


def _default_users(suffix: str) -> list[dict[str, str]]:
    return [
        {
            "full_name": "Ann Admin",
            "email": f"ann.{suffix}@example.test",
            "profile": "Administrator",
            "role": "CEO",
        },
        {
            "full_name": "Sam Sales",
            "email": f"sam.{suffix}@example.test",
            "profile": "Standard",
            "role": "Sales Rep",
        },
    ]


@pytest.fixture
def bigin_org(bigin_sandbox: Sandbox, request: pytest.FixtureRequest) -> Iterator[Organization]:
    """A fresh organization with tokens for its users, deleted after the test."""
    marker = request.node.get_closest_marker(MARKER)
    body = dict(marker.kwargs) if marker else {}
    suffix = uuid.uuid4().hex[:10]
    body.setdefault("name", f"{request.node.name[:150]} {suffix}")
    body.setdefault("users", _default_users(suffix))
    organization = bigin_sandbox.create_organization(**body)
    yield organization
    try:
        organization.delete()
    except SandboxError as error:
        if error.status != 404:  # the test deleted it itself
            raise
