"""The audit table by month (docs/audit.md, "Partitions and retention").

On PostgreSQL `audit_auditentry` is partitioned by range of `created_time` (migration 0009): one
partition per calendar month (UTC), `audit_auditentry_pYYYYMM`, and a default partition that
takes a row no month partition covers, so no write ever fails for want of a partition. The
migration and the beat (`audit.tasks.create_audit_partitions_task`, every few hours) create the
current month's partition and the next MONTHS_AHEAD months' ahead; a month created later takes
its rows out of the default partition in the same transaction. `audit_retention` drops whole
months (`drop_months_before`). Elsewhere (SQLite under `make run`) the table is a plain one and
retention deletes rows month by month.

The primary key is (id, created_time), as PostgreSQL asks of a partitioned table; ids are drawn
(crm/ids.py), never reused, so they stay unique. The indexes (organization, record_id) and
(batch_id) are declared on the parent and exist on every partition: the history, batch and
revert reads stay index scans, one per partition.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime

from django.db import connection, transaction
from django.utils import timezone

from .models import AuditEntry

PARENT = AuditEntry._meta.db_table
DEFAULT_PARTITION = f"{PARENT}_default"
MONTHS_AHEAD = 3
_MONTH_NAME = re.compile(rf"^{PARENT}_p(\d{{4}})(\d{{2}})$")
# A partition is created or dropped while writes go on: waiting longer than this for the lock
# fails this attempt (the beat tries again) rather than holding every writer behind it.
LOCK_TIMEOUT = "5s"


def month_of(moment: datetime | date) -> date:
    if isinstance(moment, datetime):
        moment = moment.astimezone(UTC)
    return date(moment.year, moment.month, 1)


def add_months(month: date, count: int) -> date:
    index = month.year * 12 + month.month - 1 + count
    return date(index // 12, index % 12 + 1, 1)


def months_between(first: date, last: date) -> Iterator[date]:
    """Each month from `first` to `last`, both included."""
    month = first
    while month <= last:
        yield month
        month = add_months(month, 1)


def partition_name(month: date) -> str:
    return f"{PARENT}_p{month:%Y%m}"


def _bound(month: date) -> str:
    return f"{month.isoformat()} 00:00:00+00"


def is_partitioned() -> bool:
    if connection.vendor != "postgresql":
        return False
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT 1 FROM pg_partitioned_table WHERE partrelid = to_regclass(%s)", [PARENT]
        )
        return cursor.fetchone() is not None


@dataclass(frozen=True)
class Partition:
    name: str
    month: date | None  # None: the default partition


def partitions() -> list[Partition]:
    """The audit table's partitions, months in order, then the default one."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"
            " WHERE i.inhparent = to_regclass(%s)",
            [PARENT],
        )
        names = [name for (name,) in cursor.fetchall()]
    months = [
        Partition(name, date(int(m[1]), int(m[2]), 1))
        for name in sorted(names)
        if (m := _MONTH_NAME.match(name))
    ]
    return [*months, *(Partition(n, None) for n in names if n == DEFAULT_PARTITION)]


def create_month(month: date) -> bool:
    """The partition of `month`, unless it exists; its rows (if any) moved out of the default
    partition in the same transaction. Returns whether it was created."""
    name, start, end = partition_name(month), _bound(month), _bound(add_months(month, 1))
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'")
        cursor.execute("SELECT to_regclass(%s) IS NOT NULL", [name])
        if cursor.fetchone()[0]:
            return False
        # Created apart, filled, then attached: attaching scans the default partition (which
        # must hold no row of the month by then) under a lock that lets writes to the other
        # partitions go on, where CREATE ... PARTITION OF would lock the whole table.
        cursor.execute(f'CREATE TABLE "{name}" (LIKE "{PARENT}" INCLUDING DEFAULTS)')
        cursor.execute(
            f'WITH moved AS (DELETE FROM "{DEFAULT_PARTITION}" WHERE created_time >= %s'
            f' AND created_time < %s RETURNING *) INSERT INTO "{name}" SELECT * FROM moved',
            [start, end],
        )
        cursor.execute(
            f'ALTER TABLE "{PARENT}" ATTACH PARTITION "{name}" FOR VALUES FROM (%s) TO (%s)',
            [start, end],
        )
    return True


def ensure_partitions(*, now: datetime | None = None, months_ahead: int = MONTHS_AHEAD) -> int:
    """This month's partition and the next `months_ahead` months'; how many were created. Does
    nothing where the table is not partitioned."""
    if not is_partitioned():
        return 0
    this_month = month_of(now or timezone.now())
    existing = {p.month for p in partitions()}
    return sum(
        create_month(month)
        for month in months_between(this_month, add_months(this_month, months_ahead))
        if month not in existing
    )


@dataclass(frozen=True)
class Expired:
    """What retention removes: a whole month's partition, or the rows of one month (the default
    partition's, or everywhere where the table is not partitioned)."""

    label: str
    rows: int
    remove: Callable[[], int]


def expired(*, keep_months: int, now: datetime | None = None) -> tuple[date, list[Expired]]:
    """The first month kept (this month and the `keep_months - 1` before it) and what is older."""
    cutoff = add_months(month_of(now or timezone.now()), -(keep_months - 1))
    if not is_partitioned():
        return cutoff, _expired_rows(cutoff)
    found = []
    for partition in partitions():
        if partition.month is not None and partition.month < cutoff:
            found.append(Expired(partition.name, _count(partition.name), _dropper(partition.name)))
    older = _older_than(cutoff, table=DEFAULT_PARTITION)
    if older:
        found.append(Expired(f"{DEFAULT_PARTITION} (before {cutoff})", older, _deleter(cutoff)))
    return cutoff, found


def _count(table: str) -> int:
    with connection.cursor() as cursor:
        cursor.execute(f'SELECT count(*) FROM "{table}"')
        return cursor.fetchone()[0]


def _older_than(cutoff: date, *, table: str) -> int:
    with connection.cursor() as cursor:
        cursor.execute(f'SELECT count(*) FROM "{table}" WHERE created_time < %s', [_bound(cutoff)])
        return cursor.fetchone()[0]


def _dropper(name: str) -> Callable[[], int]:
    def drop() -> int:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'")
            cursor.execute(f'SELECT count(*) FROM "{name}"')
            rows = cursor.fetchone()[0]
            cursor.execute(f'ALTER TABLE "{PARENT}" DETACH PARTITION "{name}"')
            cursor.execute(f'DROP TABLE "{name}"')
        return rows

    return drop


def _deleter(cutoff: date) -> Callable[[], int]:
    def delete() -> int:
        with connection.cursor() as cursor:
            cursor.execute(
                f'DELETE FROM "{DEFAULT_PARTITION}" WHERE created_time < %s', [_bound(cutoff)]
            )
            return cursor.rowcount

    return delete


def _expired_rows(cutoff: date) -> list[Expired]:
    """Not partitioned: the rows of each month before `cutoff`, one DELETE per month."""
    oldest = AuditEntry.objects.order_by("created_time").values_list("created_time", flat=True)
    first = oldest.first()
    if first is None or month_of(first) >= cutoff:
        return []
    found = []
    for month in months_between(month_of(first), add_months(cutoff, -1)):
        rows = _month_rows(month)
        if rows.exists():
            found.append(Expired(f"{month:%Y-%m}", rows.count(), _month_deleter(month)))
    return found


def _month_rows(month: date):
    start = datetime(month.year, month.month, 1, tzinfo=UTC)
    end_month = add_months(month, 1)
    end = datetime(end_month.year, end_month.month, 1, tzinfo=UTC)
    return AuditEntry.objects.filter(created_time__gte=start, created_time__lt=end)


def _month_deleter(month: date) -> Callable[[], int]:
    def delete() -> int:
        return _month_rows(month).delete()[0]

    return delete
