"""Newest write wins: a related transfer never overwrites an owner someone gave an activity after
the batch that asked for the transfer (owners/statements.py, `owner_changed_since`)."""

from __future__ import annotations

import threading
import time
from datetime import timedelta

import pytest
import time_machine
from django.db import connection, transaction
from django.utils import timezone

from audit.models import AuditEntry
from crm.models import Record, User
from crm.modules import module_by_name
from owners import outbox
from owners import tasks as owner_tasks
from owners.models import OutboxEntry
from owners.services import RelatedSelection, change_owner
from owners.statements import lock_records, update_owners
from tests.owners.queries import watch_checks

from .bigin import post_bulk

pytestmark = pytest.mark.django_db

CONTACTS = module_by_name("Contacts")
TASKS = module_by_name("Tasks")


@pytest.fixture
def bob(make_user):
    return make_user(full_name="Bob Stone", email="bob@zylker.test")


@pytest.fixture
def cara(make_user):
    return make_user(full_name="Cara Diaz", email="cara@zylker.test")


def owners_of(*records) -> list[int | None]:
    by_id = dict(Record.objects.filter(id__in=[r.id for r in records]).values_list("id", "owner"))
    return [by_id[record.id] for record in records]


def latest_owner_in_history(record) -> int | None:
    return (
        AuditEntry.objects.filter(organization_id=record.organization_id, record_id=record.id)
        .order_by("-created_time", "-id")
        .values_list("new_owner_id", flat=True)
        .first()
    )


def move_contact_with_tasks(organization, actor, contact, new_owner) -> OutboxEntry:
    """Contact -> new owner with its Tasks following; returns the pending related transfer (no
    commit in these tests, so nothing is dispatched until the test runs it)."""
    result = change_owner(
        organization=organization,
        actor=actor,
        module=CONTACTS,
        record_ids=[contact.id],
        new_owner=new_owner,
        related=RelatedSelection(modules=("Tasks",)),
        source="api",
    )
    (job,) = result.jobs
    return job


def test_a_task_given_to_someone_else_within_the_delay_keeps_that_owner(
    admin_client, admin_user, organization, make_record, bob, cara, django_assert_num_queries
):
    contact = make_record(module_name="Contacts")
    task, other_task = (make_record(module_name="Tasks", related_to=contact) for _ in range(2))
    job = move_contact_with_tasks(organization, admin_user, contact, bob)
    # Within the scheduler's delay, the Task goes to Cara directly.
    response = post_bulk(
        admin_client, {"ids": [str(task.id)], "owner": {"id": str(cara.id)}}, module="Tasks"
    )
    assert response.status_code == 200

    claimed = outbox.claim_entry(job.id)
    # 1 SAVEPOINT; 2 the new owner's status; on PostgreSQL 3 UPDATE the job to done, 4 lock the
    # parents, 5 ONE statement that locks the activities (the skipped one too), UPDATEs the moved
    # one, writes its audit row and the job's result; elsewhere 3 lock the parents; 4 lock
    # the activities; 5 UPDATE the job to done with its result; 6 UPDATE the moved activity; 7 its
    # audit row (and the watch channels read, tests/owners/queries.py). Then RELEASE SAVEPOINT:
    # the same statements as without a skipped activity.
    statements = 6 if connection.vendor == "postgresql" else 8 + watch_checks()
    with django_assert_num_queries(statements):
        moved = outbox.run_related_transfer(claimed)

    assert moved == [other_task.id]
    assert owners_of(contact, task, other_task) == [bob.id, cara.id, bob.id]
    job.refresh_from_db()
    assert (job.status, job.result) == (
        "done",
        {"moved": 1, "skipped": 1, "skipped_ids": [str(task.id)]},
    )
    assert list(
        AuditEntry.objects.filter(source="related_transfer").values_list("record_id", flat=True)
    ) == [other_task.id]
    # The history tells the truth: its latest row names the owner the Task has.
    assert latest_owner_in_history(task) == cara.id


def test_a_job_the_sweep_replays_after_an_outage_keeps_the_newer_direct_change(
    in_process_tasks, admin_user, organization, make_record, bob, cara, settings
):
    settings.OUTBOX_SWEEP_GRACE_SECONDS = 60
    contact = make_record(module_name="Contacts")
    task, other_task = (make_record(module_name="Tasks", related_to=contact) for _ in range(2))
    # Redis is down: the job is written but its message never leaves (nothing commits here).
    job = move_contact_with_tasks(organization, admin_user, contact, bob)

    # Minutes later, the Task goes to Cara; later still the broker is back and the sweep sends
    # the old job.
    with time_machine.travel(timezone.now() + timedelta(minutes=10)):
        change_owner(
            organization=organization,
            actor=admin_user,
            module=TASKS,
            record_ids=[task.id],
            new_owner=cara,
            source="api",
        )
    with time_machine.travel(timezone.now() + timedelta(minutes=20)):
        assert owner_tasks.sweep() == 1

    job.refresh_from_db()
    assert job.status == "done"
    assert job.result == {"moved": 1, "skipped": 1, "skipped_ids": [str(task.id)]}
    assert owners_of(task, other_task) == [cara.id, bob.id]
    assert latest_owner_in_history(task) == cara.id
    assert latest_owner_in_history(other_task) == bob.id


def test_a_change_made_before_the_batch_is_overwritten_the_batch_is_newer(
    admin_user, organization, make_record, bob, cara
):
    contact = make_record(module_name="Contacts")
    task = make_record(module_name="Tasks", related_to=contact)
    with time_machine.travel(timezone.now() - timedelta(minutes=1)):
        change_owner(
            organization=organization,
            actor=admin_user,
            module=TASKS,
            record_ids=[task.id],
            new_owner=cara,
            source="api",
        )
    job = move_contact_with_tasks(organization, admin_user, contact, bob)

    assert outbox.run_related_transfer(outbox.claim_entry(job.id)) == [task.id]

    assert owners_of(task) == [bob.id]
    job.refresh_from_db()
    assert job.result == {"moved": 1, "skipped": 0, "skipped_ids": []}
    assert latest_owner_in_history(task) == bob.id


# A change committed while the job waits for its lock: PostgreSQL row locks and two connections.
@pytest.mark.postgres
# Transactional, so the job's thread sees committed rows; serialized rollback brings back the
# Module rows (a data migration) that the flush after the test removes.
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_change_committed_while_the_job_waits_for_the_lock_is_seen(
    admin_user, organization, make_record, bob, cara
):
    contact = make_record(module_name="Contacts")
    task = make_record(module_name="Tasks", related_to=contact)
    job = move_contact_with_tasks(organization, admin_user, contact, bob)
    claimed = outbox.claim_entry(job.id)
    outcome: dict[str, object] = {}

    def run_entry() -> None:
        try:
            outcome["moved"] = outbox.run_related_transfer(claimed)
        finally:
            connection.close()

    worker = threading.Thread(target=run_entry)
    with transaction.atomic():
        # The Task's own change of owner, as change_owner writes it, still uncommitted.
        lock_records(organization.id, TASKS.id, [task.id], new_owner_id=cara.id)
        update_owners(
            organization.id, [task.id], new_owner_id=cara.id, actor_id=None, now=timezone.now()
        )
        worker.start()
        # The job is waiting for the Task's row lock.
        _wait_for_a_lock_wait()
    worker.join(timeout=30)

    assert outcome["moved"] == []
    assert owners_of(task) == [cara.id]
    job.refresh_from_db()
    assert job.result == {"moved": 0, "skipped": 1, "skipped_ids": [str(task.id)]}


def _wait_for_a_lock_wait() -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        with connection.cursor() as cursor:
            # Inside a transaction the activity view is a snapshot: take a fresh one each time.
            cursor.execute("SELECT pg_stat_clear_snapshot()")
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                " AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()"
            )
            if cursor.fetchone()[0]:
                return
        time.sleep(0.05)
    pytest.fail("the job never waited for the Task's lock")


def test_the_result_counts_every_skipped_activity_and_lists_the_first_100(
    admin_user, organization, make_record, bob, cara
):
    from tests.factories import RecordFactory

    contact = make_record(module_name="Contacts")
    tasks = RecordFactory.create_batch(
        101, organization=organization, owner=admin_user, module_name="Tasks", related_to=contact
    )
    job = move_contact_with_tasks(organization, admin_user, contact, bob)
    change_owner(
        organization=organization,
        actor=admin_user,
        module=TASKS,
        record_ids=[task.id for task in tasks],
        new_owner=cara,
        source="api",
    )

    assert outbox.run_related_transfer(outbox.claim_entry(job.id)) == []

    job.refresh_from_db()
    assert job.result == {
        "moved": 0,
        "skipped": 101,
        "skipped_ids": [str(task_id) for task_id in sorted(task.id for task in tasks)[:100]],
    }


def test_a_new_owner_disabled_before_the_related_transfer_runs_is_given_nothing(
    admin_user, organization, make_record, cara
):
    """The batch gave Cara the contact; she is disabled (an offboarding, an operator) before its
    related transfer runs: the task stays where it was, counted as skipped, so an offboarding
    of Cara never leaves her owning what came after it looked."""
    contact = make_record(module_name="Contacts")
    task = make_record(module_name="Tasks", related_to=contact)
    job = move_contact_with_tasks(organization, admin_user, contact, cara)
    before = owners_of(task)
    User.objects.filter(id=cara.id).update(status=User.Status.DISABLED)
    assert outbox.run_related_transfer(outbox.claim_entry(job.id)) == []
    assert owners_of(contact, task) == [cara.id, *before]
    job.refresh_from_db()
    assert job.result == {"moved": 0, "skipped": 1, "skipped_ids": [str(task.id)]}
