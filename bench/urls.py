"""The product's routes plus the bench-only endpoints (the yardsticks and the naive peer),
placed first so the product's catch-all under `bigin/v2` cannot shadow them."""

from __future__ import annotations

from django.urls import path

from config.urls import handler404, handler500
from config.urls import urlpatterns as product_urlpatterns

from . import naive, views

urlpatterns = [
    path("bench/noop", views.NoopView.as_view()),
    path("bench/raw/<str:module>/<str:pk>/change_owner", views.RawChangeOwnerView.as_view()),
    path(
        "bench/raw-prepared/<str:module>/<str:pk>/change_owner",
        views.PreparedRawChangeOwnerView.as_view(),
    ),
    path("bench/naive/<str:module>/change_owner", naive.NaiveChangeOwnerView.as_view()),
    *product_urlpatterns,
]

__all__ = ["handler404", "handler500", "urlpatterns"]
