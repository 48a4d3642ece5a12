from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db.models import BigIntegerField, Count, Exists, Min, OuterRef, Q, Subquery, Value
from django.db.models.functions import Coalesce

from audit.models import AuditEntry
from crm.models import Organization, Record, User
from crm.modules import ModuleInfo, module_by_id, module_by_name

from .models import OutboxEntry, TransferJob
from .statements import owner_unchanged_after
from .transfers import revert


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
# A job's chunks are outbox rows too, but the batch page shows the job itself, not its pieces.
TRANSFER_PIECES = (OutboxEntry.Kind.TRANSFER_PLAN, OutboxEntry.Kind.TRANSFER_CHUNK)


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
    jobs: list[OutboxEntry]
    sample: list[AuditEntry]
    users: dict[int, User]
    # The transfer job that wrote this batch, if a job did; the jobs that revert it.
    transfer: TransferJob | None
    reverts: list[TransferJob]

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

    # What the API's `GET /owner_batches/{id}` answers and the admin's batch page shows: one
    # read model for both.

    @property
    def source(self) -> str:
        """The job's kind for a transfer job's batch; else the source of its first change."""
        if self.transfer is not None:
            return AuditEntry.Source(self.transfer.kind).value
        return self.moves[0].source if self.moves else AuditEntry.Source.API.value

    @property
    def actor_id(self) -> int | None:
        if self.transfer is not None:
            return self.transfer.actor_id
        first = self.moves[0] if self.moves else None
        return first.actor.id if first is not None and first.actor is not None else None

    @property
    def created_time(self) -> datetime:
        if self.transfer is not None:
            return self.transfer.created_time
        if self.first_time is not None:
            return self.first_time
        return min(job.created_time for job in self.jobs)

    @property
    def status(self) -> str:
        """`in_progress` until its transfer job (if any) and every outbox entry ended; then
        `failed` if one of them failed, else `completed`."""
        statuses = {job.status for job in self.jobs}
        if self.transfer is not None and self.transfer.status in (
            TransferJob.Status.SCHEDULED,
            TransferJob.Status.RUNNING,
        ):
            return "in_progress"
        if OutboxEntry.Status.FAILED in statuses or (
            self.transfer is not None and self.transfer.status == TransferJob.Status.FAILED
        ):
            return "failed"
        if statuses & {OutboxEntry.Status.PENDING, OutboxEntry.Status.RUNNING}:
            return "in_progress"
        return "completed"

    @property
    def unfinished_status(self) -> str | None:
        """While records of the batch may still change owner: its transfer job's status
        (scheduled or running), or running while a related transfer waits or runs. None once
        nothing more moves. A revert waits for it; an email still queued moves no record, so
        `status` may say in_progress when this is None."""
        if self.transfer is not None and self.transfer.status in (
            TransferJob.Status.SCHEDULED,
            TransferJob.Status.RUNNING,
        ):
            return self.transfer.status
        moving = (OutboxEntry.Status.PENDING, OutboxEntry.Status.RUNNING)
        if any(
            job.kind == OutboxEntry.Kind.RELATED_TRANSFER and job.status in moving
            for job in self.jobs
        ):
            return TransferJob.Status.RUNNING
        return None


def batch_overview(*, organization_id: int | None, batch_id: uuid.UUID) -> BatchOverview | None:
    """What one batch did, or None when it did nothing `organization_id` may see (None: every
    organization, for a superuser). Five queries whatever its size: the changes counted by
    module, source and owners; its outbox entries; the transfer jobs that wrote or revert it; the
    users named in them; the first records it changed."""
    entries = AuditEntry.objects.filter(batch_id=batch_id)
    jobs = OutboxEntry.objects.filter(batch_id=batch_id).exclude(kind__in=TRANSFER_PIECES)
    transfers = TransferJob.objects.filter(Q(batch_id=batch_id) | Q(reverted_batch_id=batch_id))
    if organization_id is not None:
        entries = entries.filter(organization_id=organization_id)
        jobs = jobs.filter(organization_id=organization_id)
        transfers = transfers.filter(organization_id=organization_id)
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
    transfer_rows = list(transfers.order_by("created_time", "id"))
    owners = [*groups, *({"organization_id": job.organization_id} for job in job_rows)]
    owners += [{"organization_id": transfer.organization_id} for transfer in transfer_rows]
    if not owners:
        return None
    organization = owners[0]["organization_id"]
    transfer = next((t for t in transfer_rows if t.batch_id == batch_id), None)
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
    user_ids |= {
        user_id
        for row in transfer_rows
        for user_id in (row.actor_id, row.new_owner_id, row.from_user_id)
    }
    # The organization's users, and a superuser of another organization who acted on it (from
    # the admin): every actor has a name on the batch page.
    users = User.objects.filter(
        Q(organization_id=organization) | Q(is_superuser=True), id__in=user_ids - {None}
    )
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
        transfer=transfer,
        reverts=[t for t in transfer_rows if t.reverted_batch_id == batch_id],
    )


def reverted_operation(overview: BatchOverview) -> str:
    """What a revert of this batch undoes, for the permission it needs (crm/policy.py): the
    kind of the job that wrote the batch, or the source of a request's changes. A revert's
    batch is the operation it reverted: reverting it does that operation again. One query per
    revert in the chain, none for other batches."""
    operation, transfer = overview.source, overview.transfer
    while transfer is not None and transfer.kind == TransferJob.Kind.REVERT:
        reverted = transfer.reverted_batch_id
        transfer = TransferJob.objects.filter(
            organization_id=overview.organization_id, batch_id=reverted
        ).first()
        if transfer is not None:
            operation = transfer.kind
        else:  # a request's batch
            entries = AuditEntry.objects.filter(
                organization_id=overview.organization_id, batch_id=reverted
            )
            operation = entries.values_list("source", flat=True).first() or operation
    return operation


def transfer_module_counts(transfer: TransferJob) -> list[tuple[ModuleInfo, int]]:
    """What a transfer job has moved so far, per module (its activities included): one GROUP BY
    over the job's audit rows (the audit_batch index)."""
    rows = (
        AuditEntry.objects.filter(
            organization_id=transfer.organization_id, batch_id=transfer.batch_id
        )
        .values("module_id")
        .annotate(count=Count("id"))
        .order_by("module_id")
    )
    return [(module_by_id(row["module_id"]), row["count"]) for row in rows]


_ID = BigIntegerField()


@dataclass(frozen=True)
class RevertLine:
    """`count` records of `module` that the batch gave `new_owner` and that would go back to
    `previous_owner` (`reason` None), or not, and why (owners/transfers/revert.py)."""

    module: ModuleInfo
    previous_owner: User | None
    new_owner: User | None
    reason: str | None
    count: int

    @property
    def will_revert(self) -> bool:
        return self.reason is None

    @property
    def gone(self) -> bool:
        return self.reason == revert.RECORD_DELETED

    @property
    def reason_label(self) -> str:
        return revert.SKIP_REASON_LABELS.get(self.reason or "", "")


def revert_preview(*, organization_id: int, batch_id: uuid.UUID) -> list[RevertLine]:
    """What reverting `batch_id` would do now, record by record as the revert job decides
    (owners/transfers/revert.py `skip_reason`): grouped by module, owners and reason. One
    query (the batch's records against the records now, grouped by what the rule needs to
    know), plus one for the users it names, whose statuses the rule reads.

    Each record counts once, by the batch's last change of it (the owner the batch gave it, and
    when) and its first (the owner it had before). The correlated look-ups go through the
    audit_org_record index: a record's history, not the whole batch."""
    batch = AuditEntry.objects.filter(organization_id=organization_id, batch_id=batch_id)
    same_record = batch.filter(record_id=OuterRef("record_id"))
    later = same_record.filter(
        Q(created_time__gt=OuterRef("created_time"))
        | Q(created_time=OuterRef("created_time"), id__gt=OuterRef("id"))
    )
    first_change = same_record.order_by("created_time", "id")
    first_previous = first_change.values("previous_owner_id")[:1]
    first_source = first_change.values("source")[:1]
    record = Record.objects.filter(organization_id=organization_id, id=OuterRef("record_id"))
    # Still the batch's owner (none is 0), and nobody changed it since the batch's change.
    untouched = (
        record.annotate(owner_or_zero=Coalesce("owner_id", Value(0), output_field=_ID))
        .filter(owner_or_zero=Coalesce(OuterRef("new_owner_id"), Value(0), output_field=_ID))
        .filter(owner_unchanged_after(OuterRef("created_time")))
    )
    groups = list(
        batch.exclude(Exists(later))
        .annotate(
            back_to=Subquery(first_previous, output_field=_ID),
            first_source=Subquery(first_source),
            exists=Exists(record),
            untouched=Exists(untouched),
        )
        .values("module_id", "back_to", "new_owner_id", "first_source", "exists", "untouched")
        .annotate(count=Count("id"))
        .order_by("module_id", "back_to", "new_owner_id")
    )
    user_ids = {g["back_to"] for g in groups} | {g["new_owner_id"] for g in groups}
    users = {
        user.id: user
        for user in User.objects.filter(
            organization_id=organization_id, id__in=user_ids - {None}
        ).only("id", "full_name", "email", "status")
    }
    lines: dict[tuple, int] = {}
    for g in groups:
        previous_owner = users.get(g["back_to"])
        reason = revert.skip_reason(
            exists=g["exists"],
            added=g["first_source"] in revert.ADDING_SOURCES,
            changed_since=not g["untouched"],
            previous_owner_id=g["back_to"],
            previous_owner_status=previous_owner.status if previous_owner else None,
            batch_owner_id=g["new_owner_id"],
        )
        key = (g["module_id"], g["back_to"], g["new_owner_id"], reason)
        lines[key] = lines.get(key, 0) + g["count"]
    order = {reason: n for n, reason in enumerate((None, *revert.SKIP_REASONS))}
    return [
        RevertLine(
            module=module_by_id(module_id),
            previous_owner=users.get(back_to),
            new_owner=users.get(new_owner_id),
            reason=reason,
            count=count,
        )
        for (module_id, back_to, new_owner_id, reason), count in sorted(
            lines.items(), key=lambda item: (order[item[0][3]], item[0][:3])
        )
    ]


def lead_by_id(*, organization: Organization, lead_id: int) -> Record | None:
    """The lead (Contacts record) `lead_id` of `organization` with its owner, in one query."""
    return (
        Record.objects.select_related("owner")
        .filter(organization_id=organization.id, module_id=module_by_name("Contacts").id)
        .filter(id=lead_id)
        .first()
    )
