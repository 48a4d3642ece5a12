"""Offboard a user from the admin: pick the leaving user and the new owner, see what would move
per module (the engine's dry run), choose delete or disable, confirm; the job page follows.

The pages only validate and render: the dry run and the job are the engine's
(`dry_run_offboarding`, `schedule_offboarding` in owners/transfers/engine.py).
"""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse

from crm import policy
from crm.admin_scoping import scope_to_organization
from crm.models import User
from crm.modules import module_by_name
from owners.transfers import engine

from .history import log_scheduled


def _user_label(user: User) -> str:
    status = "" if user.status == User.Status.ACTIVE else f", {user.status}"
    return f"{user.full_name} <{user.email}> ({user.organization.name}{status})"


class OffboardForm(forms.Form):
    """The choices of the offboarding pages. Both users come from the staff user's organization
    (any organization for a superuser), and they must share one."""

    leaving_user = forms.ModelChoiceField(
        queryset=User.objects.none(),
        label="Leaving user",
        error_messages={"required": "Choose the user who leaves."},
    )
    new_owner = forms.ModelChoiceField(
        queryset=User.objects.none(),
        label="New owner",
        help_text="Every record of the leaving user, in every module, and the activities "
        "related to them go to this user.",
        error_messages={"required": "Choose the new owner."},
    )
    then = forms.ChoiceField(
        label="Then",
        choices=[
            ("delete", "Delete the leaving user (as Zoho's transfer and delete)"),
            ("disable", "Disable the leaving user (can be enabled again)"),
        ],
        initial="delete",
        widget=forms.RadioSelect,
    )
    notify = forms.BooleanField(
        required=False, label="Notify", help_text="Email the new owner one digest at the end."
    )

    def __init__(self, *args, users: QuerySet[User], actor: User, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.actor = actor
        users = users.select_related("organization").order_by("organization__name", "full_name")
        self.fields["leaving_user"].queryset = users.exclude(status=User.Status.DELETED)
        self.fields["new_owner"].queryset = users.filter(status=User.Status.ACTIVE)
        for name in ("leaving_user", "new_owner"):
            self.fields[name].label_from_instance = _user_label

    def clean(self) -> dict:
        data = super().clean()
        leaving, new_owner = data.get("leaving_user"), data.get("new_owner")
        if leaving and new_owner:
            if leaving.id == new_owner.id:
                raise forms.ValidationError("The new owner must be another user.")
            if leaving.organization_id != new_owner.organization_id:
                raise forms.ValidationError(
                    "The new owner must be a user of the leaving user's organization."
                )
        refusal = policy.offboarding_refusal(self.actor, leaving) if leaving else None
        if refusal is not None:
            raise forms.ValidationError(refusal.value)
        return data


def offboard_view(request: HttpRequest) -> HttpResponse:
    """GET: the form (`?leaving_user=<id>` preselects). POST "preview": the dry run and the
    confirm button. POST "confirm": schedule the job and go to its page."""
    if not policy.staff_has_permission(request.user, policy.MANAGE_USERS):
        raise PermissionDenied
    users = scope_to_organization(User.objects.all(), "organization", request)
    if request.method == "POST":
        form = OffboardForm(request.POST, users=users, actor=request.user)
    else:
        form = OffboardForm(initial=request.GET.dict(), users=users, actor=request.user)
    dry_run = None
    if request.method == "POST" and form.is_valid():
        leaving = form.cleaned_data["leaving_user"]
        new_owner = form.cleaned_data["new_owner"]
        if "confirm" in request.POST:
            transfer = engine.schedule_offboarding(
                organization=leaving.organization,
                actor=request.user,
                leaving_user=leaving,
                new_owner=new_owner,
                delete_user=form.cleaned_data["then"] == "delete",
                notify=form.cleaned_data["notify"],
            )
            log_scheduled(request, transfer, f"Offboarding of {leaving.full_name} scheduled")
            messages.success(
                request,
                f"Offboarding of {leaving.full_name} scheduled: job {transfer.id}, "
                f"{transfer.total_count:,} records to {new_owner.full_name}.",
            )
            return HttpResponseRedirect(
                reverse("admin:owners_transferjob_change", args=[transfer.id])
            )
        dry_run = engine.dry_run_offboarding(
            organization=leaving.organization, leaving_user=leaving, new_owner=new_owner
        )
    context = {
        **admin.site.each_context(request),
        "title": "Offboard a user",
        "form": form,
        "dry_run": dry_run,
        "per_module": _module_rows(dry_run),
    }
    request.current_app = admin.site.name
    return TemplateResponse(request, "admin/owners/offboard.html", context)


def _module_rows(dry_run) -> list[tuple[str, int, int]]:
    """(module label, records the user owns, related activities another user owns that follow)."""
    if dry_run is None:
        return []
    rows = []
    for name, count in dry_run.per_module.items():
        module = module_by_name(name)
        related = dry_run.related_count.get(name, 0)
        rows.append((module.plural_label, count, related))
    return rows
