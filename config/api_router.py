"""The one router for /bigin/v2/{module} (the design card): every app registers its module
ViewSets here, on the same prefix (crm's read-only records; owners' change-owner actions)."""

from __future__ import annotations

from rest_framework.routers import SimpleRouter

from crm.api.views import RecordViewSet
from crm.http.dialects import MODULE_PREFIX
from owners.api.bigin.views import ChangeOwnerViewSet
from owners.api.transfers.views import MassChangeOwnerViewSet

router = SimpleRouter(trailing_slash=False)
router.register(MODULE_PREFIX, RecordViewSet, basename="records")
router.register(MODULE_PREFIX, ChangeOwnerViewSet, basename="change-owner")
router.register(MODULE_PREFIX, MassChangeOwnerViewSet, basename="mass-change-owner")
