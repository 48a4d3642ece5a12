"""Helpers for the change_owner tests: requests and the exact bodies api-spec.md gives."""

from __future__ import annotations


def post_bulk(client, body, module="Contacts"):
    return client.post(f"/bigin/v2/{module}/actions/change_owner", body, format="json")


def post_single(client, record_id, body, module="Contacts"):
    return client.post(f"/bigin/v2/{module}/{record_id}/actions/change_owner", body, format="json")


def success(record_id) -> dict:
    return {
        "code": "SUCCESS",
        "details": {"id": str(record_id)},
        "message": "owner is successfully updated",
        "status": "success",
    }


def invalid(record_id) -> dict:
    return {
        "code": "INVALID_DATA",
        "details": {"id": str(record_id)},
        "message": "the id given seems to be invalid",
        "status": "error",
    }


def error(code: str, details: dict, message: str) -> dict:
    return {"code": code, "details": details, "message": message, "status": "error"}
