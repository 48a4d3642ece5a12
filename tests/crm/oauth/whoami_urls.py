"""A test-only URLconf: the product's URLs plus a cheap authenticated endpoint to call with a token.

Tests opt in with `@pytest.mark.urls("tests.crm.oauth.whoami_urls")`; the product's
config/urls.py does not have this endpoint (test_auth_matrix checks that).
"""

from __future__ import annotations

from django.urls import path
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from config.urls import handler404, handler500
from config.urls import urlpatterns as product_urlpatterns

# Three segments: no product route has that shape, so without this URLconf it is a 404.
WHOAMI_PATH = "/bigin/v2/test-only/who/am-i"


class WhoAmIView(APIView):
    required_scopes = ("ZohoBigin.users.READ",)

    def get(self, request: Request) -> Response:
        return Response(
            {"id": str(request.user.id), "organization_id": str(request.user.organization_id)}
        )


# First: the product's catch-all answers every other path under /bigin/v2 with a 404.
urlpatterns = [
    path(WHOAMI_PATH.lstrip("/"), WhoAmIView.as_view()),
    *product_urlpatterns,
]

__all__ = ["handler404", "handler500", "urlpatterns"]
