"""Where transfer jobs meet the rest, through the API with exact bodies: the newest write wins in
a job's chunks (records and their activities), every job ends (a chunk the sweep gives up on
fails its job), a failed job is retried (`action=retry`, both dialects of job), and an entry
released after a transient error is due when its retry comes, not before."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import OperationalError
from django.utils import timezone

from crm.models import Record, User
from owners import outbox
from owners.models import OutboxEntry, TransferJob
from owners.transfers import runner
from tests.owners.bigin import error, post_single
from tests.owners.transfers.outbox import TRANSFER_FAILURES, drain, run_one

pytestmark = pytest.mark.django_db

MASS = "/bigin/v2/Contacts/actions/mass_change_owner"
TRANSFER = "/bigin/v2/users/actions/transfer_and_delete"
SCOPES = ("ZohoBigin.change_owner.ALL", "ZohoBigin.users.ALL")


@pytest.fixture
def client(auth_client, admin_user):
    return auth_client(admin_user, *SCOPES)


@pytest.fixture
def tess(make_user):
    return make_user(full_name="Tess Ward", email="tess@zylker.test", profile_name="Standard")


@pytest.fixture
def bo(make_user):
    return make_user(full_name="Bo Lind", email="bo@zylker.test", profile_name="Standard")


@pytest.fixture
def oregon(make_record, admin_user):
    """Five Oregon contacts of the admin, each with a task."""
    contacts = [
        make_record(module_name="Contacts", owner=admin_user, fields={"Mailing_State": "OR"})
        for _ in range(5)
    ]
    tasks = [make_record(module_name="Tasks", owner=admin_user, related_to=c) for c in contacts]
    return contacts, tasks


def schedule_mass_change(client, new_owner) -> TransferJob:
    response = client.post(
        MASS,
        {
            "owner": {"id": str(new_owner.id)},
            "criteria": {
                "field": {"api_name": "Mailing_State"},
                "comparator": "equal",
                "value": "OR",
            },
            "related_modules": [{"api_name": "Tasks"}],
        },
        format="json",
    )
    assert response.status_code == 202, response.content
    return TransferJob.objects.get(id=response.json()["data"][0]["details"]["job_id"])


def status(client, transfer) -> dict:
    response = client.get(f"{MASS}?job_id={transfer.id}")
    assert response.status_code == 200, response.content
    return response.json()["data"][0]


def test_a_mass_change_never_overwrites_a_newer_direct_change(client, tess, bo, oregon):
    contacts, tasks = oregon
    transfer = schedule_mass_change(client, tess)
    # Right after scheduling, someone gives three of the contacts and one task to Bo directly.
    for record in contacts[:3]:
        assert post_single(client, record.id, {"owner": {"id": str(bo.id)}}).status_code == 200
    response = client.post(
        f"/bigin/v2/Tasks/{tasks[4].id}/actions/change_owner",
        {"owner": {"id": str(bo.id)}},
        format="json",
    )
    assert response.status_code == 200, response.content
    drain()
    owners = dict(Record.objects.values_list("id", "owner_id"))
    assert [owners[c.id] for c in contacts] == [bo.id, bo.id, bo.id, tess.id, tess.id]
    # The contacts' tasks follow their contact's job only where neither changed since.
    assert [owners[t.id] for t in tasks] == [
        transfer.actor_id,
        transfer.actor_id,
        transfer.actor_id,
        tess.id,
        bo.id,
    ]
    assert status(client, transfer) == {
        "Status": "COMPLETED",
        "Total_Count": 5,
        "Updated_Count": 2,
        "Not_Updated_Count": 0,
        "Failed_Count": 0,
        "Skipped_Count": 3,
        "batch_id": str(transfer.batch_id),
        "cancelled": False,
    }


def give_up_on_the_chunks(settings, transfer) -> list[OutboxEntry]:
    """Run the plan, then let every chunk be claimed by workers that die, until the sweep gives
    up on it (attempts exhausted)."""
    settings.OUTBOX_LEASE_SECONDS = 0
    settings.OUTBOX_SWEEP_GRACE_SECONDS = 0
    settings.OUTBOX_MAX_ATTEMPTS = 2
    plan = OutboxEntry.objects.get(batch_id=transfer.batch_id, kind="transfer_plan")
    run_one(plan.id)
    chunks = list(OutboxEntry.objects.filter(batch_id=transfer.batch_id, kind="transfer_chunk"))
    assert chunks
    for _ in range(settings.OUTBOX_MAX_ATTEMPTS):
        for chunk in chunks:
            assert outbox.claim_entry(chunk.id) is not None
    outbox.release_left_behind(TRANSFER_FAILURES)
    return chunks


def test_a_chunk_the_sweep_gives_up_on_fails_its_job_and_a_retry_finishes_it(
    client, settings, tess, oregon
):
    contacts, _ = oregon
    transfer = schedule_mass_change(client, tess)
    chunks = give_up_on_the_chunks(settings, transfer)
    assert {c.status for c in OutboxEntry.objects.filter(id__in=[c.id for c in chunks])} == {
        "failed"
    }
    # The job has ended: FAILED, with its error, and its batch is no longer in progress.
    drain()
    failed = {
        "Status": "FAILED",
        "Total_Count": 5,
        "Updated_Count": 0,
        "Not_Updated_Count": 0,
        "Failed_Count": 5,
        "Skipped_Count": 0,
        "batch_id": str(transfer.batch_id),
        "cancelled": False,
    }
    assert status(client, transfer) == failed
    transfer.refresh_from_db()
    assert transfer.last_error == "gave up after 2 attempts"
    batch = client.get(f"/bigin/v2/owner_batches/{transfer.batch_id}").json()
    assert batch["status"] != "in_progress"
    assert batch["job"]["Status"] == "FAILED"

    # The client retries it: the chunks not done run again, and the job completes.
    response = client.post(f"{MASS}?job_id={transfer.id}&action=retry")
    assert (response.status_code, response.json()) == (
        202,
        {
            "data": [
                {
                    "code": "SUCCESS",
                    "details": {"job_id": str(transfer.id)},
                    "message": "the job is retried: the chunks not done run again",
                    "status": "success",
                }
            ]
        },
    )
    assert response["X-Owner-Batch-Id"] == str(transfer.batch_id)
    assert status(client, transfer)["Status"] == "RUNNING"
    drain()
    assert status(client, transfer) == {
        **failed,
        "Status": "COMPLETED",
        "Updated_Count": 5,
        "Failed_Count": 0,
    }
    assert Record.objects.filter(id__in=[c.id for c in contacts], owner=tess).count() == 5

    # Only a failed job is retried.
    response = client.post(f"{MASS}?job_id={transfer.id}&action=retry")
    assert (response.status_code, response.json()) == (
        400,
        error(
            "INVALID_DATA",
            {"param_name": "job_id", "job_status": "COMPLETED"},
            "only a failed job can be retried",
        ),
    )


def test_an_offboarding_that_failed_is_retried_and_then_deletes_the_user(
    client, tess, bo, make_record
):
    for _ in range(3):
        make_record(module_name="Contacts", owner=bo)
    response = client.post(
        TRANSFER,
        {"transfer_and_delete": [{"id": str(bo.id), "transfer": {"id": str(tess.id)}}]},
        format="json",
    )
    assert response.status_code == 202, response.content
    transfer = TransferJob.objects.get()
    # The new owner is disabled before the job runs: its chunk fails, the job ends FAILED and
    # the leaving user stays disabled, not deleted.
    User.objects.filter(id=tess.id).update(status=User.Status.DISABLED)
    drain()
    status_url = f"{TRANSFER}?job_id={transfer.id}"
    assert client.get(status_url).json()["transfer_and_delete"][0]["status"] == "failed"
    assert User.objects.get(id=bo.id).status == User.Status.DISABLED

    response = client.post(f"{TRANSFER}?job_id={transfer.id}&action=pause")
    assert (response.status_code, response.json()) == (
        400,
        error(
            "INVALID_DATA", {"param_name": "action", "supported_values": ["retry"]}, "invalid data"
        ),
    )
    User.objects.filter(id=tess.id).update(status=User.Status.ACTIVE)
    response = client.post(f"{TRANSFER}?job_id={transfer.id}&action=retry")
    assert (response.status_code, response.json()) == (
        202,
        {
            "transfer_and_delete": [
                {
                    "code": "SUCCESS",
                    "details": {"job_id": str(transfer.id)},
                    "message": "the job is retried: the chunks not done run again",
                    "status": "success",
                }
            ]
        },
    )
    drain()
    entry = client.get(status_url).json()["transfer_and_delete"][0]
    assert (entry["status"], entry["Updated_Count"], entry["Failed_Count"]) == ("completed", 3, 0)
    assert User.objects.get(id=bo.id).status == User.Status.DELETED

    response = client.post(f"{TRANSFER}?job_id={transfer.id}&action=retry")
    assert (response.status_code, response.json()) == (
        400,
        error(
            "INVALID_DATA",
            {"param_name": "job_id", "job_status": "completed"},
            "only a failed job can be retried",
        ),
    )


def test_an_unknown_action_names_both(client, tess, oregon):
    transfer = schedule_mass_change(client, tess)
    response = client.post(f"{MASS}?job_id={transfer.id}&action=pause")
    assert (response.status_code, response.json()) == (
        400,
        error(
            "INVALID_DATA",
            {"param_name": "action", "supported_values": ["cancel", "retry"]},
            "invalid data",
        ),
    )


def test_an_entry_released_after_a_transient_error_is_due_when_its_retry_comes(
    client, settings, tess, oregon
):
    settings.OUTBOX_SWEEP_GRACE_SECONDS = 0
    transfer = schedule_mass_change(client, tess)
    plan = OutboxEntry.objects.get(batch_id=transfer.batch_id, kind="transfer_plan")

    def deadlocked(entry):
        raise OperationalError("deadlock detected")

    before = timezone.now()
    with pytest.raises(OperationalError):
        outbox.run_entry(plan.id, runners=dict.fromkeys(runner.KINDS, deadlocked), retry_in=8.0)
    plan.refresh_from_db()
    assert plan.status == "pending" and plan.claimed_at is None
    assert before + timedelta(seconds=8) <= plan.run_after <= timezone.now() + timedelta(seconds=8)
    # So the sweep does not send it a second time before the retry comes.
    assert outbox.release_left_behind(TRANSFER_FAILURES) == []


def test_a_retry_after_a_chunk_and_the_plan_after_it_failed_completes_with_exact_counts(
    settings, admin_user, tess, oregon
):
    """A chunk given up on, then the plan its failure created given up on too: the retry runs the
    chunk and takes the plan back (the chunk plans what comes next), and the counts add up."""
    from owners.transfers import engine

    settings.OUTBOX_LEASE_SECONDS = 0
    settings.OUTBOX_SWEEP_GRACE_SECONDS = 0
    settings.OUTBOX_MAX_ATTEMPTS = 1
    transfer = engine.schedule_transfer_records(
        organization=admin_user.organization, actor=None, from_user=admin_user, new_owner=tess
    )

    def give_up(kind: str) -> None:
        (entry,) = OutboxEntry.objects.filter(
            batch_id=transfer.batch_id, kind=kind, status="pending"
        )
        assert outbox.claim_entry(entry.id) is not None
        outbox.release_left_behind(TRANSFER_FAILURES)

    run_one(OutboxEntry.objects.get(batch_id=transfer.batch_id, kind="transfer_plan").id)
    give_up("transfer_chunk")  # the Contacts chunk
    give_up("transfer_plan")  # the plan its failure created
    transfer.refresh_from_db()
    assert (transfer.status, transfer.failed_count) == ("failed", transfer.total_count)

    engine.retry_transfer(organization=admin_user.organization, transfer_id=transfer.id)
    drain()
    transfer.refresh_from_db()
    assert transfer.status == "completed"
    assert (transfer.total_count, transfer.updated_count, transfer.failed_count) == (10, 10, 0)
    assert transfer.skipped_count == 0
    chunks = OutboxEntry.objects.filter(batch_id=transfer.batch_id, kind="transfer_chunk")
    ranges = [(c.payload["module_id"], c.payload["after"]) for c in chunks]
    assert len(ranges) == len(set(ranges)) == transfer.chunks_planned, ranges
