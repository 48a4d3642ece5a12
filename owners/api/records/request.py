"""The record APIs' bodies and answers (api-spec.md, "Records a client writes"): the checks of a
whole request, once, at the edge, each a row of the table below; and the per-record entries of
an answer, plain dicts."""

from __future__ import annotations

from typing import Any

from rest_framework.request import Request

from crm.http.dialects import Dialect
from crm.http.errors import INVALID_BODY, REQUIRED_PARAM_MISSING, ErrorKind
from crm.ids import parse_id
from crm.modules import ModuleInfo
from crm.representations import bigin_time
from owners.api.bigin.request import INVALID_TYPE, MANDATORY_NOT_FOUND
from owners.records.writes import MAX_RECORDS, RecordOutcome, UserRef

RECORDS_LIMIT_EXCEEDED = ErrorKind(
    400, "LIMIT_EXCEEDED", "Limit Exceeded, You cannot give more than 100 records"
)
ONE_RECORD_LIMIT_EXCEEDED = ErrorKind(
    400, "LIMIT_EXCEEDED", "Limit Exceeded, You cannot give more than 1 record"
)
IDS_LIMIT_EXCEEDED = ErrorKind(
    400, "LIMIT_EXCEEDED", "Limit Exceeded, You cannot give more than 100 record ids"
)

MESSAGES = {"insert": "record added", "update": "record updated", "delete": "record deleted"}
INVALID_ID = ("INVALID_DATA", "the id given seems to be invalid")


def parse_data(body: Any, *, limit: int = MAX_RECORDS) -> list[Any]:
    """The `data` array of a write's body: 1 to `limit` entries (each checked on its own later)."""
    if not isinstance(body, dict):
        raise INVALID_BODY()
    data = body.get("data")
    if data is None or data == []:
        raise MANDATORY_NOT_FOUND(api_name="data", json_path="$.data")
    if not isinstance(data, list):
        raise INVALID_TYPE(expected_data_type="jsonarray", api_name="data", json_path="$.data")
    if len(data) > limit:
        kind = RECORDS_LIMIT_EXCEEDED if limit == MAX_RECORDS else ONE_RECORD_LIMIT_EXCEEDED
        raise kind(limit=limit, api_name="data", json_path="$.data")
    return data


def parse_duplicate_check_fields(body: dict[str, Any]) -> list[str] | None:
    """Upsert's `duplicate_check_fields`: field api_names, or None for the module's own."""
    names = body.get("duplicate_check_fields")
    path = "$.duplicate_check_fields"
    if names is None:
        return None
    if not isinstance(names, list) or not names:
        raise INVALID_TYPE(
            expected_data_type="jsonarray", api_name="duplicate_check_fields", json_path=path
        )
    for index, name in enumerate(names):
        if not isinstance(name, str):
            raise invalid_duplicate_check_field(index)
    return names


def invalid_duplicate_check_field(index: int):
    return INVALID_TYPE(
        api_name="duplicate_check_fields", json_path=f"$.duplicate_check_fields[{index}]"
    )


def parse_delete_ids(request: Request) -> list[str]:
    """`ids=1,2,3`: up to 100, as given (an entry that is not an id answers its own error)."""
    raw = request.query_params.get("ids")
    if not raw:
        raise REQUIRED_PARAM_MISSING(param="ids")
    ids = list(dict.fromkeys(part.strip() for part in raw.split(",") if part.strip()))
    if not ids:
        raise REQUIRED_PARAM_MISSING(param="ids")
    if len(ids) > MAX_RECORDS:
        raise IDS_LIMIT_EXCEEDED(limit=MAX_RECORDS, param_name="ids")
    return ids


# Answers ----------------------------------------------------------------------------------------


def _user(user: UserRef | None) -> dict[str, str] | None:
    return None if user is None else {"name": user.name, "id": str(user.id)}


def write_entry(
    outcome: RecordOutcome, *, dialect: Dialect, module: ModuleInfo, upsert: bool = False
) -> dict[str, Any]:
    """One record's entry: Zoho's SUCCESS with the record's times and users, or its error.
    Upsert's also say which field found the record and what was done."""
    if outcome.error is not None:
        body = outcome.error.body()
        duplicate = body["details"].get("duplicate_record")
        if duplicate is not None:
            # The service names modules as Bigin does; the client reads its dialect's names.
            duplicate["module"]["api_name"] = dialect.api_name(module)
        return body
    entry: dict[str, Any] = {"code": "SUCCESS"}
    if upsert:
        entry["duplicate_field"] = outcome.duplicate_field
        entry["action"] = outcome.action
    entry["details"] = {
        "Modified_Time": bigin_time(outcome.modified_time),
        "Modified_By": _user(outcome.modified_by),
        "Created_Time": bigin_time(outcome.created_time),
        "id": str(outcome.record_id),
        "Created_By": _user(outcome.created_by),
    }
    entry["message"] = MESSAGES[outcome.action]
    entry["status"] = "success"
    return entry


def delete_entry(raw_id: str, deleted: frozenset[int]) -> dict[str, Any]:
    record_id = parse_id(raw_id)
    if record_id is not None and record_id in deleted:
        code, message, status = "SUCCESS", MESSAGES["delete"], "success"
    else:
        (code, message), status = INVALID_ID, "error"
    return {"code": code, "details": {"id": raw_id}, "message": message, "status": status}


def response_status(entries: list[dict[str, Any]], *, success: int, dialect: Dialect) -> int:
    """`success` when every record was written, the dialect's partial status when some were,
    400 when none was."""
    written = sum(1 for entry in entries if entry["status"] == "success")
    if written == len(entries):
        return success
    return dialect.records_partial_status if written else 400
