"""Which records a transfer job moves: one SQL condition per module, evaluated again by every
chunk when it runs (so a record moves only if it still matches then), and the newest write wins:
a record or an activity whose owner anyone changed at or after the job was scheduled keeps that
owner, whatever the criteria say (owners/statements.py, `owner_unchanged_since`)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.db.models import Expression, Q, QuerySet

from audit.models import AuditEntry
from crm.models import Record
from crm.modules import MODULES, ModuleInfo, module_by_name

from ..models import TransferJob
from ..statements import owner_unchanged_since
from .criteria import criteria_condition

# The audit source of each kind of job.
SOURCES = {
    TransferJob.Kind.MASS_CHANGE: AuditEntry.Source.MASS_CHANGE,
    TransferJob.Kind.OFFBOARDING: AuditEntry.Source.OFFBOARDING,
    TransferJob.Kind.REVERT: AuditEntry.Source.REVERT,
}


def job_condition(transfer: TransferJob) -> Q:
    """What makes a record of one of the job's modules one it moves."""
    if transfer.kind == TransferJob.Kind.OFFBOARDING:
        return Q(owner_id=transfer.from_user_id)
    return criteria_condition(transfer.criteria) & ~Q(owner_id=transfer.new_owner_id)


def records_to_move(transfer: TransferJob, module_id: int) -> QuerySet:
    """The records of `module_id` the job moves, as of now."""
    return Record.objects.filter(
        job_condition(transfer), organization_id=transfer.organization_id, module_id=module_id
    )


def records_left_to_move(transfer: TransferJob, module_id: int) -> QuerySet:
    """The records of `module_id` the job moves when its chunk runs: those that still match and
    whose owner nobody changed since the job was scheduled."""
    return records_to_move(transfer, module_id).filter(owner_unchanged_since(transfer.created_time))


def related_to_move(
    organization_id: int, parents: Any, module_ids: list[int], new_owner_id: int
) -> QuerySet:
    """The activities of `module_ids` related to `parents` (ids, a subquery, or a condition on
    the activity that names them) that the new owner does not own yet."""
    of_parents = parents if isinstance(parents, Expression) else Q(related_to_id__in=parents)
    return Record.objects.filter(
        of_parents, organization_id=organization_id, module_id__in=module_ids
    ).exclude(owner_id=new_owner_id)


def related_left_to_move(transfer: TransferJob, parents: Any, module_ids: list[int]) -> QuerySet:
    """`related_to_move` for a running job: without the activities whose owner someone changed
    since the job was scheduled."""
    return related_to_move(
        transfer.organization_id, parents, module_ids, transfer.new_owner_id
    ).filter(owner_unchanged_since(transfer.created_time))


def offboarding_modules() -> list[ModuleInfo]:
    """Parents first (their activities move with them), then the activities left over."""
    return [m for m in MODULES if not m.is_activity] + [m for m in MODULES if m.is_activity]


def related_names(names: Sequence[str]) -> list[str]:
    """The activity module api names among `names`, spelled as the modules spell them."""
    found = (module_by_name(name) for name in names)
    return list(dict.fromkeys(m.api_name for m in found if m is not None and m.is_activity))
