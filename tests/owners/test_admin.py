"""The Record admin: the change-owner action, the changelist's query budget, the history."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission
from django.contrib.messages import get_messages
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from audit.models import AuditEntry
from crm.models import Record, User
from crm.modules import module_by_name
from owners.models import OwnerJob
from owners.services import change_owner
from tests.conftest import ADMIN_PASSWORD
from tests.factories import RecordFactory, UserFactory

pytestmark = pytest.mark.django_db

CHANGELIST = reverse("admin:crm_record_changelist")
ACTION = "change_owner_action"


def messages_of(response) -> list[str]:
    return [str(message) for message in get_messages(response.wsgi_request)]


def start_action(client, records):
    """The changelist's "Go" button: step one, the intermediate page."""
    return client.post(
        CHANGELIST, {"action": ACTION, "index": 0, "_selected_action": [r.id for r in records]}
    )


def confirm_action(client, records, new_owner, notify=False, related_modules=()):
    """The intermediate page's "Change owner" button."""
    return client.post(
        CHANGELIST,
        {
            "action": ACTION,
            "apply": "yes",
            "_selected_action": [r.id for r in records],
            "new_owner": new_owner.id,
            "notify": "on" if notify else "",
            "related_modules": list(related_modules),
        },
    )


def owners_of(records) -> dict[int, int | None]:
    return dict(Record.objects.filter(id__in=[r.id for r in records]).values_list("id", "owner_id"))


@pytest.fixture
def chen(make_user):
    return make_user(full_name="Chen Wei", email="chen@zylker.test", profile_name="Standard")


@pytest.fixture
def eli(make_user):
    return make_user(full_name="Eli Novak", email="eli@zylker.test", status=User.Status.DISABLED)


def test_the_intermediate_page_lists_the_records_and_offers_only_active_users_of_their_org(
    admin_site_client, make_record, chen, eli, other_organization
):
    outsider = UserFactory(organization=other_organization, full_name="Gus Harper")
    records = [make_record(name="Olivia Smith"), make_record(name="Liam Garcia")]

    response = start_action(admin_site_client, records)

    assert response.status_code == 200
    assert response.templates[0].name == "admin/owners/change_owner.html"
    assert list(response.context["records"]) == sorted(records, key=lambda r: r.name)
    offered = list(response.context["form"].fields["new_owner"].queryset)
    assert offered == [records[0].owner, chen]  # Ann Lee and Chen Wei, by name
    body = response.content.decode()
    assert "Olivia Smith" in body and "Liam Garcia" in body
    assert eli.full_name not in body and outsider.full_name not in body
    assert owners_of(records) == {r.id: r.owner_id for r in records}


def test_confirm_changes_owners_through_the_service_and_reports_per_module(
    admin_site_client, admin_user, make_record, chen
):
    contacts = [make_record(module_name="Contacts") for _ in range(3)]
    already_chens = make_record(module_name="Contacts", owner=chen)
    pipeline = make_record(module_name="Pipelines")
    selected = [*contacts, already_chens, pipeline]

    response = confirm_action(
        admin_site_client, selected, chen, notify=True, related_modules=["Tasks", "Calls"]
    )

    assert response.status_code == 302
    assert response.url == CHANGELIST
    assert owners_of(selected) == {r.id: chen.id for r in selected}
    entries = list(AuditEntry.objects.order_by("module_id", "record_id"))
    assert {e.record_id for e in entries} == {r.id for r in [*contacts, pipeline]}
    assert {(e.source, e.actor_id, e.new_owner_id, e.previous_owner_id) for e in entries} == {
        ("admin", admin_user.id, chen.id, admin_user.id)
    }
    contacts_batch = next(e.batch_id for e in entries if e.record_id == contacts[0].id)
    pipelines_batch = next(e.batch_id for e in entries if e.record_id == pipeline.id)
    assert contacts_batch != pipelines_batch  # one service call, one transaction per module
    assert messages_of(response) == [
        f"Contacts: 3 changed to Chen Wei, 1 already owned by Chen Wei (batch {contacts_batch}).",
        f"Pipelines: 1 changed to Chen Wei, 0 already owned by Chen Wei (batch {pipelines_batch}).",
    ]
    related = OwnerJob.objects.get(batch_id=contacts_batch, kind=OwnerJob.Kind.RELATED_TRANSFER)
    assert related.payload["related_modules"] == ["Tasks", "Calls"]
    assert related.payload["source"] == "admin"
    assert OwnerJob.objects.filter(batch_id=contacts_batch, kind=OwnerJob.Kind.NOTIFY).exists()


def test_the_action_refuses_records_of_several_organizations_and_changes_nothing(
    admin_site_client, make_record, chen, other_organization
):
    mine = make_record()
    theirs = RecordFactory(organization=other_organization)
    before = owners_of([mine, theirs])
    expected = [
        "The selected records belong to more than one organization. "
        "Select records of one organization at a time; nothing was changed."
    ]

    first_step = start_action(admin_site_client, [mine, theirs])
    assert first_step.status_code == 302
    assert messages_of(first_step) == expected
    admin_site_client.get(first_step.url)  # the changelist shows (and so consumes) the message

    # A forged confirm (straight to step two) meets the same check.
    confirm = confirm_action(admin_site_client, [mine, theirs], chen)
    assert confirm.status_code == 302
    assert messages_of(confirm) == expected
    assert owners_of([mine, theirs]) == before
    assert not AuditEntry.objects.exists()
    assert not OwnerJob.objects.exists()


def test_the_action_refuses_a_disabled_owner_and_changes_nothing(
    admin_site_client, make_record, eli
):
    records = [make_record(), make_record()]
    before = owners_of(records)

    response = confirm_action(admin_site_client, records, eli, notify=True)

    # The intermediate page again, with the reason on top.
    assert response.status_code == 200
    assert response.templates[0].name == "admin/owners/change_owner.html"
    assert messages_of(response) == [
        "Choose an active user of Zylker as the new owner: disabled and deleted users "
        "cannot own records. Nothing was changed."
    ]
    assert "cannot own records. Nothing was changed." in response.content.decode()
    assert owners_of(records) == before
    assert not AuditEntry.objects.exists()
    assert not OwnerJob.objects.exists()


def test_the_action_refuses_a_user_of_another_organization(
    admin_site_client, make_record, other_organization
):
    records = [make_record()]
    outsider = UserFactory(organization=other_organization)

    response = confirm_action(admin_site_client, records, outsider)

    assert response.status_code == 200
    assert messages_of(response) == [
        "Choose an active user of Zylker as the new owner: disabled and deleted users "
        "cannot own records. Nothing was changed."
    ]
    assert owners_of(records) == {records[0].id: records[0].owner_id}


def test_staff_without_the_change_owner_profile_do_not_get_the_action(
    client, organization, make_record, chen
):
    reader = UserFactory(organization=organization, profile_name="Read Only", is_staff=True)
    reader.set_password(ADMIN_PASSWORD)
    reader.save()
    reader.user_permissions.add(
        *Permission.objects.filter(codename__in=["view_record", "change_record"])
    )
    client.login(email=reader.email, password=ADMIN_PASSWORD)
    record = make_record()

    page = client.get(CHANGELIST)
    assert page.status_code == 200
    assert page.context["action_form"] is None  # no action at all: the only one is refused

    # A forged confirm finds no action to run.
    confirm_action(client, [record], chen)
    assert owners_of([record]) == {record.id: record.owner_id}
    assert not AuditEntry.objects.exists()


def test_staff_see_only_their_organizations_records(client, organization, other_organization):
    staff = UserFactory(organization=organization, is_staff=True)
    staff.set_password(ADMIN_PASSWORD)
    staff.save()
    staff.user_permissions.add(Permission.objects.get(codename="view_record"))
    client.login(email=staff.email, password=ADMIN_PASSWORD)
    mine = RecordFactory(organization=organization)
    RecordFactory(organization=other_organization)

    response = client.get(CHANGELIST)

    assert [r.id for r in response.context["cl"].result_list] == [mine.id]


def test_search_finds_a_record_by_name_or_by_id(admin_site_client, make_record):
    olivia = make_record(name="Olivia Smith")
    liam = make_record(name="Liam Garcia")

    by_name = admin_site_client.get(CHANGELIST, {"q": "olivia"})
    by_id = admin_site_client.get(CHANGELIST, {"q": str(liam.id)})

    assert [r.id for r in by_name.context["cl"].result_list] == [olivia.id]
    assert [r.id for r in by_id.context["cl"].result_list] == [liam.id]


@pytest.mark.parametrize("count", [5, 50])
def test_the_record_changelist_costs_a_fixed_number_of_queries(
    admin_site_client, organization, make_user, make_record, count, django_assert_num_queries
):
    owners = [make_user() for _ in range(3)]
    parents = [make_record(module_name="Contacts") for _ in range(3)]
    for n in range(count):
        make_record(
            module_name="Tasks", owner=owners[n % 3], related_to=parents[n % 3], name=f"Task {n}"
        )
    owner_filter = {"owner__id__exact": owners[0].id}

    # 1 session, 2 the logged-in user, 3 the filter choices of module, 4 of owner and
    # 5 of organization (each one query: a subquery of the visible records), 6 COUNT(*) of the
    # filtered records, 7 the page of records with module, owner and related record JOINed.
    # (No full-table count: show_full_result_count is off.)
    with django_assert_num_queries(7):
        response = admin_site_client.get(CHANGELIST, owner_filter)

    assert response.status_code == 200
    assert response.context["cl"].result_count == len(range(0, count, 3))


def test_the_change_page_shows_the_ownership_history_in_one_query(
    admin_site_client, admin_user, organization, make_record, chen
):
    record = make_record(name="Olivia Smith")
    contacts = module_by_name("Contacts")
    change_owner(
        organization=organization,
        actor=admin_user,
        module=contacts,
        record_ids=[record.id],
        new_owner=chen,
        source="api",
    )
    second = change_owner(
        organization=organization,
        actor=chen,
        module=contacts,
        record_ids=[record.id],
        new_owner=admin_user,
        source="admin",
    )
    url = reverse("admin:crm_record_change", args=[record.id])

    with CaptureQueriesContext(connection) as queries:
        response = admin_site_client.get(url)

    assert response.status_code == 200
    audit_queries = [q["sql"] for q in queries if "audit_auditentry" in q["sql"]]
    assert len(audit_queries) == 1
    body = response.content.decode()
    history = body[body.index('<table id="ownership-history">') :]
    history = history[: history.index("</table>")]
    rows = history.split("<tr>")[2:]
    # Newest first: Chen gave it back to Ann from the admin, after the API had given it to Chen.
    assert [
        "<td>Chen Wei</td><td>Ann Lee</td><td>Chen Wei</td><td>Admin</td>" in rows[0],
        "<td>Ann Lee</td><td>Chen Wei</td><td>Ann Lee</td><td>Api</td>" in rows[1],
    ] == [True, True]
    assert f"?q={second.batch_id}" in rows[0]


def test_records_cannot_be_added_edited_or_deleted_here(admin_site_client, make_record):
    record = make_record(name="Olivia Smith")

    add = admin_site_client.get(reverse("admin:crm_record_add"))
    edit = admin_site_client.post(
        reverse("admin:crm_record_change", args=[record.id]), {"name": "Renamed"}
    )
    delete = admin_site_client.post(
        reverse("admin:crm_record_delete", args=[record.id]), {"post": "yes"}
    )

    assert [add.status_code, edit.status_code, delete.status_code] == [403, 403, 403]
    record.refresh_from_db()
    assert record.name == "Olivia Smith"
