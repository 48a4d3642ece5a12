"""What a client reads around change owner: the organization, and each module's fields and
layout (api-spec.md, "Metadata a client reads around change owner").

Fields come from the data: the JSON field names the module's records carry (sampled from its
first records by id, on the (organization, module, id) index) with a data type read off their
values, plus the system fields every record has. A value we cannot fill truthfully is null.
"""

from __future__ import annotations

import hashlib
from typing import Any

from django.conf import settings

from .http.dialects import Dialect
from .models import Organization, Record, User
from .modules import ModuleInfo
from .representations import bigin_time

# Records read to learn a module's field names: sandbox data gives every record of a module the
# same fields, so the first records by id are enough, and reading them costs one index range scan.
FIELD_SAMPLE_RECORDS = 200

_INT32_MAX = 2**31 - 1


def stable_id(*parts: str) -> str:
    """A 19-digit id that is the same for the same parts on every run (fields and layouts have
    no rows of their own)."""
    digest = hashlib.sha256("/".join(parts).encode()).digest()
    return str(10**18 + int.from_bytes(digest[:8], "big") % (9 * 10**18 - 1))


def render_org(organization: Organization) -> dict[str, Any]:
    """Zoho's org object for the caller's organization; what we don't model is null."""
    users = User.objects.filter(organization=organization)
    primary = (
        users.filter(profile__name="Administrator", status=User.Status.ACTIVE)
        .order_by("created_time", "id")
        .values_list("email", flat=True)
        .first()
    )
    return {
        "id": str(organization.id),
        "company_name": organization.name,
        "alias": None,
        "primary_email": primary,
        "primary_zuid": None,
        "zgid": str(organization.id),
        "time_zone": settings.TIME_ZONE,
        "currency": None,
        "currency_symbol": None,
        "currency_locale": None,
        "iso_code": None,
        "country": None,
        "country_code": None,
        "city": None,
        "state": None,
        "street": None,
        "zip": None,
        "phone": None,
        "mobile": None,
        "fax": None,
        "website": None,
        "description": None,
        "photo_id": None,
        "employee_count": str(users.filter(status=User.Status.ACTIVE).count()),
        "mc_status": False,
        "gapps_enabled": False,
        "privacy_settings": False,
        "license_details": None,
        "created_time": bigin_time(organization.created_time),
    }


def _label(api_name: str) -> str:
    return api_name.replace("_", " ").strip()


def _data_type(api_name: str, values: list[Any]) -> tuple[str, str]:
    """(data_type, json_type) of a data field, from its name and the values seen."""
    present = [value for value in values if value is not None]
    if present and all(isinstance(value, bool) for value in present):
        return "boolean", "boolean"
    if present and all(isinstance(value, int) and not isinstance(value, bool) for value in present):
        if all(abs(value) <= _INT32_MAX for value in present):
            return "integer", "integer"
        return "bigint", "string"
    if present and all(
        isinstance(value, (int, float)) and not isinstance(value, bool) for value in present
    ):
        return "double", "double"
    if present and all(isinstance(value, (dict, list)) for value in present):
        return "text", "jsonobject" if isinstance(present[0], dict) else "jsonarray"
    lower = api_name.lower()
    if "email" in lower:
        return "email", "string"
    if "phone" in lower or "mobile" in lower:
        return "phone", "string"
    if "website" in lower:
        return "website", "string"
    return "text", "string"


def _field(
    dialect: Dialect,
    module: ModuleInfo,
    api_name: str,
    label: str,
    data_type: str,
    json_type: str,
    *,
    read_only: bool = True,
    custom_field: bool = False,
    lookup: dict[str, Any] | None = None,
) -> dict[str, Any]:
    field = {
        "api_name": api_name,
        "field_label": label,
        "display_label": label,
        "data_type": data_type,
        "json_type": json_type,
        "id": stable_id(module.api_name, api_name),
        # Through this API only the owner of a record can be changed.
        "read_only": read_only,
        "system_mandatory": False,
        "custom_field": custom_field,
        "visible": True,
    }
    if lookup is not None:
        field["lookup"] = lookup
    return field


# Fields every record has (columns, not keys of its fields JSON); What_Id and $se_module only
# an activity's.
SYSTEM_FIELDS = frozenset(
    {"id", "Owner", "Created_Time", "Modified_Time", "Modified_By", "What_Id", "$se_module"}
)


def _data_fields(organization: Organization, module: ModuleInfo) -> dict[str, list[Any]]:
    """The values seen of each data field of the module's records, by api_name."""
    samples = (
        Record.objects.filter(organization=organization, module_id=module.id)
        .order_by("id")
        .values_list("fields", flat=True)[:FIELD_SAMPLE_RECORDS]
    )
    seen: dict[str, list[Any]] = {}
    for fields in samples:
        for name, value in (fields or {}).items():
            if name not in SYSTEM_FIELDS:
                seen.setdefault(name, []).append(value)
    return seen


def data_field_names(organization: Organization, module: ModuleInfo) -> frozenset[str]:
    """The api_names of the module's data fields, exactly those `module_fields` lists (the
    criteria of a mass change may name no other, owners/transfers/criteria.py). One query."""
    return frozenset(_data_fields(organization, module))


def module_fields(
    organization: Organization, module: ModuleInfo, dialect: Dialect
) -> list[dict[str, Any]]:
    """The module's fields: its records' data fields by name (PostgreSQL's jsonb keeps no key
    order), then the system ones."""
    seen = _data_fields(organization, module)
    singular, _ = dialect.labels(module)
    out = [
        _field(dialect, module, name, _label(name), *_data_type(name, values), custom_field=True)
        for name, values in sorted(seen.items())
    ]
    out += [
        _field(
            dialect,
            module,
            "Owner",
            f"{singular} Owner",
            "ownerlookup",
            "jsonobject",
            read_only=False,
        ),
        _field(dialect, module, "Created_Time", "Created Time", "datetime", "string"),
        _field(dialect, module, "Modified_Time", "Modified Time", "datetime", "string"),
        _field(dialect, module, "Modified_By", "Modified By", "ownerlookup", "jsonobject"),
    ]
    if module.is_activity:
        out += [
            # The parent may be a record of several modules: Zoho's "se_module" lookup.
            _field(
                dialect,
                module,
                "What_Id",
                "Related To",
                "lookup",
                "jsonobject",
                lookup={"module": {"api_name": "se_module", "id": None}},
            ),
            _field(dialect, module, "$se_module", "Related Module", "text", "string"),
        ]
    return out


def module_layouts(
    organization: Organization, module: ModuleInfo, dialect: Dialect
) -> list[dict[str, Any]]:
    """One standard layout per module, with one section holding every field."""
    singular, _ = dialect.labels(module)
    section = f"{singular} Information"
    return [
        {
            "id": stable_id(module.api_name, "layout", "Standard"),
            "name": "Standard",
            "api_name": "Standard",
            "display_label": "Standard",
            "status": "active",
            "visible": True,
            "generated_type": "default",
            "sections": [
                {
                    "api_name": section,
                    "name": section,
                    "display_label": section,
                    "sequence_number": 1,
                    "column_count": 2,
                    "fields": module_fields(organization, module, dialect),
                }
            ],
        }
    ]
