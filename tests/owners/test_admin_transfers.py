"""Transfer jobs in the admin: the list, the job page and its JSON progress, cancel and retry,
offboarding, select-all as a job, reverting a batch; query counts and organization scoping.

Jobs run in-process by draining the outbox (tests/owners/transfers/outbox.py); the browser tests
(tests/integration/test_admin_transfers_browser.py) run them on a real worker.
"""

from __future__ import annotations

import pytest
from django.contrib.admin.models import ADDITION, LogEntry
from django.contrib.auth.models import Permission
from django.contrib.contenttypes.models import ContentType
from django.contrib.messages import get_messages
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from audit.models import AuditEntry
from crm.models import Record, User
from crm.modules import module_by_name
from owners.models import OutboxEntry, TransferJob
from owners.services import change_owner
from owners.transfers import engine
from owners.transfers.criteria import parse_criteria
from tests.factories import RecordFactory, UserFactory

from .transfers.outbox import drain

pytestmark = pytest.mark.django_db

CONTACTS = module_by_name("Contacts")
TASKS = module_by_name("Tasks")
TRANSFERS = reverse("admin:owners_transferjob_changelist")
RECORDS = reverse("admin:crm_record_changelist")
OFFBOARD = reverse("owners_admin:offboard")


def messages_of(response) -> list[str]:
    return [str(message) for message in get_messages(response.wsgi_request)]


def job_url(transfer, view="change") -> str:
    return reverse(f"admin:owners_transferjob_{view}", args=[transfer.id])


@pytest.fixture
def chen(make_user):
    return make_user(full_name="Chen Wei", email="chen@zylker.test", profile_name="Standard")


@pytest.fixture
def ben(make_user):
    return make_user(full_name="Ben Ortiz", email="ben@zylker.test", profile_name="Standard")


@pytest.fixture
def bens_records(organization, ben):
    """`bens_records(count)`: `count` Contacts of Ben, each with one Task of his."""

    def make(count: int) -> list[Record]:
        contacts = Record.objects.bulk_create(
            Record(organization=organization, module_id=CONTACTS.id, owner=ben, name=f"C{n}")
            for n in range(count)
        )
        Record.objects.bulk_create(
            Record(
                organization=organization,
                module_id=TASKS.id,
                owner=ben,
                related_to=contact,
                name=f"T{n}",
            )
            for n, contact in enumerate(contacts)
        )
        return contacts

    return make


@pytest.fixture
def offboarding(organization, admin_user, ben, chen):
    def schedule() -> TransferJob:
        return engine.schedule_offboarding(
            organization=organization, actor=admin_user, leaving_user=ben, new_owner=chen
        )

    return schedule


@pytest.fixture
def outsider_client(other_organization):
    """A staff user of another organization who may change owners (an Administrator)."""
    staff = UserFactory(organization=other_organization, is_staff=True)
    staff.user_permissions.add(Permission.objects.get(codename="change_record"))
    client = Client()
    client.force_login(staff)
    return client


# The list ---------------------------------------------------------------------------------


@pytest.mark.parametrize("count", [2, 20])
def test_the_transfer_list_counts_jobs_by_status_in_fixed_queries(
    admin_site_client, organization, admin_user, chen, count, django_assert_num_queries
):
    for n in range(count):
        TransferJob.objects.create(
            organization=organization,
            kind=TransferJob.Kind.MASS_CHANGE,
            status=[TransferJob.Status.COMPLETED, TransferJob.Status.FAILED][n % 2],
            batch_id=f"00000000-0000-4000-8000-{n:012}",
            actor=admin_user,
            new_owner=chen,
            total_count=10,
            updated_count=10 - n % 2,
            failed_count=n % 2,
            last_error="NewOwnerNotActive('disabled')" if n % 2 else "",
        )

    # 1 session, 2 user, 3 COUNT(*), 4 the page of jobs with their users, 5 jobs by status.
    with django_assert_num_queries(5):
        response = admin_site_client.get(TRANSFERS)

    assert response.status_code == 200
    assert response.context["status_counts"] == [
        ("scheduled", "Scheduled", 0),
        ("running", "Running", 0),
        ("completed", "Completed", count - count // 2),
        ("failed", "Failed", count // 2),
    ]
    body = response.content.decode()
    assert "NewOwnerNotActive(&#x27;disabled&#x27;)" in body
    assert '<progress max="10" value="10"></progress> 10 / 10' in body


# The job page and its progress -----------------------------------------------------------


@pytest.mark.parametrize("count", [3, 40])
def test_the_job_page_and_its_json_show_the_progress_in_fixed_queries(
    settings, admin_site_client, bens_records, offboarding, count, django_assert_num_queries
):
    settings.TRANSFER_JOB_CHUNK = 5
    bens_records(count)
    transfer = offboarding()
    drain()

    # 1 session, 2 user, 3 the job with its organization and users, 4 the engine's progress,
    # 5 what moved per module (one GROUP BY: the JSON view only when asked).
    with django_assert_num_queries(5):
        page = admin_site_client.get(job_url(transfer))
    with django_assert_num_queries(4):
        plain = admin_site_client.get(job_url(transfer, "progress"))
    with django_assert_num_queries(5):
        progress = admin_site_client.get(job_url(transfer, "progress"), {"modules": "1"})

    assert page.status_code == 200
    body = page.content.decode()
    assert f'data-progress-url="{job_url(transfer, "progress")}"' in body
    assert f'<progress max="{2 * count}" value="{2 * count}"></progress>' in body
    assert "no-store" in progress["Cache-Control"]
    assert plain.json() == {**progress.json(), "modules": None}
    data = progress.json()
    assert data == {
        "id": str(transfer.id),
        "kind": "offboarding",
        "status": "completed",
        "status_label": "Completed",
        "finished": True,
        "cancelled": False,
        "total_count": 2 * count,
        "updated_count": 2 * count,
        "skipped_count": 0,
        "failed_count": 0,
        "related_count": 0,
        "changed_count": 2 * count,
        "not_updated_count": 0,
        "not_updated_label": "Left undone",
        "done_count": 2 * count,
        "percent": 100,
        "batch_url": reverse("owners_admin:batch", args=[transfer.batch_id]),
        "last_error": "",
        "skipped_reasons": None,
        "modules": [
            {"label": "Contacts", "count": count},
            {"label": "Tasks", "count": count},
        ],
    }


def test_cancel_stops_a_running_job_after_its_current_chunks(
    settings, admin_site_client, bens_records, offboarding, django_assert_num_queries
):
    settings.TRANSFER_JOB_CHUNK = 2
    bens_records(10)
    transfer = offboarding()

    # 1 session, 2 user, 3 the job, 4 the engine's UPDATE (cancelled), 5 the job read back.
    with django_assert_num_queries(5):
        response = admin_site_client.post(job_url(transfer, "cancel"))
    drain()

    assert response.status_code == 302
    assert response.url == job_url(transfer)
    assert messages_of(response) == [
        f"Job {transfer.id} stops after the chunks running now; what it changed stays changed "
        "(revert its batch to undo it)."
    ]
    transfer.refresh_from_db()
    assert transfer.cancelled
    assert transfer.updated_count == 0  # cancelled before its plan ran: nothing moved
    assert admin_site_client.get(job_url(transfer, "progress")).json()["status_label"] == (
        "Cancelled"
    )


def test_retry_runs_the_failed_chunks_of_a_failed_job_again(
    settings,
    admin_site_client,
    organization,
    bens_records,
    offboarding,
    chen,
    django_assert_num_queries,
):
    settings.TRANSFER_JOB_CHUNK = 4
    bens_records(6)
    transfer = offboarding()
    User.objects.filter(id=chen.id).update(status=User.Status.DISABLED)
    drain()
    transfer.refresh_from_db()
    assert (transfer.status, transfer.failed_count) == ("failed", 12)

    User.objects.filter(id=chen.id).update(status=User.Status.ACTIVE)
    # 1 session, 2 user, 3 the job; the engine: 4 the job again, 5 SAVEPOINT, 6 the job locked
    # (read again), 7 its failed chunks locked, 8 UPDATE them, 9 UPDATE the job, 10 RELEASE,
    # 11 the job read back.
    with django_assert_num_queries(11):
        response = admin_site_client.post(job_url(transfer, "retry"))
    drain()

    assert messages_of(response) == [f"Job {transfer.id}: failed chunks sent again."]
    transfer.refresh_from_db()
    assert (transfer.status, transfer.updated_count, transfer.failed_count) == (
        "completed",
        12,
        0,
    )
    again = admin_site_client.post(job_url(transfer, "retry"))
    assert messages_of(again)[-1] == f"Job {transfer.id} has not failed: nothing to retry."


def test_the_list_actions_cancel_running_jobs_and_retry_failed_ones(
    admin_site_client, organization, admin_user, chen, django_assert_num_queries
):
    running, failed, done = (
        TransferJob.objects.create(
            organization=organization,
            kind=TransferJob.Kind.MASS_CHANGE,
            status=status,
            batch_id=f"00000000-0000-4000-8000-00000000000{n}",
            new_owner=chen,
        )
        for n, status in enumerate(["running", "failed", "completed"])
    )
    selected = [running.id, failed.id, done.id]
    # What failed it: its one chunk, which the sweep gave up on.
    TransferJob.objects.filter(id=failed.id).update(chunks_planned=1, chunks_done=1)
    OutboxEntry.objects.create(
        organization=organization,
        kind=OutboxEntry.Kind.TRANSFER_CHUNK,
        batch_id=failed.batch_id,
        status=OutboxEntry.Status.FAILED,
        run_after=timezone.now(),
        payload={
            "transfer_id": str(failed.id),
            "module_id": "1",
            "after": "0",
            "up_to": "9",
            "planned": 0,
        },
    )

    # 1 session, 2 user, 3 the changelist's COUNT(*), 4 the selected running jobs; per job:
    # 5 the engine's UPDATE, 6 the job read back.
    with django_assert_num_queries(6):
        cancel = admin_site_client.post(
            TRANSFERS, {"action": "cancel_action", "index": 0, "_selected_action": selected}
        )
    # 1 session, 2 user, 3 the changelist's COUNT(*), 4 the selected failed jobs; per job, the
    # engine: 5 the job, 6 SAVEPOINT, 7 the job locked (read again), 8 its failed steps locked,
    # 9 UPDATE them, 10 UPDATE the job, 11 RELEASE, 12 the job read back.
    with django_assert_num_queries(12):
        retry = admin_site_client.post(
            TRANSFERS, {"action": "retry_action", "index": 0, "_selected_action": selected}
        )

    assert messages_of(cancel) == ["1 job cancelled: each stops after the chunks running now."]
    assert messages_of(retry)[-1] == "1 failed job sent to the workers again."
    assert TransferJob.objects.get(id=running.id).cancelled
    assert TransferJob.objects.get(id=failed.id).status == "running"
    assert not TransferJob.objects.get(id=done.id).cancelled


def test_staff_of_another_organization_neither_see_nor_control_its_jobs(
    admin_site_client, outsider_client, bens_records, offboarding
):
    bens_records(2)
    transfer = offboarding()

    listed = outsider_client.get(TRANSFERS)
    page = outsider_client.get(job_url(transfer))
    progress = outsider_client.get(job_url(transfer, "progress"))
    cancel = outsider_client.post(job_url(transfer, "cancel"))
    retry = outsider_client.post(job_url(transfer, "retry"))
    action = outsider_client.post(
        TRANSFERS, {"action": "cancel_action", "index": 0, "_selected_action": [transfer.id]}
    )

    assert list(listed.context["cl"].result_list) == []
    assert [page.status_code, progress.status_code, cancel.status_code, retry.status_code] == [
        404,
        404,
        404,
        404,
    ]
    assert action.status_code == 302
    transfer.refresh_from_db()
    assert not transfer.cancelled


# Offboarding --------------------------------------------------------------------------------


@pytest.mark.parametrize("count", [2, 30])
def test_offboarding_shows_the_dry_run_then_schedules_the_job(
    admin_site_client,
    admin_user,
    organization,
    bens_records,
    ben,
    chen,
    count,
    django_assert_num_queries,
):
    bens_records(count)
    choice = {"leaving_user": ben.id, "new_owner": chen.id, "then": "disable"}

    # 1 session, 2 user, 3-4 the two lists of users the form offers.
    with django_assert_num_queries(4):
        form = admin_site_client.get(OFFBOARD, {"leaving_user": ben.id})
    # 1 session, 2 user, 3 the leaving user, 4 the new owner (the form's choices); the dry run:
    # 5-11 the records of each of the seven modules counted, 12-14 the related activities of
    # other users per activity module, 15 the first ids; 16-17 the two lists of users the page
    # offers (each a server-side cursor on PostgreSQL).
    with django_assert_num_queries(17):
        preview = admin_site_client.post(OFFBOARD, {**choice, "preview": "1"})

    assert form.status_code == 200
    assert form.context["form"].initial["leaving_user"] == str(ben.id)
    assert preview.status_code == 200
    assert preview.context["per_module"] == [
        ("Contacts", count, 0),
        ("Pipelines", 0, 0),
        ("Companies", 0, 0),
        ("Products", 0, 0),
        ("Tasks", count, 0),
        ("Events", 0, 0),
        ("Calls", 0, 0),
    ]
    assert f'<th class="number" id="dry-run-total">{2 * count}</th>' in (preview.content.decode())
    assert Record.objects.filter(owner=ben).count() == 2 * count  # nothing moved yet

    ContentType.objects.get_for_model(TransferJob)  # cached per process, as in a server
    # 1 session, 2 user, 3 the leaving user, 4 the new owner; the engine: 5 SAVEPOINT, 6 the
    # leaving user disabled, 7-8 their access and refresh tokens revoked, 9-15 the estimate
    # (one COUNT per module), 16 INSERT job, 17 INSERT plan, 18 RELEASE; 19 the LogEntry.
    with django_assert_num_queries(19):
        confirm = admin_site_client.post(OFFBOARD, {**choice, "confirm": "1"})

    transfer = TransferJob.objects.get()
    assert confirm.status_code == 302
    assert confirm.url == job_url(transfer)
    assert (transfer.kind, transfer.from_user_id, transfer.new_owner_id) == (
        "offboarding",
        ben.id,
        chen.id,
    )
    assert transfer.delete_user is False
    assert User.objects.get(id=ben.id).status == User.Status.DISABLED  # at once, by the engine
    log = LogEntry.objects.get()
    assert (log.action_flag, log.object_id, log.change_message) == (
        ADDITION,
        str(transfer.id),
        "Offboarding of Ben Ortiz scheduled",
    )
    drain()
    assert Record.objects.filter(owner=chen).count() == 2 * count


def test_offboarding_refuses_bad_choices_and_other_organizations_users(
    client, outsider_client, organization, other_organization, admin_site_client, ben, chen
):
    foreign = UserFactory(organization=other_organization)

    same = admin_site_client.post(
        OFFBOARD, {"leaving_user": ben.id, "new_owner": ben.id, "preview": "1"}
    )
    mixed = admin_site_client.post(
        OFFBOARD, {"leaving_user": ben.id, "new_owner": foreign.id, "preview": "1"}
    )
    forged = outsider_client.post(
        OFFBOARD, {"leaving_user": ben.id, "new_owner": foreign.id, "confirm": "1"}
    )
    choices = outsider_client.get(OFFBOARD).context["form"].fields["leaving_user"].queryset

    assert same.context["form"].non_field_errors() == ["The new owner must be another user."]
    assert mixed.context["form"].non_field_errors() == [
        "The new owner must be a user of the leaving user's organization."
    ]
    assert "leaving_user" in forged.context["form"].errors  # Ben is not theirs to choose
    assert ben not in choices and chen not in choices
    assert not TransferJob.objects.exists()
    assert User.objects.get(id=ben.id).status == User.Status.ACTIVE


def test_only_a_superuser_offboards_a_staff_account(organization, chen):
    administrator = UserFactory(organization=organization, is_staff=True)
    administrator.user_permissions.add(Permission.objects.get(codename="change_record"))
    colleague = UserFactory(organization=organization, is_staff=True, full_name="Dana Kruger")
    client = Client()
    client.force_login(administrator)

    response = client.post(
        OFFBOARD, {"leaving_user": colleague.id, "new_owner": chen.id, "confirm": "1"}
    )

    assert response.context["form"].non_field_errors() == [
        "Only a superuser offboards a staff account."
    ]
    assert not TransferJob.objects.exists()
    assert User.objects.get(id=colleague.id).status == User.Status.ACTIVE


def test_offboarding_is_for_administrators(client, organization, ben):
    standard = UserFactory(organization=organization, is_staff=True, profile_name="Standard")
    standard.user_permissions.add(Permission.objects.get(codename="change_record"))
    client.force_login(standard)

    assert client.get(OFFBOARD).status_code == 403


# Select all: a job per module from the list's filters ------------------------------------------


@pytest.mark.parametrize("count", [12, 40])
def test_select_all_over_more_than_a_chunk_schedules_a_job_per_module_from_the_filters(
    settings,
    admin_site_client,
    admin_user,
    bens_records,
    ben,
    chen,
    count,
    django_assert_num_queries,
):
    settings.TRANSFER_JOB_CHUNK = 10
    bens_records(count)
    ContentType.objects.get_for_model(TransferJob)  # cached per process, as in a server
    url = f"{RECORDS}?owner__id__exact={ben.id}"
    select_all = {"action": "change_owner_action", "index": 0, "select_across": "1"}

    first_page = list(Record.objects.filter(owner=ben).values_list("id", flat=True)[:5])
    # 1 session, 2 user; Django's changelist: 3-5 the filter choices, 6 COUNT(*), 7-9 the filter
    # choices again (for the action); the action: 10 the selection counted, 11 counted per
    # module, 12 its organization, 13 the name of the owner filtered on, 14 the new owner
    # choices (the form).
    with django_assert_num_queries(14):
        page = admin_site_client.post(url, {**select_all, "_selected_action": first_page})

    assert page.status_code == 200
    assert page.context["job_mode"] == "job"
    assert [(m.api_name, n) for m, n in page.context["per_module"]] == [
        ("Contacts", count),
        ("Tasks", count),
    ]
    body = page.content.decode()
    assert '<input type="hidden" name="_selected_action" value="all">' in body  # no ids travel
    assert "Owner is Ben Ortiz" in body

    # 1 session, 2 user, 3-9 the changelist as above, 10 counted per module, 11 the
    # organization, 12 the new owner; then per module (two here, seven at most): SAVEPOINT,
    # the engine's estimate (COUNT), INSERT job, INSERT its plan, RELEASE, INSERT LogEntry.
    with django_assert_num_queries(12 + 2 * 6):
        confirm = admin_site_client.post(
            url,
            {
                **select_all,
                "_selected_action": "all",
                "mode": "job",
                "apply": "yes",
                "new_owner": chen.id,
            },
        )

    transfers = list(TransferJob.objects.order_by("module_ids"))
    assert [t.module_ids for t in transfers] == [[CONTACTS.id], [TASKS.id]]
    owner_is_ben = parse_criteria(
        {"field": {"api_name": "Owner"}, "comparator": "equal", "value": {"id": str(ben.id)}},
        organization=ben.organization,
        modules=[CONTACTS],
    )
    assert [t.criteria for t in transfers] == [owner_is_ben, owner_is_ben]
    assert confirm.status_code == 302 and confirm.url == url
    assert messages_of(confirm) == [
        f'{module}: <a href="{job_url(transfer)}">job {transfer.id}</a> gives the {count:,} '
        f"records selected to Chen Wei in the background "
        f'(<a href="{reverse("owners_admin:batch", args=[transfer.batch_id])}">batch '
        f"{str(transfer.batch_id)[:8]}</a>)."
        for module, transfer in zip(["Contacts", "Tasks"], transfers, strict=True)
    ]
    assert LogEntry.objects.filter(action_flag=ADDITION).count() == 2
    drain()
    assert Record.objects.filter(owner=chen).count() == 2 * count


def test_select_all_refuses_a_search_by_name_as_a_job(
    settings, admin_site_client, bens_records, ben, chen
):
    settings.TRANSFER_JOB_CHUNK = 3
    bens_records(5)

    response = admin_site_client.post(
        f"{RECORDS}?q=C",
        {
            "action": "change_owner_action",
            "index": 0,
            "select_across": "1",
            "_selected_action": "all",
        },
    )

    assert messages_of(response) == [
        "A job selects records by module and owner, not by a search by name: clear the search, "
        "or select fewer records. Nothing was changed."
    ]
    assert not TransferJob.objects.exists()


def test_select_all_of_a_staff_user_schedules_only_their_organizations_records(
    settings, outsider_client, other_organization, bens_records
):
    settings.TRANSFER_JOB_CHUNK = 1
    bens_records(3)  # Zylker's
    theirs = [RecordFactory(organization=other_organization) for _ in range(2)]
    new_owner = UserFactory(organization=other_organization)

    outsider_client.post(
        RECORDS,
        {
            "action": "change_owner_action",
            "index": 0,
            "select_across": "1",
            "_selected_action": "all",
            "mode": "job",
            "apply": "yes",
            "new_owner": new_owner.id,
        },
    )
    drain()

    assert [t.organization_id for t in TransferJob.objects.all()] == [other_organization.id]
    assert set(Record.objects.filter(owner=new_owner).values_list("id", flat=True)) == {
        r.id for r in theirs
    }


# Reverting a batch ------------------------------------------------------------------------


def test_the_revert_page_says_what_will_and_will_not_go_back_then_schedules_it(
    admin_site_client, organization, admin_user, bens_records, ben, chen, django_assert_num_queries
):
    contacts = bens_records(4)
    result = change_owner(
        organization=organization,
        actor=admin_user,
        module=CONTACTS,
        record_ids=[c.id for c in contacts],
        new_owner=chen,
        source="admin",
    )
    Record.objects.filter(id=contacts[0].id).update(owner=admin_user)  # changed since
    Record.objects.filter(id=contacts[1].id).delete()  # gone
    url = reverse("owners_admin:revert", args=[result.batch_id])

    # 1 session, 2 user, 3-7 the batch overview (as the batch page), 8 the batch's rows against
    # the records now, grouped, 9 the users they name.
    with django_assert_num_queries(9):
        page = admin_site_client.get(url)

    assert page.status_code == 200
    assert [
        (line.module.api_name, line.new_owner, line.previous_owner, line.count)
        for line in page.context["will_revert"]
    ] == [("Contacts", chen, ben, 2)]
    assert sorted((line.gone, line.count) for line in page.context["will_not_revert"]) == [
        (False, 1),
        (True, 1),
    ]
    ContentType.objects.get_for_model(TransferJob)  # cached per process, as in a server
    # 1 session, 2 user, 3-7 the batch overview (scoping), 8 its organization; the engine: 9-13
    # the batch overview (what it changed, whether its job or related transfer still runs),
    # 14 SAVEPOINT, 15 the estimate (distinct records), 16 INSERT job, 17 INSERT plan,
    # 18 RELEASE; 19 the LogEntry.
    with django_assert_num_queries(19):
        response = admin_site_client.post(url)
    revert = TransferJob.objects.get(kind="revert")
    assert response.status_code == 302 and response.url == job_url(revert)
    drain()
    assert dict(
        Record.objects.filter(id__in=[c.id for c in contacts]).values_list("id", "owner")
    ) == {
        contacts[0].id: admin_user.id,
        contacts[2].id: ben.id,
        contacts[3].id: ben.id,
    }
    again = admin_site_client.get(url)
    assert again.context["revert_count"] == 0
    assert 'id="already-reverted"' in again.content.decode()


def test_another_organizations_staff_cannot_see_or_revert_a_batch(
    outsider_client, organization, admin_user, bens_records, chen
):
    contacts = bens_records(2)
    result = change_owner(
        organization=organization,
        actor=admin_user,
        module=CONTACTS,
        record_ids=[c.id for c in contacts],
        new_owner=chen,
        source="admin",
    )
    url = reverse("owners_admin:revert", args=[result.batch_id])

    assert outsider_client.get(url).status_code == 404
    assert outsider_client.post(url).status_code == 404
    assert not TransferJob.objects.exists()
    assert AuditEntry.objects.filter(source="revert").count() == 0
