from __future__ import annotations

from django.apps import AppConfig
from django.db.models.signals import post_migrate


def _partitions_ahead(sender: AppConfig, using: str = "default", **kwargs: object) -> None:
    # Every `migrate` creates this month's partition and the next ones' (audit/partitions.py),
    # as the beat does every few hours: a deployment that runs no beat yet still has them.
    if using != "default":
        return
    from .partitions import ensure_partitions

    ensure_partitions()


class AuditConfig(AppConfig):
    name = "audit"

    def ready(self) -> None:
        post_migrate.connect(_partitions_ahead, sender=self)
