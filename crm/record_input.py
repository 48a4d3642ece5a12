"""The records a client writes, checked against the module's fields (crm/fields.py), once, at the
edge (api-spec.md, "Records a client writes").

`read_rows` checks each entry of a body's `data` on its own (no query): its keys name fields of
the module, its values have their field's type and length, a picklist value is one of its
values, and on an add every mandatory field is there. A row that fails carries its first error,
as Bigin reports one per record; the others go on. What needs the database (the Owner is an
active user of the organization, a lookup or What_Id names a record, a unique value is not taken)
is checked for the whole call at once by the readers below, one query each.

Every per-record error is a row of the table below, rendered in Bigin's per-record shape
`{"code", "details", "message", "status": "error"}`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from math import isfinite
from typing import Any

from django.db.models import Q
from django.db.models.fields.json import KeyTextTransform
from django.db.models.functions import Lower

from .fields import SYSTEM_FIELDS, FieldSpec
from .ids import parse_id
from .models import Organization, Record, User
from .modules import ACTIVITY_MODULE_IDS, ModuleInfo, module_by_name


@dataclass(frozen=True)
class RecordErrorKind:
    code: str
    message: str


MANDATORY_NOT_FOUND = RecordErrorKind("MANDATORY_NOT_FOUND", "required field not found")
INVALID_DATA = RecordErrorKind("INVALID_DATA", "invalid data")
INVALID_ID = RecordErrorKind("INVALID_DATA", "the id given seems to be invalid")
DUPLICATE_DATA = RecordErrorKind("DUPLICATE_DATA", "duplicate data")
OWNER_UNKNOWN = RecordErrorKind("INVALID_DATA", "the owner id given is invalid")
OWNER_DISABLED = RecordErrorKind(
    "INVALID_DATA", "The user to whom you are trying to transfer the records is not active."
)
OWNER_DELETED = RecordErrorKind(
    "INVALID_DATA",
    "The user to whom you are trying to transfer the records has closed their account.",
)
NO_PERMISSION = RecordErrorKind(
    "NO_PERMISSION", "You do not have permission to perform this operation"
)


@dataclass(frozen=True)
class RecordError:
    kind: RecordErrorKind
    details: dict[str, Any]

    def body(self) -> dict[str, Any]:
        return {
            "code": self.kind.code,
            "details": self.details,
            "message": self.kind.message,
            "status": "error",
        }


# Keys a client may send that are not written: the system fields Bigin fills itself, which a
# record read back carries (Bigin's pages suggest sending a record read back), and Zoho's `$`
# properties ($se_module goes with What_Id; our ids name the parent's module already).
IGNORED_KEYS = frozenset({"Created_Time", "Modified_Time", "Created_By", "Modified_By"})
# What a Zoho datetime looks like: 2026-11-22T10:00:00+05:30 (or Z).
_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:\d{2})$")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_INT32 = 2**31 - 1
_TEXT_TYPES = frozenset({"text", "email", "phone", "website", "textarea", "picklist"})
UNSET: Any = object()


@dataclass
class Row:
    """One entry of `data`, read. `values` are the data fields given (lookups as {"id": int} until
    `resolve_lookups` names them); `owner_id` and `parent_id` are UNSET when not given."""

    index: int
    values: dict[str, Any] = field(default_factory=dict)
    record_id: int | None = None
    owner_id: Any = UNSET
    parent_id: Any = UNSET
    lookups: dict[str, tuple[int, str]] = field(default_factory=dict)  # field -> (id, module)
    error: RecordError | None = None

    def path(self, name: str) -> str:
        return f"$.data[{self.index}].{name}"

    def fail(self, kind: RecordErrorKind, **details: Any) -> None:
        if self.error is None:
            self.error = RecordError(kind, details)


class _Invalid(Exception):
    def __init__(self, kind: RecordErrorKind = INVALID_DATA, **details: Any) -> None:
        self.kind, self.details = kind, details


def _check_value(spec: FieldSpec, value: Any) -> Any:
    """The value to store for `spec`, or _Invalid. None clears a field."""
    kind = spec.data_type
    if value is None:
        return None
    if kind in _TEXT_TYPES or kind in ("date", "datetime"):
        if not isinstance(value, str):
            raise _Invalid(expected_data_type=kind)
        if spec.length is not None and len(value) > spec.length:
            raise _Invalid(maximum_length=spec.length)
        if kind == "email" and value and not _EMAIL.match(value):
            raise _Invalid(expected_data_type=kind)
        if kind == "picklist" and spec.picklist and value not in spec.picklist:
            raise _Invalid(expected_data_type=kind)
        if kind == "date" and not _is_date(value):
            raise _Invalid(expected_data_type=kind)
        if kind == "datetime" and not _is_datetime(value):
            raise _Invalid(expected_data_type=kind)
        return value
    if kind == "integer":
        if type(value) is not int or abs(value) > _INT32:
            raise _Invalid(expected_data_type=kind)
        return value
    if kind == "bigint":
        if type(value) is int or (isinstance(value, str) and value.lstrip("-").isdigit()):
            return value
        raise _Invalid(expected_data_type=kind)
    if kind in ("double", "currency"):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not isfinite(value):
            raise _Invalid(expected_data_type=kind)
        return value
    if kind == "boolean":
        if not isinstance(value, bool):
            raise _Invalid(expected_data_type=kind)
        return value
    if kind == "lookup":
        record_id = _object_id(value)
        if record_id is None:
            raise _Invalid(expected_data_type="jsonobject")
        return {"id": record_id}
    # A custom field holding JSON objects or arrays.
    expected = dict if spec.json_type == "jsonobject" else list
    if not isinstance(value, expected):
        raise _Invalid(expected_data_type=spec.json_type)
    return value


def _is_date(value: str) -> bool:
    try:
        return bool(_DATE.match(value)) and date.fromisoformat(value) is not None
    except ValueError:
        return False


def _is_datetime(value: str) -> bool:
    try:
        return bool(_DATETIME.match(value)) and datetime.fromisoformat(value) is not None
    except ValueError:
        return False


def _object_id(value: Any) -> int | None:
    """The id of `{"id": ...}` (Zoho's lookup shape), or of a bare id."""
    if isinstance(value, dict):
        value = value.get("id")
    return parse_id(value) if value is not None else None


def _empty(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def read_rows(
    data: Sequence[Any],
    specs: Sequence[FieldSpec],
    module: ModuleInfo,
    *,
    adding: bool,
    needs_id: bool = False,
) -> list[Row]:
    """Each entry of `data` read on its own. `adding`: every mandatory field must be given.
    `needs_id`: each entry names the record it updates by `id`."""
    by_name = {spec.api_name: spec for spec in specs}
    rows = []
    for index, entry in enumerate(data):
        row = Row(index=index)
        rows.append(row)
        if not isinstance(entry, dict):
            row.fail(
                INVALID_DATA,
                expected_data_type="jsonobject",
                api_name="data",
                json_path=f"$.data[{index}]",
            )
            continue
        if needs_id:
            raw_id = entry.get("id")
            if raw_id is None:
                row.fail(MANDATORY_NOT_FOUND, api_name="id", json_path=row.path("id"))
                continue
            row.record_id = parse_id(raw_id)
            if row.record_id is None:
                row.fail(INVALID_ID, api_name="id", json_path=row.path("id"))
                continue
        _read_keys(row, entry, by_name, module)
        if row.error is None:
            check_mandatory(row, entry, specs, adding=adding)
    return rows


def _read_keys(
    row: Row, entry: dict[str, Any], by_name: dict[str, FieldSpec], module: ModuleInfo
) -> None:
    for name, value in entry.items():
        if name == "id" or name in IGNORED_KEYS or name.startswith("$"):
            continue
        if name == "Owner" or (name == "What_Id" and module.is_activity):
            # Zoho's {"id": ...}; What_Id may be null (no parent), an Owner may not.
            record_id = None if value is None and name == "What_Id" else _object_id(value)
            if record_id is None and not (value is None and name == "What_Id"):
                row.fail(
                    INVALID_DATA,
                    expected_data_type="jsonobject",
                    api_name=name,
                    json_path=row.path(name),
                )
                return
            if name == "Owner":
                row.owner_id = record_id
            else:
                row.parent_id = record_id
            continue
        spec = by_name.get(name)
        if spec is None or name in SYSTEM_FIELDS:
            row.fail(INVALID_DATA, api_name=name, json_path=row.path(name))
            return
        try:
            row.values[name] = _check_value(spec, value)
        except _Invalid as invalid:
            row.fail(invalid.kind, **invalid.details, api_name=name, json_path=row.path(name))
            return
        if spec.lookup_module is not None and row.values[name] is not None:
            row.lookups[name] = (row.values[name]["id"], spec.lookup_module)


def check_mandatory(
    row: Row, entry: dict[str, Any], specs: Sequence[FieldSpec], *, adding: bool
) -> None:
    for spec in specs:
        if not spec.mandatory:
            continue
        given = spec.api_name in entry
        if (adding and not given) or (given and _empty(entry[spec.api_name])):
            row.fail(MANDATORY_NOT_FOUND, api_name=spec.api_name, json_path=row.path(spec.api_name))
            return


# What needs the database: one query each for the whole call ---------------------------------


def owners_of(organization: Organization, rows: Iterable[Row]) -> dict[int, str]:
    """Fail each row whose Owner is not an active user of `organization`; answer the full names
    of the owners given, by id."""
    rows = list(rows)
    wanted = {row.owner_id for row in rows if row.error is None and row.owner_id is not UNSET}
    if not wanted:
        return {}
    users = User.objects.filter(organization_id=organization.id, id__in=wanted)
    statuses, names = {}, {}
    for user_id, status, full_name in users.values_list("id", "status", "full_name"):
        statuses[user_id], names[user_id] = status, full_name
    for row in rows:
        if row.error is not None or row.owner_id is UNSET:
            continue
        status = statuses.get(row.owner_id)
        details = {"api_name": "Owner", "json_path": row.path("Owner.id")}
        if status is None:
            row.fail(OWNER_UNKNOWN, **details)
        elif status == User.Status.DISABLED:
            row.fail(OWNER_DISABLED, **details, owner_status="inactive")
        elif status == User.Status.DELETED:
            row.fail(OWNER_DELETED, **details, owner_status="deleted")
    return names


def resolve_lookups(organization: Organization, rows: Iterable[Row]) -> None:
    """Name each lookup and What_Id after the record it points to, or fail the row whose id is not
    a record of the organization in the field's module (What_Id: a record that is not an
    activity)."""
    rows = [row for row in rows if row.error is None]
    wanted = {record_id for row in rows for record_id, _ in row.lookups.values()}
    wanted |= {row.parent_id for row in rows if row.parent_id not in (UNSET, None)}
    if not wanted:
        return
    found = {
        record_id: (name, module_id)
        for record_id, name, module_id in Record.objects.filter(
            organization_id=organization.id, id__in=wanted
        ).values_list("id", "name", "module_id")
    }
    for row in rows:
        for api_name, (record_id, module_name) in row.lookups.items():
            target = found.get(record_id)
            if target is None or target[1] != module_by_name(module_name).id:
                row.fail(INVALID_DATA, api_name=api_name, json_path=row.path(f"{api_name}.id"))
                break
            row.values[api_name] = {"name": target[0], "id": str(record_id)}
        if row.error is None and row.parent_id not in (UNSET, None):
            target = found.get(row.parent_id)
            if target is None or target[1] in ACTIVITY_MODULE_IDS:
                row.fail(INVALID_DATA, api_name="What_Id", json_path=row.path("What_Id.id"))


def unique_key(value: Any) -> str | None:
    """What a unique value is compared by: its text, case-insensitively (Bigin's duplicate
    check ignores case)."""
    return value.lower() if isinstance(value, str) and value else None


def unique_field_expression(api_name: str) -> Lower:
    """The indexed expression a unique or searched text field is compared by (migration 0011)."""
    return Lower(KeyTextTransform(api_name, "fields"))


def records_with_values(
    organization: Organization, module: ModuleInfo, wanted: dict[str, set[str]]
) -> list[tuple[str, str, int, str, int | None, str | None]]:
    """(field, lower-case value, record id, record name, owner id, owner name) of the records of
    `module` whose field has one of the `wanted` values (lower case), in id order. One query."""
    condition = Q()
    annotations = {}
    for number, (api_name, values) in enumerate(sorted(wanted.items())):
        if values:
            alias = f"_unique_{number}"
            annotations[alias] = unique_field_expression(api_name)
            condition |= Q(**{f"{alias}__in": sorted(values)})
    if not annotations:
        return []
    rows = (
        Record.objects.filter(organization_id=organization.id, module_id=module.id)
        .annotate(**annotations)
        .filter(condition)
        .order_by("id")
        .values_list("id", "name", "owner_id", "owner__full_name", *annotations)
    )
    names = [api_name for api_name, values in sorted(wanted.items()) if values]
    out = []
    for record_id, name, owner_id, owner_name, *keys in rows:
        for api_name, key in zip(names, keys, strict=True):
            if key in wanted[api_name]:
                out.append((api_name, key, record_id, name, owner_id, owner_name))
    return out
