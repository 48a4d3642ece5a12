"""Helpers for the record API tests: the exact bodies api-spec.md ("Records a client writes") and
Bigin's pages give."""

from __future__ import annotations

from datetime import UTC, datetime

NOW = datetime(2026, 12, 1, 9, 30, tzinfo=UTC)
NOW_TEXT = "2026-12-01T09:30:00+00:00"
WRITE = "ZohoBigin.modules.ALL"


def user_ref(user) -> dict:
    return {"name": user.full_name, "id": str(user.id)}


def written(record_id, actor, message, *, created=NOW_TEXT, creator="actor", **top) -> dict:
    """A SUCCESS entry: the record's id, times and users (`creator` None: loaded from a file)."""
    return {
        "code": "SUCCESS",
        **top,
        "details": {
            "Modified_Time": NOW_TEXT,
            "Modified_By": user_ref(actor),
            "Created_Time": created,
            "id": str(record_id),
            "Created_By": user_ref(actor) if creator == "actor" else creator,
        },
        "message": message,
        "status": "success",
    }


def added(record_id, actor, **top) -> dict:
    return written(record_id, actor, "record added", **top)


def updated(record_id, actor, **kwargs) -> dict:
    return written(record_id, actor, "record updated", **kwargs)


def deleted(record_id) -> dict:
    return {
        "code": "SUCCESS",
        "details": {"id": str(record_id)},
        "message": "record deleted",
        "status": "success",
    }


def error(code: str, details: dict, message: str) -> dict:
    return {"code": code, "details": details, "message": message, "status": "error"}


def mandatory(name: str, index: int = 0) -> dict:
    path = f"$.data[{index}].{name}"
    return error(
        "MANDATORY_NOT_FOUND", {"api_name": name, "json_path": path}, "required field not found"
    )


def invalid(name: str, index: int = 0, *, path: str | None = None, **details) -> dict:
    json_path = path or f"$.data[{index}].{name}"
    return error(
        "INVALID_DATA", {**details, "api_name": name, "json_path": json_path}, "invalid data"
    )


def invalid_id(record_id) -> dict:
    return error("INVALID_DATA", {"id": str(record_id)}, "the id given seems to be invalid")


def unknown_id(index: int = 0) -> dict:
    return error(
        "INVALID_DATA",
        {"api_name": "id", "json_path": f"$.data[{index}].id"},
        "the id given seems to be invalid",
    )
