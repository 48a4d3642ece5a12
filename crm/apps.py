from __future__ import annotations

from django.apps import AppConfig


class CrmConfig(AppConfig):
    name = "crm"

    def ready(self) -> None:
        # Registers the drf-spectacular extensions (the Zoho-oauthtoken security scheme).
        from .http import openapi  # noqa: F401
