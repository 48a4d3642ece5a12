"""The change_owner endpoints, with the exact bodies of api-spec.md's change-owner tables."""

from __future__ import annotations

import pytest

from audit.models import AuditEntry
from crm.models import Record, User
from owners.models import OutboxEntry
from tests.factories import RecordFactory, UserFactory
from tests.owners.bigin import error, invalid, post_bulk, post_single, success

pytestmark = pytest.mark.django_db


def owners_of(records) -> list[int]:
    return list(
        Record.objects.filter(id__in=[r.id for r in records])
        .order_by("id")
        .values_list("owner_id", flat=True)
    )


# --- success, mixed, all errors ---------------------------------------------------------------


def test_bulk_change_owner_all_success_answers_200_and_moves_every_record(
    admin_client, contacts, new_owner
):
    ids = [str(record.id) for record in contacts]
    response = post_bulk(admin_client, {"ids": ids, "owner": {"id": str(new_owner.id)}})

    assert response.status_code == 200
    assert response.json() == {"data": [success(record_id) for record_id in ids]}
    assert owners_of(contacts) == [new_owner.id] * 3


def test_bulk_change_owner_mixed_results_answer_202(
    admin_client, contacts, new_owner, other_organization
):
    foreign = RecordFactory(organization=other_organization)
    body = {
        "ids": [str(contacts[0].id), "123", str(foreign.id)],
        "owner": {"id": str(new_owner.id)},
    }

    response = post_bulk(admin_client, body)

    assert response.status_code == 202
    assert response.json() == {"data": [success(contacts[0].id), invalid(123), invalid(foreign.id)]}
    assert owners_of(contacts) == [new_owner.id, contacts[1].owner_id, contacts[2].owner_id]
    foreign.refresh_from_db()
    assert foreign.owner_id != new_owner.id


def test_bulk_change_owner_all_errors_answer_400_and_change_nothing(admin_client, new_owner):
    response = post_bulk(admin_client, {"ids": ["1", "2"], "owner": {"id": str(new_owner.id)}})

    assert response.status_code == 400
    assert response.json() == {"data": [invalid(1), invalid(2)]}
    assert not AuditEntry.objects.exists()


def test_bulk_change_owner_reports_a_record_of_another_module_as_invalid(
    admin_client, make_record, new_owner
):
    task = make_record(module_name="Tasks")
    response = post_bulk(admin_client, {"ids": [str(task.id)], "owner": {"id": str(new_owner.id)}})
    assert response.status_code == 400
    assert response.json() == {"data": [invalid(task.id)]}


def test_duplicate_ids_are_processed_once_in_first_seen_order(admin_client, contacts, new_owner):
    a, b = str(contacts[0].id), str(contacts[1].id)
    response = post_bulk(admin_client, {"ids": [b, a, b, int(a)], "owner": {"id": new_owner.id}})

    assert response.status_code == 200
    assert response.json() == {"data": [success(b), success(a)]}
    assert AuditEntry.objects.count() == 2


def test_ids_as_integers_and_strings_are_the_same_ids(admin_client, contacts, new_owner):
    body = {"ids": [contacts[0].id, str(contacts[1].id)], "owner": {"id": new_owner.id}}
    response = post_bulk(admin_client, body)
    assert response.status_code == 200
    assert response.json() == {"data": [success(contacts[0].id), success(contacts[1].id)]}


def test_lowercase_module_name_works_like_its_api_name(admin_client, contacts, new_owner):
    response = post_bulk(
        admin_client, {"ids": [str(contacts[0].id)], "owner": {"id": str(new_owner.id)}}, "contacts"
    )
    assert response.status_code == 200
    assert response.json() == {"data": [success(contacts[0].id)]}


def test_500_ids_are_accepted(admin_client, organization, admin_user, new_owner):
    records = RecordFactory.create_batch(500, organization=organization, owner=admin_user)
    ids = [str(record.id) for record in records]
    response = post_bulk(admin_client, {"ids": ids, "owner": {"id": str(new_owner.id)}})
    assert response.status_code == 200
    assert response.json() == {"data": [success(record_id) for record_id in ids]}
    assert Record.objects.filter(owner=new_owner).count() == 500


def test_batch_id_header_names_the_audit_rows(admin_client, contacts, new_owner):
    response = post_bulk(
        admin_client, {"ids": [str(contacts[0].id)], "owner": {"id": str(new_owner.id)}}
    )
    entry = AuditEntry.objects.get()
    assert response["X-Owner-Batch-Id"] == str(entry.batch_id)


# --- the one-record form -----------------------------------------------------------------------


def test_single_record_change_owner_succeeds(admin_client, contacts, new_owner):
    response = post_single(admin_client, contacts[0].id, {"owner": {"id": str(new_owner.id)}})
    assert response.status_code == 200
    assert response.json() == {"data": [success(contacts[0].id)]}
    assert owners_of(contacts[:1]) == [new_owner.id]


def test_single_record_form_ignores_an_ids_key(admin_client, contacts, new_owner):
    body = {"ids": [str(contacts[1].id)], "owner": {"id": str(new_owner.id)}}
    response = post_single(admin_client, contacts[0].id, body)
    assert response.json() == {"data": [success(contacts[0].id)]}
    assert owners_of(contacts[:2]) == [new_owner.id, contacts[1].owner_id]


@pytest.mark.parametrize("record_id", ["999", "not-a-number"])
def test_single_record_form_answers_400_for_an_unknown_id(admin_client, new_owner, record_id):
    response = post_single(admin_client, record_id, {"owner": {"id": str(new_owner.id)}})
    assert response.status_code == 400
    assert response.json() == {"data": [invalid(record_id)]}


def test_single_record_of_another_organization_is_indistinguishable_from_a_missing_one(
    admin_client, new_owner, other_organization
):
    foreign = RecordFactory(organization=other_organization)
    response = post_single(admin_client, foreign.id, {"owner": {"id": str(new_owner.id)}})
    assert response.status_code == 400
    assert response.json() == {"data": [invalid(foreign.id)]}
    foreign.refresh_from_db()
    assert foreign.owner.organization_id == other_organization.id


# --- whole-request errors ----------------------------------------------------------------------

MANDATORY = "required field not found"


@pytest.mark.parametrize(
    ("body", "status", "expected"),
    [
        (
            {"owner": {"id": "1"}},
            400,
            error("MANDATORY_NOT_FOUND", {"api_name": "ids", "json_path": "$.ids"}, MANDATORY),
        ),
        (
            {"ids": None, "owner": {"id": "1"}},
            400,
            error("MANDATORY_NOT_FOUND", {"api_name": "ids", "json_path": "$.ids"}, MANDATORY),
        ),
        (
            {"ids": [], "owner": {"id": "1"}},
            400,
            error("MANDATORY_NOT_FOUND", {"api_name": "ids", "json_path": "$.ids"}, MANDATORY),
        ),
        (
            {"ids": "1,2", "owner": {"id": "1"}},
            400,
            error(
                "INVALID_DATA",
                {"expected_data_type": "jsonarray", "api_name": "ids", "json_path": "$.ids"},
                "invalid data",
            ),
        ),
        (
            {"ids": ["1", "x"], "owner": {"id": "1"}},
            400,
            error(
                "INVALID_DATA",
                {"expected_data_type": "long", "api_name": "ids", "json_path": "$.ids[1]"},
                "invalid data",
            ),
        ),
        (
            {"ids": ["1", 2.5], "owner": {"id": "1"}},
            400,
            error(
                "INVALID_DATA",
                {"expected_data_type": "long", "api_name": "ids", "json_path": "$.ids[1]"},
                "invalid data",
            ),
        ),
        (
            {"ids": [True], "owner": {"id": "1"}},
            400,
            error(
                "INVALID_DATA",
                {"expected_data_type": "long", "api_name": "ids", "json_path": "$.ids[0]"},
                "invalid data",
            ),
        ),
        (
            {"ids": ["12345678901234567890"], "owner": {"id": "1"}},
            400,
            error(
                "INVALID_DATA",
                {"expected_data_type": "long", "api_name": "ids", "json_path": "$.ids[0]"},
                "invalid data",
            ),
        ),
        (
            {"ids": ["1"]},
            400,
            error("MANDATORY_NOT_FOUND", {"api_name": "owner", "json_path": "$.owner"}, MANDATORY),
        ),
        (
            {"ids": ["1"], "owner": None},
            400,
            error("MANDATORY_NOT_FOUND", {"api_name": "owner", "json_path": "$.owner"}, MANDATORY),
        ),
        (
            {"ids": ["1"], "owner": "2001"},
            400,
            error("MANDATORY_NOT_FOUND", {"api_name": "owner", "json_path": "$.owner"}, MANDATORY),
        ),
        (
            {"ids": ["1"], "owner": {}},
            400,
            error("MANDATORY_NOT_FOUND", {"api_name": "id", "json_path": "$.owner.id"}, MANDATORY),
        ),
        (
            {"ids": ["1"], "owner": {"id": "abc"}},
            400,
            error(
                "INVALID_DATA",
                {"expected_data_type": "long", "api_name": "id", "json_path": "$.owner.id"},
                "invalid data",
            ),
        ),
        (
            {"ids": ["1"], "owner": {"id": "42"}},
            400,
            error(
                "INVALID_DATA",
                {"api_name": "id", "json_path": "$.owner.id"},
                "the owner id given is invalid",
            ),
        ),
    ],
)
def test_malformed_bodies_answer_the_exact_error(admin_client, body, status, expected):
    response = post_bulk(admin_client, body)
    assert response.status_code == status
    assert response.json() == expected


def test_501_ids_exceed_the_limit(admin_client, new_owner):
    response = post_bulk(
        admin_client, {"ids": [str(n) for n in range(1, 502)], "owner": {"id": str(new_owner.id)}}
    )
    assert response.status_code == 400
    assert response.json() == error(
        "LIMIT_EXCEEDED",
        {"limit": 500, "api_name": "ids", "json_path": "$.ids"},
        "Limit Exceeded, You cannot give more than 500 record ids",
    )


@pytest.mark.parametrize("body", [[1, 2], "ids", 3])
def test_a_body_that_is_not_a_json_object_is_invalid(admin_client, body):
    response = post_bulk(admin_client, body)
    assert response.status_code == 400
    assert response.json() == error(
        "INVALID_DATA", {}, "either the request body or parameters is in wrong format"
    )


def test_a_body_that_is_not_json_is_invalid(admin_client):
    response = admin_client.post(
        "/bigin/v2/Contacts/actions/change_owner", "{not json", content_type="application/json"
    )
    assert response.status_code == 400
    assert response.json() == error(
        "INVALID_DATA", {}, "either the request body or parameters is in wrong format"
    )


def test_owner_of_another_organization_is_an_invalid_owner(
    admin_client, contacts, other_organization
):
    stranger = UserFactory(organization=other_organization)
    response = post_bulk(
        admin_client, {"ids": [str(contacts[0].id)], "owner": {"id": str(stranger.id)}}
    )
    assert response.status_code == 400
    assert response.json() == error(
        "INVALID_DATA",
        {"api_name": "id", "json_path": "$.owner.id"},
        "the owner id given is invalid",
    )


def test_disabled_owner_is_refused(admin_client, contacts, make_user):
    disabled = make_user(status=User.Status.DISABLED)
    response = post_bulk(
        admin_client, {"ids": [str(contacts[0].id)], "owner": {"id": str(disabled.id)}}
    )
    assert response.status_code == 400
    assert response.json() == error(
        "INVALID_DATA",
        {"api_name": "id", "json_path": "$.owner.id", "owner_status": "inactive"},
        "The user to whom you are trying to transfer the records is not active.",
    )


def test_deleted_owner_is_refused_with_403(admin_client, contacts, make_user):
    deleted = make_user(status=User.Status.DELETED)
    response = post_bulk(
        admin_client, {"ids": [str(contacts[0].id)], "owner": {"id": str(deleted.id)}}
    )
    assert response.status_code == 403
    assert response.json() == error(
        "INVALID_DATA",
        {"api_name": "id", "json_path": "$.owner.id", "owner_status": "deleted"},
        "The user to whom you are trying to transfer the records has closed their account.",
    )
    assert owners_of(contacts[:1]) == [contacts[0].owner_id]


@pytest.mark.parametrize(
    ("notify", "jobs"), [(True, 1), (False, 0), ("true", 1), ("FALSE", 0), ("True", 1)]
)
def test_notify_accepts_booleans_and_their_strings(admin_client, contacts, new_owner, notify, jobs):
    body = {"ids": [str(contacts[0].id)], "owner": {"id": str(new_owner.id)}, "notify": notify}
    response = post_bulk(admin_client, body)
    assert response.status_code == 200
    assert OutboxEntry.objects.filter(kind=OutboxEntry.Kind.NOTIFY).count() == jobs


@pytest.mark.parametrize("notify", ["yes", 1, [], {}])
def test_notify_of_another_type_is_refused(admin_client, contacts, new_owner, notify):
    body = {"ids": [str(contacts[0].id)], "owner": {"id": str(new_owner.id)}, "notify": notify}
    response = post_bulk(admin_client, body)
    assert response.status_code == 400
    assert response.json() == error(
        "INVALID_DATA",
        {"expected_data_type": "boolean", "api_name": "notify", "json_path": "$.notify"},
        "invalid data",
    )
    assert owners_of(contacts[:1]) == [contacts[0].owner_id]


# --- related_modules -----------------------------------------------------------------------------


def related_job_payload():
    return OutboxEntry.objects.get(kind=OutboxEntry.Kind.RELATED_TRANSFER).payload


@pytest.mark.parametrize(
    ("related", "modules", "ids"),
    [
        ([{"api_name": "Tasks"}, {"api_name": "calls"}], ["Tasks", "Calls"], []),
        ([{"api_name": "Tasks", "id": "77"}], [], ["77"]),
        ([{"id": 78}], [], ["78"]),
        ([{"api_name": "Leads", "id": "79"}], [], ["79"]),
        ([{"api_name": "Events"}, {"api_name": "Events"}], ["Events"], []),
    ],
)
def test_related_modules_entries_select_modules_or_single_records(
    admin_client, contacts, new_owner, related, modules, ids
):
    body = {
        "ids": [str(contacts[0].id)],
        "owner": {"id": str(new_owner.id)},
        "related_modules": related,
    }
    response = post_bulk(admin_client, body)
    assert response.status_code == 200
    payload = related_job_payload()
    assert payload["related_modules"] == modules
    assert payload["related_ids"] == ids
    assert payload["parent_ids"] == [str(contacts[0].id)]
    assert payload["new_owner_id"] == str(new_owner.id)


NOT_SUPPORTED = "The requested operation is not supported"


@pytest.mark.parametrize(
    ("related", "expected"),
    [
        (
            {"api_name": "Tasks"},
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
            [{"api_name": "Tasks"}] * 6,
            error(
                "LIMIT_EXCEEDED",
                {"limit": 5, "api_name": "related_modules", "json_path": "$.related_modules"},
                "Limit Exceeded, You cannot give more than 5 record ids",
            ),
        ),
        (
            [{"api_name": "Tasks"}, {}],
            error(
                "EXPECTED_FIELD_MISSING",
                {
                    "expected_fields": [
                        {"api_name": "api_name", "json_path": "$.related_modules[1].api_name"},
                        {"api_name": "id", "json_path": "$.related_modules[1].id"},
                    ]
                },
                MANDATORY,
            ),
        ),
        (
            ["Tasks"],
            error(
                "EXPECTED_FIELD_MISSING",
                {
                    "expected_fields": [
                        {"api_name": "api_name", "json_path": "$.related_modules[0].api_name"},
                        {"api_name": "id", "json_path": "$.related_modules[0].id"},
                    ]
                },
                MANDATORY,
            ),
        ),
        (
            [{"api_name": "Contacts"}],
            error(
                "NOT_SUPPORTED",
                {"api_name": "api_name", "json_path": "$.related_modules[0].api_name"},
                NOT_SUPPORTED,
            ),
        ),
        (
            [{"api_name": 7}],
            error(
                "NOT_SUPPORTED",
                {"api_name": "api_name", "json_path": "$.related_modules[0].api_name"},
                NOT_SUPPORTED,
            ),
        ),
        (
            [{"api_name": "Leads", "id": "x1"}],
            error(
                "INVALID_DATA",
                {
                    "expected_data_type": "long",
                    "api_name": "id",
                    "json_path": "$.related_modules[0].id",
                },
                "invalid data",
            ),
        ),
    ],
)
def test_bad_related_modules_answer_the_exact_error(
    admin_client, contacts, new_owner, related, expected
):
    body = {
        "ids": [str(contacts[0].id)],
        "owner": {"id": str(new_owner.id)},
        "related_modules": related,
    }
    response = post_bulk(admin_client, body)
    assert response.status_code == 400
    assert response.json() == expected
    assert owners_of(contacts[:1]) == [contacts[0].owner_id]
    assert not OutboxEntry.objects.exists()


# --- module and permission ---------------------------------------------------------------------


def test_unknown_module_is_refused(admin_client, new_owner):
    response = post_bulk(admin_client, {"ids": ["1"], "owner": {"id": str(new_owner.id)}}, "Leads")
    assert response.status_code == 400
    assert response.json() == error(
        "INVALID_MODULE", {"resource_path_index": 0}, "the module name given seems to be invalid"
    )


def test_profile_without_change_owner_permission_is_refused(
    client_for, make_user, contacts, new_owner
):
    read_only = make_user(profile_name="Read Only")
    response = post_bulk(
        client_for(read_only), {"ids": [str(contacts[0].id)], "owner": {"id": str(new_owner.id)}}
    )
    assert response.status_code == 403
    assert response.json() == error(
        "NO_PERMISSION",
        {"permissions": ["Change_Owner"]},
        "You do not have permission to perform this operation",
    )
    assert owners_of(contacts[:1]) == [contacts[0].owner_id]


def test_permission_is_checked_before_the_body(client_for, make_user):
    read_only = make_user(profile_name="Read Only")
    response = post_bulk(client_for(read_only), {"ids": "bad"})
    assert response.json()["code"] == "NO_PERMISSION"


@pytest.mark.parametrize("method", ["get", "put", "delete", "options"])
def test_other_methods_are_not_allowed(admin_client, method):
    response = getattr(admin_client, method)("/bigin/v2/Contacts/actions/change_owner")
    assert response.status_code == 405
    assert response.json() == error(
        "INVALID_REQUEST_METHOD", {}, "The http request method type is not a valid one"
    )


def test_method_is_checked_after_authentication(api_client):
    response = api_client.get("/bigin/v2/Contacts/actions/change_owner")
    assert response.status_code == 401
    assert response.json()["code"] == "AUTHENTICATION_FAILURE"


def test_unknown_path_answers_404_before_authentication(api_client):
    response = api_client.post("/bigin/v2/Contacts/actions/change_owners")
    assert response.status_code == 404
    assert response.json() == error(
        "INVALID_URL_PATTERN", {}, "Please check if the URL trying to access is a correct one"
    )


def test_change_owner_needs_its_scope(auth_client, admin_user, contacts, new_owner):
    client = auth_client(admin_user, "ZohoBigin.modules.ALL")
    response = post_bulk(client, {"ids": [str(contacts[0].id)], "owner": {"id": str(new_owner.id)}})
    assert response.status_code == 401
    assert response.json() == error(
        "OAUTH_SCOPE_MISMATCH", {}, "invalid oauth scope to access this URL"
    )


def test_change_owner_all_scope_satisfies_create(auth_client, admin_user, contacts, new_owner):
    client = auth_client(admin_user, "ZohoBigin.change_owner.ALL")
    response = post_bulk(client, {"ids": [str(contacts[0].id)], "owner": {"id": str(new_owner.id)}})
    assert response.status_code == 200


# The owner is read with the records' lock (no query of its own): where the lock reads nothing,
# or another error would answer first, its error still comes first, in api-spec.md's order.
OWNER_ERRORS = {
    "unknown": (400, {}, "the owner id given is invalid"),
    User.Status.DISABLED: (
        400,
        {"owner_status": "inactive"},
        "The user to whom you are trying to transfer the records is not active.",
    ),
    User.Status.DELETED: (
        403,
        {"owner_status": "deleted"},
        "The user to whom you are trying to transfer the records has closed their account.",
    ),
}


def _bad_owner(kind, make_user, other_organization):
    if kind == "unknown":
        return UserFactory(organization=other_organization)
    return make_user(status=kind)


@pytest.mark.parametrize("kind", list(OWNER_ERRORS))
@pytest.mark.parametrize(
    "post",
    [
        pytest.param(
            lambda client, owner: post_bulk(client, {"ids": ["1"], "owner": owner}),
            id="no-record-found",
        ),
        pytest.param(
            lambda client, owner: post_single(client, "1", {"owner": owner}), id="single-not-found"
        ),
        pytest.param(
            lambda client, owner: post_single(client, "x1", {"owner": owner}),
            id="path-id-not-an-id",
        ),
        pytest.param(
            lambda client, owner: post_bulk(client, {"ids": ["1"], "owner": owner, "notify": 3}),
            id="bad-notify",
        ),
        pytest.param(
            lambda client, owner: post_bulk(
                client, {"ids": ["1"], "owner": owner, "related_modules": [{"api_name": "Deals"}]}
            ),
            id="bad-related-module",
        ),
    ],
)
def test_the_owners_error_comes_before_the_records_and_the_options(
    admin_client, make_user, other_organization, kind, post
):
    owner = _bad_owner(kind, make_user, other_organization)

    response = post(admin_client, {"id": str(owner.id)})

    status, details, message = OWNER_ERRORS[kind]
    assert response.status_code == status
    assert response.json() == error(
        "INVALID_DATA", {"api_name": "id", "json_path": "$.owner.id", **details}, message
    )
