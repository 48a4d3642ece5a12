"""Reverting a batch (owners/transfers/revert.py, engine.schedule_revert): which records go back
and why the others stay. Through the API (exact bodies) and the admin (its pages and POSTs); the
admin's preview and the job agree record by record. Jobs run by draining the outbox
in-process."""

from __future__ import annotations

import pytest
from django.urls import reverse
from django.utils import timezone

from crm.models import Record, User
from crm.modules import module_by_name
from owners.models import TransferJob
from owners.services import change_owner
from owners.statements import record_owner_changes, update_owners
from tests.owners.bigin import post_bulk

from .outbox import drain

pytestmark = pytest.mark.django_db

CONTACTS = module_by_name("Contacts")
TRANSFER = "/bigin/v2/users/actions/transfer_and_delete"
NOTHING_SKIPPED = {
    "record_deleted": 0,
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
        "changed_since": 1,
        "already_previous_owner": 1,
        "owner_not_active": 2,
    }
    batch_page = admin_site_client.get(reverse("owners_admin:batch", args=[revert.batch_id]))
    assert (
        '<li class="skip-owner_not_active">2 left alone: its previous owner is not active '
        "(disabled or deleted)</li>" in batch_page.content.decode()
    )
