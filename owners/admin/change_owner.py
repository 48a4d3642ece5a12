"""The change-owner action's helpers: its result message, the selection kept after a refusal,
and the list's filters as the criteria of a mass-change job (for "select all" over more records
than one transaction takes)."""

from __future__ import annotations

from collections.abc import Sequence

from django.db.models import Count
from django.http import QueryDict
from django.urls import reverse
from django.utils.html import format_html
from django.utils.safestring import SafeString

from audit.models import AuditEntry
from crm.http.errors import ApiError
from crm.ids import MAX_ID, parse_id
from crm.models import Organization, Record, User
from crm.modules import ModuleInfo, module_by_id, module_by_name
from owners.models import OutboxEntry
from owners.services import ChangeOwnerResult
from owners.transfers.criteria import parse_criteria

# The hidden field of the intermediate page when the selection is a job, not a list of ids.
JOB_MODE = "job"
# The session key holding the ids of a refused selection, ticked again on the list.
KEPT_SELECTION = "owners:kept_selection"

# The record list's filters a job can reproduce, and the list's own parameters (ordering,
# page, facets) that select nothing.
OWNER_FILTER = "owner__id__exact"
SELECTING_FILTERS = {"module__id__exact", "organization__id__exact", OWNER_FILTER}
NOT_SELECTING = {"o", "p", "_facets", "all"}


class FiltersNotSupported(Exception):
    """The list is filtered in a way a job's criteria cannot repeat (a search by name)."""


def criteria_from_filters(
    params: QueryDict, *, organization: Organization, modules: Sequence[ModuleInfo]
) -> dict:
    """The job criteria that select what the filtered record list shows, in the engine's normal
    form, checked as the API checks them against each of `modules` (one job each). The module
    and organization filters need no criteria: the action schedules one job per module of the
    selection, in its one organization."""
    conditions = []
    unknown = sorted(set(params) - SELECTING_FILTERS - NOT_SELECTING - {"q"})
    search = params.get("q", "").strip()
    if search:
        record_id = parse_id(search)
        if record_id is None:
            raise FiltersNotSupported(
                "A job selects records by module and owner, not by a search by name: clear the "
                "search, or select fewer records. Nothing was changed."
            )
        conditions.append({"field": {"api_name": "id"}, "comparator": "equal", "value": search})
    if unknown:
        raise FiltersNotSupported(
            f"A job cannot repeat the filter {', '.join(unknown)}: remove it, or select fewer "
            "records. Nothing was changed."
        )
    if params.get(OWNER_FILTER):
        conditions.append(
            {
                "field": {"api_name": "Owner"},
                "comparator": "equal",
                "value": {"id": params[OWNER_FILTER]},
            }
        )
    if not conditions:
        # Every record of the module: every id there can be.
        conditions.append(
            {"field": {"api_name": "id"}, "comparator": "between", "value": ["1", str(MAX_ID)]}
        )
    criteria = (
        conditions[0] if len(conditions) == 1 else {"group_operator": "and", "group": conditions}
    )
    try:
        return parse_criteria(criteria, organization=organization, modules=modules)
    except ApiError as exc:
        raise FiltersNotSupported(f"The list's filters are not valid: {exc}.") from exc


def _counted(counts: dict[int, int]) -> str:
    """ "3 Tasks and 2 Calls" (singular labels for one)."""
    parts = []
    for module_id, count in counts.items():
        module = module_by_id(module_id)
        label = module.singular_label if count == 1 else module.plural_label
        parts.append(f"{count} related {label}")
    return " and ".join([", ".join(parts[:-1]), parts[-1]]) if len(parts) > 1 else parts[0]


def change_owner_message(
    *,
    module: ModuleInfo,
    result: ChangeOwnerResult,
    new_owner: User,
    asked: int,
    related_modules: Sequence[str],
) -> SafeString:
    """What one module's change did, for the operator: the records changed, the related
    activities (moved already when the job ran in-process, else following), the email, and a
    link to the batch page. At most three queries, whatever the number of records."""
    name = new_owner.full_name
    text = (
        f"{module.api_name}: {len(result.changed_ids)} changed to {name}, "
        f"{result.unchanged_count} already owned by {name}."
    )
    gone = asked - len(result.found_ids)
    if gone:
        text += f" {gone} no longer exist."
    statuses = {}
    if result.jobs:
        statuses = dict(
            OutboxEntry.objects.filter(id__in=[job.id for job in result.jobs]).values_list(
                "kind", "status"
            )
        )
    related_status = statuses.get(OutboxEntry.Kind.RELATED_TRANSFER)
    notes = []
    if related_status == OutboxEntry.Status.DONE:
        moved = _count_by_module(
            AuditEntry.objects.filter(
                organization_id=new_owner.organization_id,
                batch_id=result.batch_id,
                source=AuditEntry.Source.RELATED_TRANSFER,
            )
        )
        if moved:
            notes.append(f"{_counted(moved)} moved with them")
    elif related_status is not None:
        following = _count_by_module(
            Record.objects.filter(
                organization_id=new_owner.organization_id,
                related_to_id__in=list(result.found_ids),
                module_id__in=[module_by_name(m).id for m in related_modules],
            ).exclude(owner_id=new_owner.id)
        )
        if following:
            notes.append(f"{_counted(following)} follow in the background")
    notify_status = statuses.get(OutboxEntry.Kind.NOTIFY)
    if notify_status == OutboxEntry.Status.DONE:
        notes.append(f"an email was sent to {name}")
    elif notify_status == OutboxEntry.Status.FAILED:
        notes.append(f"the email to {name} failed (see the batch)")
    elif notify_status is not None:
        notes.append(f"an email to {name} is queued")
    if notes:
        text += " " + "; ".join(notes)[0].upper() + "; ".join(notes)[1:] + "."
    if not result.changed_ids and not result.jobs:
        return format_html("{}", text)
    return format_html(
        '{} <a href="{}">Batch {}</a>.',
        text,
        reverse("owners_admin:batch", args=[result.batch_id]),
        str(result.batch_id)[:8],
    )


def _count_by_module(queryset) -> dict[int, int]:
    rows = queryset.order_by().values_list("module_id").annotate(count=Count("id"))
    return dict(sorted(rows))
