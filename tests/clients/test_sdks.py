"""The official Zoho CRM SDKs, Python (`zohocrmsdk8-0`) and Node (`@zohocrm/nodejs-sdk-8.0`),
unmodified, against a live server: every test runs once per SDK, with the same assertions on the
SDK's parsed objects (their classes, codes, details and statuses)."""

from __future__ import annotations

import pytest

from crm.models import AccessToken, Record

# Transactional tests flush every table afterwards; serialized_rollback puts back the module rows
# the migrations created.
pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)

INVALID_ID = {"code": "INVALID_DATA", "message": "the id given seems to be invalid"}


def only(answer: dict) -> list[dict]:
    """The steps of a run, after checking that the SDK logged in (reading /org itself), raised
    nothing and logged no error (Python's logging and Node's winston formats)."""
    log = answer["log"]
    assert "/crm/v8/org" in log and "Initialization successful" in log, log
    assert " - ERROR - " not in log and "level: 'error'" not in log, log
    for step in answer["steps"]:
        assert "sdk_exception" not in step, step
    return answer["steps"]


def success(record_id) -> dict:
    return {
        "_class": "SuccessResponse",
        "code": "SUCCESS",
        "details": {"id": str(record_id)},
        "message": "owner is successfully updated",
        "status": "success",
    }


def invalid(record_id) -> dict:
    return {
        "_class": "APIException",
        "code": "INVALID_DATA",
        "details": {"id": str(record_id)},
        "message": "the id given seems to be invalid",
        "status": "error",
    }


def whole_request_error(code, details, message) -> dict:
    return {
        "_class": "APIException",
        "code": code,
        "details": details,
        "message": message,
        "status": "error",
    }


def owners(records) -> list[int]:
    return [Record.objects.get(pk=r.pk).owner_id for r in records]


def test_login_with_a_grant_code_reads_the_user_and_org_then_a_refresh_works(sdk, world, run_sdk):
    first = run_sdk(sdk, world["ann"], [])
    only(first)
    # The SDK's login read /users?type=CurrentUser and /org: its user signature is Ann's email
    # and the organization's zgid.
    [saved] = first["tokens"]
    assert saved["user"] == f"ann@zylker.test:{world['org'].id}"
    assert saved["access"] and saved["refresh"]
    assert AccessToken.objects.filter(user=world["ann"]).count() == 1

    again = run_sdk(sdk, world["ann"], [{"op": "org"}], refresh_token=saved["refresh"])
    [org] = only(again)
    [refreshed] = again["tokens"]
    assert refreshed["access"] != saved["access"]
    assert org["status_code"] == 200
    assert org["object"]["org"][0]["zgid"] == str(world["org"].id)
    assert AccessToken.objects.filter(user=world["ann"]).count() == 2


def test_reads_users_org_modules_fields_layouts_and_records(sdk, world, run_sdk):
    contact = world["contacts"][0]
    steps = [
        {"op": "users", "type": "AllUsers"},
        {"op": "user", "id": str(world["bo"].id)},
        {"op": "org"},
        {"op": "modules"},
        {"op": "fields", "module": "Contacts"},
        {"op": "layouts", "module": "Contacts"},
        {"op": "records", "module": "Contacts", "fields": "Last_Name,Email,Owner"},
        {"op": "record", "module": "Contacts", "id": str(contact.id)},
        {"op": "record", "module": "Deals", "id": str(world["deal"].id)},
        {"op": "record", "module": "Tasks", "id": str(world["task"].id)},
    ]
    users, user, org, modules, fields, layouts, records, record, deal, task = only(
        run_sdk(sdk, world["ann"], steps)
    )

    assert users["status_code"] == 200
    assert users["object"]["_class"] == "ResponseWrapper"
    assert {u["email"] for u in users["object"]["users"]} == {
        "ann@zylker.test",
        "bo@zylker.test",
        "cy@zylker.test",
        "rae@zylker.test",
    }  # AllUsers: active and disabled ones, not Dee (deleted)
    [bo] = user["object"]["users"]
    assert (bo["_class"], bo["id"], bo["full_name"]) == ("Users", str(world["bo"].id), "Bo Chen")

    [zylker] = org["object"]["org"]
    assert zylker["_class"] == "Org"
    assert (zylker["id"], zylker["company_name"]) == (str(world["org"].id), "Zylker")

    names = {m["api_name"] for m in modules["object"]["modules"]}
    assert names == {"Contacts", "Deals", "Accounts", "Products", "Tasks", "Events", "Calls"}

    by_name = {f["api_name"]: f for f in fields["object"]["fields"]}
    assert by_name["Owner"]["data_type"] == "ownerlookup"
    assert by_name["Last_Name"]["data_type"] == "text"
    assert {"Email", "Created_Time", "Modified_Time", "Modified_By"} <= set(by_name)
    assert by_name["Owner"]["_class"] == "Fields"

    [layout] = layouts["object"]["layouts"]
    assert layout["_class"] == "Layouts"
    section_fields = {f["api_name"] for s in layout["sections"] for f in s["fields"]}
    assert {"Owner", "Last_Name", "Email"} <= section_fields

    assert records["status_code"] == 200
    rows = records["object"]["data"]
    assert [r["_class"] for r in rows] == ["Record"] * 3
    assert {r["id"] for r in rows} == {str(c.id) for c in world["contacts"]}
    for row in rows:
        assert row["Owner"]["_class"] == "MinifiedUser"
        assert row["Owner"]["id"] == str(world["ann"].id)
        assert row["Owner"]["email"] == "ann@zylker.test"
    assert records["object"]["info"]["_class"] == "Info"

    [one] = record["object"]["data"]
    assert one["_class"] == "Record"
    assert (one["id"], one["Last_Name"], one["Email"]) == (
        str(contact.id),
        "Contact 0",
        "contact0@example.test",
    )
    assert one["Owner"]["_class"] == "MinifiedUser"
    assert (one["Owner"]["id"], one["Owner"]["name"]) == (str(world["ann"].id), "Ann Lee")

    [big_deal] = deal["object"]["data"]
    assert (big_deal["_class"], big_deal["Deal_Name"]) == ("Record", "Big deal")

    [call_back] = task["object"]["data"]
    assert call_back["What_Id"]["id"] == str(contact.id)
    assert call_back["$se_module"] == "Contacts"


def test_change_owner_bulk_all_success(sdk, world, run_sdk):
    contacts = world["contacts"]
    steps = [
        {
            "op": "change_owner_bulk",
            "module": "Contacts",
            "ids": [str(c.id) for c in contacts],
            "owner": str(world["bo"].id),
        }
    ]
    [answer] = only(run_sdk(sdk, world["ann"], steps))
    assert answer["status_code"] == 200
    assert answer["object"]["_class"] == "ActionWrapper"
    assert answer["object"]["data"] == [success(c.id) for c in contacts]
    assert owners(contacts) == [world["bo"].id] * 3


def test_change_owner_partial_and_all_invalid_bulk_and_single(sdk, world, run_sdk):
    contact = world["contacts"][0]
    foreign = world["foreign_contact"]
    bo = str(world["bo"].id)
    steps = [
        {
            "op": "change_owner_bulk",
            "module": "Contacts",
            "ids": [str(contact.id), str(foreign.id)],
            "owner": bo,
        },
        {"op": "change_owner_bulk", "module": "Contacts", "ids": [str(foreign.id)], "owner": bo},
        {"op": "change_owner_single", "module": "Contacts", "id": str(foreign.id), "owner": bo},
        {
            "op": "change_owner_single",
            "module": "Deals",
            "id": str(world["deal"].id),
            "owner": bo,
        },
    ]
    partial, all_invalid, single_invalid, single_deal = only(run_sdk(sdk, world["ann"], steps))
    assert partial["status_code"] == 202
    assert partial["object"]["data"] == [success(contact.id), invalid(foreign.id)]
    assert all_invalid["status_code"] == 400
    assert all_invalid["object"]["data"] == [invalid(foreign.id)]
    assert single_invalid["status_code"] == 400
    assert single_invalid["object"]["data"] == [invalid(foreign.id)]
    assert single_deal["status_code"] == 200
    assert single_deal["object"]["data"] == [success(world["deal"].id)]
    assert owners([contact, world["deal"]]) == [world["bo"].id] * 2
    assert owners([foreign]) == [world["stranger"].id]


def test_change_owner_whole_request_errors(sdk, world, run_sdk):
    ids = [str(c.id) for c in world["contacts"]]

    def bulk(owner, record_ids=ids):
        return {"op": "change_owner_bulk", "module": "Contacts", "ids": record_ids, "owner": owner}

    steps = [
        bulk(str(world["stranger"].id)),
        bulk(str(world["cy"].id)),
        bulk(str(world["dee"].id)),
        bulk(str(world["bo"].id), [str(4_000_000_000 + n) for n in range(501)]),
        {
            "op": "change_owner_single",
            "module": "Contacts",
            "id": ids[0],
            "owner": str(world["dee"].id),
        },
    ]
    unknown, disabled, deleted, too_many, single_deleted = only(run_sdk(sdk, world["ann"], steps))
    # The SDKs' change-owner error model keeps `api_name` and `json_path` of the details (the
    # server's `owner_status` is checked in tests/owners); the message tells the cases apart.
    owner_path = {"api_name": "id", "json_path": "$.owner.id"}
    assert (unknown["status_code"], unknown["object"]) == (
        400,
        whole_request_error("INVALID_DATA", owner_path, "the owner id given is invalid"),
    )
    assert (disabled["status_code"], disabled["object"]) == (
        400,
        whole_request_error(
            "INVALID_DATA",
            owner_path,
            "The user to whom you are trying to transfer the records is not active.",
        ),
    )
    deleted_error = whole_request_error(
        "INVALID_DATA",
        owner_path,
        "The user to whom you are trying to transfer the records has closed their account.",
    )
    assert (deleted["status_code"], deleted["object"]) == (403, deleted_error)
    assert (single_deleted["status_code"], single_deleted["object"]) == (403, deleted_error)
    assert (too_many["status_code"], too_many["object"]) == (
        400,
        whole_request_error(
            "LIMIT_EXCEEDED",
            {"api_name": "ids", "json_path": "$.ids"},  # the SDKs' model drops `limit`
            "Limit Exceeded, You cannot give more than 500 record ids",
        ),
    )
    assert owners(world["contacts"]) == [world["ann"].id] * 3


def test_change_owner_without_permission(sdk, world, run_sdk):
    contact = world["contacts"][0]
    steps = [
        {
            "op": "change_owner_bulk",
            "module": "Contacts",
            "ids": [str(contact.id)],
            "owner": str(world["bo"].id),
        }
    ]
    [answer] = only(run_sdk(sdk, world["rae"], steps))
    assert (answer["status_code"], answer["object"]) == (
        403,
        whole_request_error(
            "NO_PERMISSION",
            {"permissions": ["Change_Owner"]},
            "You do not have permission to perform this operation",
        ),
    )
    assert owners([contact]) == [world["ann"].id]


def test_change_owner_with_the_wrong_scope(sdk, world, run_sdk):
    contact = world["contacts"][0]
    steps = [
        {
            "op": "change_owner_single",
            "module": "Contacts",
            "id": str(contact.id),
            "owner": str(world["bo"].id),
        }
    ]
    scopes = ("ZohoCRM.users.READ", "ZohoCRM.org.READ", "ZohoCRM.modules.ALL")
    [answer] = only(run_sdk(sdk, world["ann"], steps, scopes=scopes))
    assert (answer["status_code"], answer["object"]) == (
        401,
        whole_request_error("OAUTH_SCOPE_MISMATCH", {}, "invalid oauth scope to access this URL"),
    )
    assert owners([contact]) == [world["ann"].id]
