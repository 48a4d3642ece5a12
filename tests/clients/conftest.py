"""The official Zoho CRM SDKs against a live server (pytest-django's `live_server`).

`run_sdk(sdk, user, scopes, steps)` issues a grant code for `user` through the token server's own
services, logs the SDK in with it (grant code exchange at /oauth/v2/token, then the SDK's own
reads of /users?type=CurrentUser and /org) and runs `steps`; it answers the parsed SDK objects as
plain data (tests/clients/python_sdk.py, tests/clients/node/run.mjs). The Node SDK is installed
by `npm ci` in tests/clients/node (`.ci/run` does it); where it is missing the tests fail under
CI=true and are skipped otherwise, like every test that needs a real component.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from crm.oauth.grants import create_self_client, issue_grant
from tests.clients import python_sdk
from tests.conftest import IN_CI
from tests.factories import OrganizationFactory, RecordFactory, UserFactory

# A real redis-server and Celery workers where jobs matter (mass change owner).
from tests.integration.conftest import publish_to, queue_name, redis_server, start_worker  # noqa: F401

NODE_DIR = Path(__file__).parent / "node"
NODE_SDK = NODE_DIR / "node_modules" / "@zohocrm" / "nodejs-sdk-8.0" / "package.json"
SDKS = ("python", "node")

# What an integration that reads and changes owners asks for, in Zoho CRM's scope family.
CRM_SCOPES = (
    "ZohoCRM.change_owner.CREATE",
    "ZohoCRM.modules.ALL",
    "ZohoCRM.users.READ",
    "ZohoCRM.org.READ",
    "ZohoCRM.settings.ALL",
)


def _require_node() -> str:
    node = shutil.which("node")
    reason = None
    if node is None:
        reason = "needs Node.js (node) for the official Node SDK"
    elif not NODE_SDK.exists():
        reason = f"needs the Node SDK: (cd {NODE_DIR} && npm ci)"
    if reason is not None:
        if IN_CI:
            pytest.fail(f"{reason} (CI=true: a missing component is a failure, not a skip)")
        pytest.skip(reason)
    return node


def _run_node(config: dict) -> dict:
    node = _require_node()
    done = subprocess.run(
        [node, str(NODE_DIR / "run.mjs")],
        input=json.dumps(config),
        capture_output=True,
        text=True,
        cwd=NODE_DIR,
        timeout=120,
        check=False,
    )
    if done.returncode != 0:
        pytest.fail(f"the Node SDK runner failed ({done.returncode}):\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.fixture
def world(transactional_db):
    """Zylker (the caller's organization) and Nimbus (another one), with every kind of owner."""
    zylker = OrganizationFactory(name="Zylker")
    nimbus = OrganizationFactory(name="Nimbus")

    def user(org, name, email, **fields):
        return UserFactory(organization=org, full_name=name, email=email, **fields)

    ann = user(zylker, "Ann Lee", "ann@zylker.test")
    w = {
        "org": zylker,
        "ann": ann,
        "bo": user(zylker, "Bo Chen", "bo@zylker.test", profile_name="Standard"),
        "cy": user(zylker, "Cy Park", "cy@zylker.test", status="disabled"),
        "dee": user(zylker, "Dee Roy", "dee@zylker.test", status="deleted"),
        "rae": user(zylker, "Rae Kim", "rae@zylker.test", profile_name="Read Only"),
        "stranger": user(nimbus, "Sam Ito", "sam@nimbus.test"),
    }
    w["contacts"] = [
        RecordFactory(
            organization=zylker,
            owner=ann,
            module_name="Contacts",
            name=f"Contact {n}",
            fields={"Last_Name": f"Contact {n}", "Email": f"contact{n}@example.test"},
        )
        for n in range(3)
    ]
    w["deal"] = RecordFactory(
        organization=zylker,
        owner=ann,
        module_name="Pipelines",
        name="Big deal",
        fields={"Deal_Name": "Big deal", "Amount": 1200},
    )
    w["task"] = RecordFactory(
        organization=zylker,
        owner=ann,
        module_name="Tasks",
        name="Call back",
        fields={"Subject": "Call back"},
        related_to=w["contacts"][0],
    )
    w["foreign_contact"] = RecordFactory(
        organization=nimbus, owner=w["stranger"], module_name="Contacts", name="Theirs"
    )
    return w


@pytest.fixture
def self_client(world):
    return create_self_client(organization=world["org"], name="SDK tests")


@pytest.fixture
def run_sdk(live_server, self_client, tmp_path) -> Callable[..., dict]:
    """`run_sdk(sdk, user, steps, scopes=CRM_SCOPES, refresh_token=None)` -> the SDK's answers."""
    runs = iter(range(1000))

    def run(sdk, user, steps, scopes=CRM_SCOPES, refresh_token=None):
        work = tmp_path / f"{sdk}-{next(runs)}"
        work.mkdir()
        config = {
            "url": live_server.url,
            "clientId": self_client.client.client_id,
            "clientSecret": self_client.client_secret,
            "workDir": str(work),
            "steps": steps,
        }
        if refresh_token:
            config["refreshToken"] = refresh_token
        else:
            config["grantToken"] = issue_grant(
                client=self_client.client, user=user, scopes=list(scopes)
            )
        answer = python_sdk.run(config) if sdk == "python" else _run_node(config)
        log = work / "sdk.log"
        answer["log"] = log.read_text(errors="replace") if log.exists() else ""
        return answer

    return run


@pytest.fixture(params=SDKS)
def sdk(request) -> str:
    if request.param == "node":
        _require_node()
    return request.param
