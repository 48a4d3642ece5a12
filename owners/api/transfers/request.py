"""Parsing and validating the bodies and parameters of the transfer job endpoints (mass
change owner, transfer and delete, owner batches), once, at the edge. Each failure is a row of
an error table, as in owners/api/bigin/request.py."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from rest_framework.request import Request

from crm import policy
from crm.http.errors import INVALID_BODY, ErrorKind
from crm.ids import parse_id
from crm.models import Organization, User
from crm.modules import ModuleInfo
from owners.api.bigin.request import (
    INVALID_TYPE,
    MANDATORY_NOT_FOUND,
    OWNER_UNKNOWN,
    RELATED_NOT_SUPPORTED,
    TRUE_FALSE,
    owner_status_error,
    parse_owner,
    parse_related,
)
from owners.statements import organization_user
from owners.transfers.criteria import parse_criteria

NOT_SUPPORTED = ErrorKind(400, "NOT_SUPPORTED", "The requested operation is not supported")
REQUIRED_PARAM_MISSING = ErrorKind(
    400, "REQUIRED_PARAM_MISSING", "One of the expected parameter is missing"
)
INVALID_JOB = ErrorKind(400, "INVALID_DATA", "the job id given seems to be invalid")
INVALID_ACTION = ErrorKind(400, "INVALID_DATA", "invalid data")
JOB_FINISHED = ErrorKind(400, "INVALID_DATA", "the job has already finished")
JOB_NOT_FAILED = ErrorKind(400, "INVALID_DATA", "only a failed job can be retried")
TRANSFER_LIMIT_EXCEEDED = ErrorKind(
    400, "LIMIT_EXCEEDED", "Limit Exceeded, You cannot transfer and delete more than 1 user"
)
USER_UNKNOWN = ErrorKind(400, "INVALID_DATA", "the user id given is invalid")
USER_ALREADY_DELETED = ErrorKind(400, "INVALID_DATA", "the user is already deleted")
SAME_USER = ErrorKind(
    400, "INVALID_DATA", "the records cannot be transferred to the user being deleted"
)
# Offboarding whom (crm/policy.py): a row for each refusal of the policy.
CANNOT_OFFBOARD_SELF = ErrorKind(
    400, "INVALID_DATA", "a user cannot transfer and delete themselves"
)
CANNOT_OFFBOARD_SUPERUSER = ErrorKind(
    400, "INVALID_DATA", "a superuser cannot be transferred and deleted"
)
CANNOT_OFFBOARD_STAFF = ErrorKind(
    400, "INVALID_DATA", "only a superuser can transfer and delete a staff account"
)
OFFBOARDING_REFUSED = {
    policy.OffboardingRefusal.SELF: CANNOT_OFFBOARD_SELF,
    policy.OffboardingRefusal.SUPERUSER: CANNOT_OFFBOARD_SUPERUSER,
    policy.OffboardingRefusal.STAFF: CANNOT_OFFBOARD_STAFF,
}
INVALID_BATCH = ErrorKind(400, "INVALID_DATA", "the batch id given seems to be invalid")
# Revert of a batch whose records may still move: details {"batch_id", "job_status"}.
BATCH_RUNNING = ErrorKind(
    400, "INVALID_DATA", "the batch is still running: revert it once its job has finished"
)
# The user id of `/users/{id}/actions/transfer_and_delete` is no part of the body: errors about it
# name its place in the path (after the version: `users` is 0, the id 1), as INVALID_MODULE does.
PATH_USER_ID = {"api_name": "id", "resource_path_index": 1}


@dataclass(frozen=True)
class MassChangeRequest:
    new_owner: User
    criteria: dict[str, Any]
    related_modules: tuple[str, ...]
    notify: bool
    dry_run: bool


@dataclass(frozen=True)
class TransferAndDeleteRequest:
    leaving_user: User
    new_owner: User
    delete_user: bool
    dry_run: bool


def _boolean(body: dict[str, Any], key: str, path: str) -> bool:
    value = body.get(key)
    if value is None:
        return False
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in TRUE_FALSE:
        return TRUE_FALSE[value.lower()]
    raise INVALID_TYPE(expected_data_type="boolean", api_name=key, json_path=path)


def parse_mass_change(
    body: Any, *, organization: Organization, module: ModuleInfo
) -> MassChangeRequest:
    """The checks in order: body, the Zoho keys we do not serve (cvid, territory), owner,
    criteria (whose fields are `module`'s), related_modules, notify, dry_run."""
    if not isinstance(body, dict):
        raise INVALID_BODY()
    for key in ("cvid", "territory"):
        if body.get(key) is not None:
            raise NOT_SUPPORTED(api_name=key, json_path=f"$.{key}")
    new_owner = parse_owner(body, organization)
    if body.get("criteria") is None:
        raise MANDATORY_NOT_FOUND(api_name="criteria", json_path="$.criteria")
    criteria = parse_criteria(body["criteria"], organization=organization, modules=[module])
    related = parse_related(body)
    if related.record_ids:
        # A mass change moves whole modules of related activities, not picked ones.
        index = next(
            i
            for i, entry in enumerate(body["related_modules"])
            if isinstance(entry, dict) and entry.get("id") is not None
        )
        raise RELATED_NOT_SUPPORTED(api_name="id", json_path=f"$.related_modules[{index}].id")
    return MassChangeRequest(
        new_owner=new_owner,
        criteria=criteria,
        related_modules=related.modules,
        notify=_boolean(body, "notify", "$.notify"),
        dry_run=_boolean(body, "dry_run", "$.dry_run"),
    )


def parse_transfer_and_delete(
    body: Any, *, organization: Organization, actor: User, path_user_id: str | None
) -> TransferAndDeleteRequest:
    """The checks in order: body, the entries, the leaving user (who they are, then whether the
    actor may offboard them: crm/policy.py), the new owner, delete, dry_run."""
    if not isinstance(body, dict):
        raise INVALID_BODY()
    entries = body.get("transfer_and_delete")
    if entries is None or entries == []:
        raise MANDATORY_NOT_FOUND(api_name="transfer_and_delete", json_path="$.transfer_and_delete")
    if not isinstance(entries, list):
        raise INVALID_TYPE(
            expected_data_type="jsonarray",
            api_name="transfer_and_delete",
            json_path="$.transfer_and_delete",
        )
    if len(entries) > 1:
        raise TRANSFER_LIMIT_EXCEEDED(
            limit=1, api_name="transfer_and_delete", json_path="$.transfer_and_delete"
        )
    entry, path = entries[0], "$.transfer_and_delete[0]"
    if not isinstance(entry, dict):
        raise INVALID_TYPE(
            expected_data_type="jsonobject", api_name="transfer_and_delete", json_path=path
        )
    leaving = _leaving_user(entry, path, organization, path_user_id)
    refusal = policy.offboarding_refusal(actor, leaving)
    if refusal is not None:
        raise OFFBOARDING_REFUSED[refusal](**_leaving_user_place(path, path_user_id))
    transfer = entry.get("transfer")
    if not isinstance(transfer, dict):
        raise MANDATORY_NOT_FOUND(api_name="transfer", json_path=f"{path}.transfer")
    if transfer.get("records") is False:
        raise NOT_SUPPORTED(api_name="records", json_path=f"{path}.transfer.records")
    new_owner = _new_owner(transfer, f"{path}.transfer.id", organization)
    if new_owner.id == leaving.id:
        raise SAME_USER(api_name="id", json_path=f"{path}.transfer.id")
    delete_user = entry.get("delete", True)
    if not isinstance(delete_user, bool):
        raise INVALID_TYPE(
            expected_data_type="boolean", api_name="delete", json_path=f"{path}.delete"
        )
    return TransferAndDeleteRequest(
        leaving_user=leaving,
        new_owner=new_owner,
        delete_user=delete_user,
        # In the entry (ours) or at the top of the body.
        dry_run=_boolean(entry, "dry_run", f"{path}.dry_run")
        or _boolean(body, "dry_run", "$.dry_run"),
    )


def _leaving_user_place(path: str, path_user_id: str | None) -> dict[str, Any]:
    """Where the leaving user's id is: the entry's `id`, or the path's."""
    return (
        dict(PATH_USER_ID)
        if path_user_id is not None
        else {"api_name": "id", "json_path": f"{path}.id"}
    )


def _leaving_user(
    entry: dict[str, Any], path: str, organization: Organization, path_user_id: str | None
) -> User:
    raw = path_user_id if path_user_id is not None else entry.get("id")
    place = _leaving_user_place(path, path_user_id)
    if raw is None:
        raise MANDATORY_NOT_FOUND(**place)
    user_id = parse_id(raw)
    if user_id is None:
        raise INVALID_TYPE(expected_data_type="long", **place)
    user = organization_user(organization=organization, user_id=user_id)
    if user is None:
        raise USER_UNKNOWN(**place)
    if user.status == User.Status.DELETED:
        raise USER_ALREADY_DELETED(**place, user_status="deleted")
    return user


def _new_owner(transfer: dict[str, Any], path: str, organization: Organization) -> User:
    if transfer.get("id") is None:
        raise MANDATORY_NOT_FOUND(api_name="id", json_path=path)
    owner_id = parse_id(transfer["id"])
    if owner_id is None:
        raise INVALID_TYPE(expected_data_type="long", api_name="id", json_path=path)
    user = organization_user(organization=organization, user_id=owner_id)
    if user is None:
        raise OWNER_UNKNOWN(api_name="id", json_path=path)
    if user.status != User.Status.ACTIVE:
        error = owner_status_error(user.status)
        error.details["json_path"] = path
        raise error
    return user


def job_id_param(request: Request) -> int:
    """`?job_id=`: missing is REQUIRED_PARAM_MISSING; not an id, INVALID_DATA (as unknown)."""
    raw = request.query_params.get("job_id")
    if not raw:
        raise REQUIRED_PARAM_MISSING(param_name="job_id")
    job_id = parse_id(raw)
    if job_id is None:
        raise INVALID_JOB(param_name="job_id")
    return job_id


def batch_id_param(raw: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(raw)
    except ValueError:
        return None
