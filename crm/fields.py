"""The fields of each module: Bigin's standard ones, and the custom ones the data carries.

A module's fields are its standard fields (below: Bigin's, with their types, lengths, mandatory
flags and picklists), then every other key its records' fields JSON carries (a sandbox file's
custom fields, typed from the values seen). `GET /settings/fields` renders them
(crm/metadata.py), the record writes check a client's rows against them (crm/record_input.py),
and a mass change's criteria may name them (owners/transfers/criteria.py).

Only the standard fields a client commonly writes are listed, not every field of Bigin's layouts:
a field we do not list is simply not a field here (a write naming it answers INVALID_DATA).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .models import Organization, Record
from .modules import ModuleInfo

# Records read to learn a module's custom fields: sandbox data gives every record of a module the
# same fields, so the first records by id are enough, and reading them costs one index range scan.
FIELD_SAMPLE_RECORDS = 200

# Fields every record has (columns, not keys of its fields JSON); What_Id and $se_module only
# an activity's.
SYSTEM_FIELDS = frozenset(
    {"id", "Owner", "Created_Time", "Modified_Time", "Modified_By", "What_Id", "$se_module"}
)

_INT32_MAX = 2**31 - 1
# Zoho's lengths where a type has one default.
TEXT, EMAIL, PHONE, WEBSITE, TEXTAREA = 255, 100, 30, 255, 32_000


@dataclass(frozen=True)
class FieldSpec:
    api_name: str
    data_type: str  # Zoho's: text, email, phone, website, textarea, integer, bigint, double,
    # currency, boolean, date, datetime, picklist, lookup
    json_type: str  # string, integer, double, boolean, jsonobject, jsonarray
    length: int | None = None  # the longest text accepted
    mandatory: bool = False
    # Bigin checks these for duplicates on every add (DUPLICATE_DATA), and upsert matches on
    # them when the body names no duplicate_check_fields.
    unique: bool = False
    picklist: tuple[str, ...] = ()
    lookup_module: str | None = None  # a lookup's module (our api_name)
    custom: bool = False


def _text(api_name: str, length: int = TEXT, **flags: Any) -> FieldSpec:
    return FieldSpec(api_name, "text", "string", length=length, **flags)


def _kind(api_name: str, data_type: str, **flags: Any) -> FieldSpec:
    json_type, length = {
        "email": ("string", EMAIL),
        "phone": ("string", PHONE),
        "website": ("string", WEBSITE),
        "textarea": ("string", TEXTAREA),
        "integer": ("integer", None),
        "currency": ("double", None),
        "double": ("double", None),
        "boolean": ("boolean", None),
        "date": ("string", None),
        "datetime": ("string", None),
        "picklist": ("string", None),
        "lookup": ("jsonobject", None),
    }[data_type]
    return FieldSpec(api_name, data_type, json_type, length=length, **flags)


def _address(prefix: str, code: str) -> tuple[FieldSpec, ...]:
    parts = (("Street", 250), ("City", 100), ("State", 100), (code, 30), ("Country", 100))
    return tuple(_text(f"{prefix}_{part}", length) for part, length in parts)


TASK_STATUSES = ("Not Started", "Deferred", "In Progress", "Completed", "Waiting for input")
PRIORITIES = ("High", "Highest", "Low", "Lowest", "Normal")
CALL_TYPES = ("Outbound", "Inbound", "Missed")

STANDARD_FIELDS: dict[str, tuple[FieldSpec, ...]] = {
    "Contacts": (
        _text("First_Name", 40),
        _text("Last_Name", 80, mandatory=True),
        _kind("Email", "email", unique=True),
        _kind("Phone", "phone"),
        _kind("Mobile", "phone"),
        _text("Title", 100),
        _kind("Account_Name", "lookup", lookup_module="Accounts"),
        _kind("Email_Opt_Out", "boolean"),
        *_address("Mailing", "Zip"),
        _kind("Description", "textarea"),
    ),
    "Accounts": (
        _text("Account_Name", 100, mandatory=True, unique=True),
        _kind("Phone", "phone"),
        _kind("Website", "website"),
        *_address("Billing", "Code"),
        _kind("Description", "textarea"),
    ),
    "Pipelines": (
        _text("Deal_Name", 120, mandatory=True),
        _text("Stage", 120, mandatory=True),
        _kind("Amount", "currency"),
        _kind("Closing_Date", "date"),
        _kind("Account_Name", "lookup", lookup_module="Accounts"),
        _kind("Contact_Name", "lookup", lookup_module="Contacts"),
        _kind("Description", "textarea"),
    ),
    "Products": (
        _text("Product_Name", 120, mandatory=True, unique=True),
        _text("Product_Code", 40),
        _kind("Unit_Price", "currency"),
        _kind("Product_Active", "boolean"),
        _kind("Description", "textarea"),
    ),
    "Tasks": (
        _text("Subject", mandatory=True),
        _kind("Due_Date", "date"),
        _kind("Status", "picklist", picklist=TASK_STATUSES),
        _kind("Priority", "picklist", picklist=PRIORITIES),
        _kind("Description", "textarea"),
    ),
    "Events": (
        _text("Event_Title", mandatory=True),
        _kind("Start_DateTime", "datetime", mandatory=True),
        _kind("End_DateTime", "datetime", mandatory=True),
        _text("Venue"),
        _kind("Description", "textarea"),
    ),
    "Calls": (
        _text("Subject", mandatory=True),
        _kind("Call_Type", "picklist", mandatory=True, picklist=CALL_TYPES),
        _kind("Call_Start_Time", "datetime", mandatory=True),
        _text("Call_Duration", 10),
        _kind("Description", "textarea"),
    ),
}

# The record's `name` column (what a lookup to it and What_Id show) from its fields: the first
# of these that is set, or for Contacts the first and last name joined.
NAME_FIELDS: dict[str, tuple[str, ...]] = {
    "Contacts": ("First_Name", "Last_Name"),
    "Accounts": ("Account_Name",),
    "Pipelines": ("Deal_Name",),
    "Products": ("Product_Name",),
    "Tasks": ("Subject",),
    "Events": ("Event_Title",),
    "Calls": ("Subject",),
}


def record_name(module: ModuleInfo, fields: dict[str, Any]) -> str:
    """The `name` of a record of `module` with these fields."""
    parts = [fields.get(name) for name in NAME_FIELDS[module.api_name]]
    return " ".join(str(part) for part in parts if isinstance(part, str) and part).strip()[:255]


def _custom_type(api_name: str, values: list[Any]) -> FieldSpec:
    """A custom field's spec, typed from its name and the values seen."""
    present = [value for value in values if value is not None]

    def spec(data_type: str, json_type: str, length: int | None = None) -> FieldSpec:
        return FieldSpec(api_name, data_type, json_type, length=length, custom=True)

    if present and all(isinstance(value, bool) for value in present):
        return spec("boolean", "boolean")
    if present and all(isinstance(value, int) and not isinstance(value, bool) for value in present):
        if all(abs(value) <= _INT32_MAX for value in present):
            return spec("integer", "integer")
        return spec("bigint", "string")
    if present and all(
        isinstance(value, (int, float)) and not isinstance(value, bool) for value in present
    ):
        return spec("double", "double")
    if present and all(isinstance(value, (dict, list)) for value in present):
        return spec("text", "jsonobject" if isinstance(present[0], dict) else "jsonarray")
    lower = api_name.lower()
    if "email" in lower:
        return spec("email", "string", EMAIL)
    if "phone" in lower or "mobile" in lower:
        return spec("phone", "string", PHONE)
    if "website" in lower:
        return spec("website", "string", WEBSITE)
    return spec("text", "string")


def module_field_specs(organization: Organization, module: ModuleInfo) -> list[FieldSpec]:
    """The module's data fields: the standard ones in Bigin's order, then the custom ones its
    records carry, by name (PostgreSQL's jsonb keeps no key order). One query."""
    standard = STANDARD_FIELDS[module.api_name]
    known = {spec.api_name for spec in standard} | SYSTEM_FIELDS
    samples = (
        Record.objects.filter(organization_id=organization.id, module_id=module.id)
        .order_by("id")
        .values_list("fields", flat=True)[:FIELD_SAMPLE_RECORDS]
    )
    seen: dict[str, list[Any]] = {}
    for fields in samples:
        for name, value in (fields or {}).items():
            if name not in known:
                seen.setdefault(name, []).append(value)
    return [*standard, *(_custom_type(name, values) for name, values in sorted(seen.items()))]
