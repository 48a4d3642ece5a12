"""The one router for /bigin/v2/{module} (the design card): every app registers its module
ViewSets here, on the same prefix (crm's read-only records; owners' change-owner actions)."""

from __future__ import annotations

from rest_framework.routers import SimpleRouter

from crm.api.views import RecordViewSet
from owners.api.bigin.views import ChangeOwnerViewSet

MODULE_PREFIX = r"(?P<module>[^/.]+)"

router = SimpleRouter(trailing_slash=False)
router.register(MODULE_PREFIX, RecordViewSet, basename="records")
router.register(MODULE_PREFIX, ChangeOwnerViewSet, basename="change-owner")
