"""Without a broker (`make run`, `make sandbox`) the serving process runs the outbox itself
(owners/scheduler.py): related records follow after RELATED_OWNER_DELAY_SECONDS and the email
goes after the response, never before, as with Redis and a worker. A real gunicorn with no
REDIS_URL, over the test database."""

from __future__ import annotations

import time
from datetime import datetime, timedelta

import pytest
import requests

from crm.models import Record
from owners.models import OutboxEntry
from tests.integration.conftest import wait_until
from tests.integration.live import live_gunicorn  # noqa: F401 - the fixture

from .conftest import SANDBOX_KEY, org_body

pytestmark = [
    pytest.mark.postgres,  # gunicorn serves the test database from other processes
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]

DELAY = 2


@pytest.fixture
def server(live_gunicorn, tmp_path):  # noqa: F811
    return live_gunicorn(
        workers=1,
        REDIS_URL="",
        CELERY_BROKER_URL="",
        RELATED_OWNER_DELAY_SECONDS=str(DELAY),
        EMAIL_URL=f"filemail:///{tmp_path / 'mail'}",  # environ drops one slash
        SANDBOX_API="true",
        SANDBOX_API_KEY=SANDBOX_KEY,
    )


def test_related_records_follow_after_the_delay_and_the_email_after_the_response(server, tmp_path):
    controls = {"X-Sandbox-Key": SANDBOX_KEY}
    org = requests.post(
        f"{server.url}/sandbox/v1/organizations", json=org_body(), headers=controls
    ).json()
    ann, sam = (int(user["id"]) for user in org["users"])
    task_id = int(org["records"][1]["id"])

    answer = requests.post(
        f"{server.url}/bigin/v2/Contacts/actions/change_owner",
        json={
            "ids": ["3001"],
            "owner": {"id": str(sam)},
            "notify": True,
            "related_modules": [{"api_name": "Tasks"}],
        },
        headers={"Authorization": f"Zoho-oauthtoken {org['users'][0]['access_token']}"},
    )
    answered = time.monotonic()

    assert answer.status_code == 200
    # The contact moved with the answer; its task has not: Bigin's scheduler delay.
    assert Record.objects.get(id=3001).owner_id == sam
    assert Record.objects.get(id=task_id).owner_id == ann
    moved = wait_until(
        lambda: Record.objects.get(id=task_id).owner_id == sam,
        what="the related task to follow",
        timeout=DELAY + 15,
    )
    assert moved
    assert time.monotonic() - answered >= DELAY - 0.5
    related = OutboxEntry.objects.get(kind="related_transfer")
    assert related.status == "done"
    assert related.finished_at - related.created_time >= timedelta(seconds=DELAY)
    # The email went once the answer was out: claimed after the call's journal entry ended.
    notify = OutboxEntry.objects.get(kind="notify")
    [call] = requests.get(
        f"{server.url}/sandbox/v1/organizations/{org['organization']['id']}/requests",
        params={"path": "/bigin/v2/Contacts/actions/change_owner"},
        headers=controls,
    ).json()["requests"]
    call_ended = datetime.fromisoformat(call["time"]) + timedelta(milliseconds=call["duration_ms"])
    assert notify.status == "done"
    assert notify.claimed_at >= call_ended
    [mail] = list((tmp_path / "mail").iterdir())
    assert "sam@acme.test" in mail.read_text()


def test_run_jobs_runs_the_transfer_before_its_time_and_the_scheduler_then_does_nothing(
    server,
):
    controls = {"X-Sandbox-Key": SANDBOX_KEY}
    org = requests.post(
        f"{server.url}/sandbox/v1/organizations", json=org_body(), headers=controls
    ).json()
    url = f"{server.url}/sandbox/v1/organizations/{org['organization']['id']}"
    sam = int(org["users"][1]["id"])
    task_id = int(org["records"][1]["id"])
    requests.post(
        f"{server.url}/bigin/v2/Contacts/actions/change_owner",
        json={
            "ids": ["3001"],
            "owner": {"id": str(sam)},
            "related_modules": [{"api_name": "Tasks"}],
        },
        headers={"Authorization": f"Zoho-oauthtoken {org['users'][0]['access_token']}"},
    )

    ran = requests.post(f"{url}/actions/run_jobs", headers=controls).json()

    assert [entry["kind"] for entry in ran["ran"]] == ["related_transfer"]
    assert Record.objects.get(id=task_id).owner_id == sam
    time.sleep(DELAY + 1)  # the scheduler's turn comes: its claim finds the entry done
    related = OutboxEntry.objects.get(kind="related_transfer")
    assert (related.status, related.attempts) == ("done", 1)
