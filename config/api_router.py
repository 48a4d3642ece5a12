"""The one router for /bigin/v2/{module} (the design card): every app registers its module
ViewSets here, on the same prefix (the records, read in crm and written in owners; owners'
change-owner actions)."""

from __future__ import annotations

from crm.api.routers import ModuleRouter
from crm.http.dialects import MODULE_PREFIX
from owners.api.bigin.views import ChangeOwnerViewSet
from owners.api.records.views import RecordWriteViewSet
from owners.api.transfers.views import MassChangeOwnerViewSet

router = ModuleRouter()
# First: its routes /{module}/upsert and /{module}/search come before any /{module}/{record_id}.
router.register(MODULE_PREFIX, RecordWriteViewSet, basename="records")
router.register(MODULE_PREFIX, ChangeOwnerViewSet, basename="change-owner")
router.register(MODULE_PREFIX, MassChangeOwnerViewSet, basename="mass-change-owner")
