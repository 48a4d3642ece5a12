"""Zoho CRM's criteria object, validated once at the edge and compiled to one SQL condition.

A criteria is one condition `{"field": {"api_name"}, "comparator", "value"}` or a group
`{"group_operator": "and" | "or", "group": [...]}`, nested. `parse_criteria` checks it and
answers every mistake as an `ApiError` naming its `json_path`; it returns the criteria in a
normal form (ids as strings), which the job row stores. `criteria_condition` turns that normal
form into a Django `Q` over `Record`: the database evaluates it, in the same statement that
selects (and locks) a chunk, so a record moves only if it matches when its chunk runs.

Fields name fields, never code: a criteria may name the system fields `Owner` (value `{"id"}`),
`id`, `Created_Time`, `Modified_Time`, `What_Id` (an activity's parent, value `{"id"}` or an id;
activity modules only), each a column of Record, or a data field of the job's module as
`GET /settings/fields` lists it (`crm.metadata.data_field_names`: one key of the record's fields
JSON). Any other name answers `INVALID_DATA {"api_name": <the name>, "json_path"}`; so does a
field of the module that no criteria can name (`Modified_By`, `$se_module`). The key of a data
field reaches the database as a parameter of one `KeyTransform`, never as a lookup path, so even
a name that got past the parser (`Mailing_State__regex`) could only be a key that matches nothing.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from django.db.models import ExpressionWrapper, F, JSONField, Q
from django.db.models.fields.json import KeyTransform
from django.utils.dateparse import parse_datetime

from crm.http.errors import ErrorKind
from crm.ids import parse_id
from crm.metadata import data_field_names
from crm.models import Organization
from crm.modules import ModuleInfo

MAX_CONDITIONS = 25
MAX_DEPTH = 5

MANDATORY_NOT_FOUND = ErrorKind(400, "MANDATORY_NOT_FOUND", "required field not found")
INVALID_TYPE = ErrorKind(400, "INVALID_DATA", "invalid data")
CRITERIA_LIMIT_EXCEEDED = ErrorKind(
    400, "LIMIT_EXCEEDED", "Limit Exceeded, You cannot give more than 25 criteria"
)
DEPTH_LIMIT_EXCEEDED = ErrorKind(
    400, "LIMIT_EXCEEDED", "Limit Exceeded, You cannot nest criteria more than 5 levels deep"
)

COMPARATORS = (
    "equal",
    "not_equal",
    "in",
    "not_in",
    "starts_with",
    "greater_than",
    "less_than",
    "between",
)
GROUP_OPERATORS = ("and", "or")
# The system fields a criteria may name, each a column of Record (What_Id: activities only).
ID_FIELDS = {"Owner": "owner_id", "id": "id", "What_Id": "related_to_id"}
TIME_FIELDS = {"Created_Time": "created_time", "Modified_Time": "modified_time"}
ACTIVITY_FIELDS = {"What_Id"}
# A field api_name as Zoho spells them: letters, digits, underscores, `$` (e.g. `$se_module`).
# Checked before the module's fields are read: a name that cannot be one costs no query.
FIELD_NAME = re.compile(r"^[A-Za-z$][A-Za-z0-9_$]{0,99}$")
LIST_COMPARATORS = ("in", "not_in")
ORDER_COMPARATORS = ("greater_than", "less_than", "between")


def _invalid(path: str, api_name: str, **extra: Any):
    return INVALID_TYPE(api_name=api_name, json_path=path, **extra)


class _FieldNames:
    """The names a criteria may use for a job over `modules`: a field of each of them. The data
    fields are read (one query per module) only when a name is not a system field."""

    def __init__(self, organization: Organization, modules: Sequence[ModuleInfo]) -> None:
        self.organization = organization
        self.modules = modules
        self._data: frozenset[str] | None = None

    def __contains__(self, api_name: str) -> bool:
        if api_name in ID_FIELDS or api_name in TIME_FIELDS:
            return api_name not in ACTIVITY_FIELDS or all(m.is_activity for m in self.modules)
        if self._data is None:
            names = [data_field_names(self.organization, module) for module in self.modules]
            self._data = frozenset.intersection(*names) if names else frozenset()
        return api_name in self._data


def parse_criteria(
    value: Any,
    *,
    organization: Organization,
    modules: Sequence[ModuleInfo],
    path: str = "$.criteria",
) -> dict[str, Any]:
    """The criteria in normal form, or an ApiError naming the first mistake's json_path. Every
    field it names must be a field of each of `modules` (the modules of the job it selects for),
    as `GET /settings/fields` lists them for `organization`, or a system field."""
    count = [0]
    fields = _FieldNames(organization, modules)
    return _parse_node(value, path, depth=1, count=count, fields=fields)


def _parse_node(
    node: Any, path: str, *, depth: int, count: list[int], fields: _FieldNames
) -> dict[str, Any]:
    if not isinstance(node, dict):
        raise _invalid(path, "criteria", expected_data_type="jsonobject")
    if depth > MAX_DEPTH:
        raise DEPTH_LIMIT_EXCEEDED(limit=MAX_DEPTH, api_name="group", json_path=path)
    if "group" in node or "group_operator" in node:
        return _parse_group(node, path, depth=depth, count=count, fields=fields)
    count[0] += 1
    if count[0] > MAX_CONDITIONS:
        raise CRITERIA_LIMIT_EXCEEDED(limit=MAX_CONDITIONS, api_name="criteria", json_path=path)
    return _parse_condition(node, path, fields=fields)


def _parse_group(
    node: dict, path: str, *, depth: int, count: list[int], fields: _FieldNames
) -> dict[str, Any]:
    operator = node.get("group_operator")
    if operator is None:
        raise MANDATORY_NOT_FOUND(api_name="group_operator", json_path=f"{path}.group_operator")
    if not isinstance(operator, str) or operator.lower() not in GROUP_OPERATORS:
        raise _invalid(f"{path}.group_operator", "group_operator")
    group = node.get("group")
    if group is None or group == []:
        raise MANDATORY_NOT_FOUND(api_name="group", json_path=f"{path}.group")
    if not isinstance(group, list):
        raise _invalid(f"{path}.group", "group", expected_data_type="jsonarray")
    return {
        "group_operator": operator.lower(),
        "group": [
            _parse_node(item, f"{path}.group[{index}]", depth=depth + 1, count=count, fields=fields)
            for index, item in enumerate(group)
        ],
    }


def _parse_condition(node: dict, path: str, *, fields: _FieldNames) -> dict[str, Any]:
    field = node.get("field")
    if field is None:
        raise MANDATORY_NOT_FOUND(api_name="field", json_path=f"{path}.field")
    if not isinstance(field, dict) or field.get("api_name") is None:
        raise MANDATORY_NOT_FOUND(api_name="api_name", json_path=f"{path}.field.api_name")
    api_name = field["api_name"]
    if not isinstance(api_name, str):
        raise _invalid(f"{path}.field.api_name", "api_name")
    if not FIELD_NAME.match(api_name) or api_name not in fields:
        raise _invalid(f"{path}.field.api_name", api_name)
    comparator = node.get("comparator")
    if comparator is None:
        raise MANDATORY_NOT_FOUND(api_name="comparator", json_path=f"{path}.comparator")
    if not isinstance(comparator, str) or comparator not in COMPARATORS:
        raise _invalid(f"{path}.comparator", "comparator")
    if "value" not in node:
        raise MANDATORY_NOT_FOUND(api_name="value", json_path=f"{path}.value")
    value = _parse_value(api_name, comparator, node["value"], f"{path}.value")
    return {"field": {"api_name": api_name}, "comparator": comparator, "value": value}


def _parse_value(api_name: str, comparator: str, value: Any, path: str) -> Any:
    if comparator in LIST_COMPARATORS or comparator == "between":
        if not isinstance(value, list) or not value:
            raise _invalid(path, "value", expected_data_type="jsonarray")
        if comparator == "between" and len(value) != 2:
            raise _invalid(path, "value", expected_data_type="jsonarray")
        return [
            _parse_scalar(api_name, comparator, item, f"{path}[{index}]")
            for index, item in enumerate(value)
        ]
    return _parse_scalar(api_name, comparator, value, path)


def _parse_scalar(api_name: str, comparator: str, value: Any, path: str) -> Any:
    if api_name in ID_FIELDS:
        if comparator == "starts_with":
            raise _invalid(path.rsplit(".value", 1)[0] + ".comparator", "comparator")
        raw = value.get("id") if isinstance(value, dict) else value
        record_id = parse_id(raw)
        if record_id is None:
            raise _invalid(path, "value", expected_data_type="long")
        return {"id": str(record_id)} if api_name != "id" else str(record_id)
    if api_name in TIME_FIELDS:
        moment = parse_datetime(value) if isinstance(value, str) else None
        if moment is None or moment.tzinfo is None:
            raise _invalid(path, "value", expected_data_type="datetime")
        return moment.isoformat()
    if comparator == "starts_with":
        if not isinstance(value, str) or not value:
            raise _invalid(path, "value", expected_data_type="string")
        return value
    if isinstance(value, bool) or value is None or isinstance(value, (int, float, str)):
        return value
    raise _invalid(path, "value", expected_data_type="string")


def criteria_condition(criteria: dict[str, Any]) -> Q:
    """The normal-form criteria (from `parse_criteria`) as one Q over Record."""
    if "group" in criteria:
        conditions = [criteria_condition(item) for item in criteria["group"]]
        combined = conditions[0]
        for condition in conditions[1:]:
            combined = (
                combined & condition
                if criteria["group_operator"] == "and"
                else (combined | condition)
            )
        return combined
    return _condition(criteria["field"]["api_name"], criteria["comparator"], criteria["value"])


def _value(api_name: str, value: Any) -> Any:
    if api_name in ID_FIELDS:
        return int(value["id"] if isinstance(value, dict) else value)
    if api_name in TIME_FIELDS:
        return datetime.fromisoformat(value)
    return value


def _lookup(api_name: str, lookup: str, value: Any) -> Q:
    """One lookup on the field. A system field is a column named by this module; a data field
    is one key of Record.fields, its name a parameter of a KeyTransform: a name is never parsed
    as a lookup path, whatever `__` it holds."""
    column = ID_FIELDS.get(api_name) or TIME_FIELDS.get(api_name)
    if column is not None:
        return Q(**{f"{column}__{lookup}": value})
    # Record.fields typed as JSON, so that the lookup prepares its value as JSON, exactly as
    # `fields__<key>=value` would (the same SQL and parameters).
    key = KeyTransform(api_name, ExpressionWrapper(F("fields"), output_field=JSONField()))
    return Q(key.get_lookup(lookup)(key, value))


def _condition(api_name: str, comparator: str, value: Any) -> Q:
    if comparator in LIST_COMPARATORS or comparator == "between":
        values = [_value(api_name, item) for item in value]
    else:
        single = _value(api_name, value)
    match comparator:
        case "equal":
            return _lookup(api_name, "exact", single)
        case "not_equal":
            # A record without the field (NULL) differs from the value too.
            return ~_lookup(api_name, "exact", single) | _lookup(api_name, "isnull", True)
        case "in":
            return _lookup(api_name, "in", values)
        case "not_in":
            return ~_lookup(api_name, "in", values) | _lookup(api_name, "isnull", True)
        case "starts_with":
            return _lookup(api_name, "startswith", single)
        case "greater_than":
            return _lookup(api_name, "gt", single)
        case "less_than":
            return _lookup(api_name, "lt", single)
        case "between":
            return _lookup(api_name, "gte", values[0]) & _lookup(api_name, "lte", values[1])
    raise ValueError(comparator)  # parse_criteria lets no other comparator through


def owner_ids_in(criteria: dict[str, Any] | None) -> set[int]:
    """The owner ids an `Owner equal` condition at the top of the criteria pins (for messages
    and the digest: whose records these were)."""
    if not criteria:
        return set()
    nodes = criteria["group"] if criteria.get("group_operator") == "and" else [criteria]
    return {
        int(node["value"]["id"])
        for node in nodes
        if "field" in node
        and node["field"]["api_name"] == "Owner"
        and node["comparator"] == "equal"
    }
