"""The batch page: what one change of owner did, in a fixed number of queries, scoped."""

from __future__ import annotations

import uuid

import pytest
from django.urls import reverse

from audit.models import AuditEntry
from crm.modules import module_by_name
from owners.services import RelatedSelection, change_owner
from tests.factories import RecordFactory, UserFactory

pytestmark = pytest.mark.django_db

CONTACTS = module_by_name("Contacts")


def batch_url(batch_id) -> str:
    return reverse("owners_admin:batch", args=[batch_id])


@pytest.fixture
def chen(make_user):
    return make_user(full_name="Chen Wei", email="chen@zylker.test", profile_name="Standard")


@pytest.fixture
def changed_batch(
    organization,
    admin_user,
    make_record,
    chen,
    in_process_tasks,
    django_capture_on_commit_callbacks,
):
    """`changed_batch(count)`: `count` Contacts of Ann Lee, each with two Tasks, given to Chen Wei
    with their Tasks and an email; the jobs run at commit. Returns the batch id."""

    def run(count: int) -> uuid.UUID:
        contacts = [make_record(name=f"Contact {n:03}") for n in range(count)]
        for contact in contacts:
            for _ in range(2):
                make_record(module_name="Tasks", related_to=contact)
        with django_capture_on_commit_callbacks(execute=True):
            result = change_owner(
                organization=organization,
                actor=admin_user,
                module=CONTACTS,
                record_ids=[contact.id for contact in contacts],
                new_owner=chen,
                notify=True,
                related=RelatedSelection(modules=("Tasks",)),
                source=AuditEntry.Source.ADMIN,
            )
        return result.batch_id

    return run


@pytest.mark.parametrize("count", [3, 60])
def test_the_batch_page_shows_what_changed_the_related_transfer_and_the_email(
    admin_site_client, changed_batch, count, django_assert_num_queries
):
    batch_id = changed_batch(count)

    # 1 session, 2 user, 3 the batch's audit rows counted by module, source and owners, 4 its
    # outbox entries, 5 the transfer jobs that wrote or revert it, 6 the users they name, 7 the
    # first 50 audit rows with their module and users.
    with django_assert_num_queries(7):
        response = admin_site_client.get(batch_url(batch_id))

    assert response.status_code == 200
    overview = response.context["overview"]
    assert (overview.changed_count, overview.direct_count, overview.related_count) == (
        3 * count,
        count,
        2 * count,
    )
    assert [
        (m.module.api_name, m.source, m.previous_owner.full_name, m.new_owner.full_name, m.count)
        for m in overview.moves
    ] == [
        ("Contacts", "admin", "Ann Lee", "Chen Wei", count),
        ("Tasks", "related_transfer", "Ann Lee", "Chen Wei", 2 * count),
    ]
    assert [(job.description, job.status_label) for job in response.context["jobs"]] == [
        (f"Tasks related to {count} Contacts follow to Chen Wei", "done"),
        (f"Email to Chen Wei <chen@zylker.test> listing {count} Contacts", "sent"),
    ]
    assert len(overview.sample) == min(3 * count, 50)
    body = response.content.decode()
    assert f'<strong id="changed-count">{3 * count}</strong>' in body
    assert f"?q={batch_id}" in body  # every audit row of the batch, on the audit list


def test_the_audit_list_links_each_entry_to_its_batch_page(admin_site_client, changed_batch):
    batch_id = changed_batch(1)

    response = admin_site_client.get(reverse("admin:audit_auditentry_changelist"))

    assert f'href="{batch_url(batch_id)}"' in response.content.decode()


def test_another_organizations_staff_and_an_unknown_batch_get_a_404(
    client, admin_site_client, other_organization, changed_batch
):
    batch_id = changed_batch(2)
    outsider = UserFactory(organization=other_organization, is_staff=True)
    RecordFactory(organization=other_organization)
    client.force_login(outsider)

    assert client.get(batch_url(batch_id)).status_code == 404
    assert admin_site_client.get(batch_url(uuid.uuid4())).status_code == 404


def test_the_batch_page_is_for_staff_only(client, organization, changed_batch):
    batch_id = changed_batch(1)
    member = UserFactory(organization=organization)
    client.force_login(member)

    response = client.get(batch_url(batch_id))

    assert response.status_code == 302
    assert response.url.startswith(reverse("admin:login"))
