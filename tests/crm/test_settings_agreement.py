"""Settings that must agree are checked when the settings load (config/agreement.py)."""

from __future__ import annotations

import pytest
from django.conf import settings as django_settings

from config.agreement import disagreements
from tests.crm.test_settings import start  # noqa: F401 - the fixture

DEFAULTS = {
    "CELERY_TASK_SOFT_TIME_LIMIT": 50,
    "CELERY_TASK_TIME_LIMIT": 60,
    "OUTBOX_LEASE_SECONDS": 120,
    "RELATED_OWNER_DELAY_SECONDS": 5,
    "CELERY_BROKER_TRANSPORT_OPTIONS": {"visibility_timeout": 3600},
    "OUTBOX_SWEEP_GRACE_SECONDS": 60,
    "OUTBOX_MAX_ATTEMPTS": 10,
    "DATABASE_REPLICA_MAX_LAG_SECONDS": 5.0,
    "DATABASE_REPLICA_LAG_CHECK_SECONDS": 1.0,
    "READ_YOUR_WRITES_SECONDS": 10,
}


def test_the_running_settings_and_the_defaults_agree():
    assert disagreements({name: getattr(django_settings, name) for name in DEFAULTS}) == []
    assert disagreements(DEFAULTS) == []


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        (
            {"OUTBOX_LEASE_SECONDS": 60},
            "OUTBOX_LEASE_SECONDS (60) must be greater than CELERY_TASK_TIME_LIMIT (60): a "
            "claim must outlive the worker the hard limit kills, or a second worker takes over a "
            "job the first one is still running.",
        ),
        (
            {"CELERY_TASK_SOFT_TIME_LIMIT": 60},
            "CELERY_TASK_SOFT_TIME_LIMIT (60) must be less than CELERY_TASK_TIME_LIMIT (60), or 0 "
            "for none: the soft limit asks a job to stop and give itself back before the hard "
            "limit kills its worker.",
        ),
        (
            {"CELERY_TASK_TIME_LIMIT": 0, "CELERY_TASK_SOFT_TIME_LIMIT": 0},
            "CELERY_TASK_TIME_LIMIT (0) must be at least 1: without a hard limit a stuck job "
            "holds its worker, and its lease proves nothing.",
        ),
        (
            {"RELATED_OWNER_DELAY_SECONDS": 3600},
            "The broker's visibility_timeout (3600) must be greater than "
            "RELATED_OWNER_DELAY_SECONDS (3600) and CELERY_TASK_TIME_LIMIT (60): Redis delivers "
            "again a message not acknowledged within it, so a longer countdown or job would be "
            "delivered over and over.",
        ),
        (
            {"RELATED_OWNER_DELAY_SECONDS": -1},
            "RELATED_OWNER_DELAY_SECONDS (-1) must not be negative.",
        ),
        (
            {"OUTBOX_SWEEP_GRACE_SECONDS": -5},
            "OUTBOX_SWEEP_GRACE_SECONDS (-5) must not be negative.",
        ),
        (
            {"OUTBOX_MAX_ATTEMPTS": 0},
            "OUTBOX_MAX_ATTEMPTS (0) must be at least 1: with 0 no job ever runs.",
        ),
        (
            {"READ_YOUR_WRITES_SECONDS": 5},
            "READ_YOUR_WRITES_SECONDS (5) must be at least DATABASE_REPLICA_MAX_LAG_SECONDS "
            "(5.0) plus DATABASE_REPLICA_LAG_CHECK_SECONDS (1.0): past the window an "
            "organization's reads go to the replica, which may not have replayed its write yet "
            "unless the write is older than the lag bound at the last check.",
        ),
        (
            {"DATABASE_REPLICA_LAG_CHECK_SECONDS": -1},
            "DATABASE_REPLICA_MAX_LAG_SECONDS (5.0) and DATABASE_REPLICA_LAG_CHECK_SECONDS (-1) "
            "must not be negative.",
        ),
    ],
)
def test_each_rule_names_the_settings_their_values_and_why(changes, expected):
    assert disagreements({**DEFAULTS, **changes}) == [expected]


def test_a_soft_limit_of_0_means_none_and_is_allowed():
    assert disagreements({**DEFAULTS, "CELERY_TASK_SOFT_TIME_LIMIT": 0}) == []


def test_every_broken_rule_is_reported_at_once():
    found = disagreements({**DEFAULTS, "OUTBOX_LEASE_SECONDS": 10, "OUTBOX_MAX_ATTEMPTS": 0})
    assert [rule.split(" ", 1)[0] for rule in found] == [
        "OUTBOX_LEASE_SECONDS",
        "OUTBOX_MAX_ATTEMPTS",
    ]


def test_a_process_with_disagreeing_settings_refuses_to_start_and_says_why(start):  # noqa: F811
    result = start(
        "import django; django.setup()",
        DJANGO_SECRET_KEY="s3cret",
        OUTBOX_LEASE_SECONDS="30",
        CELERY_TASK_TIME_LIMIT="45",
        CELERY_TASK_SOFT_TIME_LIMIT="40",
    )

    assert result.returncode != 0
    assert result.stderr.strip().splitlines()[-2:] == [
        "django.core.exceptions.ImproperlyConfigured: Settings that must agree do not:",
        "- OUTBOX_LEASE_SECONDS (30) must be greater than CELERY_TASK_TIME_LIMIT (45): a "
        "claim must outlive the worker the hard limit kills, or a second worker takes over a "
        "job the first one is still running.",
    ]


def test_a_celery_worker_with_disagreeing_settings_refuses_to_start(start):  # noqa: F811
    # Celery never runs Django's system checks: the settings themselves must refuse.
    result = start(
        "from config.celery import app; app.conf.task_time_limit",
        DJANGO_SECRET_KEY="s3cret",
        OUTBOX_MAX_ATTEMPTS="0",
    )

    assert result.returncode != 0
    assert "OUTBOX_MAX_ATTEMPTS (0) must be at least 1" in result.stderr
