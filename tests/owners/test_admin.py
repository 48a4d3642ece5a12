"""The Record admin: the change-owner action, the changelist's query budget, the history."""

from __future__ import annotations

from html.parser import HTMLParser

import pytest
from django.conf import settings
from django.contrib.admin.models import CHANGE, LogEntry
from django.contrib.auth.models import Permission
from django.contrib.contenttypes.models import ContentType
from django.contrib.messages import get_messages
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from audit.models import AuditEntry
from crm.models import Record, User
from crm.modules import module_by_name
from owners.admin.change_owner import change_owner_message
from owners.models import OutboxEntry
from owners.services import RelatedSelection, change_owner
from tests.conftest import ADMIN_PASSWORD
from tests.factories import RecordFactory, UserFactory
from tests.owners.queries import watch_checks

pytestmark = pytest.mark.django_db

CHANGELIST = reverse("admin:crm_record_changelist")
ACTION = "change_owner_action"


def messages_of(response) -> list[str]:
    return [str(message) for message in get_messages(response.wsgi_request)]


def batch_link(batch_id) -> str:
    url = reverse("owners_admin:batch", args=[batch_id])
    return f'<a href="{url}">Batch {str(batch_id)[:8]}</a>'


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


class _HiddenInputs(HTMLParser):
    """The hidden inputs of the intermediate page's form, as a browser would submit them."""

    def __init__(self) -> None:
        super().__init__()
        self.in_form = False
        self.fields: list[tuple[str, str]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        if tag == "form":
            self.in_form = attributes.get("id") == "change-owner-form"
        elif tag == "input" and self.in_form and attributes.get("type") == "hidden":
            self.fields.append((attributes["name"], attributes.get("value") or ""))

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self.in_form = False


def hidden_fields_of(page) -> list[tuple[str, str]]:
    parser = _HiddenInputs()
    parser.feed(page.content.decode())
    return parser.fields


def owners_of(records) -> dict[int, int | None]:
    return dict(Record.objects.filter(id__in=[r.id for r in records]).values_list("id", "owner_id"))


@pytest.fixture
def chen(make_user):
    return make_user(full_name="Chen Wei", email="chen@zylker.test", profile_name="Standard")


@pytest.fixture
def eli(make_user):
    return make_user(full_name="Eli Novak", email="eli@zylker.test", status=User.Status.DISABLED)


@pytest.mark.parametrize("extra", [0, 40])
def test_the_intermediate_page_lists_the_records_and_offers_only_active_users_of_their_org(
    admin_site_client, make_record, chen, eli, other_organization, extra, django_assert_num_queries
):
    outsider = UserFactory(organization=other_organization, full_name="Gus Harper")
    records = [make_record(name="Olivia Smith"), make_record(name="Liam Garcia")]
    records += [make_record(name=f"Zed {n:02}") for n in range(extra)]

    # 1 session, 2 user; Django's changelist: 3-5 the filter choices, 6 COUNT(*), 7-9 the
    # filter choices again (for the action); the action: 10 the selected records, 11 their
    # organization; the page: 12 the first 50 records with module and owner, 13 the users
    # offered (a server-side cursor on PostgreSQL).
    with django_assert_num_queries(13):
        response = start_action(admin_site_client, records)

    assert response.status_code == 200
    assert response.templates[0].name == "admin/owners/change_owner.html"
    assert list(response.context["records"]) == sorted(records, key=lambda r: r.name)[:50]
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
    # No Tasks or Calls are related to them; the email waits for the commit (jobs pending).
    assert messages_of(response) == [
        "Contacts: 3 changed to Chen Wei, 1 already owned by Chen Wei. An email to Chen Wei is "
        f"queued. {batch_link(contacts_batch)}.",
        "Pipelines: 1 changed to Chen Wei, 0 already owned by Chen Wei. An email to Chen Wei is "
        f"queued. {batch_link(pipelines_batch)}.",
    ]
    related = OutboxEntry.objects.get(
        batch_id=contacts_batch, kind=OutboxEntry.Kind.RELATED_TRANSFER
    )
    assert related.payload["related_modules"] == ["Tasks", "Calls"]
    assert related.payload["source"] == "admin"
    assert OutboxEntry.objects.filter(
        batch_id=contacts_batch, kind=OutboxEntry.Kind.NOTIFY
    ).exists()


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
    assert not OutboxEntry.objects.exists()


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
    assert not OutboxEntry.objects.exists()


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


def test_the_action_changes_1200_selected_records_in_one_batch_per_module(
    admin_site_client, admin_user, organization, chen
):
    contacts = module_by_name("Contacts")
    pipelines = module_by_name("Pipelines")
    records = Record.objects.bulk_create(
        Record(organization=organization, module_id=module.id, owner=admin_user, name=f"R{n:04}")
        for module, count in [(contacts, 700), (pipelines, 500)]
        for n in range(count)
    )
    # What the browser sends after "Select all 1200": the page's checkboxes and select_across.
    first_page = [r.id for r in records[:100]]
    page = admin_site_client.post(
        CHANGELIST,
        {"action": ACTION, "index": 0, "select_across": "1", "_selected_action": first_page},
    )

    assert page.status_code == 200
    assert len(page.context["records"]) == 50  # a preview, not 1,200 rows
    body = page.content.decode()
    assert "Give these 1200 records of <strong>Zylker</strong>" in body
    assert '<p id="more-records">and 1150 more.</p>' in body
    fields = hidden_fields_of(page)
    assert [name for name, _ in fields] == [
        "csrfmiddlewaretoken",
        "_selected_action",
        "select_across",
        "action",
        "apply",
    ]
    assert sorted(map(int, dict(fields)["_selected_action"].split(","))) == sorted(
        r.id for r in records
    )

    response = admin_site_client.post(CHANGELIST, {**dict(fields), "new_owner": chen.id})

    assert response.status_code == 302
    assert set(owners_of(records).values()) == {chen.id}
    batches = dict(
        AuditEntry.objects.values_list("module_id", "batch_id").distinct().order_by("module_id")
    )
    assert AuditEntry.objects.count() == 1200
    assert len(batches) == 2 and len(set(batches.values())) == 2  # one change_owner per module
    assert messages_of(response) == [
        "Contacts: 700 changed to Chen Wei, 0 already owned by Chen Wei. "
        f"{batch_link(batches[contacts.id])}.",
        "Pipelines: 500 changed to Chen Wei, 0 already owned by Chen Wei. "
        f"{batch_link(batches[pipelines.id])}.",
    ]


def test_one_input_per_record_would_have_been_refused_past_1000_records(admin_site_client, chen):
    # Why the page carries one field: Django's limit stays where it is, and refuses the old form.
    assert settings.DATA_UPLOAD_MAX_NUMBER_FIELDS == 1000
    one_per_record = {"action": ACTION, "apply": "yes", "_selected_action": list(range(1, 1201))}

    response = admin_site_client.post(CHANGELIST, {**one_per_record, "new_owner": chen.id})

    assert response.status_code == 400


def test_a_confirmed_selection_that_is_not_a_list_of_ids_changes_nothing(
    admin_site_client, make_record, chen
):
    record = make_record()

    response = admin_site_client.post(
        CHANGELIST,
        {
            "action": ACTION,
            "apply": "yes",
            "select_across": "1",
            "_selected_action": f"{record.id},DROP TABLE",
            "new_owner": chen.id,
        },
    )

    assert response.status_code == 302
    assert messages_of(response) == [
        "The selection is not a list of record ids; nothing was changed."
    ]
    assert owners_of([record]) == {record.id: record.owner_id}
    assert not AuditEntry.objects.exists()


def test_a_confirmed_selection_with_another_organizations_ids_changes_nothing_there(
    client, organization, other_organization, make_record
):
    theirs = make_record()
    staff = UserFactory(organization=other_organization, is_staff=True)
    staff.user_permissions.add(
        *Permission.objects.filter(codename__in=["view_record", "change_record"])
    )
    ours = RecordFactory(organization=other_organization, owner=staff)
    new_owner = UserFactory(organization=other_organization)
    client.force_login(staff)

    response = client.post(
        CHANGELIST,
        {
            "action": ACTION,
            "apply": "yes",
            "select_across": "1",
            "_selected_action": f"{theirs.id},{ours.id}",
            "new_owner": new_owner.id,
        },
    )

    assert response.status_code == 302
    assert owners_of([theirs, ours]) == {theirs.id: theirs.owner_id, ours.id: new_owner.id}
    assert set(AuditEntry.objects.values_list("record_id", flat=True)) == {ours.id}


def test_each_changed_record_gets_an_entry_in_the_admins_recent_actions(
    admin_site_client, admin_user, make_record, chen
):
    olivia, liam = make_record(name="Olivia Smith"), make_record(name="Liam Garcia")
    already = make_record(name="Emma Tanaka", owner=chen)

    confirm_action(admin_site_client, [olivia, liam, already], chen)

    batch_id = AuditEntry.objects.get(record_id=olivia.id).batch_id
    entries = LogEntry.objects.order_by("object_repr")
    assert [
        (e.user_id, e.object_id, e.object_repr, e.action_flag, e.change_message) for e in entries
    ] == [
        (admin_user.id, str(r.id), r.name, CHANGE, f"Changed owner to Chen Wei (batch {batch_id}).")
        for r in [liam, olivia]  # not Emma Tanaka: her owner did not change
    ]
    index = admin_site_client.get(reverse("admin:index")).content.decode()
    recent = index[index.index('id="recent-actions-module"') :]
    assert "Olivia Smith" in recent and "Liam Garcia" in recent


def test_a_refused_selection_is_ticked_again_on_the_list(
    admin_site_client, make_record, other_organization
):
    mine = make_record()
    theirs = RecordFactory(organization=other_organization)

    refused = start_action(admin_site_client, [mine, theirs])
    page = admin_site_client.get(refused.url)
    again = admin_site_client.get(refused.url)

    assert sorted(page.context["kept_selection"]) == sorted([str(mine.id), str(theirs.id)])
    body = page.content.decode()
    assert '<script id="kept-selection" type="application/json">' in body
    assert "owners/kept_selection.js" in body
    assert again.context["kept_selection"] is None  # once only


def test_the_message_names_the_related_records_that_follow_and_the_email(
    admin_site_client, make_record, chen
):
    contacts = [make_record(name=f"Contact {n}") for n in range(2)]
    for contact in contacts:
        make_record(module_name="Tasks", related_to=contact)
    make_record(module_name="Calls", related_to=contacts[0])
    make_record(module_name="Calls", related_to=contacts[0], owner=chen)  # has the owner already

    response = confirm_action(
        admin_site_client, contacts, chen, notify=True, related_modules=["Tasks", "Calls"]
    )

    batch_id = AuditEntry.objects.get(record_id=contacts[0].id).batch_id
    # The jobs wait for the commit: the activities are counted, not moved yet.
    assert messages_of(response) == [
        "Contacts: 2 changed to Chen Wei, 0 already owned by Chen Wei. 2 related Tasks and 1 "
        "related Call follow in the background; an email to Chen Wei is queued. "
        f"{batch_link(batch_id)}."
    ]


def test_once_the_jobs_ran_the_message_says_what_moved_and_that_the_email_went(
    organization,
    admin_user,
    make_record,
    chen,
    in_process_tasks,
    django_capture_on_commit_callbacks,
):
    contact = make_record(name="Olivia Smith")
    for _ in range(3):
        make_record(module_name="Tasks", related_to=contact)
    contacts = module_by_name("Contacts")
    with django_capture_on_commit_callbacks(execute=True):
        result = change_owner(
            organization=organization,
            actor=admin_user,
            module=contacts,
            record_ids=[contact.id],
            new_owner=chen,
            notify=True,
            related=RelatedSelection(modules=("Tasks",)),
            source="admin",
        )

    message = change_owner_message(
        module=contacts, result=result, new_owner=chen, asked=1, related_modules=["Tasks"]
    )

    assert message == (
        "Contacts: 1 changed to Chen Wei, 0 already owned by Chen Wei. 3 related Tasks moved "
        f"with them; an email was sent to Chen Wei. {batch_link(result.batch_id)}."
    )


@pytest.mark.parametrize("count", [3, 60])
def test_confirming_costs_a_fixed_number_of_queries(
    admin_site_client, make_record, chen, count, django_assert_num_queries
):
    records = [make_record(name=f"Contact {n}") for n in range(count)]
    for record in records:
        make_record(module_name="Tasks", related_to=record)
    ContentType.objects.get_for_model(Record)  # cached per process, as in a running server

    # 1 session, 2 user; Django's changelist: 3-5 the module, owner and organization filter
    # choices, 6 COUNT(*), 7-9 the filter choices again (ChangeList.get_queryset, for the
    # action); the action: 10 the selected records (id, module, organization, name), 11 their
    # organization, 12 the new owner (the form's choice); change_owner: 13 SAVEPOINT, 14 lock,
    # 15 UPDATE, 16 audit INSERT, 17 outbox INSERT, 18 RELEASE SAVEPOINT; 19 the LogEntry rows
    # (one INSERT); the message: 20 the jobs' status, 21 the related Tasks counted.
    # (elsewhere than on PostgreSQL: and the watch channels read, tests/owners/queries.py)
    with django_assert_num_queries(21 + watch_checks()):
        response = confirm_action(admin_site_client, records, chen, related_modules=["Tasks"])

    assert response.status_code == 302
    assert set(owners_of(records).values()) == {chen.id}
