"""The journal over HTTP against gunicorn with two workers: a call's answer does not wait for its
journal entry, and a read of the journal waits for the entries of calls that have answered
(docs/sandbox.md, "The journal")."""

from __future__ import annotations

import threading

import psycopg
import pytest

from tests.integration.conftest import _test_database_url, wait_until
from tests.integration.live import live_gunicorn  # noqa: F401 - the fixture

from .conftest import CHANGE_OWNER, SANDBOX_KEY
from .test_faults_live import Sandbox, change_owner_body, client

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]


def test_the_answer_leaves_before_its_entry_is_written_and_a_read_waits_for_it(
    live_gunicorn,  # noqa: F811
):
    server = live_gunicorn(workers=2, SANDBOX_API="true", SANDBOX_API_KEY=SANDBOX_KEY)
    sandbox = Sandbox(server.url)
    org = sandbox.create()
    # The call waits a second at the boundary: time for the test to find it under way and to
    # lock its row from a connection of its own.
    rule = sandbox.fault(
        org, match={"method": "POST", "path": CHANGE_OWNER}, response={"delay_ms": 1000}, times=1
    )
    answers = []
    call = threading.Thread(
        target=lambda: answers.append(
            client(org, None).post(server.url + CHANGE_OWNER, json=change_owner_body(org))
        )
    )

    with psycopg.connect(_test_database_url()) as db:
        call.start()
        [(entry_id,)] = wait_until(
            lambda: db.execute("SELECT id FROM sandbox_call_under_way").fetchall(),
            what="the call under way, noted with the token lookup before the call runs",
        )
        db.execute("SELECT 1 FROM sandbox_call_under_way WHERE id = %s FOR UPDATE", [entry_id])

        # The entry cannot be written while the test holds the call's row: the answer is sent
        # anyway.
        call.join(timeout=30)
        [answer] = answers
        assert answer.status_code == 200
        assert answer.json()["data"][0]["code"] == "SUCCESS"
        # A read waits for a call under way, for a second at most; this one's entry is still
        # not written, so the read leaves it out.
        assert sandbox.journal(org) == []
        db.rollback()  # the worker's statement goes through

    [entry] = wait_until(lambda: sandbox.journal(org), what="the call's entry")
    assert (entry["id"], entry["status"], entry["fault_id"]) == (str(entry_id), 200, rule)
    assert entry["response_body"] == answer.text
