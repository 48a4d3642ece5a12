"""The /sandbox/v1 routes (crm/sandbox/views.py). `urlpatterns_for(ownership)` builds them with
what the ownership core provides (config/urls.py passes owners.sandbox: crm cannot import it)."""

from __future__ import annotations

from django.urls import URLPattern, path, re_path

from . import views
from .ownership import Ownership

ORGANIZATION = "organizations/<str:organization_id>"


def urlpatterns_for(ownership: Ownership) -> list[URLPattern]:
    def view(cls: type[views.ControlView]):
        return cls.as_view(ownership=ownership)

    return [
        path("organizations", view(views.OrganizationsView), name="sandbox-organizations"),
        path(ORGANIZATION, view(views.OrganizationView), name="sandbox-organization"),
        path(f"{ORGANIZATION}/tokens", view(views.TokensView), name="sandbox-tokens"),
        path(f"{ORGANIZATION}/settings", view(views.SettingsView), name="sandbox-settings"),
        path(f"{ORGANIZATION}/snapshots", view(views.SnapshotsView), name="sandbox-snapshots"),
        path(f"{ORGANIZATION}/actions/reset", view(views.ResetView), name="sandbox-reset"),
        path(f"{ORGANIZATION}/actions/run_jobs", view(views.RunJobsView), name="sandbox-run-jobs"),
        path(f"{ORGANIZATION}/faults", view(views.FaultsView), name="sandbox-faults"),
        path(f"{ORGANIZATION}/faults/<str:fault_id>", view(views.FaultView), name="sandbox-fault"),
        path(f"{ORGANIZATION}/requests", view(views.JournalView), name="sandbox-requests"),
        re_path(r"^(?P<path>.*)$", views.not_found),
    ]
