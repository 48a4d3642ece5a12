"""The one router for /bigin/v2/{module}: every app registers its module ViewSets here, on the same
prefix (crm's read-only records; owners' change-owner actions)."""

from __future__ import annotations

from rest_framework.routers import SimpleRouter

from crm.api import RecordViewSet

MODULE_PREFIX = r"(?P<module>[^/.]+)"

router = SimpleRouter(trailing_slash=False)
router.register(MODULE_PREFIX, RecordViewSet, basename="records")
