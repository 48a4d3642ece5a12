"""`manage.py transfer_records`: dry run, a run followed to the end (tasks in-process, as under
`make run`), the errors, following a job by id, and Ctrl-C leaving the job alone."""

from __future__ import annotations

import json
import threading
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from crm.models import Record
from owners.models import OutboxEntry, TransferJob
from owners.transfers import engine

from .outbox import drain

pytestmark = pytest.mark.django_db


@pytest.fixture
def leaving(make_user):
    return make_user(full_name="Lea Ving", email="lea@zylker.test", profile_name="Standard")


@pytest.fixture
def owned(leaving, make_record):
    contacts = [
        make_record(module_name="Contacts", owner=leaving, fields={"State": state})
        for state in ("CA", "CA", "NV")
    ]
    tasks = [make_record(module_name="Tasks", owner=leaving, related_to=c) for c in contacts]
    account = make_record(module_name="Accounts", owner=leaving)
    return contacts, tasks, account


def run(*args: str) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command("transfer_records", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_dry_run_counts_per_module_and_changes_nothing(leaving, new_owner, owned):
    out, _ = run("--from", leaving.email, "--to", new_owner.email, "--dry-run")
    assert out.splitlines() == [
        "Contacts            3",
        "Pipelines           0",
        "Accounts            1",
        "Products            0",
        "Tasks               3",
        "Events              0",
        "Calls               0",
        "total               7  (dry run: nothing changed)",
    ]
    assert not TransferJob.objects.exists()


@pytest.fixture
def open_broker_pools():
    """Celery's eager mode still takes a producer from the broker pools; the integration tests
    that stop their Redis leave kombu's shared pools closed (`Acquire on closed pool`)."""
    from kombu import pools

    from config.celery import app

    pools.reset()
    app._pool = None
    app.amqp._producer_pool = None


# Committed for real, so the job runs in-process at commit, as under `make run` (no broker).
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_run_moves_the_records_and_reports_the_end(
    leaving, new_owner, owned, open_broker_pools, in_process_tasks, caplog
):
    criteria = json.dumps({"field": {"api_name": "State"}, "comparator": "equal", "value": "CA"})
    args = ("--from", leaving.email, "--to", new_owner.email, "--module", "Contacts")
    outcome = []

    def command() -> None:
        try:
            outcome.append(run(*args, "--criteria", criteria, "--poll", "0.1"))
        finally:
            connection.close()  # this thread's own connection

    # In a thread with a deadline: a job that never runs would keep the command following it.
    thread = threading.Thread(target=command, daemon=True)
    thread.start()
    thread.join(timeout=60)
    assert outcome, (
        f"the command did not finish; outbox {list(OutboxEntry.objects.values())};"
        f" log:\n{caplog.text}"
    )
    out, err = outcome[0]
    transfer = TransferJob.objects.get()
    assert out.splitlines() == [
        f"Job {transfer.id} scheduled: 2 records of {leaving.email} to {new_owner.email}"
        f" (batch {transfer.batch_id}).",
        f"Job {transfer.id} completed: 2 moved, 0 skipped, 0 failed, 2 related activities;"
        f" batch {transfer.batch_id}"
        f" (revert: POST /bigin/v2/owner_batches/{transfer.batch_id}/actions/revert).",
    ]
    assert f"job {transfer.id}: 100%" in err
    assert Record.objects.filter(owner=new_owner).count() == 4
    assert leaving.__class__.objects.get(id=leaving.id).status == "active"


def test_following_a_job_by_id(leaving, new_owner, owned):
    transfer = engine.schedule_transfer_records(
        organization=leaving.organization, actor=None, from_user=leaving, new_owner=new_owner
    )
    drain()
    out, err = run("--job", str(transfer.id), "--poll", "0")
    assert out.startswith(f"Job {transfer.id} completed: 7 moved, 0 skipped, 0 failed")
    assert "7.00/7.00" in err and "moved=7" in err


def run_with_deadline(*args: str) -> tuple[str, str]:
    """`run` in a thread with a deadline: a job that never runs keeps the command following it."""
    outcome = []

    def command() -> None:
        try:
            outcome.append(run(*args))
        finally:
            connection.close()  # this thread's own connection

    thread = threading.Thread(target=command, daemon=True)
    thread.start()
    thread.join(timeout=60)
    assert outcome, f"the command did not finish; outbox {list(OutboxEntry.objects.values())}"
    return outcome[0]


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_failed_job_ends_failed_and_retry_runs_the_chunks_not_done(
    leaving, new_owner, owned, open_broker_pools, in_process_tasks
):
    # The new owner disabled before the job runs: every chunk fails, and the job ends FAILED.
    new_owner.__class__.objects.filter(id=new_owner.id).update(status="disabled")
    transfer = engine.schedule_transfer_records(
        organization=leaving.organization, actor=None, from_user=leaving, new_owner=new_owner
    )
    with pytest.raises(CommandError) as caught:
        run("--job", str(transfer.id), "--poll", "0")
    assert str(caught.value) == (
        f"Job {transfer.id} failed: NewOwnerNotActive('the new owner is disabled') (retry it"
        f" with: python manage.py transfer_records --retry {transfer.id})"
    )
    transfer.refresh_from_db()
    assert (transfer.status, transfer.failed_count, transfer.updated_count) == ("failed", 7, 0)

    # Enabled again, the job is retried: what failed runs, and the job completes.
    new_owner.__class__.objects.filter(id=new_owner.id).update(status="active")
    out, _ = run_with_deadline("--retry", str(transfer.id), "--poll", "0.1")
    assert out.splitlines()[0] == f"Job {transfer.id} failed before: the chunks not done run again."
    assert out.splitlines()[1].startswith(f"Job {transfer.id} completed: 7 moved, 0 skipped")
    assert Record.objects.filter(owner=new_owner).count() == 7
    with pytest.raises(CommandError) as caught:
        run("--retry", str(transfer.id))
    assert str(caught.value) == f"Job {transfer.id} is completed: only a failed job is retried."


def test_ctrl_c_leaves_the_job_running_and_says_how_to_follow_it(
    monkeypatch, leaving, new_owner, owned
):
    from owners.management.commands import transfer_records

    def interrupt(seconds):
        raise KeyboardInterrupt

    monkeypatch.setattr(transfer_records.time, "sleep", interrupt)
    _, err = run("--from", leaving.email, "--to", new_owner.email)
    transfer = TransferJob.objects.get()
    assert transfer.status == "scheduled" and not transfer.cancelled
    assert err.endswith(
        f"Stopped following. Job {transfer.id} keeps running on the workers; follow it with:\n"
        f"  python manage.py transfer_records --job {transfer.id}\n"
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ("--to", "chen@zylker.test"),
            "--from and --to are required (or --job ID, or --retry ID).",
        ),
        (
            ("--from", "lea@zylker.test", "--to", "lea@zylker.test"),
            "--from and --to are the same user.",
        ),
        (
            ("--from", "lea@zylker.test", "--to", "nobody@x.test"),
            "No user with id or email 'nobody@x.test'.",
        ),
        (
            ("--from", "lea@zylker.test", "--to", "chen@zylker.test", "--module", "Leads"),
            "No module 'Leads'.",
        ),
        (
            ("--from", "lea@zylker.test", "--to", "chen@zylker.test", "--criteria", "{"),
            "--criteria is not JSON: Expecting property name enclosed in double quotes:"
            " line 1 column 2 (char 1)",
        ),
        (
            (
                "--from",
                "lea@zylker.test",
                "--to",
                "chen@zylker.test",
                "--criteria",
                '{"field": {}}',
            ),
            "--criteria: MANDATORY_NOT_FOUND"
            " {'api_name': 'api_name', 'json_path': '$.criteria.field.api_name'}",
        ),
        (
            (
                "--from",
                "lea@zylker.test",
                "--to",
                "chen@zylker.test",
                "--module",
                "Contacts",
                "--criteria",
                '{"field": {"api_name": "State__regex"}, "comparator": "equal", "value": ".*"}',
            ),
            "--criteria: INVALID_DATA"
            " {'api_name': 'State__regex', 'json_path': '$.criteria.field.api_name'}",
        ),
        (("--job", "12345"), "No job '12345'."),
        (("--retry", "12345"), "No job '12345'."),
    ],
)
def test_errors(leaving, new_owner, args, message):
    with pytest.raises(CommandError) as caught:
        run(*args)
    assert str(caught.value) == message
    assert not TransferJob.objects.exists()
