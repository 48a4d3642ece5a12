"""What a client reads around change owner: the organization, and each module's fields and
layout (api-spec.md, "Metadata a client reads around change owner").

Fields are the module's data fields (crm/fields.py: Bigin's standard fields, then the custom
ones its records carry, typed from their values) plus the system fields every record has. A
value we cannot fill truthfully is null.
"""

from __future__ import annotations

import hashlib
from typing import Any

from django.conf import settings

from .fields import FieldSpec, module_field_specs
from .http.dialects import Dialect
from .models import Organization, User
from .modules import ModuleInfo, module_by_name
from .representations import bigin_time


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


def _field(
    dialect: Dialect,
    module: ModuleInfo,
    api_name: str,
    label: str,
    data_type: str,
    json_type: str,
    *,
    read_only: bool = True,
    mandatory: bool = False,
    custom_field: bool = False,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    return {
        "api_name": api_name,
        "field_label": label,
        "display_label": label,
        "data_type": data_type,
        "json_type": json_type,
        "id": stable_id(module.api_name, api_name),
        "read_only": read_only,
        "system_mandatory": mandatory,
        "custom_field": custom_field,
        "visible": True,
        **(extra or {}),
    }


def _data_field(dialect: Dialect, module: ModuleInfo, spec: FieldSpec) -> dict[str, Any]:
    """A field a client writes: its length, picklist and lookup module where it has them."""
    extra: dict[str, Any] = {}
    if spec.length is not None:
        extra["length"] = spec.length
    if spec.picklist:
        extra["pick_list_values"] = [
            {
                "display_value": value,
                "actual_value": value,
                "id": stable_id(module.api_name, spec.api_name, value),
                "sequence_number": number,
            }
            for number, value in enumerate(spec.picklist, start=1)
        ]
    if spec.lookup_module is not None:
        target = module_by_name(spec.lookup_module)
        extra["lookup"] = {"module": {"api_name": dialect.api_name(target), "id": str(target.id)}}
    return _field(
        dialect,
        module,
        spec.api_name,
        _label(spec.api_name),
        spec.data_type,
        spec.json_type,
        read_only=False,
        mandatory=spec.mandatory,
        custom_field=spec.custom,
        extra=extra,
    )


def data_field_names(organization: Organization, module: ModuleInfo) -> frozenset[str]:
    """The api_names of the module's data fields, exactly those `module_fields` lists (the
    criteria of a mass change may name no other, owners/transfers/criteria.py). One query."""
    return frozenset(spec.api_name for spec in module_field_specs(organization, module))


def module_fields(
    organization: Organization, module: ModuleInfo, dialect: Dialect
) -> list[dict[str, Any]]:
    """The module's fields: its data fields (crm/fields.py: the standard ones, then the custom
    ones its records carry), then the system ones."""
    singular, _ = dialect.labels(module)
    out = [_data_field(dialect, module, spec) for spec in module_field_specs(organization, module)]
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
                read_only=False,
                extra={"lookup": {"module": {"api_name": "se_module", "id": None}}},
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
