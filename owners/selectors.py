from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db.models import Count, Min

from audit.models import AuditEntry
from crm.models import Organization, Record, User
from crm.modules import ModuleInfo, module_by_id, module_by_name

from .models import OwnerJob


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


# The batch page lists this many of the changed records, then links the audit list for the rest.
BATCH_SAMPLE_SIZE = 50


@dataclass(frozen=True)
class OwnerMove:
    """`count` records of `module` went from `previous_owner` to `new_owner` through `source`."""

    module: ModuleInfo
    source: str
    previous_owner: User | None
    new_owner: User | None
    actor: User | None
    count: int

    @property
    def source_label(self) -> str:
        return AuditEntry.Source(self.source).label


@dataclass(frozen=True)
class BatchOverview:
    batch_id: uuid.UUID
    organization_id: int
    first_time: datetime | None
    moves: list[OwnerMove]
    jobs: list[OwnerJob]
    sample: list[AuditEntry]
    users: dict[int, User]

    def user(self, user_id: int | str | None) -> User | None:
        return self.users.get(int(user_id)) if user_id else None

    @property
    def changed_count(self) -> int:
        return sum(move.count for move in self.moves)

    @property
    def related_count(self) -> int:
        """Activities that followed their parent (the related transfer of a request)."""
        return sum(m.count for m in self.moves if m.source == AuditEntry.Source.RELATED_TRANSFER)

    @property
    def direct_count(self) -> int:
        return self.changed_count - self.related_count


def batch_overview(*, organization_id: int | None, batch_id: uuid.UUID) -> BatchOverview | None:
    """What one batch did, or None when it did nothing `organization_id` may see (None: every
    organization, for a superuser). Four queries whatever its size: the changes counted by
    module, source and owners; its outbox jobs; the users named in them; the first records it
    changed."""
    entries = AuditEntry.objects.filter(batch_id=batch_id)
    jobs = OwnerJob.objects.filter(batch_id=batch_id)
    if organization_id is not None:
        entries = entries.filter(organization_id=organization_id)
        jobs = jobs.filter(organization_id=organization_id)
    groups = list(
        entries.values(
            "organization_id",
            "module_id",
            "source",
            "previous_owner_id",
            "new_owner_id",
            "actor_id",
        )
        .annotate(count=Count("id"), first=Min("created_time"))
        .order_by("first", "module_id", "previous_owner_id")
    )
    job_rows = list(jobs.order_by("created_time", "id"))
    if not groups and not job_rows:
        return None
    organization = groups[0]["organization_id"] if groups else job_rows[0].organization_id
    user_ids = {
        user_id
        for group in groups
        for user_id in (group["previous_owner_id"], group["new_owner_id"], group["actor_id"])
    }
    user_ids |= {
        int(user_id)
        for job in job_rows
        for user_id in (job.payload.get("new_owner_id"), job.payload.get("actor_id"))
        if user_id
    }
    users = User.objects.filter(organization_id=organization, id__in=user_ids - {None})
    users_by_id = {user.id: user for user in users.only("id", "full_name", "email")}
    sample = list(
        entries.select_related("module", "previous_owner", "new_owner", "actor").order_by(
            "created_time", "record_id"
        )[:BATCH_SAMPLE_SIZE]
    )
    return BatchOverview(
        batch_id=batch_id,
        organization_id=organization,
        first_time=min((g["first"] for g in groups), default=None),
        moves=[
            OwnerMove(
                module=module_by_id(g["module_id"]),
                source=g["source"],
                previous_owner=users_by_id.get(g["previous_owner_id"]),
                new_owner=users_by_id.get(g["new_owner_id"]),
                actor=users_by_id.get(g["actor_id"]),
                count=g["count"],
            )
            for g in groups
        ],
        jobs=job_rows,
        sample=sample,
        users=users_by_id,
    )
