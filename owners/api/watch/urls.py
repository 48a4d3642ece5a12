"""The fixed-name routes of the notification API, included before the module router (so
`actions` is never taken for a module)."""

from __future__ import annotations

from django.urls import path

from . import views


def urlpatterns_for(prefix: str, wrap=lambda view: view) -> list:
    return [
        path("actions/watch", wrap(views.WatchView).as_view(), name=f"{prefix}watch"),
        path(
            "actions/watch/<str:channel_id>/deliveries",
            wrap(views.DeliveryLogView).as_view(),
            name=f"{prefix}watch-deliveries",
        ),
        path(
            "actions/watch/deliveries/<str:delivery_id>/actions/redeliver",
            wrap(views.RedeliverView).as_view(),
            name=f"{prefix}watch-redeliver",
        ),
    ]


urlpatterns = urlpatterns_for("bigin-")
