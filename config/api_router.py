"""One router for the `/bigin/v2/{module}/` tree (the design card): the records ViewSet in crm
and the change-owner ViewSet in owners share its prefix."""

from __future__ import annotations

from rest_framework.routers import SimpleRouter

from owners.views import ChangeOwnerViewSet

MODULE_PREFIX = r"(?P<module>[^/.]+)"

router = SimpleRouter(trailing_slash=False)
router.register(MODULE_PREFIX, ChangeOwnerViewSet, basename="change-owner")
