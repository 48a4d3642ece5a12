from __future__ import annotations

from django.contrib import admin
from django.urls import path

from crm import oauth_views
from crm import views as crm_views

urlpatterns = [
    path("healthz", crm_views.healthz, name="healthz"),
    path("admin/", admin.site.urls),
    path("oauth/v2/token", oauth_views.TokenView.as_view(), name="oauth-token"),
    path("oauth/v2/token/revoke", oauth_views.RevokeView.as_view(), name="oauth-revoke"),
]

handler404 = "crm.errors.page_not_found"
handler500 = "crm.errors.server_error"
