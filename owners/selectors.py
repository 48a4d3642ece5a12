from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from crm.models import Organization, Record
from crm.modules import module_by_name


@dataclass(frozen=True)
class LeadsPage:
    total: int
    leads: list[dict[str, Any]]


def leads_page(
    *,
    organization: Organization,
    owner_id: int | None = None,
    unassigned: bool = False,
    owner_name: str | None = None,
    offset: int,
    limit: int,
) -> LeadsPage:
    """One page of the organization's leads (Contacts) in id order, with each owner's id and name.

    Filters combine: `owner_id` (that owner's leads), `unassigned` (leads without an owner),
    `owner_name` (owners whose full name matches, case-insensitively). Two queries: the count and
    the page, which joins the owner rather than loading users one by one.
    """
    leads = Record.objects.filter(
        organization_id=organization.id, module_id=module_by_name("Contacts").id
    )
    if owner_id is not None:
        leads = leads.filter(owner_id=owner_id)
    if unassigned:
        leads = leads.filter(owner__isnull=True)
    if owner_name is not None:
        leads = leads.filter(owner__full_name__iexact=owner_name)
    total = leads.count()
    rows = leads.order_by("id").values("id", "name", "owner_id", "owner__full_name")[
        offset : offset + limit
    ]
    return LeadsPage(
        total=total,
        leads=[
            {
                "id": str(row["id"]),
                "name": row["name"],
                "owner_id": str(row["owner_id"]) if row["owner_id"] is not None else None,
                "owner_name": row["owner__full_name"],
            }
            for row in rows
        ],
    )
