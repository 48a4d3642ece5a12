"""Each kind of fault seen from real clients over HTTP, retrying or failing as they should:
`requests` with urllib3's `Retry` (what a Python integration's retry code is made of), and the
official Zoho CRM Python SDK (`zohocrmsdk8-0`, unmodified), which does not retry and must
report the error the envelope carries.

The live server is pytest-django's (a thread of this process, so the test's settings turn the
controls on); a dropped connection needs a server that hands the application its socket, so
those tests run a real gunicorn (tests/integration/live.py) with the controls on.
"""

from __future__ import annotations

import time

import pytest
import requests
from requests.adapters import HTTPAdapter
from urllib3.util import Retry
from zohocrmsdk.src.com.zoho.crm.api.exception import SDKException

from crm.models import Record
from tests.clients import python_sdk
from tests.integration.live import live_gunicorn  # noqa: F401 - the fixture

from .conftest import CHANGE_OWNER, SANDBOX_KEY, org_body

# Transactional tests flush every table afterwards; serialized_rollback puts back the rows of the
# data migrations (the modules) for the tests that follow.
pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)

RETRY_STATUSES = (429, 500, 502, 503, 504)
CRM_CHANGE_OWNER = "/crm/v8/Contacts/actions/change_owner"


class Sandbox:
    """The controls over HTTP, as a test suite drives them."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.http = requests.Session()
        self.http.headers["X-Sandbox-Key"] = SANDBOX_KEY

    def create(self) -> dict:
        answer = self.http.post(f"{self.url}/sandbox/v1/organizations", json=org_body())
        assert answer.status_code == 201, answer.text
        return answer.json()

    def fault(self, org: dict, **rule) -> str:
        answer = self.http.post(
            f"{self.url}/sandbox/v1/organizations/{org['organization']['id']}/faults", json=rule
        )
        assert answer.status_code == 201, answer.text
        return answer.json()["id"]

    def journal(self, org: dict, **query) -> list[dict]:
        answer = self.http.get(
            f"{self.url}/sandbox/v1/organizations/{org['organization']['id']}/requests",
            params=query,
        )
        assert answer.status_code == 200, answer.text
        return answer.json()["requests"]


def client(org: dict, retry: Retry | None) -> requests.Session:
    """An integration's HTTP client: its token, and urllib3's retries when it has any."""
    session = requests.Session()
    session.headers["Authorization"] = f"Zoho-oauthtoken {org['users'][0]['access_token']}"
    if retry is not None:
        session.mount("http://", HTTPAdapter(max_retries=retry))
    return session


def retries(**overrides) -> Retry:
    """Retry 429 and 5xx answers (honouring Retry-After) and lost connections, on every method:
    a change of owner to the same owner is safe to send twice."""
    return Retry(
        **{
            "total": 3,
            "backoff_factor": 0,
            "status_forcelist": RETRY_STATUSES,
            "allowed_methods": None,
            "respect_retry_after_header": True,
            **overrides,
        }
    )


def change_owner_body(org: dict) -> dict:
    return {"ids": ["3001"], "owner": {"id": org["users"][1]["id"]}}


@pytest.fixture
def sandbox(sandbox_on, live_server) -> Sandbox:
    return Sandbox(live_server.url)


@pytest.fixture
def gunicorn_sandbox(live_gunicorn) -> Sandbox:  # noqa: F811
    server = live_gunicorn(workers=1, SANDBOX_API="true", SANDBOX_API_KEY=SANDBOX_KEY)
    return Sandbox(server.url)


# --- requests with urllib3's Retry ------------------------------------------------------------


def test_requests_retries_a_429_after_its_retry_after_and_gets_through(sandbox):
    org = sandbox.create()
    sandbox.fault(
        org,
        match={"method": "POST", "path": CHANGE_OWNER},
        response={"status": 429, "retry_after": 1},
        times=2,
    )

    started = time.monotonic()
    answer = client(org, retries()).post(sandbox.url + CHANGE_OWNER, json=change_owner_body(org))
    waited = time.monotonic() - started

    assert answer.status_code == 200
    assert answer.json()["data"][0]["code"] == "SUCCESS"
    assert waited >= 2  # urllib3 waited Retry-After twice
    assert [entry["status"] for entry in sandbox.journal(org)] == [200, 429, 429]
    assert Record.objects.get(id=3001).owner_id == int(org["users"][1]["id"])


def test_requests_retries_5xx_and_gets_through_when_they_stop(sandbox):
    org = sandbox.create()
    sandbox.fault(org, match={"path": CHANGE_OWNER}, response={"status": 503}, times=2)

    answer = client(org, retries()).post(sandbox.url + CHANGE_OWNER, json=change_owner_body(org))

    assert answer.status_code == 200
    assert [entry["status"] for entry in sandbox.journal(org)] == [200, 503, 503]


def test_requests_gives_up_on_5xx_that_never_stop_and_nothing_changes(sandbox):
    org = sandbox.create()
    sandbox.fault(org, match={"path": CHANGE_OWNER}, response={"status": 500})

    with pytest.raises(requests.exceptions.RetryError, match="too many 500 error responses"):
        client(org, retries()).post(sandbox.url + CHANGE_OWNER, json=change_owner_body(org))

    assert [entry["status"] for entry in sandbox.journal(org)] == [500] * 4  # 1 + 3 retries
    assert Record.objects.get(id=3001).owner_id == int(org["users"][0]["id"])


# Two calls at once on the live server: SQLite's in-memory test database is one connection.
@pytest.mark.postgres
def test_requests_times_out_on_a_slow_call_and_its_retry_gets_through(sandbox):
    org = sandbox.create()
    fault = sandbox.fault(org, match={"path": CHANGE_OWNER}, response={"delay_ms": 1500}, times=2)

    with pytest.raises(requests.exceptions.ReadTimeout):
        client(org, None).post(sandbox.url + CHANGE_OWNER, json=change_owner_body(org), timeout=0.5)
    answer = client(org, retries(read=2)).post(
        sandbox.url + CHANGE_OWNER, json=change_owner_body(org), timeout=0.5
    )

    assert answer.status_code == 200
    time.sleep(1.2)  # the slow calls finish on the server (their answers reach nobody)
    entries = sandbox.journal(org)
    # Newest first by the time each call arrived: the retry that got through, the retried
    # slow call, the first slow call.
    assert [(entry["status"], entry["fault_id"]) for entry in entries] == [
        (200, None),
        (200, fault),
        (200, fault),
    ]
    assert sorted(entry["duration_ms"] >= 1500 for entry in entries) == [False, True, True]


@pytest.mark.postgres  # gunicorn serves the test database from other processes
def test_requests_retries_a_dropped_connection_and_fails_without_retries(gunicorn_sandbox):
    sandbox = gunicorn_sandbox
    org = sandbox.create()
    fault = sandbox.fault(org, match={"path": CHANGE_OWNER}, response={"drop": True}, times=2)

    with pytest.raises(requests.exceptions.ConnectionError):
        client(org, None).post(sandbox.url + CHANGE_OWNER, json=change_owner_body(org))
    answer = client(org, retries()).post(sandbox.url + CHANGE_OWNER, json=change_owner_body(org))

    assert answer.status_code == 200
    assert [(entry["status"], entry["fault_id"]) for entry in sandbox.journal(org)] == [
        (200, None),
        (None, fault),
        (None, fault),
    ]


# --- the official Python SDK ----------------------------------------------------------------


def run_sdk(sandbox: Sandbox, org: dict, tmp_path, steps: list[dict]) -> dict:
    """The SDK logs in with the organization's refresh token and self client, then runs
    `steps` (tests/clients/python_sdk.py)."""
    work = tmp_path / f"sdk-{time.monotonic_ns()}"
    work.mkdir()
    return python_sdk.run(
        {
            "url": sandbox.url,
            "clientId": org["client"]["client_id"],
            "clientSecret": org["client"]["client_secret"],
            "refreshToken": org["users"][0]["refresh_token"],
            "workDir": str(work),
            "steps": steps,
        }
    )


def sdk_change_owner(org: dict) -> dict:
    return {
        "op": "change_owner_bulk",
        "module": "Contacts",
        "ids": ["3001"],
        "owner": org["users"][1]["id"],
    }


def test_the_sdk_reports_an_injected_429_and_does_not_retry(sandbox, tmp_path):
    org = sandbox.create()
    sandbox.fault(org, match={"path": CRM_CHANGE_OWNER}, response={"status": 429}, times=1)

    [step] = run_sdk(sandbox, org, tmp_path, [sdk_change_owner(org)])["steps"]

    assert (step["status_code"], step["object"]) == (
        429,
        {
            "_class": "APIException",
            "code": "TOO_MANY_REQUESTS",
            "details": {},
            "message": "Too many requests",
            "status": "error",
        },
    )
    assert [entry["status"] for entry in sandbox.journal(org, path=CRM_CHANGE_OWNER)] == [429]


def test_the_sdk_reports_an_injected_500(sandbox, tmp_path):
    org = sandbox.create()
    sandbox.fault(org, match={"path": CRM_CHANGE_OWNER}, response={"status": 500}, times=1)

    steps = run_sdk(sandbox, org, tmp_path, [sdk_change_owner(org), sdk_change_owner(org)])

    first, second = steps["steps"]
    assert (first["status_code"], first["object"]["code"]) == (500, "INTERNAL_ERROR")
    assert second["status_code"] == 200
    assert second["object"]["data"][0]["code"] == "SUCCESS"


def test_the_sdk_waits_out_a_slow_call(sandbox, tmp_path):
    org = sandbox.create()
    sandbox.fault(org, match={"path": CRM_CHANGE_OWNER}, response={"delay_ms": 1000}, times=1)

    started = time.monotonic()
    [step] = run_sdk(sandbox, org, tmp_path, [sdk_change_owner(org)])["steps"]

    assert time.monotonic() - started >= 1
    assert step["status_code"] == 200
    [entry] = sandbox.journal(org, path=CRM_CHANGE_OWNER)
    assert entry["duration_ms"] >= 1000


@pytest.mark.postgres  # gunicorn serves the test database from other processes
def test_the_sdk_raises_on_a_dropped_connection(gunicorn_sandbox, tmp_path):
    sandbox = gunicorn_sandbox
    org = sandbox.create()
    sandbox.fault(org, match={"path": CRM_CHANGE_OWNER}, response={"drop": True}, times=1)
    run_sdk(sandbox, org, tmp_path, [])  # logs the SDK in; it stays initialized
    change_owner = python_sdk.OPERATIONS["change_owner_bulk"]

    with pytest.raises(SDKException, match="Connection aborted"):
        change_owner(sdk_change_owner(org))
    second = python_sdk.plain(change_owner(sdk_change_owner(org)).get_object())

    assert second["data"][0]["code"] == "SUCCESS"
