"""The owners' admin pages that are not a model's: the batch page and its revert, offboarding.
Included under /admin/owners/ before the admin site's own URLs (config/urls.py)."""

from __future__ import annotations

from django.contrib import admin
from django.urls import path

from . import batches, offboarding

app_name = "owners_admin"

urlpatterns = [
    path("batches/<uuid:batch_id>/", admin.site.admin_view(batches.batch_view), name="batch"),
    path(
        "batches/<uuid:batch_id>/revert/",
        admin.site.admin_view(batches.revert_view),
        name="revert",
    ),
    path("offboard/", admin.site.admin_view(offboarding.offboard_view), name="offboard"),
]
