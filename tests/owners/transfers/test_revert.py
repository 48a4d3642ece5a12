"""Reverting a batch (owners/transfers/revert.py, engine.schedule_revert): which records go back
and why the others stay, who may revert what, and not while the batch still runs. Each rule
through the API (exact bodies) and the admin (its pages and POSTs); the admin's preview and the
job agree record by record. Jobs run by draining the outbox in-process."""

from __future__ import annotations

import uuid

import pytest
from django.contrib.auth.models import Permission
from django.contrib.messages import get_messages
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from audit.models import AuditEntry
from crm.models import Record, User
from crm.modules import module_by_name
from owners.models import OutboxEntry, TransferJob
from owners.services import RelatedSelection, change_owner
from owners.statements import record_owner_changes, update_owners
from tests.factories import UserFactory
from tests.owners.bigin import error, post_bulk

from .outbox import drain, run_one

pytestmark = pytest.mark.django_db

CONTACTS = module_by_name("Contacts")
TRANSFER = "/bigin/v2/users/actions/transfer_and_delete"
NOTHING_SKIPPED = {
    "record_deleted": 0,
    "added_by_batch": 0,
    "changed_since": 0,
    "already_previous_owner": 0,
    "owner_not_active": 0,
}


def revert_url(batch_id) -> str:
    return f"/bigin/v2/owner_batches/{batch_id}/actions/revert"


@pytest.fixture
def ben(make_user):
    return make_user(full_name="Ben Ortiz", email="ben@zylker.test", profile_name="Standard")


@pytest.fixture
def chen(make_user):
    return make_user(full_name="Chen Wei", email="chen@zylker.test", profile_name="Standard")


@pytest.fixture
def dana(make_user):
    return make_user(full_name="Dana Kruger", email="dana@zylker.test", profile_name="Standard")


@pytest.fixture
def ann(auth_client, admin_user):
    """Ann Lee, Administrator, through the API."""
    return auth_client(
        admin_user,
        "ZohoBigin.change_owner.CREATE",
        "ZohoBigin.change_owner.READ",
        "ZohoBigin.users.ALL",
    )


@pytest.fixture
def chens_client(auth_client, chen):
    """Chen Wei, Standard profile: may change owners, may not offboard."""
    return auth_client(chen, "ZohoBigin.change_owner.CREATE", "ZohoBigin.change_owner.READ")


@pytest.fixture
def offboarded(ann, ben, chen, dana, make_record):
    """`offboarded(delete=True)`: Ben's two Contacts and Dana's Task related to one of them,
    offboarded to Chen (run to the end). Returns the offboarding's batch id and the records."""

    def run(delete: bool = True):
        contacts = [make_record(owner=ben, name=f"Ben's {n}") for n in range(2)]
        task = make_record(module_name="Tasks", owner=dana, related_to=contacts[0])
        entry = {"id": str(ben.id), "transfer": {"id": str(chen.id)}, "delete": delete}
        response = ann.post(TRANSFER, {"transfer_and_delete": [entry]}, format="json")
        assert response.status_code == 202
        drain()
        assert set(Record.objects.values_list("owner_id", flat=True)) == {chen.id}
        return response["X-Owner-Batch-Id"], contacts, task

    return run


def revert_job(client, revert_response) -> dict:
    batch_id = revert_response.json()["data"][0]["details"]["batch_id"]
    return client.get(f"/bigin/v2/owner_batches/{batch_id}").json()["job"]


# Never to a user who is not active --------------------------------------------------------------


@pytest.mark.parametrize(("delete", "status"), [(True, "deleted"), (False, "disabled")])
def test_reverting_an_offboarding_gives_the_leaving_user_nothing_back(
    ann, ben, chen, dana, offboarded, delete, status
):
    batch_id, contacts, task = offboarded(delete)
    ben.refresh_from_db()
    assert ben.status == status

    response = ann.post(revert_url(batch_id))
    assert response.status_code == 202
    drain()

    owners = dict(Record.objects.values_list("id", "owner_id"))
    assert owners == {contacts[0].id: chen.id, contacts[1].id: chen.id, task.id: dana.id}
    revert = TransferJob.objects.get(kind="revert")
    assert revert_job(ann, response) == {
        "job_id": str(revert.id),
        "kind": "revert",
        "Status": "COMPLETED",
        "Total_Count": 3,
        "Updated_Count": 1,
        "Not_Updated_Count": 0,
        "Failed_Count": 0,
        "Skipped_Count": 2,
        "batch_id": str(revert.batch_id),
        "cancelled": False,
        "skipped_reasons": {**NOTHING_SKIPPED, "owner_not_active": 2},
    }


def test_a_record_whose_owner_changed_since_stays_even_back_with_the_batchs_owner(
    ann, admin_user, chen, dana, make_record
):
    kept, reverted = make_record(name="kept"), make_record(name="reverted")
    batch_id = post_bulk(
        ann, {"ids": [str(kept.id), str(reverted.id)], "owner": {"id": str(chen.id)}}
    )["X-Owner-Batch-Id"]
    # Away from the batch's owner and back: the owner is the batch's, but not the batch's doing.
    for owner in (dana, chen):
        post_bulk(ann, {"ids": [str(kept.id)], "owner": {"id": str(owner.id)}})

    response = ann.post(revert_url(batch_id))
    drain()

    assert Record.objects.get(id=kept.id).owner_id == chen.id
    assert Record.objects.get(id=reverted.id).owner_id == admin_user.id
    job = revert_job(ann, response)
    assert (job["Updated_Count"], job["Skipped_Count"], job["skipped_reasons"]) == (
        1,
        1,
        {**NOTHING_SKIPPED, "changed_since": 1},
    )


def test_records_a_batch_added_keep_their_owner_and_the_admin_says_why(
    auth_client, admin_user, chen, admin_site_client
):
    """A record the batch added (the record APIs) had no owner before it: its revert leaves it
    with its owner instead of taking its owner away; a record of an upsert that the batch only
    updated goes back."""
    client = auth_client(admin_user, "ZohoBigin.modules.ALL", "ZohoBigin.change_owner.ALL")
    old = {"Last_Name": "Old", "Email": "old@zylker.test"}
    existing = client.post("/bigin/v2/Contacts", {"data": [old]}, "json")
    old_id = existing.json()["data"][0]["details"]["id"]
    chen_owns = {"Owner": {"id": str(chen.id)}}
    upsert = client.post(
        "/bigin/v2/Contacts/upsert",
        {
            "data": [
                {**old, **chen_owns},
                {"Last_Name": "New", "Email": "new@zylker.test", **chen_owns},
            ]
        },
        "json",
    )
    assert upsert.status_code == 200, upsert.json()
    batch_id = upsert["X-Owner-Batch-Id"]
    new_id = upsert.json()["data"][1]["details"]["id"]

    page = admin_site_client.get(reverse("owners_admin:revert", args=[batch_id]))
    response = client.post(revert_url(batch_id))
    drain()

    assert dict(Record.objects.values_list("id", "owner_id")) == {
        int(old_id): admin_user.id,
        int(new_id): chen.id,
    }
    job = revert_job(client, response)
    assert (job["Updated_Count"], job["Skipped_Count"], job["skipped_reasons"]) == (
        1,
        1,
        {**NOTHING_SKIPPED, "added_by_batch": 1},
    )
    assert [(line.reason, line.count) for line in page.context["will_not_revert"]] == [
        ("added_by_batch", 1)
    ]
    assert "the batch added it: it had no owner before" in page.content.decode()


# The admin says which records stay and why, as the job decides -----------------------------------


@pytest.fixture
def mixed_batch(organization, admin_user, make_user, chen, dana, make_record):
    """One admin batch giving Chen six Contacts, each to show one outcome of a revert."""
    eve = make_user(full_name="Eve Stone", email="eve@zylker.test")
    fred = make_user(full_name="Fred Lund", email="fred@zylker.test")
    records = {
        "back": make_record(name="back"),
        "to_disabled": make_record(name="to_disabled", owner=eve),
        "to_deleted": make_record(name="to_deleted", owner=fred),
        "changed": make_record(name="changed"),
        "gone": make_record(name="gone"),
        "away_and_back": make_record(name="away_and_back"),
    }
    result = change_owner(
        organization=organization,
        actor=admin_user,
        module=CONTACTS,
        record_ids=[record.id for name, record in records.items() if name != "away_and_back"],
        new_owner=chen,
        source="admin",
    )
    # The same batch takes one record to Chen and back to Ann (as a batch that audits a record
    # twice would): nothing for a revert to undo.
    for new_owner, previous in ((chen, admin_user), (admin_user, chen)):
        now = timezone.now()
        away = records["away_and_back"].id
        update_owners(
            organization.id, [away], new_owner_id=new_owner.id, actor_id=admin_user.id, now=now
        )
        record_owner_changes(
            organization_id=organization.id,
            changes=[(away, CONTACTS.id, previous.id)],
            new_owner_id=new_owner.id,
            actor_id=admin_user.id,
            source="admin",
            batch_id=result.batch_id,
            now=now,
        )
    User.objects.filter(id=eve.id).update(status=User.Status.DISABLED)
    User.objects.filter(id=fred.id).update(status=User.Status.DELETED)
    change_owner(
        organization=organization,
        actor=admin_user,
        module=CONTACTS,
        record_ids=[records["changed"].id],
        new_owner=dana,
        source="admin",
    )
    change_owner(
        organization=organization,
        actor=admin_user,
        module=CONTACTS,
        record_ids=[records["changed"].id],
        new_owner=chen,
        source="admin",
    )
    records["gone"].delete()
    return result.batch_id


def test_the_revert_page_says_why_records_stay_and_the_job_agrees(
    admin_site_client, admin_user, chen, mixed_batch
):
    batch_id = mixed_batch
    url = reverse("owners_admin:revert", args=[batch_id])

    page = admin_site_client.get(url)

    assert [
        (line.previous_owner, line.new_owner, line.count) for line in page.context["will_revert"]
    ] == [(admin_user, chen, 1)]
    kept = {
        (line.reason, line.previous_owner.full_name if line.previous_owner else None): line.count
        for line in page.context["will_not_revert"]
    }
    assert kept == {
        ("record_deleted", "Ann Lee"): 1,
        ("changed_since", "Ann Lee"): 1,
        ("already_previous_owner", "Ann Lee"): 1,
        ("owner_not_active", "Eve Stone"): 1,
        ("owner_not_active", "Fred Lund"): 1,
    }
    body = page.content.decode()
    assert "the owner before the batch is disabled: records go to active users only" in body
    assert "the owner before the batch is deleted: records go to active users only" in body
    assert 'id="revert-refused"' not in body

    response = admin_site_client.post(url)
    drain()

    revert = TransferJob.objects.get(kind="revert")
    assert response.url == reverse("admin:owners_transferjob_change", args=[revert.id])
    preview = {}
    for line in page.context["will_not_revert"]:
        preview[line.reason] = preview.get(line.reason, 0) + line.count
    assert revert.skipped_reasons == preview
    assert (revert.updated_count, revert.skipped_count) == (1, 5)
    owners = dict(Record.objects.values_list("name", "owner__full_name"))
    assert owners == {
        "back": "Ann Lee",
        "to_disabled": "Chen Wei",
        "to_deleted": "Chen Wei",
        "changed": "Chen Wei",
        "away_and_back": "Ann Lee",
    }
    # The revert's job page and its batch page say why, too.
    job_page = admin_site_client.get(response.url).content.decode()
    assert '<td id="skip-owner_not_active">2</td>' in job_page
    progress = admin_site_client.get(
        reverse("admin:owners_transferjob_progress", args=[revert.id])
    ).json()
    assert progress["skipped_reasons"] == {
        "record_deleted": 1,
        "added_by_batch": 0,
        "changed_since": 1,
        "already_previous_owner": 1,
        "owner_not_active": 2,
    }
    batch_page = admin_site_client.get(reverse("owners_admin:batch", args=[revert.batch_id]))
    assert (
        '<li class="skip-owner_not_active">2 left alone: its previous owner is not active '
        "(disabled or deleted)</li>" in batch_page.content.decode()
    )


# The permission the batch's own operation needed ------------------------------------------------


def test_only_an_administrator_reverts_an_offboarding_through_the_api(
    ann, chens_client, ben, offboarded
):
    batch_id, _, _ = offboarded()

    refused = chens_client.post(revert_url(batch_id))
    revert = ann.post(revert_url(batch_id))
    drain()
    # A revert of the offboarding's revert does the offboarding again: Administrator too.
    revert_batch = revert.json()["data"][0]["details"]["batch_id"]
    refused_again = chens_client.post(revert_url(revert_batch))

    no_permission = error(
        "NO_PERMISSION",
        {"permissions": ["Manage_Users"]},
        "You do not have permission to perform this operation",
    )
    assert (refused.status_code, refused.json()) == (403, no_permission)
    assert (refused_again.status_code, refused_again.json()) == (403, no_permission)
    assert revert.status_code == 202
    assert TransferJob.objects.filter(kind="revert").count() == 1


def test_a_standard_profile_still_reverts_a_change_it_may_make(chens_client, chen, make_record):
    record = make_record()
    batch_id = post_bulk(chens_client, {"ids": [str(record.id)], "owner": {"id": str(chen.id)}})[
        "X-Owner-Batch-Id"
    ]
    assert chens_client.post(revert_url(batch_id)).status_code == 202


@pytest.fixture
def standard_staff_client(organization):
    """Staff of Zylker with the Standard profile, allowed to change records (and owners)."""
    staff = UserFactory(
        organization=organization, is_staff=True, profile_name="Standard", email="sam@zylker.test"
    )
    staff.user_permissions.add(Permission.objects.get(codename="change_record"))
    client = Client()
    client.force_login(staff)
    return client


def test_only_an_administrator_reverts_an_offboarding_in_the_admin(
    standard_staff_client, offboarded
):
    batch_id, _, _ = offboarded()
    url = reverse("owners_admin:revert", args=[batch_id])

    batch_page = standard_staff_client.get(reverse("owners_admin:batch", args=[batch_id]))
    page = standard_staff_client.get(url)
    response = standard_staff_client.post(url)

    message = (
        "Only an Administrator reverts an offboarding, as only an Administrator offboards. "
        "Nothing was scheduled."
    )
    assert not TransferJob.objects.filter(kind="revert").exists()
    assert response.url == reverse("owners_admin:batch", args=[batch_id])
    assert [str(m) for m in get_messages(response.wsgi_request)] == [message]
    assert 'id="revert-link"' not in batch_page.content.decode()
    body = page.content.decode()
    assert f'<li class="error" id="revert-refused">{message}</li>' in body
    assert 'id="confirm-revert" value="Revert this batch" disabled' in body


# Not while the batch still runs ----------------------------------------------------------------


def test_a_batch_whose_job_still_runs_is_not_reverted_through_the_api(
    settings, ann, admin_user, chen, make_record
):
    settings.TRANSFER_JOB_CHUNK = 1
    for n in range(3):
        make_record(name=f"C{n}")
    criteria = {
        "field": {"api_name": "Owner"},
        "comparator": "equal",
        "value": {"id": str(admin_user.id)},
    }
    scheduled = ann.post(
        "/bigin/v2/Contacts/actions/mass_change_owner",
        {"owner": {"id": str(chen.id)}, "criteria": criteria},
        format="json",
    )
    batch_id = scheduled["X-Owner-Batch-Id"]

    before_it_runs = ann.post(revert_url(batch_id))
    run_one(OutboxEntry.objects.get(kind="transfer_plan").id)
    run_one(OutboxEntry.objects.filter(kind="transfer_chunk").order_by("id").first().id)
    while_it_runs = ann.post(revert_url(batch_id))

    def running(status):
        return error(
            "INVALID_DATA",
            {"batch_id": batch_id, "job_status": status},
            "the batch is still running: revert it once its job has finished",
        )

    assert (while_it_runs.status_code, while_it_runs.json()) == (400, running("RUNNING"))
    assert (before_it_runs.status_code, before_it_runs.json()) == (400, running("SCHEDULED"))
    assert TransferJob.objects.get().status == "running"
    assert not TransferJob.objects.filter(kind="revert").exists()
    drain()
    assert ann.post(revert_url(batch_id)).status_code == 202


def test_a_request_whose_related_transfer_waits_is_not_reverted_yet(
    ann, chen, make_record, django_capture_on_commit_callbacks
):
    contact = make_record()
    make_record(module_name="Tasks", related_to=contact)
    batch_id = post_bulk(
        ann,
        {
            "ids": [str(contact.id)],
            "owner": {"id": str(chen.id)},
            "related_modules": [{"api_name": "Tasks"}],
        },
    )["X-Owner-Batch-Id"]

    waiting = ann.post(revert_url(batch_id))
    drain()
    done = ann.post(revert_url(batch_id))

    assert (waiting.status_code, waiting.json().get("details")) == (
        400,
        {"batch_id": batch_id, "job_status": "RUNNING"},
    )
    assert done.status_code == 202


def test_the_admin_does_not_revert_a_batch_whose_job_still_runs(
    admin_site_client, organization, admin_user, chen, make_record
):
    contact = make_record()
    make_record(module_name="Tasks", related_to=contact)
    result = change_owner(
        organization=organization,
        actor=admin_user,
        module=CONTACTS,
        record_ids=[contact.id],
        new_owner=chen,
        related=RelatedSelection(modules=("Tasks",)),
        source="admin",
    )
    url = reverse("owners_admin:revert", args=[result.batch_id])

    page = admin_site_client.get(url)
    response = admin_site_client.post(url)

    message = (
        "This batch is still running: records may still move. Revert it once its job has "
        "finished. Nothing was scheduled."
    )
    assert not TransferJob.objects.filter(kind="revert").exists()
    assert [str(m) for m in get_messages(response.wsgi_request)] == [message]
    assert f'id="revert-refused">{message}</li>' in page.content.decode()
    assert Record.objects.get(id=contact.id).owner_id == chen.id


def test_an_unknown_batch_is_still_invalid(ann):
    batch_id = str(uuid.uuid4())
    response = ann.post(revert_url(batch_id))
    assert (response.status_code, response.json()) == (
        400,
        error("INVALID_DATA", {"batch_id": batch_id}, "the batch id given seems to be invalid"),
    )
    assert not AuditEntry.objects.exists()
