"""Settings that must agree with each other.

`config/settings.py` calls `disagreements` on its own values and refuses to load when any rule
is broken, so every process (gunicorn, the Celery worker and beat, every manage.py command) stops
at startup with the reason, instead of running with timeouts that defeat each other. (A Django
system check would not do: gunicorn and Celery never run the checks.)
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def disagreements(settings: Mapping[str, Any]) -> list[str]:
    """One sentence per broken rule, naming the settings, their values and why; [] when none."""
    problems = []
    soft = settings["CELERY_TASK_SOFT_TIME_LIMIT"]
    hard = settings["CELERY_TASK_TIME_LIMIT"]
    lease = settings["OUTBOX_LEASE_SECONDS"]
    delay = settings["RELATED_OWNER_DELAY_SECONDS"]
    visibility = settings["CELERY_BROKER_TRANSPORT_OPTIONS"].get("visibility_timeout")
    if hard < 1:
        problems.append(
            f"CELERY_TASK_TIME_LIMIT ({hard}) must be at least 1: without a hard limit a stuck "
            "job holds its worker, and its lease proves nothing."
        )
    if soft and not 0 < soft < hard:
        problems.append(
            f"CELERY_TASK_SOFT_TIME_LIMIT ({soft}) must be less than CELERY_TASK_TIME_LIMIT "
            f"({hard}), or 0 for none: the soft limit asks a job to stop and give itself back "
            "before the hard limit kills its worker."
        )
    if lease <= hard:
        problems.append(
            f"OUTBOX_LEASE_SECONDS ({lease}) must be greater than CELERY_TASK_TIME_LIMIT "
            f"({hard}): a claim must outlive the worker the hard limit kills, or a second worker "
            "takes over a job the first one is still running."
        )
    if delay < 0:
        problems.append(f"RELATED_OWNER_DELAY_SECONDS ({delay}) must not be negative.")
    if visibility is not None and visibility <= max(delay, hard):
        problems.append(
            f"The broker's visibility_timeout ({visibility}) must be greater than "
            f"RELATED_OWNER_DELAY_SECONDS ({delay}) and CELERY_TASK_TIME_LIMIT ({hard}): Redis "
            "delivers again a message not acknowledged within it, so a longer countdown or job "
            "would be delivered over and over."
        )
    max_lag = settings.get("DATABASE_REPLICA_MAX_LAG_SECONDS", 0)
    lag_check = settings.get("DATABASE_REPLICA_LAG_CHECK_SECONDS", 0)
    window = settings.get("READ_YOUR_WRITES_SECONDS", 0)
    if max_lag < 0 or lag_check < 0:
        problems.append(
            f"DATABASE_REPLICA_MAX_LAG_SECONDS ({max_lag}) and DATABASE_REPLICA_LAG_CHECK_SECONDS "
            f"({lag_check}) must not be negative."
        )
    elif window < max_lag + lag_check:
        problems.append(
            f"READ_YOUR_WRITES_SECONDS ({window}) must be at least "
            f"DATABASE_REPLICA_MAX_LAG_SECONDS ({max_lag}) plus DATABASE_REPLICA_LAG_CHECK_SECONDS "
            f"({lag_check}): past the window an organization's reads go to the replica, which "
            "may not have replayed its write yet unless the write is older than the lag bound "
            "at the last check."
        )
    if settings["OUTBOX_SWEEP_GRACE_SECONDS"] < 0:
        problems.append(
            f"OUTBOX_SWEEP_GRACE_SECONDS ({settings['OUTBOX_SWEEP_GRACE_SECONDS']}) must "
            "not be negative."
        )
    if settings["OUTBOX_MAX_ATTEMPTS"] < 1:
        problems.append(
            f"OUTBOX_MAX_ATTEMPTS ({settings['OUTBOX_MAX_ATTEMPTS']}) must be at least 1: "
            "with 0 no job ever runs."
        )
    if settings.get("SANDBOX_API") and len(settings.get("SANDBOX_API_KEY") or "") < 16:
        problems.append(
            "SANDBOX_API is on but SANDBOX_API_KEY is shorter than 16 characters: the sandbox "
            "controls delete organizations and issue tokens, so they need a key nobody guesses "
            "(`make run` and `make sandbox` generate one)."
        )
    return problems
