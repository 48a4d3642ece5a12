"""A test-only URLconf: the product's URLs plus views that raise DRF exceptions no family handler
names, and a plain Django view (not DRF) that reads the database, one under each API family's
prefix."""

from __future__ import annotations

from django.http import HttpRequest, JsonResponse
from django.urls import path
from rest_framework import exceptions
from rest_framework.views import APIView

from config.urls import handler404, handler500
from config.urls import urlpatterns as product_urlpatterns
from crm.models import Organization


class RaisingView(APIView):
    """Raises the exception named in the path; no authentication, so any caller reaches it."""

    authentication_classes: list = []
    permission_classes: list = []
    raised = {
        "validation": lambda: exceptions.ValidationError({"field": ["bad"]}),
        "not-acceptable": lambda: exceptions.NotAcceptable(),
        "throttled": lambda: exceptions.Throttled(wait=2.5),
        "teapot": lambda: type("Teapot", (exceptions.APIException,), {"status_code": 418})(),
    }

    def get(self, request, name: str):
        raise self.raised[name]()


def counting_view(request: HttpRequest) -> JsonResponse:
    """Outside DRF: what it raises reaches Django's handler500."""
    return JsonResponse({"organizations": Organization.objects.count()})


urlpatterns = [
    path("bigin/v2/test-only/raise/<str:name>", RaisingView.as_view()),
    path("leads/test-only/raise/<str:name>", RaisingView.as_view()),
    path("oauth/v2/test-only/raise/<str:name>", RaisingView.as_view()),
    path("bigin/v2/test-only/count", counting_view),
    path("leads/test-only/count", counting_view),
    path("oauth/v2/test-only/count", counting_view),
    *product_urlpatterns,
]

__all__ = ["handler404", "handler500", "urlpatterns"]
