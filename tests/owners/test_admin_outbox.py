"""The outbox entries in the admin: list, counts, last error, retry, scoping."""

from __future__ import annotations

import uuid

import pytest
from django.contrib.auth.models import Permission
from django.contrib.messages import get_messages
from django.core import mail
from django.urls import reverse
from django.utils import timezone

from owners.models import OutboxEntry
from tests.factories import RecordFactory, UserFactory

pytestmark = pytest.mark.django_db

CHANGELIST = reverse("admin:owners_outboxentry_changelist")


def messages_of(response) -> list[str]:
    return [str(message) for message in get_messages(response.wsgi_request)]


@pytest.fixture
def make_job(organization, admin_user):
    """`make_job(status=..., **fields)`: a notification job for one new Contact."""

    def make(*, status=OutboxEntry.Status.DONE, organization=organization, **fields):
        record = RecordFactory(organization=organization)
        fields.setdefault(
            "payload",
            {
                "module": "Contacts",
                "new_owner_id": str(record.owner_id),
                "actor_id": str(admin_user.id),
                "source": "api",
                "record_ids": [str(record.id)],
            },
        )
        fields.setdefault("batch_id", uuid.uuid4())
        fields.setdefault("run_after", timezone.now())
        return OutboxEntry.objects.create(
            organization=organization, kind=OutboxEntry.Kind.NOTIFY, status=status, **fields
        )

    return make


@pytest.mark.parametrize("count", [3, 30])
def test_the_outbox_list_shows_counts_by_status_and_the_last_error_in_fixed_queries(
    admin_site_client, make_job, count, django_assert_num_queries
):
    for n in range(count):
        make_job(status=[OutboxEntry.Status.DONE, OutboxEntry.Status.PENDING][n % 2])
    failed = make_job(status=OutboxEntry.Status.FAILED, last_error="SMTPRecipientsRefused({})")

    # 1 session, 2 user, 3 COUNT(*) of the filtered jobs, 4 the page of jobs, 5 the jobs
    # counted by status (one GROUP BY).
    with django_assert_num_queries(5):
        response = admin_site_client.get(CHANGELIST)

    assert response.status_code == 200
    assert response.context["status_counts"] == [
        ("pending", "Pending", count // 2),
        ("running", "Running", 0),
        ("done", "Done", count - count // 2),
        ("failed", "Failed", 1),
    ]
    body = response.content.decode()
    assert "SMTPRecipientsRefused({})" in body
    assert '<a href="?status__exact=failed">Failed: <strong>1</strong></a>' in body
    assert reverse("owners_admin:batch", args=[failed.batch_id]) in body

    only_failed = admin_site_client.get(CHANGELIST, {"status__exact": "failed"})
    assert [job.id for job in only_failed.context["cl"].result_list] == [failed.id]


def test_retry_sends_the_failed_jobs_again_after_commit_and_leaves_the_others(
    admin_site_client,
    make_job,
    in_process_tasks,
    django_capture_on_commit_callbacks,
    django_assert_num_queries,
):
    failed = make_job(status=OutboxEntry.Status.FAILED, attempts=10, last_error="gave up")
    done = make_job(status=OutboxEntry.Status.DONE)

    with (
        django_capture_on_commit_callbacks(execute=False) as callbacks,
        # 1 session, 2 user, 3 the changelist's COUNT(*), 4 the selected jobs counted,
        # 5 SAVEPOINT, 6 the failed ones among them locked, 7 their UPDATE, 8 RELEASE SAVEPOINT.
        django_assert_num_queries(8),
    ):
        response = admin_site_client.post(
            CHANGELIST,
            {"action": "retry_action", "index": 0, "_selected_action": [failed.id, done.id]},
        )

    assert response.status_code == 302
    assert messages_of(response) == [
        "1 failed job sent to the workers again. 1 selected job left as it is: not failed, "
        "or part of a transfer job (retry those on the job's page)."
    ]
    failed.refresh_from_db()
    assert (failed.status, failed.attempts, failed.last_error) == ("pending", 0, "gave up")
    assert len(callbacks) == 1 and not mail.outbox  # sent only once the retry commits

    callbacks[0]()  # the commit: the job runs in-process and sends its email
    failed.refresh_from_db()
    assert (failed.status, failed.last_error) == ("done", "")
    assert len(mail.outbox) == 1


def test_staff_of_one_organization_neither_see_nor_retry_another_organizations_jobs(
    client, organization, other_organization, make_job
):
    staff = UserFactory(organization=other_organization, is_staff=True)
    staff.user_permissions.add(Permission.objects.get(codename="change_record"))
    client.force_login(staff)
    theirs = make_job(status=OutboxEntry.Status.FAILED)  # Zylker's
    ours = make_job(status=OutboxEntry.Status.FAILED, organization=other_organization)

    page = client.get(CHANGELIST)
    detail = client.get(reverse("admin:owners_outboxentry_change", args=[theirs.id]))
    retry = client.post(
        CHANGELIST,
        {"action": "retry_action", "index": 0, "_selected_action": [theirs.id, ours.id]},
    )

    assert [job.id for job in page.context["cl"].result_list] == [ours.id]
    assert page.context["status_counts"][3] == ("failed", "Failed", 1)
    assert detail.status_code == 302  # "doesn't exist", as for a missing id
    assert retry.status_code == 302
    theirs.refresh_from_db()
    ours.refresh_from_db()
    assert (theirs.status, ours.status) == ("failed", "pending")


def test_outbox_jobs_are_not_added_changed_or_deleted_here(admin_site_client, make_job):
    job = make_job(status=OutboxEntry.Status.FAILED)

    add = admin_site_client.get(reverse("admin:owners_outboxentry_add"))
    edit = admin_site_client.post(
        reverse("admin:owners_outboxentry_change", args=[job.id]), {"status": "done"}
    )
    delete = admin_site_client.post(
        reverse("admin:owners_outboxentry_delete", args=[job.id]), {"post": "yes"}
    )

    assert [add.status_code, edit.status_code, delete.status_code] == [403, 403, 403]
    job.refresh_from_db()
    assert job.status == "failed"


def test_search_finds_a_batchs_jobs_by_batch_id_and_nothing_for_other_terms(
    admin_site_client, make_job
):
    wanted = make_job()
    make_job()  # another batch

    by_batch = admin_site_client.get(CHANGELIST, {"q": str(wanted.batch_id)})
    by_text = admin_site_client.get(CHANGELIST, {"q": "notify"})

    assert [job.id for job in by_batch.context["cl"].result_list] == [wanted.id]
    assert list(by_text.context["cl"].result_list) == []
