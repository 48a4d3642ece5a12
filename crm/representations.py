"""Users, records and modules as Bigin renders them: plain dicts, ids as strings."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from .http.dialects import BIGIN, Dialect
from .models import Record, User
from .modules import ModuleInfo, module_by_id

if TYPE_CHECKING:
    from .selectors import RecordRow


def bigin_time(value: datetime) -> str:
    """ISO 8601 to the second with the offset, as Zoho writes it: 2026-11-22T10:00:00+00:00."""
    return value.astimezone(UTC).replace(microsecond=0).isoformat()


def _named(obj: Any) -> dict[str, str] | None:
    return None if obj is None else {"name": obj.name, "id": str(obj.id)}


def render_user(user: User) -> dict[str, Any]:
    return {
        "id": str(user.id),
        "full_name": user.full_name,
        "first_name": user.first_name or None,
        "last_name": user.last_name,
        "email": user.email,
        "status": user.status,
        "role": _named(user.role),
        "profile": _named(user.profile),
        "created_time": bigin_time(user.created_time),
        "Modified_Time": bigin_time(user.modified_time),
    }


def render_record(
    record: Record | RecordRow,
    module: ModuleInfo,
    fields: tuple[str, ...] | None = None,
    dialect: Dialect = BIGIN,
) -> dict[str, Any]:
    """The record's JSON fields merged with the system fields; `fields` keeps only those named
    (plus `id`), and a named field the record lacks shows as null, as Bigin does."""
    owner = record.owner
    body: dict[str, Any] = {
        "id": None,  # first in the output; set last so a stray "id" field cannot override it
        **record.fields,
        "Owner": None
        if owner is None
        else {"name": owner.full_name, "id": str(owner.id), "email": owner.email},
        "Created_Time": bigin_time(record.created_time),
        "Modified_Time": bigin_time(record.modified_time),
    }
    if module.is_activity:
        parent = record.related_to
        body["What_Id"] = None if parent is None else {"name": parent.name, "id": str(parent.id)}
        body["$se_module"] = (
            None if parent is None else dialect.api_name(module_by_id(parent.module_id))
        )
    body["id"] = str(record.id)
    if fields is None:
        return body
    return {"id": body["id"], **{name: body.get(name) for name in fields if name != "id"}}


def render_module(module: ModuleInfo, dialect: Dialect = BIGIN) -> dict[str, Any]:
    singular, plural = dialect.labels(module)
    return {
        "api_name": dialect.api_name(module),
        "module_name": module.module_name,
        "singular_label": singular,
        "plural_label": plural,
        "id": str(module.id),
        "api_supported": True,
    }
