from __future__ import annotations

from django.contrib import admin
from django.urls import include, path, re_path
from django.views.generic import TemplateView
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from config import health
from config.api_router import router
from crm.http import errors as crm_errors
from crm.oauth import views as oauth_views
from crm.sandbox.urls import urlpatterns_for as sandbox_urlpatterns
from owners import sandbox as owners_sandbox
from owners.api.kenbun import views as kenbun_views

urlpatterns = [
    path("healthz", health.healthz, name="healthz"),
    # The owners' admin pages that are not a model's (the batch page), before the site's own.
    path("admin/owners/", include("owners.admin.urls")),
    path("admin/", admin.site.urls),
    # A landing page, where the admin's "View site" leads: links to the docs, admin, health.
    path("", TemplateView.as_view(template_name="crm/landing.html"), name="landing"),
    path("oauth/v2/token", oauth_views.TokenView.as_view(), name="oauth-token"),
    path("oauth/v2/token/revoke", oauth_views.RevokeView.as_view(), name="oauth-revoke"),
    # Fixed names first, so the module router never takes `users` for a module.
    path("bigin/v2/", include("crm.api.urls")),
    path("bigin/v2/", include("owners.api.transfers.urls")),
    path("bigin/v2/", include("owners.api.watch.urls")),
    path("bigin/v2/", include(router.urls)),
    # Anything else under the API answers the Bigin 404 envelope, in DEBUG too.
    re_path(r"^bigin/v2(?:/.*)?$", crm_errors.api_not_found),
    # The Zoho CRM v8 dialect: the same endpoints under CRM's names (owners/api/crm_v8.py).
    path("crm/v8/", include("owners.api.crm_v8")),
    re_path(r"^crm/v8$", crm_errors.api_not_found),
    # The Kenbun-style lead-owner API; anything else under /leads, /lead or /me answers Kenbun's
    # 404.
    path("leads", kenbun_views.LeadsView.as_view(), name="kenbun-leads"),
    path("leads/bulk-assign-owner", kenbun_views.BulkAssignOwnerView.as_view(), name="kenbun-bulk"),
    path("leads/<str:lead_id>/owner", kenbun_views.LeadOwnerView.as_view(), name="kenbun-owner"),
    path("leads/<str:lead_id>", kenbun_views.LeadDetailView.as_view(), name="kenbun-lead"),
    # Kenbun's docs spell the lead detail /lead/{leadID}: both answer.
    path(
        "lead/<str:lead_id>", kenbun_views.DocsPathLeadDetailView.as_view(), name="kenbun-lead-doc"
    ),
    path(
        "me/notification-prefs",
        kenbun_views.NotificationPrefsView.as_view(),
        name="kenbun-notification-prefs",
    ),
    re_path(r"^(?:leads|lead|me)/.*$", kenbun_views.not_found),
    # The sandbox controls (docs/sandbox.md): 404 unless SANDBOX_API is on. They change owners
    # through what owners/ provides (owners/sandbox.py), which crm/ may not import.
    path("sandbox/v1/", include(sandbox_urlpatterns(owners_sandbox))),
    re_path(r"^sandbox/v1$", crm_errors.api_not_found),
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
