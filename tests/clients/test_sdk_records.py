"""The official Zoho CRM SDKs' record operations, unmodified, against a live server: a client
creates its contacts, updates, upserts, searches and deletes them, then changes their owners,
as it would against Bigin (`RecordOperations.create_records/update_records/upsert_records/
search_records/delete_records`, then `ChangeOwnerOperations`)."""

from __future__ import annotations

import pytest

from audit.models import AuditEntry
from crm.models import Record

from .conftest import CRM_SCOPES
from .test_sdks import only

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)

SCOPES = (*CRM_SCOPES, "ZohoSearch.securesearch.READ")


def success(record_id, message, *, duplicate_field=None, action=None) -> dict:
    """The SDKs' SuccessResponse (upsert's duplicate_field and action are None elsewhere)."""
    return {
        "_class": "SuccessResponse",
        "code": "SUCCESS",
        "duplicate_field": duplicate_field,
        "action": action,
        "message": message,
        "status": "success",
        "details_id": str(record_id),
    }


def shape(entry: dict) -> dict:
    """An entry of an ActionWrapper, its details reduced to the record id (the times and users
    are checked by the API tests)."""
    details = entry.get("details") or {}
    out = {key: value for key, value in entry.items() if key != "details"}
    if entry["_class"] == "SuccessResponse":
        out["details_id"] = details.get("id")
        assert set(details) == {
            "Modified_Time",
            "Modified_By",
            "Created_Time",
            "id",
            "Created_By",
        }, details
    else:
        out["details"] = details
    return out


def test_create_update_upsert_search_delete_then_change_owner(sdk, world, run_sdk):
    ann, bo = world["ann"], world["bo"]
    created = only(
        run_sdk(
            sdk,
            ann,
            [
                {
                    "op": "create_records",
                    "module": "Contacts",
                    "records": [
                        {"Last_Name": "Lee", "First_Name": "Ada", "Email": "ada@sdk.test"},
                        {"Last_Name": "Ray", "Email": "ray@sdk.test", "Owner": {"id": str(bo.id)}},
                        {"First_Name": "No last name"},
                    ],
                }
            ],
            scopes=SCOPES,
        )
    )[0]
    ada, ray = Record.objects.get(name="Ada Lee"), Record.objects.get(name="Ray")
    assert created["status_code"] == 207  # Zoho CRM's Multi-Status: one record failed
    assert created["object"]["_class"] == "ActionWrapper"
    assert [shape(entry) for entry in created["object"]["data"]] == [
        success(ada.id, "record added"),
        success(ray.id, "record added"),
        {
            "_class": "APIException",
            "code": "MANDATORY_NOT_FOUND",
            "details": {"api_name": "Last_Name", "json_path": "$.data[2].Last_Name"},
            "message": "required field not found",
            "status": "error",
        },
    ]
    assert (ada.owner_id, ray.owner_id) == (ann.id, bo.id)

    steps = [
        {
            "op": "update_records",
            "module": "Contacts",
            "records": [{"id": str(ada.id), "Title": "CTO"}],
        },
        {
            "op": "update_record",
            "module": "Contacts",
            "id": str(ray.id),
            "records": [{"Phone": "555-0100"}],
        },
        {
            "op": "upsert_records",
            "module": "Contacts",
            "duplicate_check_fields": ["Email"],
            "records": [
                {"Last_Name": "Lee", "Email": "ADA@sdk.test", "Mobile": "555-0199"},
                {"Last_Name": "Kim", "Email": "kim@sdk.test"},
            ],
        },
        {"op": "search_records", "module": "Contacts", "email": "ada@sdk.test"},
        {"op": "search_records", "module": "Contacts", "criteria": "(Phone:equals:555-0100)"},
        {"op": "search_records", "module": "Contacts", "word": "Kim"},
        {
            "op": "change_owner_bulk",
            "module": "Contacts",
            "ids": [str(ada.id), str(ray.id)],
            "owner": str(bo.id),
        },
        {"op": "delete_record", "module": "Contacts", "id": str(ray.id)},
    ]
    update, update_one, upsert, by_email, by_criteria, by_word, change, delete_one = only(
        run_sdk(sdk, ann, steps, scopes=SCOPES)
    )
    kim = Record.objects.get(name="Kim")

    assert (update["status_code"], [shape(e) for e in update["object"]["data"]]) == (
        200,
        [success(ada.id, "record updated")],
    )
    assert (update_one["status_code"], [shape(e) for e in update_one["object"]["data"]]) == (
        200,
        [success(ray.id, "record updated")],
    )
    assert (upsert["status_code"], [shape(e) for e in upsert["object"]["data"]]) == (
        200,
        [
            success(ada.id, "record updated", duplicate_field="Email", action="update"),
            success(kim.id, "record added", duplicate_field=None, action="insert"),
        ],
    )
    [found] = by_email["object"]["data"]
    assert (found["_class"], found["id"], found["Title"], found["Mobile"]) == (
        "Record",
        str(ada.id),
        "CTO",
        "555-0199",
    )
    assert by_email["object"]["info"]["_class"] == "Info"
    assert [row["id"] for row in by_criteria["object"]["data"]] == [str(ray.id)]
    assert [row["id"] for row in by_word["object"]["data"]] == [str(kim.id)]
    assert change["status_code"] == 200
    assert (delete_one["status_code"], delete_one["object"]["data"][0]["code"]) == (200, "SUCCESS")

    ada.refresh_from_db()
    assert ada.owner_id == bo.id
    assert not Record.objects.filter(id=ray.id).exists()
    assert list(
        AuditEntry.objects.filter(record_id=ada.id)
        .order_by("created_time")
        .values_list("source", "new_owner_id")
    ) == [("insert", ann.id), ("api", bo.id)]

    [deleted] = only(
        run_sdk(
            sdk,
            ann,
            [{"op": "delete_records", "module": "Contacts", "ids": [str(ada.id), str(kim.id)]}],
            scopes=SCOPES,
        )
    )
    assert deleted["status_code"] == 200
    assert [(e["_class"], e["code"], e["details"]) for e in deleted["object"]["data"]] == [
        ("SuccessResponse", "SUCCESS", {"id": str(ada.id)}),
        ("SuccessResponse", "SUCCESS", {"id": str(kim.id)}),
    ]
    assert not Record.objects.filter(id__in=[ada.id, kim.id]).exists()
