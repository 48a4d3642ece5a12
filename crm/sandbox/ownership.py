"""What the sandbox controls need from the ownership core, which crm may not import (owners
depends on crm, never the other way). `owners.sandbox` provides it; config/urls.py hands it to
the controls' views (crm/sandbox/urls.py), so the dependency stays visible at the one place that
composes the apps."""

from __future__ import annotations

from typing import Any, Protocol


class Ownership(Protocol):
    def forget(self, organization_id: int) -> None:
        """Delete the organization's owner history and pending work (audit rows, outbox
        entries, transfer jobs), before the organization itself goes."""

    def history(self, organization_id: int) -> list[dict[str, Any]]:
        """The organization's audit rows as JSON, for a snapshot."""

    def restore(self, organization_id: int, history: list[dict[str, Any]]) -> dict[str, int]:
        """Inside the reset's transaction: drop pending work and the answers kept for retries
        (Idempotency-Key), and put the audit rows back as `history` holds them. Returns counts:
        audit_entries, outbox_entries, transfer_jobs, idempotency_keys."""

    def run_jobs(self, organization_id: int) -> dict[str, Any]:
        """Run every pending outbox entry of the organization now, whatever its due time, until
        none is left; answers {"ran": [...], "still_running": n}."""
