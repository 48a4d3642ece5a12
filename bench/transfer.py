"""Part 3: the related-transfer job vs the raw-SQL equivalent (waits for owners/jobs.py)."""

from __future__ import annotations

SETS = ("job", "raw", "celery")


def measure(data, *, runs: int) -> dict:
    return {"status": "not measured: the job runner (owners/jobs.py) is not on this branch yet"}
