from __future__ import annotations

from django.contrib import admin
from django.urls import path

from crm import views as crm_views

urlpatterns = [
    path("healthz", crm_views.healthz, name="healthz"),
    path("admin/", admin.site.urls),
]

handler404 = "crm.errors.page_not_found"
handler500 = "crm.errors.server_error"
