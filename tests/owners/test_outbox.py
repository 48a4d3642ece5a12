"""Outbox entries on a real database: dispatch after commit, claims, the related transfer, the
notification email, retries and the sweep. Tasks run in-process here (`in_process_tasks`);
tests/integration runs them in a real worker."""

from __future__ import annotations

import smtplib
from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from audit.models import AuditEntry
from config.celery import app
from crm.models import Record
from crm.modules import module_by_name
from owners import outbox
from owners import tasks as owner_tasks
from owners.models import OutboxEntry
from owners.services import RelatedSelection, change_owner
from owners.tasks import run_outbox_entry_task

from .bigin import post_bulk

pytestmark = pytest.mark.django_db

CONTACTS = module_by_name("Contacts")


class FailingEmailBackend:
    """Stands in for a mail server that refuses: `error` is raised on every send."""

    error: BaseException = smtplib.SMTPServerDisconnected("connection lost (injected)")

    def __init__(self, *args, **kwargs):
        pass

    def send_messages(self, messages):
        raise self.error


@pytest.fixture
def change(organization, admin_user):
    """`change(records, new_owner, ...)`: change_owner on Contacts as the admin; returns the
    result, its jobs pending (no commit happens in these tests, so nothing is dispatched)."""

    def run(records, new_owner, *, modules=(), related_ids=(), notify=False):
        return change_owner(
            organization=organization,
            actor=admin_user,
            module=CONTACTS,
            record_ids=[record.id for record in records],
            new_owner=new_owner,
            notify=notify,
            related=RelatedSelection(modules=tuple(modules), record_ids=tuple(related_ids)),
            source="api",
        )

    return run


def job_of(result, kind: str) -> OutboxEntry:
    (job,) = [job for job in result.jobs if job.kind == kind]
    return job


def owners_of(*records) -> list[int | None]:
    by_id = dict(Record.objects.filter(id__in=[r.id for r in records]).values_list("id", "owner"))
    return [by_id[record.id] for record in records]


# Dispatch ---------------------------------------------------------------------------------------


def test_jobs_are_dispatched_only_after_commit(
    in_process_tasks,
    admin_client,
    admin_user,
    make_record,
    new_owner,
    mailoutbox,
    django_capture_on_commit_callbacks,
):
    contact = make_record()
    task = make_record(module_name="Tasks", related_to=contact)
    body = {
        "ids": [str(contact.id)],
        "owner": {"id": str(new_owner.id)},
        "notify": True,
        "related_modules": [{"api_name": "Tasks"}],
    }

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = post_bulk(admin_client, body)
        # Committed but before the on-commit callbacks: nothing has run yet.
        assert owners_of(contact, task) == [new_owner.id, admin_user.id]
        assert set(OutboxEntry.objects.values_list("status", flat=True)) == {"pending"}
        assert mailoutbox == []

    assert response.status_code == 200
    assert len(callbacks) == 1
    assert owners_of(contact, task) == [new_owner.id, new_owner.id]
    assert set(OutboxEntry.objects.values_list("status", flat=True)) == {"done"}
    assert len(mailoutbox) == 1


# Claims -----------------------------------------------------------------------------------------


def test_a_job_is_claimed_once_and_taken_over_only_after_its_lease(
    change, make_record, new_owner, settings
):
    job = job_of(change([make_record()], new_owner, modules=["Tasks"]), "related_transfer")

    first = outbox.claim_entry(job.id)
    assert (first.status, first.attempts) == ("running", 1)
    assert outbox.claim_entry(job.id) is None  # a duplicate delivery

    # The worker holding it died: once the lease has run out, another worker takes it over.
    OutboxEntry.objects.filter(id=job.id).update(
        claimed_at=timezone.now() - timedelta(seconds=settings.OUTBOX_LEASE_SECONDS + 1)
    )
    second = outbox.claim_entry(job.id)
    assert (second.status, second.attempts) == ("running", 2)

    OutboxEntry.objects.filter(id=job.id).update(status="done")
    assert outbox.claim_entry(job.id) is None


def test_a_worker_whose_claim_was_taken_over_finishes_nothing(
    change, make_record, admin_user, new_owner, settings
):
    contact = make_record()
    task = make_record(module_name="Tasks", related_to=contact)
    job = job_of(change([contact], new_owner, modules=["Tasks"]), "related_transfer")
    stale = outbox.claim_entry(job.id)
    OutboxEntry.objects.filter(id=job.id).update(
        claimed_at=timezone.now() - timedelta(seconds=settings.OUTBOX_LEASE_SECONDS + 1)
    )
    current = outbox.claim_entry(job.id)

    assert outbox.run_related_transfer(stale) == []
    assert owners_of(task) == [admin_user.id]
    assert outbox.run_related_transfer(current) == [task.id]
    assert owners_of(task) == [new_owner.id]


def test_running_a_job_twice_changes_and_audits_once(change, make_record, new_owner):
    contact = make_record()
    make_record(module_name="Calls", related_to=contact)
    job = job_of(change([contact], new_owner, modules=["Calls"]), "related_transfer")

    assert outbox.run_entry(job.id) is not None
    assert outbox.run_entry(job.id) is None

    assert AuditEntry.objects.filter(source="related_transfer").count() == 1
    job.refresh_from_db()
    assert (job.status, job.attempts) == ("done", 1)


# The related transfer ---------------------------------------------------------------------------


def test_related_transfer_moves_exactly_the_selected_activities_with_audit_rows(
    change, make_record, admin_user, new_owner, make_user
):
    other_owner = make_user()
    first, second, outside = make_record(), make_record(), make_record()
    task = make_record(module_name="Tasks", related_to=first)
    call = make_record(module_name="Calls", related_to=second, owner=other_owner)
    event_not_selected = make_record(module_name="Events", related_to=first)
    event_by_id = make_record(module_name="Events", related_to=second)
    task_of_outside = make_record(module_name="Tasks", related_to=outside)
    event_of_outside_by_id = make_record(module_name="Events", related_to=outside)
    already_owned = make_record(module_name="Tasks", related_to=first, owner=new_owner)
    result = change(
        [first, second],
        new_owner,
        modules=["Tasks", "Calls"],
        related_ids=[event_by_id.id, event_of_outside_by_id.id],
    )

    moved = outbox.run_related_transfer(outbox.claim_entry(job_of(result, "related_transfer").id))

    assert sorted(moved) == sorted([task.id, call.id, event_by_id.id])
    assert owners_of(task, call, event_by_id, already_owned) == [new_owner.id] * 4
    assert (
        owners_of(event_not_selected, task_of_outside, event_of_outside_by_id)
        == [admin_user.id] * 3
    )
    rows = AuditEntry.objects.filter(source="related_transfer").order_by("record_id")
    assert list(
        rows.values_list(
            "record_id", "module_id", "previous_owner_id", "new_owner_id", "actor_id", "batch_id"
        )
    ) == [
        (record.id, record.module_id, previous, new_owner.id, admin_user.id, result.batch_id)
        for record, previous in sorted(
            [(task, admin_user.id), (call, other_owner.id), (event_by_id, admin_user.id)],
            key=lambda pair: pair[0].id,
        )
    ]
    task.refresh_from_db()
    assert task.modified_by_id == admin_user.id


@pytest.mark.parametrize("order", ["older first", "newer first"])
def test_the_newest_batch_wins_whatever_order_the_jobs_run_in(
    change, make_record, new_owner, make_user, order
):
    newest_owner = make_user()
    contact = make_record()
    task = make_record(module_name="Tasks", related_to=contact)
    older = job_of(change([contact], new_owner, modules=["Tasks"]), "related_transfer")
    newer = job_of(change([contact], newest_owner, modules=["Tasks"]), "related_transfer")

    for job in [older, newer] if order == "older first" else [newer, older]:
        outbox.run_entry(job.id)

    assert owners_of(task) == [newest_owner.id]
    assert list(
        AuditEntry.objects.filter(source="related_transfer").values_list("new_owner_id", flat=True)
    ) == [newest_owner.id]


# PostgreSQL: Django splits bulk INSERTs on SQLite by its 999-parameter limit.
@pytest.mark.postgres
@pytest.mark.parametrize(("parents", "per_parent"), [(1, 1), (50, 10)])
def test_related_transfer_query_count_is_independent_of_the_number_of_records(
    change, organization, admin_user, new_owner, django_assert_num_queries, parents, per_parent
):
    from tests.factories import RecordFactory

    contacts = RecordFactory.create_batch(parents, organization=organization, owner=admin_user)
    for contact in contacts:
        RecordFactory.create_batch(
            per_parent,
            organization=organization,
            owner=admin_user,
            module_name="Tasks",
            related_to=contact,
        )
    job = job_of(change(contacts, new_owner, modules=["Tasks"]), "related_transfer")

    # 1 UPDATE the job to running (the claim)
    # 2 SELECT the claimed job
    # 3 SAVEPOINT (the job's durable transaction, nested in the test's transaction)
    # 4 SELECT ... FOR SHARE the new owner's status
    # 5 UPDATE the job to done, fenced on the claim
    # 6 SELECT ... FOR UPDATE the parents still owned by the new owner (their ids as one array)
    # 7 ONE statement: lock the selected activities of those parents, UPDATE those to move,
    #   INSERT their audit rows, write the job's result (owners/statements.py, `move_related`)
    # 8 RELEASE SAVEPOINT
    with django_assert_num_queries(8):
        outbox.run_entry(job.id)
    assert AuditEntry.objects.filter(source="related_transfer").count() == parents * per_parent


# The notification -------------------------------------------------------------------------------


def test_one_email_per_request_lists_the_changed_records(
    in_process_tasks, change, make_record, new_owner, mailoutbox
):
    first = make_record(name="Smith")
    second = make_record(name="Jones")
    unchanged = make_record(name="Lee", owner=new_owner)

    result = change([first, second, unchanged], new_owner, notify=True)
    outbox.run_entry(job_of(result, "notify").id)

    (message,) = mailoutbox
    assert message.to == [new_owner.email]
    assert message.subject == "2 Contacts assigned to you"
    low, high = sorted([first, second], key=lambda r: r.id)
    assert message.body == (
        f"Hello {new_owner.full_name},\n\n"
        "2 Contacts assigned to you by Ann Lee:\n"
        f"- {low.name} (id {low.id})\n"
        f"- {high.name} (id {high.id})\n"
    )
    assert message.extra_headers["Message-ID"] == (
        f"<outbox-{job_of(result, 'notify').id}@bigin.test>"
    )


def test_no_email_when_notify_is_false_or_nothing_changed(
    in_process_tasks, admin_client, make_record, new_owner, mailoutbox
):
    with_notify_false = make_record()
    already_owned = make_record(owner=new_owner)

    for record, notify in [(with_notify_false, False), (already_owned, True)]:
        body = {"ids": [str(record.id)], "owner": {"id": str(new_owner.id)}, "notify": notify}
        response = post_bulk(admin_client, body)
        assert response.status_code == 200
    for job in OutboxEntry.objects.all():  # none expected; run any there were
        outbox.run_entry(job.id)

    assert not OutboxEntry.objects.filter(kind="notify").exists()
    assert mailoutbox == []


def test_two_requests_send_two_emails_and_a_redelivery_none(
    in_process_tasks, change, make_record, new_owner, mailoutbox
):
    notify_jobs = [
        job_of(change([make_record()], new_owner, notify=True), "notify") for _ in range(2)
    ]
    for job in [*notify_jobs, *notify_jobs]:
        run_outbox_entry_task.delay(str(job.id))

    assert [m.subject for m in mailoutbox] == ["1 Contact assigned to you"] * 2


# Retries and failures ---------------------------------------------------------------------------


def test_a_transient_email_error_is_retried_with_a_cap_and_the_job_stays_pending(
    in_process_tasks, change, make_record, new_owner, settings, mailoutbox
):
    settings.EMAIL_BACKEND = f"{__name__}.FailingEmailBackend"
    job = job_of(change([make_record()], new_owner, notify=True), "notify")

    # Not propagating, so Celery runs the in-process retries instead of raising the first one.
    app.conf.task_eager_propagates = False
    result = run_outbox_entry_task.apply(args=(str(job.id),))

    assert result.failed()
    assert isinstance(result.result, smtplib.SMTPServerDisconnected)
    job.refresh_from_db()
    # The first run and the task's 5 retries; then the job waits for the sweep.
    assert (job.status, job.attempts) == ("pending", 1 + run_outbox_entry_task.max_retries)
    assert "connection lost" in job.last_error

    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    settings.OUTBOX_SWEEP_GRACE_SECONDS = 0
    assert owner_tasks.sweep() == 1
    job.refresh_from_db()
    assert job.status == "done"
    assert len(mailoutbox) == 1


def test_a_permanent_email_error_fails_the_job_without_retrying(
    in_process_tasks, change, make_record, new_owner, settings, monkeypatch
):
    settings.EMAIL_BACKEND = f"{__name__}.FailingEmailBackend"
    monkeypatch.setattr(
        FailingEmailBackend,
        "error",
        smtplib.SMTPRecipientsRefused({new_owner.email: (550, b"no such user")}),
    )
    job = job_of(change([make_record()], new_owner, notify=True), "notify")

    with pytest.raises(smtplib.SMTPRecipientsRefused):
        run_outbox_entry_task.apply(args=(str(job.id),), throw=True)

    job.refresh_from_db()
    assert (job.status, job.attempts) == ("failed", 1)
    settings.OUTBOX_SWEEP_GRACE_SECONDS = 0
    assert owner_tasks.sweep() == 0


def test_an_smtp_4xx_is_transient(in_process_tasks, change, make_record, new_owner, settings):
    settings.EMAIL_BACKEND = f"{__name__}.FailingEmailBackend"
    job = job_of(change([make_record()], new_owner, notify=True), "notify")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(FailingEmailBackend, "error", smtplib.SMTPDataError(451, b"try later"))
        with pytest.raises(outbox.TransientJobError):
            outbox.run_entry(job.id)
    job.refresh_from_db()
    assert job.status == "pending"


# The sweep --------------------------------------------------------------------------------------


def test_the_sweep_sends_what_was_left_behind_and_gives_up_after_the_attempt_cap(
    in_process_tasks, change, make_record, admin_user, new_owner, settings
):
    settings.OUTBOX_SWEEP_GRACE_SECONDS = 60
    now = timezone.now()
    parents = [make_record() for _ in range(4)]
    tasks = [make_record(module_name="Tasks", related_to=parent) for parent in parents]
    lost, not_yet, died, hopeless = (
        job_of(change([parent], new_owner, modules=["Tasks"]), "related_transfer")
        for parent in parents
    )
    OutboxEntry.objects.filter(id=lost.id).update(run_after=now - timedelta(seconds=61))
    OutboxEntry.objects.filter(id=not_yet.id).update(run_after=now - timedelta(seconds=30))
    OutboxEntry.objects.filter(id=died.id).update(
        status="running",
        attempts=1,
        claimed_at=now - timedelta(seconds=settings.OUTBOX_LEASE_SECONDS + 1),
    )
    OutboxEntry.objects.filter(id=hopeless.id).update(
        run_after=now - timedelta(seconds=61), attempts=settings.OUTBOX_MAX_ATTEMPTS
    )

    assert owner_tasks.sweep() == 2

    status = dict(OutboxEntry.objects.values_list("id", "status"))
    assert [status[job.id] for job in (lost, not_yet, died, hopeless)] == [
        "done",
        "pending",
        "done",
        "failed",
    ]
    assert owners_of(*tasks) == [new_owner.id, admin_user.id, new_owner.id, admin_user.id]


@pytest.mark.redis
def test_the_sweep_does_not_multiply_a_job_still_waiting_in_the_queue(
    change, make_record, new_owner, settings
):
    # A real broker and no worker: the sent message waits in the queue, the job stays pending.
    settings.OUTBOX_SWEEP_GRACE_SECONDS = 60
    parent = make_record()
    job = job_of(change([parent], new_owner, modules=["Tasks"]), "related_transfer")
    OutboxEntry.objects.filter(id=job.id).update(run_after=timezone.now() - timedelta(seconds=61))

    assert owner_tasks.sweep() == 1
    assert owner_tasks.sweep() == 0  # sent a moment ago: not again before another grace period
    with time_machine.travel(timezone.now() + timedelta(seconds=61)):
        assert owner_tasks.sweep() == 1
    assert OutboxEntry.objects.get(id=job.id).status == "pending"
