from __future__ import annotations

from django.contrib import admin
from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from config import health
from config.api_router import router
from crm.http import errors as crm_errors
from crm.oauth import views as oauth_views
from owners.api.kenbun import views as kenbun_views

urlpatterns = [
    path("healthz", health.healthz, name="healthz"),
    path("admin/", admin.site.urls),
    path("oauth/v2/token", oauth_views.TokenView.as_view(), name="oauth-token"),
    path("oauth/v2/token/revoke", oauth_views.RevokeView.as_view(), name="oauth-revoke"),
    # Fixed names first, so the module router never takes `users` for a module.
    path("bigin/v2/", include("crm.api.urls")),
    path("bigin/v2/", include(router.urls)),
    # Anything else under the API answers the Bigin 404 envelope, in DEBUG too.
    re_path(r"^bigin/v2(?:/.*)?$", crm_errors.api_not_found),
    # The Kenbun-style lead-owner API; anything else under /leads answers Kenbun's 404.
    path("leads", kenbun_views.LeadsView.as_view(), name="kenbun-leads"),
    path("leads/bulk-assign-owner", kenbun_views.BulkAssignOwnerView.as_view(), name="kenbun-bulk"),
    path("leads/<str:lead_id>/owner", kenbun_views.LeadOwnerView.as_view(), name="kenbun-owner"),
    re_path(r"^leads/.*$", kenbun_views.not_found),
    # The docs need no token: they describe the API, they do not call it.
    path("api/schema/", SpectacularAPIView.as_view(authentication_classes=[]), name="schema"),
    path(
        "api/docs/",
        SpectacularSwaggerView.as_view(url_name="schema", authentication_classes=[]),
        name="swagger-ui",
    ),
]

handler404 = "crm.http.errors.page_not_found"
handler500 = "crm.http.errors.server_error"
