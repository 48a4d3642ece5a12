"""The transfer job engine (owners/transfers/engine.py) on the test database: planning into
chunks, each chunk's re-check, related activities, counts, cancel, retry, revert, offboarding.

Jobs run here by draining the outbox in-process (`drain`); tests/integration runs them on real
Celery workers.
"""

from __future__ import annotations

import pytest
from django.core import mail
from django.db import connection

from audit.models import AuditEntry
from crm.models import AccessToken, Record, User
from crm.modules import module_by_name
from owners.models import OutboxEntry, TransferJob
from owners.selectors import batch_overview
from owners.services import change_owner
from owners.transfers import engine
from owners.transfers.criteria import parse_criteria
from tests.owners.queries import watch_checks

from .outbox import drain, run_one

pytestmark = pytest.mark.django_db

CONTACTS = module_by_name("Contacts")
TASKS = module_by_name("Tasks")


def owner_is(user_id: int) -> dict:
    return {"field": {"api_name": "Owner"}, "comparator": "equal", "value": {"id": str(user_id)}}


@pytest.fixture
def leaving(make_user):
    return make_user(full_name="Lea Ving", email="lea@zylker.test", profile_name="Standard")


@pytest.fixture
def owned(organization, leaving, make_record):
    """Seven contacts of the leaving user, each with one task (owned by the leaving user)."""
    contacts = [
        make_record(module_name="Contacts", owner=leaving, name=f"C{n}", fields={"State": s})
        for n, s in enumerate(["CA", "CA", "NV", "NV", "WA", "CA", "OR"])
    ]
    tasks = [
        make_record(module_name="Tasks", owner=leaving, related_to=contact, name=f"T{n}")
        for n, contact in enumerate(contacts)
    ]
    return contacts, tasks


def test_mass_change_moves_matching_records_in_chunks_with_their_tasks(
    settings, organization, admin_user, new_owner, leaving, owned
):
    settings.TRANSFER_JOB_CHUNK = 2
    contacts, _ = owned
    criteria = parse_criteria(
        {
            "group_operator": "and",
            "group": [
                owner_is(leaving.id),
                {"field": {"api_name": "State"}, "comparator": "in", "value": ["CA", "NV"]},
            ],
        },
        organization=organization,
        modules=[CONTACTS],
    )
    transfer = engine.schedule_mass_change(
        organization=organization,
        actor=admin_user,
        module=CONTACTS,
        criteria=criteria,
        new_owner=new_owner,
        related_modules=["Tasks"],
    )
    assert transfer.status == TransferJob.Status.SCHEDULED
    assert transfer.total_count == 5
    drain()
    transfer.refresh_from_db()
    matching = {c.id for c in contacts if c.fields["State"] in ("CA", "NV")}
    assert (
        set(
            Record.objects.filter(module_id=CONTACTS.id, owner=new_owner).values_list(
                "id", flat=True
            )
        )
        == matching
    )
    assert (
        set(
            Record.objects.filter(module_id=TASKS.id, owner=new_owner).values_list(
                "related_to_id", flat=True
            )
        )
        == matching
    )
    # 5 matching contacts in chunks of 2: three chunks, one plan job, one closing plan job.
    assert transfer.chunks_planned == 3
    assert (transfer.status, transfer.total_count, transfer.updated_count) == ("completed", 5, 5)
    assert (transfer.skipped_count, transfer.failed_count, transfer.related_count) == (0, 0, 5)
    audit = AuditEntry.objects.filter(batch_id=transfer.batch_id)
    assert audit.count() == 10
    assert set(audit.values_list("source", flat=True)) == {"mass_change"}
    assert set(audit.values_list("previous_owner_id", flat=True)) == {leaving.id}


def test_a_record_that_no_longer_matches_when_its_chunk_runs_is_skipped(
    settings, organization, admin_user, new_owner, leaving, owned, make_user
):
    settings.TRANSFER_JOB_CHUNK = 3
    contacts, _ = owned
    third = make_user(full_name="Third Person", email="third@zylker.test")
    transfer = engine.schedule_mass_change(
        organization=organization,
        actor=admin_user,
        module=CONTACTS,
        criteria=parse_criteria(
            owner_is(leaving.id), organization=organization, modules=[CONTACTS]
        ),
        new_owner=new_owner,
    )
    # Planned: the plan job runs alone, then someone moves one contact on.
    plan = OutboxEntry.objects.get(batch_id=transfer.batch_id, kind="transfer_plan")
    run_one(plan.id)
    change_owner(
        organization=organization,
        actor=admin_user,
        module=CONTACTS,
        record_ids=[contacts[4].id],
        new_owner=third,
        source="api",
    )
    drain()
    transfer.refresh_from_db()
    assert Record.objects.get(id=contacts[4].id).owner_id == third.id
    assert (transfer.total_count, transfer.updated_count, transfer.skipped_count) == (7, 6, 1)
    progress = engine.transfer_progress(organization=organization, transfer_id=transfer.id)
    assert progress.not_updated_count == 0
    assert progress.status == "completed"


def test_dry_run_counts_and_writes_nothing(organization, new_owner, leaving, owned):
    contacts, _ = owned
    result = engine.dry_run_mass_change(
        organization=organization,
        module=CONTACTS,
        criteria=parse_criteria(
            {"field": {"api_name": "State"}, "comparator": "equal", "value": "CA"},
            organization=organization,
            modules=[CONTACTS],
        ),
        new_owner=new_owner,
        related_modules=["Tasks", "Calls"],
    )
    ca = sorted(c.id for c in contacts if c.fields["State"] == "CA")
    assert result.total_count == 3
    assert result.related_count == {"Tasks": 3, "Calls": 0}
    assert result.sample_ids == ca
    assert not TransferJob.objects.exists()
    assert not OutboxEntry.objects.exists()
    assert not AuditEntry.objects.exists()


def test_cancel_stops_the_chunks_not_started(
    settings, organization, admin_user, new_owner, leaving, owned
):
    settings.TRANSFER_JOB_CHUNK = 2
    transfer = engine.schedule_mass_change(
        organization=organization,
        actor=admin_user,
        module=CONTACTS,
        criteria=parse_criteria(
            owner_is(leaving.id), organization=organization, modules=[CONTACTS]
        ),
        new_owner=new_owner,
    )
    plan = OutboxEntry.objects.get(batch_id=transfer.batch_id, kind="transfer_plan")
    run_one(plan.id)
    first_chunk = (
        OutboxEntry.objects.filter(batch_id=transfer.batch_id, kind="transfer_chunk")
        .order_by("id")
        .first()
    )
    run_one(first_chunk.id)
    engine.cancel_transfer(organization=organization, transfer_id=transfer.id)
    drain()
    transfer.refresh_from_db()
    assert (transfer.status, transfer.cancelled) == ("completed", True)
    assert transfer.updated_count == 2
    assert Record.objects.filter(owner=new_owner).count() == 2
    progress = engine.transfer_progress(organization=organization, transfer_id=transfer.id)
    assert progress.not_updated_count == 5


def test_another_organizations_job_is_unknown(
    organization, other_organization, admin_user, new_owner, leaving, owned
):
    transfer = engine.schedule_mass_change(
        organization=organization,
        actor=admin_user,
        module=CONTACTS,
        criteria=parse_criteria(
            owner_is(leaving.id), organization=organization, modules=[CONTACTS]
        ),
        new_owner=new_owner,
    )
    assert (
        engine.transfer_progress(organization=other_organization, transfer_id=transfer.id) is None
    )
    assert engine.cancel_transfer(organization=other_organization, transfer_id=transfer.id) is None
    assert batch_overview(organization_id=other_organization.id, batch_id=transfer.batch_id) is None
    assert not TransferJob.objects.get(id=transfer.id).cancelled


def test_offboarding_moves_every_module_deletes_the_user_and_kills_tokens_at_once(
    settings,
    organization,
    admin_user,
    new_owner,
    leaving,
    owned,
    make_record,
    make_user,
    token_for,
):
    settings.TRANSFER_JOB_CHUNK = 4
    other = make_user(full_name="Other Rep", email="other@zylker.test")
    # An account of the leaving user with a call owned by someone else (it moves with it), and
    # a task of the leaving user whose parent someone else owns (it moves in the Tasks pass).
    account = make_record(module_name="Accounts", owner=leaving)
    call = make_record(module_name="Calls", owner=other, related_to=account)
    foreign_parent = make_record(module_name="Contacts", owner=other)
    lone_task = make_record(module_name="Tasks", owner=leaving, related_to=foreign_parent)
    token_for(leaving, "ZohoBigin.users.READ")
    transfer = engine.schedule_offboarding(
        organization=organization, actor=admin_user, leaving_user=leaving, new_owner=new_owner
    )
    leaving.refresh_from_db()
    assert leaving.status == User.Status.DISABLED
    assert not AccessToken.objects.filter(user=leaving, revoked_at__isnull=True).exists()
    assert transfer.total_count == 7 + 7 + 1 + 1
    drain()
    transfer.refresh_from_db()
    leaving.refresh_from_db()
    assert leaving.status == User.Status.DELETED
    assert not Record.objects.filter(owner=leaving).exists()
    assert Record.objects.get(id=call.id).owner_id == new_owner.id
    assert Record.objects.get(id=lone_task.id).owner_id == new_owner.id
    assert Record.objects.get(id=foreign_parent.id).owner_id == other.id
    assert (transfer.status, transfer.updated_count, transfer.skipped_count) == (
        "completed",
        16,
        0,
    )
    # The call of another owner followed its account; the leaving user's 7 activities are
    # among the 16 updated, counted once.
    assert transfer.related_count == 1
    assert AuditEntry.objects.filter(batch_id=transfer.batch_id).count() == 16 + 1
    assert set(
        AuditEntry.objects.filter(batch_id=transfer.batch_id).values_list("source", flat=True)
    ) == {"offboarding"}


def test_revert_restores_records_still_as_the_batch_left_them_and_twice_is_a_no_op(
    settings, organization, admin_user, new_owner, leaving, owned, make_user
):
    settings.TRANSFER_JOB_CHUNK = 3
    contacts, tasks = owned
    third = make_user(full_name="Third Person", email="third@zylker.test")
    transfer = engine.schedule_mass_change(
        organization=organization,
        actor=admin_user,
        module=CONTACTS,
        criteria=parse_criteria(
            owner_is(leaving.id), organization=organization, modules=[CONTACTS]
        ),
        new_owner=new_owner,
        related_modules=["Tasks"],
    )
    drain()
    # Later direct changes: one contact and one task move on to a third user.
    change_owner(
        organization=organization,
        actor=admin_user,
        module=CONTACTS,
        record_ids=[contacts[0].id],
        new_owner=third,
        source="api",
    )
    change_owner(
        organization=organization,
        actor=admin_user,
        module=TASKS,
        record_ids=[tasks[1].id],
        new_owner=third,
        source="api",
    )
    revert = engine.schedule_revert(
        organization=organization, actor=admin_user, batch_id=transfer.batch_id
    )
    drain()
    revert.refresh_from_db()
    assert (revert.status, revert.total_count, revert.updated_count, revert.skipped_count) == (
        "completed",
        14,
        12,
        2,
    )
    owners = dict(Record.objects.values_list("id", "owner_id"))
    assert owners[contacts[0].id] == third.id
    assert owners[tasks[1].id] == third.id
    assert all(owners[c.id] == leaving.id for c in contacts[1:])
    assert all(owners[t.id] == leaving.id for t in tasks if t.id != tasks[1].id)
    assert AuditEntry.objects.filter(batch_id=revert.batch_id, source="revert").count() == 12
    before = AuditEntry.objects.count()
    again = engine.schedule_revert(
        organization=organization, actor=admin_user, batch_id=transfer.batch_id
    )
    drain()
    again.refresh_from_db()
    assert (again.updated_count, again.skipped_count) == (0, 14)
    assert AuditEntry.objects.count() == before
    assert dict(Record.objects.values_list("id", "owner_id")) == owners


def test_a_new_owner_disabled_mid_job_fails_the_rest_and_retry_resumes(
    settings, organization, admin_user, new_owner, leaving, owned
):
    settings.TRANSFER_JOB_CHUNK = 3
    transfer = engine.schedule_mass_change(
        organization=organization,
        actor=admin_user,
        module=CONTACTS,
        criteria=parse_criteria(
            owner_is(leaving.id), organization=organization, modules=[CONTACTS]
        ),
        new_owner=new_owner,
    )
    plan = OutboxEntry.objects.get(batch_id=transfer.batch_id, kind="transfer_plan")
    run_one(plan.id)
    chunks = list(
        OutboxEntry.objects.filter(batch_id=transfer.batch_id, kind="transfer_chunk").order_by("id")
    )
    run_one(chunks[0].id)
    User.objects.filter(id=new_owner.id).update(status=User.Status.DISABLED)
    drain()
    transfer.refresh_from_db()
    assert (transfer.status, transfer.updated_count, transfer.failed_count) == ("failed", 3, 4)
    User.objects.filter(id=new_owner.id).update(status=User.Status.ACTIVE)
    engine.retry_transfer(organization=organization, transfer_id=transfer.id)
    drain()
    transfer.refresh_from_db()
    assert (transfer.status, transfer.updated_count, transfer.failed_count) == ("completed", 7, 0)
    assert AuditEntry.objects.filter(batch_id=transfer.batch_id).count() == 7


def test_notify_sends_one_digest_per_job(
    settings, organization, admin_user, new_owner, leaving, owned
):
    settings.TRANSFER_JOB_CHUNK = 2
    transfer = engine.schedule_mass_change(
        organization=organization,
        actor=admin_user,
        module=CONTACTS,
        criteria=parse_criteria(
            owner_is(leaving.id), organization=organization, modules=[CONTACTS]
        ),
        new_owner=new_owner,
        related_modules=["Tasks"],
        notify=True,
    )
    drain()
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == [new_owner.email]
    assert message.subject == "14 records assigned to you"
    assert "- Contacts: 7" in message.body and "- Tasks: 7" in message.body
    overview = batch_overview(organization_id=organization.id, batch_id=transfer.batch_id)
    assert overview.status == "completed"
    assert overview.changed_count == 14
    assert [(job.kind, job.status, job.attempts, job.last_error) for job in overview.jobs] == [
        ("transfer_digest", "done", 1, "")
    ]


def test_scheduling_writes_the_job_and_its_plan_in_one_transaction(
    django_assert_num_queries, organization, admin_user, new_owner, leaving, owned
):
    # SAVEPOINT (the durable atomic, inside the test's transaction), the Total_Count estimate,
    # INSERT the job, INSERT its plan job, RELEASE SAVEPOINT.
    with django_assert_num_queries(5):
        engine.schedule_mass_change(
            organization=organization,
            actor=admin_user,
            module=CONTACTS,
            criteria=parse_criteria(
                owner_is(leaving.id), organization=organization, modules=[CONTACTS]
            ),
            new_owner=new_owner,
            related_modules=["Tasks"],
        )


# 45 contacts and their 45 Tasks: 90 audit rows, under the 99 rows of 10 columns that SQLite
# takes in one INSERT (Django's bulk_create splits more; PostgreSQL has no such limit).
@pytest.mark.parametrize("contacts", [1, 45])
def test_a_chunk_costs_the_same_queries_for_1_and_45_records(
    django_assert_num_queries,
    settings,
    organization,
    admin_user,
    new_owner,
    leaving,
    make_record,
    contacts,
):
    settings.TRANSFER_JOB_CHUNK = 100
    for _ in range(contacts):
        parent = make_record(module_name="Contacts", owner=leaving)
        make_record(module_name="Tasks", owner=leaving, related_to=parent)
    transfer = engine.schedule_mass_change(
        organization=organization,
        actor=admin_user,
        module=CONTACTS,
        criteria=parse_criteria(
            owner_is(leaving.id), organization=organization, modules=[CONTACTS]
        ),
        new_owner=new_owner,
        related_modules=["Tasks"],
    )
    run_one(OutboxEntry.objects.get(batch_id=transfer.batch_id, kind="transfer_plan").id)
    chunk = OutboxEntry.objects.get(batch_id=transfer.batch_id, kind="transfer_chunk")
    # Claim (UPDATE, SELECT the job), SAVEPOINT, mark done (fenced UPDATE), SELECT the transfer,
    # the new owner's status FOR SHARE, then on PostgreSQL the lock of the range's records (their
    # ids back as one array) and ONE statement that locks their Tasks, UPDATEs both and INSERTs
    # their audit rows (and the watch event); elsewhere the lock of the records, the lock of
    # their Tasks, one UPDATE and one audit INSERT of both (and the watch channels read). Then
    # lock the transfer, INSERT the next plan job (the module's last chunk), UPDATE the counts,
    # RELEASE SAVEPOINT.
    moves = 2 if connection.vendor == "postgresql" else 4 + watch_checks(1)
    with django_assert_num_queries(10 + moves):
        run_one(chunk.id)
    transfer.refresh_from_db()
    assert (transfer.updated_count, transfer.related_count) == (contacts, contacts)


def test_the_audit_ids_of_chunks_are_new_and_never_the_processs_next(
    settings, organization, admin_user, new_owner, leaving, make_record
):
    """A chunk's one statement numbers its audit rows in blocks of ids it takes itself (on
    PostgreSQL; elsewhere they are drawn one by one): two chunks, then an id drawn here, all
    different, and every change audited once."""
    from crm.ids import new_id

    settings.TRANSFER_JOB_CHUNK = 3
    records = []
    for _ in range(5):
        parent = make_record(module_name="Contacts", owner=leaving)
        records += [parent, make_record(module_name="Tasks", owner=leaving, related_to=parent)]
    transfer = engine.schedule_offboarding(
        organization=organization, actor=admin_user, leaving_user=leaving, new_owner=new_owner
    )
    drain()
    transfer.refresh_from_db()
    assert (transfer.status, transfer.chunks_planned) == ("completed", 2)
    audit = list(
        AuditEntry.objects.filter(batch_id=transfer.batch_id).values_list("id", "record_id")
    )
    ids = [audit_id for audit_id, _ in audit]
    assert sorted(record_id for _, record_id in audit) == sorted(r.id for r in records)
    assert len(set(ids)) == len(ids) == 10
    assert new_id() not in ids
