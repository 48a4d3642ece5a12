"""Add, update and delete records (api-spec.md, "Records a client writes"; Bigin's add, update and
delete records pages): exact bodies for every success, partial and error case, what is written,
and the owner rules (audited, Change_Owner, newest write wins)."""

from __future__ import annotations

import pytest

from audit.models import AuditEntry
from crm.models import Profile, Record
from owners.services import RelatedSelection, change_owner
from tests.crm.oauth.test_auth_matrix import OAUTH_SCOPE_MISMATCH
from tests.factories import RecordFactory, UserFactory
from tests.owners.transfers.outbox import drain

from .records import (
    NOW,
    WRITE,
    added,
    deleted,
    error,
    invalid,
    invalid_id,
    mandatory,
    unknown_id,
    updated,
    user_ref,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def bo(make_user):
    return make_user(full_name="Bo Chen", email="bo@zylker.test", profile_name="Standard")


@pytest.fixture
def client(admin_user, auth_client):
    return auth_client(admin_user, WRITE)


def post(client, body, module="Contacts", prefix="/bigin/v2"):
    return client.post(f"{prefix}/{module}", body, format="json")


def put(client, body, module="Contacts", prefix="/bigin/v2"):
    return client.put(f"{prefix}/{module}", body, format="json")


def audit_rows() -> list[tuple]:
    return list(
        AuditEntry.objects.order_by("created_time", "id").values_list(
            "record_id", "source", "previous_owner_id", "new_owner_id", "actor_id"
        )
    )


def contact_by_email(email: str) -> Record:
    return Record.objects.get(fields__Email=email)


# Add ---------------------------------------------------------------------------------------------


def test_add_answers_201_and_each_record_is_the_callers_with_an_insert_audit_row(
    client, admin_user, frozen
):
    response = post(
        client,
        {
            "data": [
                {"Last_Name": "Lee", "First_Name": "Ada", "Email": "ada@x.test"},
                {"Last_Name": "Ray", "Phone": "555-0100", "Email_Opt_Out": True},
            ]
        },
    )

    ada, ray = contact_by_email("ada@x.test"), Record.objects.get(fields__Last_Name="Ray")
    assert (response.status_code, response.json()) == (
        201,
        {"data": [added(ada.id, admin_user), added(ray.id, admin_user)]},
    )
    assert (ada.name, ada.owner_id, ada.created_by_id, ada.modified_by_id) == (
        "Ada Lee",
        admin_user.id,
        admin_user.id,
        admin_user.id,
    )
    assert ada.fields == {"Last_Name": "Lee", "First_Name": "Ada", "Email": "ada@x.test"}
    assert (ada.created_time, ada.owner_changed_time) == (NOW, NOW)
    assert ray.fields == {"Last_Name": "Ray", "Phone": "555-0100", "Email_Opt_Out": True}
    batch = response["X-Owner-Batch-Id"]
    assert audit_rows() == [
        (ada.id, "insert", None, admin_user.id, admin_user.id),
        (ray.id, "insert", None, admin_user.id, admin_user.id),
    ]
    assert {str(b) for b in AuditEntry.objects.values_list("batch_id", flat=True)} == {batch}


def test_add_with_an_owner_gives_the_record_to_that_user(client, admin_user, bo, frozen):
    response = post(client, {"data": [{"Last_Name": "Lee", "Owner": {"id": str(bo.id)}}]})

    lee = Record.objects.get()
    assert (response.status_code, response.json()) == (201, {"data": [added(lee.id, admin_user)]})
    assert lee.owner_id == bo.id
    assert audit_rows() == [(lee.id, "insert", None, bo.id, admin_user.id)]
    # As the API reads it back.
    read = client.get(f"/bigin/v2/Contacts/{lee.id}").json()["data"][0]
    assert read["Owner"] == {"name": "Bo Chen", "id": str(bo.id), "email": "bo@zylker.test"}


def test_each_failing_record_answers_its_error_and_the_others_are_added(
    client, admin_user, make_user, make_record, other_organization, frozen
):
    disabled = make_user(email="cy@zylker.test", status="disabled")
    gone = make_user(email="dee@zylker.test", status="deleted")
    stranger = UserFactory(organization=other_organization)
    company = make_record(module_name="Accounts", name="Zylker", fields={"Account_Name": "Zylker"})
    foreign = RecordFactory(organization=other_organization, module_name="Accounts")
    make_record(name="Old", fields={"Last_Name": "Old", "Email": "taken@x.test"})
    rows = [
        {"Last_Name": "Good", "Account_Name": {"id": str(company.id)}},  # 0: added
        {"First_Name": "No last name"},  # 1
        {"Last_Name": "X", "Favourite_Colour": "red"},  # 2: not a field of Contacts
        {"Last_Name": 7},  # 3: wrong type
        {"Last_Name": "x" * 81},  # 4: too long
        {"Last_Name": "X", "Email": "not-an-email"},  # 5
        {"Last_Name": "X", "Email": "TAKEN@x.test"},  # 6: another contact has it
        {"Last_Name": "X", "Owner": {"id": str(disabled.id)}},  # 7
        {"Last_Name": "X", "Owner": {"id": str(gone.id)}},  # 8
        {"Last_Name": "X", "Owner": {"id": str(stranger.id)}},  # 9: another organization's
        {"Last_Name": "X", "Account_Name": {"id": str(foreign.id)}},  # 10
        {"Last_Name": "X", "Owner": "me"},  # 11
        "not an object",  # 12
        {"Last_Name": "X", "Email_Opt_Out": "yes"},  # 13
        {"Last_Name": "Second", "Email": "ok@x.test"},  # 14: added
        {"Last_Name": "Third", "Email": "OK@x.test"},  # 15: the one before has it
        {"Last_Name": "X", "What_Id": {"id": str(company.id)}},  # 16: not an activity's field
    ]

    response = post(client, {"data": rows})

    good, second = Record.objects.get(name="Good"), contact_by_email("ok@x.test")
    taken = Record.objects.get(name="Old")
    owner_path = {"api_name": "Owner", "json_path": "$.data[{}].Owner.id"}

    def owner(index, message, **extra):
        details = {**owner_path, "json_path": owner_path["json_path"].format(index), **extra}
        return error("INVALID_DATA", details, message)

    def duplicate(index, record, owner_user):
        return error(
            "DUPLICATE_DATA",
            {
                "api_name": "Email",
                "json_path": f"$.data[{index}].Email",
                "duplicate_record": {
                    "module": {"api_name": "Contacts", "id": str(record.module_id)},
                    "id": str(record.id),
                    "Owner": user_ref(owner_user),
                },
            },
            "duplicate data",
        )

    assert response.status_code == 202
    assert response.json() == {
        "data": [
            added(good.id, admin_user),
            mandatory("Last_Name", 1),
            invalid("Favourite_Colour", 2),
            invalid("Last_Name", 3, expected_data_type="text"),
            invalid("Last_Name", 4, maximum_length=80),
            invalid("Email", 5, expected_data_type="email"),
            duplicate(6, taken, admin_user),
            owner(
                7,
                "The user to whom you are trying to transfer the records is not active.",
                owner_status="inactive",
            ),
            owner(
                8,
                "The user to whom you are trying to transfer the records has closed their account.",
                owner_status="deleted",
            ),
            owner(9, "the owner id given is invalid"),
            invalid("Account_Name", path="$.data[10].Account_Name.id"),
            invalid("Owner", 11, expected_data_type="jsonobject"),
            invalid("data", path="$.data[12]", expected_data_type="jsonobject"),
            invalid("Email_Opt_Out", 13, expected_data_type="boolean"),
            added(second.id, admin_user),
            duplicate(15, second, admin_user),
            invalid("What_Id", 16),
        ]
    }
    # Nothing of a failing record is written; the lookup is stored as Bigin renders it.
    assert Record.objects.filter(module_id=good.module_id).count() == 3
    assert good.fields["Account_Name"] == {"name": "Zylker", "id": str(company.id)}
    assert [row[0] for row in audit_rows()] == [good.id, second.id]


def test_every_record_failing_answers_400_with_each_error(client):
    response = post(client, {"data": [{"First_Name": "A"}, {"Last_Name": ""}]})

    assert (response.status_code, response.json()) == (
        400,
        {"data": [mandatory("Last_Name", 0), mandatory("Last_Name", 1)]},
    )
    assert not Record.objects.exists()


def test_an_activity_takes_its_parent_as_what_id(client, admin_user, make_record, frozen):
    contact = make_record(name="Smith", fields={"Last_Name": "Smith"})
    task = make_record(module_name="Tasks", name="Old task", related_to=contact)

    response = post(
        client,
        {
            "data": [
                {"Subject": "Call back", "What_Id": {"id": str(contact.id)}, "$se_module": "x"},
                {"Subject": "Under a task", "What_Id": {"id": str(task.id)}},
                {"Subject": "Bad status", "Status": "Someday"},
                {"Subject": "Fine", "Status": "Completed", "Due_Date": "2026-12-24"},
                {"Subject": "Bad date", "Due_Date": "24/12/2026"},
            ]
        },
        module="Tasks",
    )

    call_back, fine = Record.objects.get(name="Call back"), Record.objects.get(name="Fine")
    assert (response.status_code, response.json()) == (
        202,
        {
            "data": [
                added(call_back.id, admin_user),
                invalid("What_Id", path="$.data[1].What_Id.id"),
                invalid("Status", 2, expected_data_type="picklist"),
                added(fine.id, admin_user),
                invalid("Due_Date", 4, expected_data_type="date"),
            ]
        },
    )
    assert call_back.related_to_id == contact.id
    read = client.get(f"/bigin/v2/Tasks/{call_back.id}").json()["data"][0]
    assert (read["What_Id"], read["$se_module"]) == (
        {"name": "Smith", "id": str(contact.id)},
        "Contacts",
    )


def test_events_and_calls_need_their_times(client, admin_user, frozen):
    events = post(client, {"data": [{"Event_Title": "Demo"}]}, module="Events")
    calls = post(
        client,
        {
            "data": [
                {
                    "Subject": "Intro",
                    "Call_Type": "Outbound",
                    "Call_Start_Time": "2026-12-02T10:00:00+05:30",
                }
            ]
        },
        module="Calls",
    )

    assert (events.status_code, events.json()) == (400, {"data": [mandatory("Start_DateTime")]})
    assert calls.status_code == 201
    assert Record.objects.get(name="Intro").fields["Call_Start_Time"] == "2026-12-02T10:00:00+05:30"


# Whole-request errors: nothing is written


def _whole(code, details, message) -> dict:
    return error(code, details, message)


DATA = {"api_name": "data", "json_path": "$.data"}


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (
            [{"Last_Name": "A"}],
            _whole("INVALID_DATA", {}, "either the request body or parameters is in wrong format"),
        ),
        ({}, _whole("MANDATORY_NOT_FOUND", DATA, "required field not found")),
        ({"data": None}, _whole("MANDATORY_NOT_FOUND", DATA, "required field not found")),
        ({"data": []}, _whole("MANDATORY_NOT_FOUND", DATA, "required field not found")),
        (
            {"data": {"Last_Name": "A"}},
            _whole("INVALID_DATA", {"expected_data_type": "jsonarray", **DATA}, "invalid data"),
        ),
        (
            {"data": [{"Last_Name": f"N{n}"} for n in range(101)]},
            _whole(
                "LIMIT_EXCEEDED",
                {"limit": 100, **DATA},
                "Limit Exceeded, You cannot give more than 100 records",
            ),
        ),
    ],
)
@pytest.mark.parametrize("method", ["post", "put"])
def test_a_body_that_is_not_up_to_100_records_is_refused_whole(client, body, expected, method):
    response = getattr(client, method)("/bigin/v2/Contacts", body, format="json")

    assert (response.status_code, response.json()) == (400, expected)
    assert not Record.objects.exists()


def test_a_read_only_profile_writes_nothing(auth_client, make_user, make_record):
    reader = make_user(email="rae@zylker.test", profile_name="Read Only")
    contact = make_record()
    client = auth_client(reader, WRITE)

    answers = [
        post(client, {"data": "not even a list"}),  # the permission is checked before the body
        put(client, {"data": [{"id": str(contact.id), "Title": "x"}]}),
        client.put(f"/bigin/v2/Contacts/{contact.id}", {"data": [{"Title": "x"}]}, format="json"),
        client.post("/bigin/v2/Contacts/upsert", {"data": [{"Last_Name": "A"}]}, format="json"),
        client.delete(f"/bigin/v2/Contacts?ids={contact.id}"),
        client.delete(f"/bigin/v2/Contacts/{contact.id}"),
    ]

    def refused(permission):
        return (
            403,
            error(
                "NO_PERMISSION",
                {"permissions": [permission]},
                "You do not have permission to perform this operation",
            ),
        )

    assert [(a.status_code, a.json()) for a in answers] == [
        refused("Create_Records"),
        refused("Edit_Records"),
        refused("Edit_Records"),
        refused("Create_Records"),
        refused("Delete_Records"),
        refused("Delete_Records"),
    ]
    assert Record.objects.get().fields == {}


def test_giving_a_record_to_someone_else_needs_change_owner(
    organization, auth_client, make_user, bo, frozen
):
    writer_profile = Profile.objects.create(
        organization=organization, name="Writer", can_change_owner=False, can_write_records=True
    )
    writer = make_user(email="wes@zylker.test", profile=writer_profile)
    client = auth_client(writer, WRITE)

    response = post(
        client,
        {
            "data": [
                {"Last_Name": "Mine"},
                {"Last_Name": "Hers", "Owner": {"id": str(bo.id)}},
                {"Last_Name": "Also mine", "Owner": {"id": str(writer.id)}},
            ]
        },
    )
    mine, also = Record.objects.get(name="Mine"), Record.objects.get(name="Also mine")
    update = put(
        client,
        {
            "data": [
                {"id": str(mine.id), "Owner": {"id": str(bo.id)}},
                {"id": str(mine.id), "Title": "Kept"},
            ]
        },
    )

    no_permission = error(
        "NO_PERMISSION",
        {"permissions": ["Change_Owner"], "api_name": "Owner", "json_path": "$.data[{}].Owner"},
        "You do not have permission to perform this operation",
    )

    def refused(index):
        body = {**no_permission, "details": dict(no_permission["details"])}
        body["details"]["json_path"] = f"$.data[{index}].Owner"
        return body

    assert (response.status_code, response.json()) == (
        202,
        {"data": [added(mine.id, writer), refused(1), added(also.id, writer)]},
    )
    assert (update.status_code, update.json()) == (
        202,
        {"data": [refused(0), updated(mine.id, writer)]},
    )
    mine.refresh_from_db()
    assert (mine.owner_id, mine.fields["Title"]) == (writer.id, "Kept")


@pytest.mark.parametrize(
    ("method", "path", "body", "accepted"),
    [
        ("post", "/bigin/v2/Contacts", {"data": [{"Last_Name": "A"}]}, "CREATE"),
        ("put", "/bigin/v2/Contacts", {"data": [{"id": "{id}", "Title": "A"}]}, "UPDATE"),
        ("put", "/bigin/v2/Contacts/{id}", {"data": [{"Title": "A"}]}, "UPDATE"),
        ("post", "/bigin/v2/Contacts/upsert", {"data": [{"Last_Name": "A"}]}, "CREATE"),
        ("delete", "/bigin/v2/Contacts?ids={id}", None, "DELETE"),
        ("delete", "/bigin/v2/Contacts/{id}", None, "DELETE"),
    ],
)
def test_each_write_takes_bigins_scopes_and_no_other(
    admin_user, auth_client, make_record, method, path, body, accepted
):
    scopes = [
        "ZohoBigin.modules.ALL",
        f"ZohoBigin.modules.{accepted}",
        "ZohoBigin.modules.contacts.ALL",
        "ZohoBigin.modules.contacts.WRITE",
        f"ZohoBigin.modules.contacts.{accepted}",
    ]
    refused = [
        "ZohoBigin.modules.READ",
        "ZohoBigin.modules.contacts.READ",
        "ZohoBigin.modules.tasks.ALL",
        "ZohoBigin.change_owner.CREATE",
    ]
    for scope in scopes + refused:
        contact = make_record(fields={"Last_Name": "A"})
        url = path.replace("{id}", str(contact.id))
        sent = (
            None
            if body is None
            else {
                "data": [
                    {k: str(contact.id) if v == "{id}" else v for k, v in body["data"][0].items()}
                ]
            }
        )
        client = auth_client(admin_user, scope)
        answer = getattr(client, method)(url, sent, format="json")
        if scope in refused:
            assert (answer.status_code, answer.json()) == (401, OAUTH_SCOPE_MISMATCH), scope
        else:
            assert answer.status_code in (200, 201), (scope, answer.content)


# Update --------------------------------------------------------------------------------------


@pytest.fixture
def smith(make_record):
    """A contact loaded from a sandbox file: no Created_By, its own creation time."""
    return make_record(
        name="Ann Smith",
        fields={"First_Name": "Ann", "Last_Name": "Smith", "Email": "s@x.test", "Score": 3},
        created_time=NOW.replace(year=2025),
    )


def test_update_changes_the_fields_given_and_keeps_the_others(client, admin_user, smith, frozen):
    response = put(
        client,
        {
            "data": [
                {
                    "id": str(smith.id),
                    "Last_Name": "Jones",
                    "Title": "CTO",
                    "Score": 4,
                    "Modified_Time": "ignored",
                    "Created_By": {"id": "1"},
                }
            ]
        },
    )

    assert (response.status_code, response.json()) == (
        200,
        {
            "data": [
                updated(smith.id, admin_user, created="2025-12-01T09:30:00+00:00", creator=None)
            ]
        },
    )
    smith.refresh_from_db()
    assert smith.fields == {
        "First_Name": "Ann",
        "Last_Name": "Jones",
        "Email": "s@x.test",
        "Score": 4,
        "Title": "CTO",
    }
    assert (smith.name, smith.modified_time, smith.modified_by_id) == (
        "Ann Jones",
        NOW,
        admin_user.id,
    )
    assert smith.owner_changed_time is None  # the owner did not change
    assert not AuditEntry.objects.exists()


def test_update_partial_and_all_failing(
    client, admin_user, smith, make_record, other_organization, frozen
):
    theirs = RecordFactory(organization=other_organization, module_name="Contacts")
    task = make_record(module_name="Tasks")

    partial = put(
        client,
        {
            "data": [
                {"id": str(smith.id), "Title": "CEO"},
                {"Title": "no id"},
                {"id": "abc", "Title": "x"},
                {"id": str(theirs.id), "Title": "x"},  # another organization's
                {"id": str(task.id), "Title": "x"},  # another module's
                {"id": str(smith.id), "Last_Name": ""},
                {"id": str(smith.id), "Score": "many"},
            ]
        },
    )
    failing = put(client, {"data": [{"id": "4000000000000000001", "Title": "x"}]})

    assert (partial.status_code, partial.json()) == (
        202,
        {
            "data": [
                updated(smith.id, admin_user, created="2025-12-01T09:30:00+00:00", creator=None),
                mandatory("id", 1),
                unknown_id(2),
                unknown_id(3),
                unknown_id(4),
                mandatory("Last_Name", 5),
                invalid("Score", 6, expected_data_type="integer"),
            ]
        },
    )
    assert (failing.status_code, failing.json()) == (400, {"data": [unknown_id(0)]})
    theirs.refresh_from_db()
    assert theirs.fields == {}


def test_update_one_record_by_its_path(client, admin_user, smith, frozen):
    one = client.put(f"/bigin/v2/contacts/{smith.id}", {"data": [{"Mobile": "555"}]}, format="json")
    two = client.put(
        f"/bigin/v2/Contacts/{smith.id}",
        {"data": [{"Mobile": "1"}, {"Mobile": "2"}]},
        format="json",
    )
    not_an_id = client.put("/bigin/v2/Contacts/abc", {"data": [{"Mobile": "1"}]}, format="json")
    unknown = client.put(
        "/bigin/v2/Contacts/4000000000000000001", {"data": [{"Mobile": "1"}]}, format="json"
    )

    assert (one.status_code, one.json()) == (
        200,
        {
            "data": [
                updated(smith.id, admin_user, created="2025-12-01T09:30:00+00:00", creator=None)
            ]
        },
    )
    assert (two.status_code, two.json()) == (
        400,
        error(
            "LIMIT_EXCEEDED",
            {"limit": 1, "api_name": "data", "json_path": "$.data"},
            "Limit Exceeded, You cannot give more than 1 record",
        ),
    )
    assert (not_an_id.status_code, not_an_id.json()) == (400, {"data": [unknown_id(0)]})
    assert (unknown.status_code, unknown.json()) == (400, {"data": [unknown_id(0)]})
    smith.refresh_from_db()
    assert smith.fields["Mobile"] == "555"


def test_a_new_owner_on_update_is_audited_and_its_activities_stay(
    client, admin_user, bo, smith, make_record, frozen
):
    task = make_record(module_name="Tasks", related_to=smith)

    response = put(client, {"data": [{"id": str(smith.id), "Owner": {"id": str(bo.id)}}]})

    assert response.status_code == 200
    smith.refresh_from_db()
    task.refresh_from_db()
    assert (smith.owner_id, smith.owner_changed_time) == (bo.id, NOW)
    assert task.owner_id == admin_user.id  # Bigin moves no related record on update
    assert audit_rows() == [(smith.id, "update", admin_user.id, bo.id, admin_user.id)]
    assert str(AuditEntry.objects.get().batch_id) == response["X-Owner-Batch-Id"]
    # The same owner again changes nothing of the owner, and writes no audit row.
    again = put(client, {"data": [{"id": str(smith.id), "Owner": {"id": str(bo.id)}}]})
    assert again.status_code == 200 and AuditEntry.objects.count() == 1


def test_an_owner_given_by_update_wins_over_an_older_related_transfer(
    organization, client, admin_user, bo, make_user, smith, make_record
):
    cara = make_user(full_name="Cara Diaz", email="cara@zylker.test")
    task = make_record(module_name="Tasks", related_to=smith)
    from crm.modules import module_by_name

    change_owner(
        organization=organization,
        actor=admin_user,
        module=module_by_name("Contacts"),
        record_ids=[smith.id],
        new_owner=bo,
        related=RelatedSelection(modules=("Tasks",)),
        source="api",
    )
    # Before the related transfer runs, someone gives the task to Cara through the record API.
    response = put(client, {"data": [{"id": str(task.id), "Owner": {"id": str(cara.id)}}]}, "Tasks")
    drain()

    assert response.status_code == 200
    task.refresh_from_db()
    assert task.owner_id == cara.id


def test_update_moves_an_activity_to_another_parent_or_none(client, admin_user, smith, make_record):
    other = make_record(name="Other", fields={"Last_Name": "Other"})
    task = make_record(module_name="Tasks", related_to=smith)
    call = make_record(module_name="Calls", related_to=smith)

    moved = put(client, {"data": [{"id": str(task.id), "What_Id": {"id": str(other.id)}}]}, "Tasks")
    cleared = put(client, {"data": [{"id": str(call.id), "What_Id": None}]}, "Calls")

    assert (moved.status_code, cleared.status_code) == (200, 200)
    task.refresh_from_db()
    call.refresh_from_db()
    assert (task.related_to_id, call.related_to_id) == (other.id, None)


# Delete --------------------------------------------------------------------------------------


def test_delete_answers_each_id_and_deletes_the_records_activities_with_them(
    client, smith, make_record, other_organization
):
    kept = make_record(fields={"Last_Name": "Kept"})
    task = make_record(module_name="Tasks", related_to=smith)
    theirs = RecordFactory(organization=other_organization, module_name="Contacts")

    response = client.delete(
        f"/bigin/v2/Contacts?ids={smith.id},abc,{theirs.id},{task.id},{smith.id}"
    )

    assert (response.status_code, response.json()) == (
        202,
        {
            "data": [
                deleted(smith.id),
                invalid_id("abc"),
                invalid_id(theirs.id),
                invalid_id(task.id),
            ]
        },
    )
    assert set(Record.objects.values_list("id", flat=True)) == {kept.id, theirs.id}


def test_delete_all_and_none(client, smith, make_record):
    other = make_record(fields={"Last_Name": "Other"})

    every = client.delete(f"/bigin/v2/Contacts?ids={smith.id},{other.id}")
    none = client.delete(f"/bigin/v2/Contacts?ids={smith.id}")
    one_gone = client.delete(f"/bigin/v2/Contacts/{other.id}")

    assert (every.status_code, every.json()) == (
        200,
        {"data": [deleted(smith.id), deleted(other.id)]},
    )
    assert (none.status_code, none.json()) == (400, {"data": [invalid_id(smith.id)]})
    assert (one_gone.status_code, one_gone.json()) == (400, {"data": [invalid_id(other.id)]})


def test_delete_one_record(client, smith):
    response = client.delete(f"/bigin/v2/Contacts/{smith.id}")

    assert (response.status_code, response.json()) == (200, {"data": [deleted(smith.id)]})
    assert not Record.objects.exists()


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        (
            "",
            error(
                "REQUIRED_PARAM_MISSING",
                {"param": "ids"},
                "One of the expected parameter is missing",
            ),
        ),
        (
            "?ids=",
            error(
                "REQUIRED_PARAM_MISSING",
                {"param": "ids"},
                "One of the expected parameter is missing",
            ),
        ),
        (
            "?ids=" + ",".join(str(4_000_000_000 + n) for n in range(101)),
            error(
                "LIMIT_EXCEEDED",
                {"limit": 100, "param_name": "ids"},
                "Limit Exceeded, You cannot give more than 100 record ids",
            ),
        ),
    ],
)
def test_delete_needs_up_to_100_ids(client, smith, query, expected):
    response = client.delete(f"/bigin/v2/Contacts{query}")

    assert (response.status_code, response.json()) == (400, expected)
    assert Record.objects.filter(id=smith.id).exists()


def test_methods_a_record_path_does_not_take(client, smith):
    for answer in (
        client.patch("/bigin/v2/Contacts", {}, format="json"),
        client.post(f"/bigin/v2/Contacts/{smith.id}", {}, format="json"),
        client.patch(f"/bigin/v2/Contacts/{smith.id}", {}, format="json"),
        client.put("/bigin/v2/Contacts/upsert", {}, format="json"),
    ):
        assert (answer.status_code, answer.json()) == (
            405,
            error("INVALID_REQUEST_METHOD", {}, "The http request method type is not a valid one"),
        )


def test_an_unknown_module_is_refused_before_the_body(client):
    response = post(client, "not json at all", module="Leads")

    assert (response.status_code, response.json()) == (
        400,
        error(
            "INVALID_MODULE",
            {"resource_path_index": 0},
            "the module name given seems to be invalid",
        ),
    )


def test_a_lone_surrogate_or_an_infinite_number_is_a_clients_mistake(client):
    surrogate = client.generic(
        "POST",
        "/bigin/v2/Contacts",
        '{"data": [{"Last_Name": "\\ud800"}]}',
        content_type="application/json",
    )
    infinite = client.generic(
        "POST",
        "/bigin/v2/Products",
        '{"data": [{"Product_Name": "P", "Unit_Price": 1e999}]}',
        content_type="application/json",
    )

    assert (surrogate.status_code, surrogate.json()) == (
        400,
        error("INVALID_DATA", {}, "either the request body or parameters is in wrong format"),
    )
    assert (infinite.status_code, infinite.json()) == (
        400,
        {"data": [invalid("Unit_Price", expected_data_type="currency")]},
    )
    assert not Record.objects.exists()


@pytest.mark.postgres
def test_adding_or_updating_100_records_over_http_costs_the_queries_10_do(
    client, admin_user, bo, make_record
):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    make_record(fields={"Last_Name": "First"})  # the process's block of ids is taken

    def people(start, count):
        return [
            {"Last_Name": f"P{n}", "Email": f"p{n}@x.test", "Owner": {"id": str(bo.id)}}
            for n in range(start, start + count)
        ]

    with CaptureQueriesContext(connection) as add_10:
        assert post(client, {"data": people(0, 10)}).status_code == 201
    with CaptureQueriesContext(connection) as add_100:
        assert post(client, {"data": people(10, 100)}).status_code == 201
    ids = list(Record.objects.filter(owner=bo).order_by("id").values_list("id", flat=True))

    def retitled(record_ids):
        return [
            {"id": str(rid), "Title": "CTO", "Owner": {"id": str(admin_user.id)}}
            for rid in record_ids
        ]

    with CaptureQueriesContext(connection) as update_10:
        assert put(client, {"data": retitled(ids[:10])}).status_code == 200
    with CaptureQueriesContext(connection) as update_100:
        assert put(client, {"data": retitled(ids[10:])}).status_code == 200

    assert len(ids) == 110
    assert len(add_10) == len(add_100)
    assert len(update_10) == len(update_100)
