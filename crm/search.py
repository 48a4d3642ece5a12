"""Bigin's record search (`GET /{module}/search`): `criteria`, `email`, `phone` or `word`, compiled
to one condition on Record, and a page of what matches.

A criteria is Zoho's string form: one condition `(Field:operator:value)`, or conditions joined by
`and` or `or` inside parentheses, nested: `((Last_Name:equals:Burns)and(Email:starts_with:b))`.
A value escapes `(`, `)`, `,` and `\\` with a backslash; `in` and `between` take values separated
by commas. Text compares without case, as Bigin's search does. Fields are the module's (as
`/settings/fields` lists them) and the system fields `id`, `Owner`, `Created_Time` and
`Modified_Time`; a field's name reaches the database as a parameter of one key transform, never
as a lookup path. Email, Phone, Mobile and the record's name are indexed (crm/models.py): an
equality search on them reads one index range, however many records the organization has.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from math import isfinite
from typing import Any

from django.db.models import F, Q
from django.db.models.expressions import Expression
from django.db.models.fields.json import KeyTextTransform, KeyTransform
from django.db.models.functions import Lower
from django.utils.dateparse import parse_datetime

from .fields import NAME_FIELDS, FieldSpec
from .http.errors import ErrorKind
from .ids import parse_id
from .modules import ModuleInfo

MAX_CONDITIONS = 10
OPERATORS = (
    "equals",
    "not_equal",
    "starts_with",
    "in",
    "greater_than",
    "greater_equal",
    "less_than",
    "less_equal",
    "between",
)
INVALID_QUERY = ErrorKind(400, "INVALID_QUERY", "invalid query formed")
CRITERIA_LIMIT_EXCEEDED = ErrorKind(
    400, "LIMIT_EXCEEDED", "Limit Exceeded, You cannot give more than 10 criteria"
)
_TEXT = frozenset({"text", "email", "phone", "website", "textarea", "picklist", "date", "datetime"})
_NUMBER = frozenset({"integer", "bigint", "double", "currency"})
_SYSTEM = {"id": "id", "Owner": "owner_id", "Created_Time": "created_time"}
_SYSTEM |= {"Modified_Time": "modified_time"}
_LOOKUPS = {
    "equals": "exact",
    "not_equal": "exact",
    "starts_with": "startswith",
    "in": "in",
    "greater_than": "gt",
    "greater_equal": "gte",
    "less_than": "lt",
    "less_equal": "lte",
}
_ORDERED = frozenset({"greater_than", "greater_equal", "less_than", "less_equal", "between"})


_AND_OR = re.compile(r"and|or", re.IGNORECASE)


class _Syntax(Exception):
    pass


@dataclass(frozen=True)
class Condition:
    field: str
    operator: str
    values: tuple[str, ...]


@dataclass(frozen=True)
class Group:
    operator: str  # and, or
    items: tuple[Condition | Group, ...]


def parse_criteria(text: str) -> Condition | Group:
    """The criteria string as a tree, or INVALID_QUERY / CRITERIA_LIMIT_EXCEEDED."""
    try:
        node, end = _parse(text, 0)
        if end != len(text):
            raise _Syntax
    except _Syntax:
        raise INVALID_QUERY(param_name="criteria") from None
    if _count(node) > MAX_CONDITIONS:
        raise CRITERIA_LIMIT_EXCEEDED(limit=MAX_CONDITIONS, param_name="criteria")
    return node


def _count(node: Condition | Group) -> int:
    return 1 if isinstance(node, Condition) else sum(_count(item) for item in node.items)


def _parse(text: str, at: int) -> tuple[Condition | Group, int]:
    """One parenthesised node starting at `at`; the node and where it ends."""
    if at >= len(text) or text[at] != "(":
        raise _Syntax
    if text.startswith("(", at + 1):
        items, operators = [], set()
        node, at = _parse(text, at + 1)
        items.append(node)
        while at < len(text) and text[at] != ")":
            match = _AND_OR.match(text, at)
            if match is None:
                raise _Syntax
            operators.add(match.group().lower())
            node, at = _parse(text, match.end())
            items.append(node)
        if at >= len(text) or len(operators) > 1:  # unclosed, or and/or mixed at one level
            raise _Syntax
        operator = operators.pop() if operators else "and"
        return (items[0] if len(items) == 1 else Group(operator, tuple(items))), at + 1
    return _condition(text, at + 1)


def _condition(text: str, at: int) -> tuple[Condition, int]:
    """`Field:operator:value)` from `at`; the condition and where it ends."""
    field, at = _until(text, at, ":")
    operator, at = _until(text, at, ":")
    values, current, escaped = [], [], False
    while at < len(text):
        char = text[at]
        at += 1
        if escaped:
            current.append(char)
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == ",":
            values.append("".join(current))
            current = []
        elif char == ")":
            values.append("".join(current))
            if not field:
                raise _Syntax
            if operator.lower() not in OPERATORS:
                raise INVALID_QUERY(param_name="criteria", operator=operator)
            return Condition(field, operator.lower(), tuple(values)), at
        elif char == "(":
            raise _Syntax
        else:
            current.append(char)
    raise _Syntax


def _until(text: str, at: int, stop: str) -> tuple[str, int]:
    end = text.find(stop, at)
    if end < 0 or any(char in text[at:end] for char in "()"):
        raise _Syntax
    return text[at:end], end + 1


class _Compiler:
    """Turns a criteria tree into a Q over aliases `_c<n>` of one queryset (no client string in a
    lookup path)."""

    def __init__(self, module: ModuleInfo, specs: Sequence[FieldSpec]) -> None:
        self.module = module
        self.specs = {spec.api_name: spec for spec in specs}
        self.aliases: dict[str, Expression] = {}

    def compile(self, node: Condition | Group) -> Q:
        if isinstance(node, Group):
            parts = [self.compile(item) for item in node.items]
            combined = parts[0]
            for part in parts[1:]:
                combined = combined & part if node.operator == "and" else combined | part
            return combined
        return self._condition(node)

    def _alias(self, expression: Expression) -> str:
        name = f"_c{len(self.aliases)}"
        self.aliases[name] = expression
        return name

    def _condition(self, condition: Condition) -> Q:
        operator, values = condition.operator, condition.values
        if operator in ("in", "between") and (operator == "in" or len(values) == 2):
            pass
        elif len(values) != 1:
            raise INVALID_QUERY(param_name="criteria", api_name=condition.field)
        if condition.field in _SYSTEM:
            expression, values = self._system(condition)
        else:
            expression, values = self._data(condition)
        alias = self._alias(expression)
        if (
            operator == "between"
        ):  # both ends included, as two comparisons (JSON keys have no range)
            low, high = sorted(values)
            return Q(**{f"{alias}__gte": low, f"{alias}__lte": high})
        value: Any = list(values) if operator == "in" else values[0]
        q = Q(**{f"{alias}__{_LOOKUPS[operator]}": value})
        return ~q if operator == "not_equal" else q

    def _invalid(self, condition: Condition, expected: str) -> Exception:
        return INVALID_QUERY(
            param_name="criteria", api_name=condition.field, expected_data_type=expected
        )

    def _system(self, condition: Condition) -> tuple[Expression, tuple[Any, ...]]:
        column = _SYSTEM[condition.field]
        if column in ("id", "owner_id"):
            ids = tuple(parse_id(value) for value in condition.values)
            if None in ids or condition.operator == "starts_with":
                raise self._invalid(condition, "long")
            return _column(column), ids
        times = tuple(_datetime(value) for value in condition.values)
        if None in times or condition.operator == "starts_with":
            raise self._invalid(condition, "datetime")
        return _column(column), times

    def _data(self, condition: Condition) -> tuple[Expression, tuple[Any, ...]]:
        spec = self.specs.get(condition.field)
        if spec is None:
            raise INVALID_QUERY(param_name="criteria", api_name=condition.field)
        if spec.data_type in _TEXT and spec.json_type == "string":
            return self._text(spec), tuple(value.lower() for value in condition.values)
        if condition.operator == "starts_with":
            raise self._invalid(condition, spec.data_type)
        if spec.data_type in _NUMBER:
            numbers = tuple(_number(value) for value in condition.values)
            if None in numbers:
                raise self._invalid(condition, spec.data_type)
            return KeyTransform(spec.api_name, "fields"), numbers
        if spec.data_type == "boolean" and condition.operator in ("equals", "not_equal"):
            flags = {"true": True, "false": False}
            if condition.values[0].lower() not in flags:
                raise self._invalid(condition, "boolean")
            return KeyTransform(spec.api_name, "fields"), (flags[condition.values[0].lower()],)
        if spec.data_type == "lookup" and condition.operator in ("equals", "not_equal", "in"):
            ids = tuple(parse_id(value) for value in condition.values)
            if None in ids:
                raise self._invalid(condition, "long")
            expression = KeyTextTransform("id", KeyTransform(spec.api_name, "fields"))
            return expression, tuple(str(record_id) for record_id in ids)
        raise self._invalid(condition, spec.data_type)

    def _text(self, spec: FieldSpec) -> Expression:
        # A module whose name is one field (Accounts' Account_Name, ...) compares its name
        # column, which is indexed.
        if NAME_FIELDS[self.module.api_name] == (spec.api_name,):
            return Lower("name")
        return text_expression(spec.api_name)


def text_expression(api_name: str) -> Expression:
    """How a text field is compared: lower case, as the search indexes hold it."""
    return Lower(KeyTextTransform(api_name, "fields"))


def _column(name: str) -> Expression:
    return F(name)


def _number(value: str) -> float | int | None:
    try:
        number = int(value) if re.fullmatch(r"-?\d{1,18}", value) else float(value)
    except ValueError:
        return None
    return number if isfinite(number) else None


def _datetime(value: str) -> datetime | None:
    try:
        parsed = parse_datetime(value)
    except ValueError:
        return None
    return parsed if parsed is not None and parsed.tzinfo is not None else None


# The four ways to search -------------------------------------------------------------------


def criteria_condition(
    text: str, module: ModuleInfo, specs: Sequence[FieldSpec]
) -> tuple[Q, dict[str, Expression]]:
    """(condition, the aliases it names) of a criteria string."""
    compiler = _Compiler(module, specs)
    condition = compiler.compile(parse_criteria(text))
    return condition, compiler.aliases


def typed_condition(
    value: str, data_types: frozenset[str], specs: Sequence[FieldSpec]
) -> tuple[Q, dict[str, Expression]]:
    """`email=` or `phone=`: equal, without case, to any field of these types."""
    aliases, condition = {}, Q(pk__in=[])
    for number, spec in enumerate(spec for spec in specs if spec.data_type in data_types):
        alias = f"_t{number}"
        aliases[alias] = text_expression(spec.api_name)
        condition |= Q(**{alias: value.lower()})
    return condition, aliases


def word_condition(word: str, specs: Sequence[FieldSpec]) -> tuple[Q, dict[str, Expression]]:
    """`word=`: the record's name or any text field contains it, without case."""
    aliases: dict[str, Expression] = {}
    condition = Q(name__icontains=word)
    texts = [spec for spec in specs if spec.data_type in _TEXT and spec.json_type == "string"]
    for number, spec in enumerate(texts):
        alias = f"_w{number}"
        aliases[alias] = KeyTextTransform(spec.api_name, "fields")
        condition |= Q(**{f"{alias}__icontains": word})
    return condition, aliases
