"""The beat's audit work: partitions created ahead (audit/partitions.py)."""

from __future__ import annotations

from celery import shared_task

from . import partitions


@shared_task
def create_audit_partitions_task() -> int:
    """This month's audit partition and the next ones', where missing; how many were created."""
    return partitions.ensure_partitions()
