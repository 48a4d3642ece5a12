"""The transfer job endpoints with exact bodies: mass change owner (schedule, status, dry
run, cancel, every validation error), transfer and delete, owner batches and revert. Jobs run by
draining the outbox in-process; tests/integration runs them on a real worker."""

from __future__ import annotations

import pytest

from audit.models import AuditEntry
from crm.models import Record, User
from crm.representations import bigin_time
from owners.models import OutboxEntry, TransferJob
from tests.owners.bigin import error, post_bulk
from tests.owners.transfers.outbox import drain

pytestmark = pytest.mark.django_db

MASS = "/bigin/v2/Contacts/actions/mass_change_owner"
TRANSFER = "/bigin/v2/users/actions/transfer_and_delete"
READ_SCOPE = "ZohoBigin.change_owner.READ"
WRITE_SCOPE = "ZohoBigin.change_owner.CREATE"


@pytest.fixture
def leaving(make_user):
    return make_user(full_name="Lea Ving", email="lea@zylker.test", profile_name="Standard")


@pytest.fixture
def owned(leaving, make_record):
    contacts = [
        make_record(module_name="Contacts", owner=leaving, fields={"State": state})
        for state in ("CA", "CA", "NV")
    ]
    tasks = [make_record(module_name="Tasks", owner=leaving, related_to=c) for c in contacts]
    return contacts, tasks


@pytest.fixture
def client(auth_client, admin_user):
    return auth_client(admin_user, WRITE_SCOPE, READ_SCOPE, "ZohoBigin.users.ALL")


def by_owner(user) -> dict:
    return {"field": {"api_name": "Owner"}, "comparator": "equal", "value": {"id": str(user.id)}}


def body(new_owner, criteria, **extra) -> dict:
    return {"owner": {"id": str(new_owner.id)}, "criteria": criteria, **extra}


def status_of(client, job_id, module="Contacts"):
    return client.get(f"/bigin/v2/{module}/actions/mass_change_owner?job_id={job_id}")


def test_mass_change_schedules_then_reports_scheduled_and_completed(
    client, new_owner, leaving, owned
):
    response = client.post(
        MASS,
        body(new_owner, by_owner(leaving), related_modules=[{"api_name": "Tasks"}]),
        format="json",
    )
    assert response.status_code == 202
    transfer = TransferJob.objects.get()
    assert response.json() == {
        "data": [
            {
                "code": "SCHEDULED",
                "details": {"job_id": str(transfer.id)},
                "message": "mass change owner is scheduled",
                "status": "success",
            }
        ]
    }
    assert response["X-Owner-Batch-Id"] == str(transfer.batch_id)
    expected = {
        "Total_Count": 3,
        "Updated_Count": 0,
        "Not_Updated_Count": 3,
        "Failed_Count": 0,
        "Skipped_Count": 0,
        "batch_id": str(transfer.batch_id),
        "cancelled": False,
    }
    assert status_of(client, transfer.id).json() == {"data": [{"Status": "SCHEDULED", **expected}]}
    drain()
    done = {**expected, "Updated_Count": 3, "Not_Updated_Count": 0}
    response = status_of(client, transfer.id)
    assert (response.status_code, response.json()) == (
        200,
        {"data": [{"Status": "COMPLETED", **done}]},
    )
    assert Record.objects.filter(owner=new_owner).count() == 6


def test_mass_change_dry_run_counts_and_schedules_nothing(client, new_owner, leaving, owned):
    contacts, _ = owned
    criteria = {"field": {"api_name": "State"}, "comparator": "equal", "value": "CA"}
    response = client.post(
        MASS,
        body(new_owner, criteria, dry_run=True, related_modules=[{"api_name": "Tasks"}]),
        format="json",
    )
    assert (response.status_code, response.json()) == (
        200,
        {
            "data": [
                {
                    "code": "SUCCESS",
                    "details": {
                        "Total_Count": 2,
                        "related_count": {"Tasks": 2},
                        "sample_ids": [str(contacts[0].id), str(contacts[1].id)],
                    },
                    "message": "dry run: nothing was changed",
                    "status": "success",
                }
            ]
        },
    )
    assert not TransferJob.objects.exists()
    assert not OutboxEntry.objects.exists()


def test_cancel_before_it_runs_completes_with_nothing_moved(client, new_owner, leaving, owned):
    job_id = client.post(MASS, body(new_owner, by_owner(leaving)), format="json").json()["data"][0][
        "details"
    ]["job_id"]
    response = client.post(f"{MASS}?job_id={job_id}&action=cancel")
    assert (response.status_code, response.json()) == (
        200,
        {
            "data": [
                {
                    "code": "SUCCESS",
                    "details": {"job_id": job_id},
                    "message": "the job is cancelled: it stops after the chunks running now",
                    "status": "success",
                }
            ]
        },
    )
    drain()
    entry = status_of(client, job_id).json()["data"][0]
    assert (entry["Status"], entry["cancelled"], entry["Updated_Count"]) == ("COMPLETED", True, 0)
    assert entry["Not_Updated_Count"] == 3
    assert not Record.objects.filter(owner=new_owner).exists()
    response = client.post(f"{MASS}?job_id={job_id}&action=cancel")
    assert (response.status_code, response.json()) == (
        400,
        error(
            "INVALID_DATA",
            {"param_name": "job_id", "job_status": "COMPLETED"},
            "the job has already finished",
        ),
    )


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        (
            MASS,
            error(
                "REQUIRED_PARAM_MISSING",
                {"param_name": "job_id"},
                "One of the expected parameter is missing",
            ),
        ),
        (
            f"{MASS}?job_id=abc",
            error("INVALID_DATA", {"param_name": "job_id"}, "the job id given seems to be invalid"),
        ),
        (
            f"{MASS}?job_id=123456789",
            error("INVALID_DATA", {"param_name": "job_id"}, "the job id given seems to be invalid"),
        ),
    ],
)
def test_status_of_a_missing_or_unknown_job(client, path, expected):
    response = client.get(path)
    assert (response.status_code, response.json()) == (400, expected)


def test_another_organizations_job_answers_like_an_unknown_one(
    client, auth_client, other_organization, new_owner, leaving, owned
):
    from tests.factories import UserFactory

    job_id = client.post(MASS, body(new_owner, by_owner(leaving)), format="json").json()["data"][0][
        "details"
    ]["job_id"]
    stranger = UserFactory(organization=other_organization, email="x@nimbus.test")
    other = auth_client(stranger, WRITE_SCOPE, READ_SCOPE)
    unknown = error(
        "INVALID_DATA", {"param_name": "job_id"}, "the job id given seems to be invalid"
    )
    for response in (
        status_of(other, job_id),
        other.post(f"{MASS}?job_id={job_id}&action=cancel"),
        status_of(client, job_id, module="Accounts"),
    ):
        assert (response.status_code, response.json()) == (400, unknown)
    assert not TransferJob.objects.get().cancelled


def test_scopes_and_permission(auth_client, admin_user, make_user, new_owner, leaving):
    read_only = auth_client(admin_user, READ_SCOPE)
    response = read_only.post(MASS, body(new_owner, by_owner(leaving)), format="json")
    assert (response.status_code, response.json()["code"]) == (401, "OAUTH_SCOPE_MISMATCH")
    viewer = make_user(email="viewer@zylker.test", profile_name="Read Only")
    response = auth_client(viewer, WRITE_SCOPE).post(
        MASS, body(new_owner, by_owner(leaving)), format="json"
    )
    assert (response.status_code, response.json()) == (
        403,
        error(
            "NO_PERMISSION",
            {"permissions": ["Change_Owner"]},
            "You do not have permission to perform this operation",
        ),
    )


def _mandatory(api_name, path):
    return error(
        "MANDATORY_NOT_FOUND", {"api_name": api_name, "json_path": path}, "required field not found"
    )


@pytest.mark.parametrize(
    ("make_body", "status", "expected"),
    [
        (
            lambda o, lv: [],
            400,
            error("INVALID_DATA", {}, "either the request body or parameters is in wrong format"),
        ),
        (
            lambda o, lv: {"cvid": "1", **body(o, by_owner(lv))},
            400,
            error(
                "NOT_SUPPORTED",
                {"api_name": "cvid", "json_path": "$.cvid"},
                "The requested operation is not supported",
            ),
        ),
        (
            lambda o, lv: {"territory": {"id": "1"}, **body(o, by_owner(lv))},
            400,
            error(
                "NOT_SUPPORTED",
                {"api_name": "territory", "json_path": "$.territory"},
                "The requested operation is not supported",
            ),
        ),
        (lambda o, lv: {"criteria": by_owner(lv)}, 400, _mandatory("owner", "$.owner")),
        (
            lambda o, lv: {"owner": {}, "criteria": by_owner(lv)},
            400,
            _mandatory("id", "$.owner.id"),
        ),
        (
            lambda o, lv: {"owner": {"id": "x"}, "criteria": by_owner(lv)},
            400,
            error(
                "INVALID_DATA",
                {"expected_data_type": "long", "api_name": "id", "json_path": "$.owner.id"},
                "invalid data",
            ),
        ),
        (
            lambda o, lv: {"owner": {"id": "42"}, "criteria": by_owner(lv)},
            400,
            error(
                "INVALID_DATA",
                {"api_name": "id", "json_path": "$.owner.id"},
                "the owner id given is invalid",
            ),
        ),
        (lambda o, lv: {"owner": {"id": str(o.id)}}, 400, _mandatory("criteria", "$.criteria")),
        (
            lambda o, lv: body(
                o, {"field": {"api_name": "Owner"}, "comparator": "like", "value": 1}
            ),
            400,
            error(
                "INVALID_DATA",
                {"api_name": "comparator", "json_path": "$.criteria.comparator"},
                "invalid data",
            ),
        ),
        (
            lambda o, lv: body(o, by_owner(lv), related_modules=[{"api_name": "Notes"}]),
            400,
            error(
                "NOT_SUPPORTED",
                {"api_name": "api_name", "json_path": "$.related_modules[0].api_name"},
                "The requested operation is not supported",
            ),
        ),
        (
            lambda o, lv: body(o, by_owner(lv), related_modules=[{"api_name": "Tasks", "id": "5"}]),
            400,
            error(
                "NOT_SUPPORTED",
                {"api_name": "id", "json_path": "$.related_modules[0].id"},
                "The requested operation is not supported",
            ),
        ),
        (
            lambda o, lv: body(o, by_owner(lv), related_modules="Tasks"),
            400,
            error(
                "INVALID_DATA",
                {
                    "expected_data_type": "jsonarray",
                    "api_name": "related_modules",
                    "json_path": "$.related_modules",
                },
                "invalid data",
            ),
        ),
        (
            lambda o, lv: body(o, by_owner(lv), notify="yes"),
            400,
            error(
                "INVALID_DATA",
                {"expected_data_type": "boolean", "api_name": "notify", "json_path": "$.notify"},
                "invalid data",
            ),
        ),
        (
            lambda o, lv: body(o, by_owner(lv), dry_run=1),
            400,
            error(
                "INVALID_DATA",
                {"expected_data_type": "boolean", "api_name": "dry_run", "json_path": "$.dry_run"},
                "invalid data",
            ),
        ),
    ],
)
def test_mass_change_validation_errors_schedule_nothing(
    client, new_owner, leaving, make_body, status, expected
):
    response = client.post(MASS, make_body(new_owner, leaving), format="json")
    assert (response.status_code, response.json()) == (status, expected)
    assert not TransferJob.objects.exists()


@pytest.mark.parametrize(
    ("status", "http", "owner_status", "message"),
    [
        (
            "disabled",
            400,
            "inactive",
            "The user to whom you are trying to transfer the records is not active.",
        ),
        (
            "deleted",
            403,
            "deleted",
            "The user to whom you are trying to transfer the records has closed their account.",
        ),
    ],
)
def test_mass_change_to_an_inactive_owner(
    client, new_owner, leaving, status, http, owner_status, message
):
    User.objects.filter(id=new_owner.id).update(status=status)
    response = client.post(MASS, body(new_owner, by_owner(leaving)), format="json")
    assert (response.status_code, response.json()) == (
        http,
        error(
            "INVALID_DATA",
            {"api_name": "id", "json_path": "$.owner.id", "owner_status": owner_status},
            message,
        ),
    )


# ---- transfer and delete


def transfer_body(leaving, new_owner, **extra) -> dict:
    return {
        "transfer_and_delete": [
            {"id": str(leaving.id), "transfer": {"id": str(new_owner.id), "records": True}, **extra}
        ]
    }


def test_transfer_and_delete_moves_everything_and_deletes_the_user(
    client, auth_client, token_for, new_owner, leaving, owned
):
    leaving_client = auth_client(leaving, "ZohoBigin.users.READ")
    response = client.post(TRANSFER, transfer_body(leaving, new_owner), format="json")
    assert response.status_code == 202
    transfer = TransferJob.objects.get()
    assert response.json() == {
        "transfer_and_delete": [
            {
                "code": "SCHEDULED",
                "details": {"job_id": str(transfer.id)},
                "message": "transfer and delete is scheduled",
                "status": "success",
            }
        ]
    }
    # The leaving user's token dies at once, before the job runs.
    response = leaving_client.get("/bigin/v2/users")
    assert (response.status_code, response.json()["code"]) == (401, "INVALID_TOKEN")
    status = client.get(f"{TRANSFER}?job_id={transfer.id}").json()
    assert status["transfer_and_delete"][0]["status"] == "in_progress"
    drain()
    assert client.get(f"{TRANSFER}?job_id={transfer.id}").json() == {
        "transfer_and_delete": [
            {
                "status": "completed",
                "Total_Count": 6,
                "Updated_Count": 6,
                "Not_Updated_Count": 0,
                "Failed_Count": 0,
                "Skipped_Count": 0,
                "batch_id": str(transfer.batch_id),
                "cancelled": False,
            }
        ]
    }
    leaving.refresh_from_db()
    assert leaving.status == User.Status.DELETED
    assert not Record.objects.filter(owner=leaving).exists()


def test_transfer_and_delete_by_path_id_with_delete_false_disables(
    client, new_owner, leaving, owned
):
    response = client.post(
        f"/bigin/v2/users/{leaving.id}/actions/transfer_and_delete",
        {"transfer_and_delete": [{"transfer": {"id": str(new_owner.id)}, "delete": False}]},
        format="json",
    )
    assert response.status_code == 202
    drain()
    leaving.refresh_from_db()
    assert leaving.status == User.Status.DISABLED
    assert not Record.objects.filter(owner=leaving).exists()


def test_transfer_and_delete_dry_run_counts_per_module(client, new_owner, leaving, owned):
    response = client.post(TRANSFER, transfer_body(leaving, new_owner, dry_run=True), format="json")
    details = response.json()["transfer_and_delete"][0]["details"]
    assert response.status_code == 200
    assert details["Total_Count"] == 6
    assert details["module_count"] == {
        "Contacts": 3,
        "Pipelines": 0,
        "Accounts": 0,
        "Products": 0,
        "Tasks": 3,
        "Events": 0,
        "Calls": 0,
    }
    assert details["related_count"] == {"Tasks": 0, "Events": 0, "Calls": 0}
    leaving.refresh_from_db()
    assert leaving.status == User.Status.ACTIVE
    assert not TransferJob.objects.exists()


def test_transfer_and_delete_of_a_deleted_user(client, new_owner, leaving):
    User.objects.filter(id=leaving.id).update(status="deleted")
    response = client.post(TRANSFER, transfer_body(leaving, new_owner), format="json")
    assert (response.status_code, response.json()) == (
        400,
        error(
            "INVALID_DATA",
            {
                "api_name": "id",
                "json_path": "$.transfer_and_delete[0].id",
                "user_status": "deleted",
            },
            "the user is already deleted",
        ),
    )
    assert not TransferJob.objects.exists()


def test_mass_change_leaves_out_records_the_new_owner_has(client, new_owner, leaving, make_record):
    make_record(module_name="Contacts", owner=new_owner, fields={"State": "CA"})
    make_record(module_name="Contacts", owner=leaving, fields={"State": "CA"})
    criteria = {"field": {"api_name": "State"}, "comparator": "equal", "value": "CA"}
    response = client.post(MASS, body(new_owner, criteria, dry_run=True), format="json")
    assert response.json()["data"][0]["details"]["Total_Count"] == 1


def _condition(api_name: str, value) -> dict:
    return {"field": {"api_name": api_name}, "comparator": "equal", "value": value}


@pytest.fixture
def mailing_states(make_record, leaving):
    """Contacts with the data field Mailing_State, a company with Industry (Accounts only)."""
    make_record(module_name="Accounts", owner=leaving, fields={"Industry": "Retail"})
    return [
        make_record(module_name="Contacts", owner=leaving, fields={"Mailing_State": state})
        for state in ("CA", "NV")
    ]


@pytest.mark.parametrize("dry_run", [False, True])
@pytest.mark.parametrize(
    ("criteria", "api_name", "json_path"),
    [
        # A lookup of the ORM after a field's name: a client's regex run by PostgreSQL ...
        (_condition("Mailing_State__regex", ".*"), "Mailing_State__regex", "$.criteria"),
        # ... or a lookup that fails in the database (a 500 before).
        (_condition("Mailing_State__range", "Nevada"), "Mailing_State__range", "$.criteria"),
        (_condition("Favourite_Colour", "red"), "Favourite_Colour", "$.criteria"),
        # A field of Accounts, not of Contacts; a field of activities only.
        (_condition("Industry", "Retail"), "Industry", "$.criteria"),
        (_condition("What_Id", {"id": "1"}), "What_Id", "$.criteria"),
        (
            {
                "group_operator": "or",
                "group": [
                    _condition("Mailing_State", "CA"),
                    _condition("Mailing_State__regex", "^N"),
                ],
            },
            "Mailing_State__regex",
            "$.criteria.group[1]",
        ),
    ],
)
def test_mass_change_criteria_name_fields_of_the_module_never_lookups(
    client, new_owner, leaving, mailing_states, criteria, api_name, json_path, dry_run
):
    response = client.post(MASS, body(new_owner, criteria, dry_run=dry_run), format="json")

    assert (response.status_code, response.json()) == (
        400,
        error(
            "INVALID_DATA",
            {"api_name": api_name, "json_path": f"{json_path}.field.api_name"},
            "invalid data",
        ),
    )
    assert Record.objects.filter(owner=new_owner).count() == 0


def test_mass_change_by_a_field_of_the_module_moves_what_matches(
    client, new_owner, leaving, mailing_states
):
    california, nevada = mailing_states
    criteria = _condition("Mailing_State", "CA")

    dry = client.post(MASS, body(new_owner, criteria, dry_run=True), format="json")
    scheduled = client.post(MASS, body(new_owner, criteria), format="json")
    drain()

    assert dry.json()["data"][0]["details"]["sample_ids"] == [str(california.id)]
    assert scheduled.status_code == 202
    california.refresh_from_db()
    nevada.refresh_from_db()
    assert (california.owner_id, nevada.owner_id) == (new_owner.id, leaving.id)


def test_transfer_and_delete_is_for_administrators_only(auth_client, make_user, new_owner, leaving):
    standard = make_user(email="std@zylker.test", profile_name="Standard")
    response = auth_client(standard, "ZohoBigin.users.ALL").post(
        TRANSFER, transfer_body(leaving, new_owner), format="json"
    )
    assert (response.status_code, response.json()) == (
        403,
        error(
            "NO_PERMISSION",
            {"permissions": ["Manage_Users"]},
            "You do not have permission to perform this operation",
        ),
    )
    response = auth_client(standard, "ZohoBigin.change_owner.CREATE").post(
        TRANSFER, transfer_body(leaving, new_owner), format="json"
    )
    assert (response.status_code, response.json()["code"]) == (401, "OAUTH_SCOPE_MISMATCH")


@pytest.mark.parametrize(
    ("make_body", "expected"),
    [
        (lambda lv, o: {}, _mandatory("transfer_and_delete", "$.transfer_and_delete")),
        (
            lambda lv, o: {"transfer_and_delete": {}},
            error(
                "INVALID_DATA",
                {
                    "expected_data_type": "jsonarray",
                    "api_name": "transfer_and_delete",
                    "json_path": "$.transfer_and_delete",
                },
                "invalid data",
            ),
        ),
        (
            lambda lv, o: {
                "transfer_and_delete": [transfer_body(lv, o)["transfer_and_delete"][0]] * 2
            },
            error(
                "LIMIT_EXCEEDED",
                {
                    "limit": 1,
                    "api_name": "transfer_and_delete",
                    "json_path": "$.transfer_and_delete",
                },
                "Limit Exceeded, You cannot transfer and delete more than 1 user",
            ),
        ),
        (
            lambda lv, o: {"transfer_and_delete": [{"transfer": {"id": str(o.id)}}]},
            _mandatory("id", "$.transfer_and_delete[0].id"),
        ),
        (
            lambda lv, o: {"transfer_and_delete": [{"id": "99", "transfer": {"id": str(o.id)}}]},
            error(
                "INVALID_DATA",
                {"api_name": "id", "json_path": "$.transfer_and_delete[0].id"},
                "the user id given is invalid",
            ),
        ),
        (
            lambda lv, o: {"transfer_and_delete": [{"id": str(lv.id)}]},
            _mandatory("transfer", "$.transfer_and_delete[0].transfer"),
        ),
        (
            lambda lv, o: {"transfer_and_delete": [{"id": str(lv.id), "transfer": {}}]},
            _mandatory("id", "$.transfer_and_delete[0].transfer.id"),
        ),
        (
            lambda lv, o: {"transfer_and_delete": [{"id": str(lv.id), "transfer": {"id": "7"}}]},
            error(
                "INVALID_DATA",
                {"api_name": "id", "json_path": "$.transfer_and_delete[0].transfer.id"},
                "the owner id given is invalid",
            ),
        ),
        (
            lambda lv, o: {
                "transfer_and_delete": [{"id": str(lv.id), "transfer": {"id": str(lv.id)}}]
            },
            error(
                "INVALID_DATA",
                {"api_name": "id", "json_path": "$.transfer_and_delete[0].transfer.id"},
                "the records cannot be transferred to the user being deleted",
            ),
        ),
        (
            lambda lv, o: transfer_body(lv, o, delete="no"),
            error(
                "INVALID_DATA",
                {
                    "expected_data_type": "boolean",
                    "api_name": "delete",
                    "json_path": "$.transfer_and_delete[0].delete",
                },
                "invalid data",
            ),
        ),
    ],
)
def test_transfer_and_delete_validation_errors(client, new_owner, leaving, make_body, expected):
    response = client.post(TRANSFER, make_body(leaving, new_owner), format="json")
    assert (response.status_code, response.json()) == (400, expected)
    leaving.refresh_from_db()
    assert leaving.status == User.Status.ACTIVE


# ---- owner batches


def test_owner_batch_of_a_request_shows_its_jobs_and_revert_undoes_it(
    client, admin_user, new_owner, leaving, owned
):
    contacts, _ = owned
    response = post_bulk(
        client,
        {
            "ids": [str(c.id) for c in contacts[:2]],
            "owner": {"id": str(new_owner.id)},
            "related_modules": [{"api_name": "Tasks"}],
        },
    )
    batch_id = response["X-Owner-Batch-Id"]
    summary = client.get(f"/bigin/v2/owner_batches/{batch_id}").json()
    assert summary["status"] == "in_progress"
    assert summary["jobs"] == [
        {"kind": "related_transfer", "status": "pending", "attempts": 0, "last_error": None}
    ]
    drain()
    summary = client.get(f"/bigin/v2/owner_batches/{batch_id}").json()
    created = AuditEntry.objects.filter(batch_id=batch_id).earliest("created_time").created_time
    assert summary == {
        "batch_id": batch_id,
        "source": "api",
        "actor": {"id": str(admin_user.id)},
        "created_time": bigin_time(created),
        "changed_count": 4,
        "jobs": [{"kind": "related_transfer", "status": "done", "attempts": 1, "last_error": None}],
        "status": "completed",
    }
    response = client.post(f"/bigin/v2/owner_batches/{batch_id}/actions/revert")
    assert response.status_code == 202
    revert = TransferJob.objects.get(kind="revert")
    assert response.json() == {
        "data": [
            {
                "code": "SCHEDULED",
                "details": {"job_id": str(revert.id), "batch_id": str(revert.batch_id)},
                "message": "revert is scheduled",
                "status": "success",
            }
        ]
    }
    drain()
    assert not Record.objects.filter(owner=new_owner).exists()
    job = client.get(f"/bigin/v2/owner_batches/{revert.batch_id}").json()["job"]
    assert (job["Status"], job["Updated_Count"], job["kind"]) == ("COMPLETED", 4, "revert")


def test_unknown_batches(client, auth_client, other_organization, new_owner, leaving, owned):
    contacts, _ = owned
    batch_id = post_bulk(
        client, {"ids": [str(contacts[0].id)], "owner": {"id": str(new_owner.id)}}
    )["X-Owner-Batch-Id"]
    from tests.factories import UserFactory

    stranger = auth_client(
        UserFactory(organization=other_organization, email="x@nimbus.test"), WRITE_SCOPE, READ_SCOPE
    )
    for path in ("not-a-uuid", "8f1f7c1e-8a4f-4a53-9a4e-0a0a0a0a0a0a"):
        assert client.get(f"/bigin/v2/owner_batches/{path}").status_code == 204
    assert stranger.get(f"/bigin/v2/owner_batches/{batch_id}").status_code == 204
    response = stranger.post(f"/bigin/v2/owner_batches/{batch_id}/actions/revert")
    assert (response.status_code, response.json()) == (
        400,
        error("INVALID_DATA", {"batch_id": batch_id}, "the batch id given seems to be invalid"),
    )
    assert Record.objects.get(id=contacts[0].id).owner_id == new_owner.id
