"""The Record admin: browse records, see who owned them, and reassign them through the service.

The admin never writes an owner itself: the "Change owner" action calls `change_owner` with
source "admin" and the staff user as actor, exactly as the API does. Records are otherwise
read-only here (they come from the API and the sandbox loader).
"""

from __future__ import annotations

from collections import defaultdict

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.db.models import Count, QuerySet
from django.http import HttpRequest, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.html import format_html, format_html_join

from audit.admin import user_name
from audit.models import AuditEntry
from crm import policy
from crm.admin_scoping import OrganizationScopedAdmin
from crm.ids import parse_id
from crm.models import Organization, Record, User
from crm.modules import ACTIVITY_MODULES, ModuleInfo, module_by_id
from owners.services import NewOwnerNotActive, RelatedSelection, change_owner
from owners.transfers.engine import schedule_mass_change

from .change_owner import (
    JOB_MODE,
    KEPT_SELECTION,
    FiltersNotSupported,
    change_owner_message,
    criteria_from_filters,
)
from .history import log_owner_changes, log_scheduled
from .outbox import short_time
from .transfers import describe_criteria

MIXED_ORGANIZATIONS = (
    "The selected records belong to more than one organization. "
    "Select records of one organization at a time; nothing was changed."
)
INVALID_SELECTION = "The selection is not a list of record ids; nothing was changed."
INACTIVE_OWNER = (
    "Choose an active user of {organization} as the new owner: disabled and deleted users "
    "cannot own records. Nothing was changed."
)

# The intermediate page lists this many of the selected records, then says how many more.
PREVIEW_SIZE = 50


def confirmed_record_ids(values: list[str]) -> list[int] | None:
    """The ids the intermediate page posts back: comma-separated in one field (one field per
    record would pass DATA_UPLOAD_MAX_NUMBER_FIELDS, 1,000, and Django would refuse the POST).
    None if any of them is not an id."""
    record_ids = [parse_id(part.strip()) for value in values for part in value.split(",")]
    if not record_ids or None in record_ids:
        return None
    return record_ids


class ChangeOwnerForm(forms.Form):
    """The intermediate page's choices. Only active users of the records' organization are
    offered, and only they validate: a posted id of a disabled user is refused here too."""

    new_owner = forms.ModelChoiceField(
        queryset=User.objects.none(),
        label="New owner",
        error_messages={"required": "Choose the new owner. Nothing was changed."},
    )
    notify = forms.BooleanField(
        required=False, label="Notify", help_text="Email the new owner about the records."
    )
    related_modules = forms.MultipleChoiceField(
        required=False,
        label="Related records that follow",
        choices=[(module.api_name, module.plural_label) for module in ACTIVITY_MODULES],
        widget=forms.CheckboxSelectMultiple,
        help_text="Activities related to the selected records get the new owner too.",
    )

    def __init__(self, *args, organization: Organization, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["new_owner"]
        field.queryset = User.objects.filter(
            organization_id=organization.id, status=User.Status.ACTIVE
        ).order_by("full_name", "id")
        field.error_messages["invalid_choice"] = INACTIVE_OWNER.format(organization=organization)


@admin.register(Record)
class RecordAdmin(OrganizationScopedAdmin, admin.ModelAdmin):
    list_display = ("name", "id", "module", "owner_name", "related_to", "modified")
    list_filter = (
        "module",
        ("owner", admin.RelatedOnlyFieldListFilter),
        ("organization", admin.RelatedOnlyFieldListFilter),
    )
    # One JOIN per column shown: the page costs the same number of queries for 5 or 100 rows.
    list_select_related = ("module", "owner", "related_to")
    search_fields = ("name",)
    search_help_text = "Search by name, or by record id (all digits)."
    ordering = ("-modified_time", "-id")
    # The full count is a second COUNT(*) over the whole table on every filtered page.
    show_full_result_count = False
    actions = ["change_owner_action"]
    fieldsets = (
        (None, {"fields": ("id", "module", "name", "organization", "owner", "related_to")}),
        ("Fields", {"fields": ("fields",)}),
        ("Times", {"fields": ("created_time", "modified_time", "modified_by")}),
        ("Ownership history", {"fields": ("ownership_history",)}),
    )
    readonly_fields = (
        "id",
        "module",
        "name",
        "organization",
        "owner",
        "related_to",
        "fields",
        "created_time",
        "modified_time",
        "modified_by",
        "ownership_history",
    )

    def get_search_results(self, request: HttpRequest, queryset: QuerySet, search_term: str):
        records, may_have_duplicates = super().get_search_results(request, queryset, search_term)
        record_id = parse_id(search_term.strip())
        if record_id is not None:
            # An exact, indexed match on the id (the default "=id" would compare id::text).
            records = records | queryset.filter(id=record_id)
        return records, may_have_duplicates

    # Owners change only through the action; records are not created or deleted here.
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Record | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Record | None = None) -> bool:
        return False

    def has_change_owner_permission(self, request: HttpRequest) -> bool:
        return policy.staff_has_permission(request.user, policy.CHANGE_OWNER)

    @admin.display(description="Owner", ordering="owner__full_name")
    def owner_name(self, record: Record) -> str:
        return record.owner.full_name if record.owner else "-"

    @admin.display(description="Modified (UTC)", ordering="modified_time")
    def modified(self, record: Record) -> str:
        return short_time(record.modified_time)

    @admin.display(description="Ownership history")
    def ownership_history(self, record: Record) -> str:
        entries = (
            AuditEntry.objects.filter(organization_id=record.organization_id, record_id=record.id)
            .select_related("previous_owner", "new_owner", "actor")
            .order_by("-created_time", "-id")
        )
        audit_changelist = reverse("admin:audit_auditentry_changelist")
        rows = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td>"
            '<td><a href="{}?q={}">{}</a></td></tr>',
            (
                (
                    entry.created_time.strftime("%Y-%m-%d %H:%M:%S"),
                    user_name(entry.previous_owner),
                    user_name(entry.new_owner),
                    user_name(entry.actor),
                    entry.get_source_display(),
                    audit_changelist,
                    entry.batch_id,
                    entry.batch_id,
                )
                for entry in entries
            ),
        )
        if not rows:
            return "No change of owner recorded."
        return format_html(
            '<table id="ownership-history"><thead><tr><th>Time (UTC)</th><th>From</th><th>To</th>'
            "<th>By</th><th>Source</th><th>Batch</th></tr></thead><tbody>{}</tbody></table>",
            rows,
        )

    def changelist_view(self, request: HttpRequest, extra_context: dict | None = None):
        # The ids of a refused action, ticked again on the page it redirects to (see
        # owners/static/owners/kept_selection.js).
        kept = request.session.pop(KEPT_SELECTION, None) if request.method == "GET" else None
        # No navigation sidebar, as on the jobs' list: every column, Modified included, fits at
        # 1400 px beside the filters.
        extra_context = {
            **(extra_context or {}),
            "kept_selection": kept,
            "is_nav_sidebar_enabled": False,
        }
        return super().changelist_view(request, extra_context)

    @admin.action(description="Change owner", permissions=["change_owner"])
    def change_owner_action(self, request: HttpRequest, queryset: QuerySet[Record]):
        """Step one renders the intermediate page; its form posts back here with "apply".

        A selection of at most TRANSFER_JOB_CHUNK records is changed here, in one transaction
        per module. "Select all" over more is a mass-change job per module, scheduled from the
        list's filters (no ids travel: see `_change_owner_job`).

        A selection spanning modules is applied module by module: `change_owner` takes one
        module and owns a durable transaction, so each module is its own all-or-nothing batch
        with its own batch id, and the message reports each. Filtering by owner (a rep leaves)
        naturally selects several modules; refusing that would make the operator repeat the
        action per module for no gain in safety. Should one module's transaction fail, the
        modules before it stay changed (each complete with its audit rows) and re-running the
        action is harmless: records that already have the owner are counted, not re-audited.
        """
        if request.POST.get("mode") == JOB_MODE:
            return self._change_owner_job(request, queryset)
        if "apply" in request.POST:
            record_ids = confirmed_record_ids(request.POST.getlist(helpers.ACTION_CHECKBOX_NAME))
            if record_ids is None:
                self.message_user(request, INVALID_SELECTION, messages.ERROR)
                return None
            # The queryset is the changelist's, already limited to the user's organization.
            queryset = queryset.filter(pk__in=record_ids)
        elif (
            request.POST.get("select_across") == "1"
            and queryset.count() > settings.TRANSFER_JOB_CHUNK
        ):
            return self._change_owner_job(request, queryset)
        rows = list(queryset.values_list("id", "module_id", "organization_id", "name"))
        organization_ids = {organization_id for _, _, organization_id, _ in rows}
        if not organization_ids:
            # The selected records were deleted between the two steps.
            self.message_user(request, "None of the selected records exist.", messages.WARNING)
            return None
        if len(organization_ids) > 1:
            request.session[KEPT_SELECTION] = [str(record_id) for record_id, *_ in rows]
            self.message_user(request, MIXED_ORGANIZATIONS, messages.ERROR)
            return None
        organization = Organization.objects.get(id=organization_ids.pop())

        if "apply" not in request.POST:
            form = ChangeOwnerForm(organization=organization)
            return self._change_owner_page(request, queryset, rows, organization, form)

        form = ChangeOwnerForm(request.POST, organization=organization)
        if not form.is_valid():
            self._form_errors(request, form)
            return self._change_owner_page(request, queryset, rows, organization, form)

        new_owner = form.cleaned_data["new_owner"]
        related = RelatedSelection(modules=tuple(form.cleaned_data["related_modules"]))
        ids_by_module: dict[int, list[int]] = defaultdict(list)
        names = {}
        for record_id, module_id, _, name in rows:
            ids_by_module[module_id].append(record_id)
            names[record_id] = name
        for module_id, record_ids in sorted(ids_by_module.items()):
            module = module_by_id(module_id)
            try:
                result = change_owner(
                    organization=organization,
                    actor=request.user,
                    module=module,
                    record_ids=record_ids,
                    new_owner=new_owner,
                    notify=form.cleaned_data["notify"],
                    related=related,
                    source=AuditEntry.Source.ADMIN,
                )
            except NewOwnerNotActive as exc:
                became = exc.status or f"no longer a user of {organization}"
                self.message_user(
                    request,
                    f"{module.api_name}: nothing changed, {new_owner.full_name} was {became} "
                    "while you confirmed.",
                    messages.ERROR,
                )
                return None
            log_owner_changes(
                request,
                [(record_id, names[record_id]) for record_id in result.changed_ids],
                f"Changed owner to {new_owner.full_name} (batch {result.batch_id}).",
            )
            message = change_owner_message(
                module=module,
                result=result,
                new_owner=new_owner,
                asked=len(record_ids),
                related_modules=related.modules,
            )
            self.message_user(request, message, messages.SUCCESS)
        return None

    def _form_errors(self, request: HttpRequest, form: forms.Form) -> None:
        for errors in form.errors.values():
            for error in errors:
                self.message_user(request, error, messages.ERROR)

    def _change_owner_job(self, request: HttpRequest, queryset: QuerySet[Record]):
        """ "Select all" over more records than one transaction takes: one mass-change job per
        module, whose criteria are the list's filters. The pages post no ids (150,000 of them
        would pass Django's 2.5 MB body cap): the confirmation posts back to the same filtered
        URL, and the records are whatever matches when each chunk runs."""
        counts = list(
            queryset.order_by()
            .values_list("organization_id", "module_id")
            .annotate(count=Count("id"))
            .order_by("module_id")
        )
        if not counts:
            self.message_user(request, "None of the selected records exist.", messages.WARNING)
            return None
        if len({organization_id for organization_id, _, _ in counts}) > 1:
            self.message_user(request, MIXED_ORGANIZATIONS, messages.ERROR)
            return None
        organization = Organization.objects.get(id=counts[0][0])
        per_module = [(module_by_id(module_id), count) for _, module_id, count in counts]
        try:
            criteria = criteria_from_filters(
                request.GET, organization=organization, modules=[m for m, _ in per_module]
            )
        except FiltersNotSupported as exc:
            self.message_user(request, str(exc), messages.ERROR)
            return None
        if "apply" not in request.POST:
            form = ChangeOwnerForm(organization=organization)
            return self._change_owner_job_page(request, organization, per_module, criteria, form)
        form = ChangeOwnerForm(request.POST, organization=organization)
        if not form.is_valid():
            self._form_errors(request, form)
            return self._change_owner_job_page(request, organization, per_module, criteria, form)
        new_owner = form.cleaned_data["new_owner"]
        transfers = []
        for module, count in per_module:
            transfer = schedule_mass_change(
                organization=organization,
                actor=request.user,
                module=module,
                criteria=criteria,
                new_owner=new_owner,
                related_modules=form.cleaned_data["related_modules"],
                notify=form.cleaned_data["notify"],
            )
            log_scheduled(
                request,
                transfer,
                f"Mass change of {module.plural_label} to {new_owner.full_name} scheduled.",
            )
            transfers.append(transfer)
            self.message_user(
                request,
                format_html(
                    '{}: <a href="{}">job {}</a> gives the {} records selected to {} in the '
                    'background (<a href="{}">batch {}</a>).',
                    module.api_name,
                    reverse("admin:owners_transferjob_change", args=[transfer.id]),
                    transfer.id,
                    f"{count:,}",
                    new_owner.full_name,
                    reverse("owners_admin:batch", args=[transfer.batch_id]),
                    str(transfer.batch_id)[:8],
                ),
                messages.SUCCESS,
            )
        if len(transfers) == 1:
            return HttpResponseRedirect(
                reverse("admin:owners_transferjob_change", args=[transfers[0].id])
            )
        return None

    def _change_owner_job_page(
        self,
        request: HttpRequest,
        organization: Organization,
        per_module: list[tuple[ModuleInfo, int]],
        criteria: dict,
        form: ChangeOwnerForm,
    ) -> TemplateResponse:
        context = {
            **self.admin_site.each_context(request),
            "title": "Change owner",
            "opts": self.model._meta,
            "organization": organization,
            "job_mode": JOB_MODE,
            "per_module": per_module,
            "record_count": sum(count for _, count in per_module),
            "criteria": describe_criteria(criteria, organization_id=organization.id),
            "one_transaction": settings.TRANSFER_JOB_CHUNK,
            "form": form,
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
            "action_name": "change_owner_action",
        }
        request.current_app = self.admin_site.name
        return TemplateResponse(request, "admin/owners/change_owner.html", context)

    def _change_owner_page(
        self,
        request: HttpRequest,
        queryset: QuerySet[Record],
        rows: list[tuple[int, int, int, str]],
        organization: Organization,
        form: ChangeOwnerForm,
    ) -> TemplateResponse:
        records = queryset.select_related("module", "owner").order_by("module_id", "name", "id")
        context = {
            **self.admin_site.each_context(request),
            "title": "Change owner",
            "opts": self.model._meta,
            "organization": organization,
            "records": records[:PREVIEW_SIZE],
            "record_count": len(rows),
            "more_count": max(len(rows) - PREVIEW_SIZE, 0),
            "selected_ids": ",".join(str(record_id) for record_id, *_ in sorted(rows)),
            "form": form,
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
            "action_name": "change_owner_action",
        }
        request.current_app = self.admin_site.name
        return TemplateResponse(request, "admin/owners/change_owner.html", context)
