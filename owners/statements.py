"""All hand-written SQL of the ownership hot path, in one place: the new owner's lookup, the
ordered lock, the UPDATE of owners and the audit INSERT, shared by change_owner, the Kenbun API,
the admin and the related-transfer job.

Written by hand because each runs on every request and the ORM's compilation of them is a
measurable share of a request's CPU (bench/). The audit INSERT lives here rather than in
audit/: audit/ owns the table (models, admin); owners/ is the only writer, and the dependency
points owners -> audit."""

from __future__ import annotations

import functools
import json
import re
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import connection
from django.db.models import Q

from audit.models import AuditEntry
from crm.db_cursors import server_binding_cursor as _cursor
from crm.ids import BLOCK_SEQUENCE, BLOCK_SIZE, ID_BASE, new_id
from crm.models import Organization, Record, User
from crm.modules import MODULES

from .models import OutboxEntry, WatchChannel
from .watch import events as watch_events

# The lock and the UPDATE are the hot path of every request: written by hand, they skip the
# ORM's compilation of two statements on each call, about a tenth of a single-record request's
# CPU (bench/, cProfile). The ORM's versions would be
#   Record.objects.filter(organization_id=, module_id=, id__in=).order_by("id")
#       .select_for_update().values_list("id", "owner_id")
#   Record.objects.filter(organization_id=, id__in=).update(owner_id=, modified_time=, ...)
# With the records, the new owner's status as of now: read FOR SHARE on PostgreSQL, so a
# concurrent change of that user's status waits for this transaction, or this one reads the
# status it committed. Disabling the owner between the caller's check and the commit then
# cannot hand it records.
# The new owner is looked up in the records' organization: a user of another organization reads
# as no user at all (status None), never as a foreign key error at commit.
_LOCK_RECORDS = (
    "WITH new_owner AS (SELECT status FROM {users} WHERE id = %s AND organization_id = %s {share})"
    " SELECT id, owner_id, (SELECT status FROM new_owner) FROM {records}"
    " WHERE organization_id = %s AND module_id = %s AND id {ids} ORDER BY id {update}"
)
_UPDATE_OWNERS = (
    f"UPDATE {Record._meta.db_table}"
    " SET owner_id = %s, modified_time = %s, owner_changed_time = %s, modified_by_id = %s"
    " WHERE organization_id = %s AND id {ids}"
)


class NewOwnerNotActive(Exception):
    """Raised by every writer (`change_owner`, a transfer job's chunk) when the new owner was
    disabled or deleted after the caller checked it (the status is read again, locked, in the
    transaction): nothing changes.

    `status` is None when the new owner is not a user of the organization at all (its row went
    away since the check, or a caller passed another organization's user)."""

    def __init__(self, status: str | None) -> None:
        super().__init__(
            f"the new owner is {status}" if status else "the new owner is not a user here"
        )
        self.status = status


# Newest write wins -----------------------------------------------------------------------------
#
# The rule of every job that moves records after the request that asked for it (the related
# transfer here; mass change, offboarding and revert too): a job moves a record only if nobody
# changed its owner at or after `since`, the time of the batch (or of the scheduling) that asked
# for the move. Every owner write goes through `update_owners`, which stamps
# Record.owner_changed_time with the time of its audit rows, so the record row itself says when
# its owner last changed.
#
# Why a column on the record and not a look into the audit trail: the job reads the column from
# the rows it locks FOR UPDATE, and PostgreSQL hands a locking statement the newest version of a
# row it had to wait for, so a change committed while the job waited is seen. A sub-query into
# the audit table would read the statement's snapshot and miss it. And it costs no audit lookup
# per record.
#
# Times are the application's clock (`timezone.now()` after the lock, as the audit rows): hosts
# are expected to agree to well under the scheduler's delay (NTP).


def owner_changed_since(owner_changed_time: datetime | None, since: datetime) -> bool:
    """True when a record whose owner last changed at `owner_changed_time` (None: never) must
    keep its owner rather than take the one a batch of time `since` gave: newest write wins."""
    return owner_changed_time is not None and owner_changed_time >= since


def owner_unchanged_since(since: datetime) -> Q:
    """The same rule as a condition on Record, for a job that filters the records it locks
    rather than counting them: the records whose owner nobody changed at or after `since`."""
    return Q(owner_changed_time__isnull=True) | Q(owner_changed_time__lt=since)


# A revert gives a record back only if nobody changed its owner after the batch wrote it, even
# back to the owner the batch gave it: the record's owner_changed_time is then later than the
# batch's own audit time for that record (the same instant when the batch's write is the last).


def owner_changed_after(owner_changed_time: datetime | None, written_at: datetime) -> bool:
    """True when the owner of a record whose owner last changed at `owner_changed_time` (None:
    never stamped) changed after the write at `written_at` that gave it its owner."""
    return owner_changed_time is not None and owner_changed_time > written_at


def owner_unchanged_after(written_at: Any) -> Q:
    """The same rule as a condition on Record; `written_at` may be an OuterRef."""
    return Q(owner_changed_time__isnull=True) | Q(owner_changed_time__lte=written_at)


def _ids_condition(ids: Sequence[int]) -> tuple[str, list]:
    """`id = ANY(array)` on PostgreSQL (one parameter, one plan); `IN (...)` elsewhere."""
    if connection.vendor == "postgresql":
        return "= ANY(%s)", [list(ids)]
    return "IN ({})".format(", ".join(["%s"] * len(ids))), list(ids)


def lock_records(
    organization_id: int, module_id: int, record_ids: Sequence[int], *, new_owner_id: int | None
) -> tuple[list[tuple[int, int | None]], str | None]:
    """(id, owner id) of the records found, locked FOR UPDATE in id order, and the status of
    `new_owner_id` in the organization (None when no record was found, there is no new owner,
    or it is not a user of the organization)."""
    if not record_ids:
        return [], None
    condition, params = _ids_condition(record_ids)
    locking = connection.features.has_select_for_update
    sql = _LOCK_RECORDS.format(
        users=User._meta.db_table,
        records=Record._meta.db_table,
        ids=condition,
        share="FOR SHARE" if locking else "",
        update="FOR UPDATE" if locking else "",
    )
    with _cursor() as cursor:
        cursor.execute(sql, [new_owner_id, organization_id, organization_id, module_id, *params])
        rows = cursor.fetchall()
    owner_status = rows[0][2] if rows else None
    return [(record_id, owner_id) for record_id, owner_id, _ in rows], owner_status


def update_owners(
    organization_id: int,
    record_ids: list[int],
    *,
    new_owner_id: int | None,
    actor_id: int | None,
    now: datetime,
) -> None:
    """Give `new_owner_id` the records `record_ids`: the one statement that writes owners. Every
    caller writes their audit rows (`record_owner_changes`) with the same `now`."""
    condition, params = _ids_condition(record_ids)
    when = connection.ops.adapt_datetimefield_value(now)
    with _cursor() as cursor:
        cursor.execute(
            _UPDATE_OWNERS.format(ids=condition),
            [
                new_owner_id,
                when,
                when,
                actor_id,
                organization_id,
                *params,
            ],
        )


# The record APIs (owners/records/writes.py) --------------------------------------------------
#
# A call adds or updates up to 100 records, each with an owner of its own: these write every
# row's owner in one statement, fed by arrays on PostgreSQL (elsewhere, SQLite under `make run`,
# the ORM, a statement per owner). An added record's owner is written by its INSERT, stamped like
# any owner write (a job scheduled before it never moves it), and audited (source `insert`).

_INSERT_RECORDS = f"""
    INSERT INTO {Record._meta.db_table} (id, organization_id, module_id, owner_id, name, fields,
        related_to_id, created_time, modified_time, owner_changed_time, modified_by_id,
        created_by_id)
    SELECT r.id, %s, %s, r.owner_id, r.name, r.fields::jsonb, r.related_to_id, %s, %s, %s, %s, %s
    FROM unnest(%s::bigint[], %s::bigint[], %s::text[], %s::text[], %s::bigint[])
        AS r(id, owner_id, name, fields, related_to_id)
"""
_UPDATE_OWNERS_EACH = f"""
    UPDATE {Record._meta.db_table} AS r
    SET owner_id = c.owner_id, modified_time = %s, owner_changed_time = %s, modified_by_id = %s
    FROM unnest(%s::bigint[], %s::bigint[]) AS c(id, owner_id)
    WHERE r.organization_id = %s AND r.id = c.id
"""


def insert_records(
    *,
    organization_id: int,
    module_id: int,
    records: Sequence[tuple[int, int, str, dict, int | None]],
    actor_id: int,
    now: datetime,
) -> None:
    """Create `records`, each (id, owner id, name, fields, related_to id), added by `actor_id`:
    one statement. The caller audits their owners (`record_owner_changes_each`, same `now`)."""
    if not records:
        return
    if connection.vendor != "postgresql":
        Record.objects.bulk_create(
            Record(
                id=record_id,
                organization_id=organization_id,
                module_id=module_id,
                owner_id=owner_id,
                name=name,
                fields=fields,
                related_to_id=related_to_id,
                created_time=now,
                modified_time=now,
                owner_changed_time=now,
                modified_by_id=actor_id,
                created_by_id=actor_id,
            )
            for record_id, owner_id, name, fields, related_to_id in records
        )
        return
    columns = list(zip(*records, strict=True))
    with connection.cursor() as cursor:
        cursor.execute(
            _INSERT_RECORDS,
            [
                organization_id,
                module_id,
                now,
                now,
                now,
                actor_id,
                actor_id,
                list(columns[0]),
                list(columns[1]),
                list(columns[2]),
                [json.dumps(fields) for fields in columns[3]],
                list(columns[4]),
            ],
        )


def update_owners_each(
    organization_id: int,
    changes: Sequence[tuple[int, int]],
    *,
    actor_id: int | None,
    now: datetime,
) -> None:
    """Give each record of `changes`, (record id, new owner id), its new owner: one statement,
    stamped and audited as `update_owners` is (the caller writes `record_owner_changes_each`)."""
    if not changes:
        return
    if connection.vendor != "postgresql":
        by_owner: dict[int, list[int]] = {}
        for record_id, owner_id in changes:
            by_owner.setdefault(owner_id, []).append(record_id)
        for owner_id, record_ids in by_owner.items():
            update_owners(
                organization_id, record_ids, new_owner_id=owner_id, actor_id=actor_id, now=now
            )
        return
    when = connection.ops.adapt_datetimefield_value(now)
    with connection.cursor() as cursor:
        cursor.execute(
            _UPDATE_OWNERS_EACH,
            [
                when,
                when,
                actor_id,
                [record_id for record_id, _ in changes],
                [owner_id for _, owner_id in changes],
                organization_id,
            ],
        )


_USER_FIELDS = [field.attname for field in User._meta.concrete_fields]
_ORGANIZATION_USER = (
    f"SELECT {', '.join(field.column for field in User._meta.concrete_fields)}"
    f" FROM {User._meta.db_table} WHERE organization_id = %s AND id = %s"
)


def organization_user(*, organization: Organization, user_id: int) -> User | None:
    """The user `user_id` of `organization`, whatever its status; None when there is none."""
    # Every change_owner request makes this lookup: written by hand, it skips compiling the
    # query each time (0.45 -> 0.25 ms CPU; bench/), and with the columns named here the row
    # becomes a User without reading the cursor's description, as `User.objects.raw` does
    # (0.17 -> 0.10 ms). The ORM's version would be User.objects.filter(organization_id=, id=)
    # .first(). PostgreSQL's values need no conversion for User's fields; SQLite's (times as
    # text, booleans as 0 and 1) go through the ORM's converters there.
    if connection.vendor != "postgresql":
        return next(iter(User.objects.raw(_ORGANIZATION_USER, [organization.id, user_id])), None)
    with connection.cursor() as cursor:
        cursor.execute(_ORGANIZATION_USER, [organization.id, user_id])
        row = cursor.fetchone()
    return None if row is None else User.from_db(connection.alias, _USER_FIELDS, row)


# An audit INSERT as the data-modifying CTE of the statement that writes the watch event
# (owners/watch/events.py): both in one statement.
_WITH_AUDIT = "WITH audit AS ({audit}) "

# The rows of one change as one INSERT fed by four arrays; the other columns are the same for
# every row.
_AUDIT_FROM_ARRAYS = f"""
    INSERT INTO {AuditEntry._meta.db_table} (id, record_id, module_id, previous_owner_id,
        organization_id, new_owner_id, actor_id, source, batch_id, created_time)
    SELECT a.id, a.record_id, a.module_id, a.previous_owner_id,
        %s, %s::bigint, %s::bigint, %s, %s, %s
    FROM unnest(%s::bigint[], %s::bigint[], %s::bigint[], %s::bigint[])
        AS a(id, record_id, module_id, previous_owner_id)
"""


def record_owner_changes(
    *,
    organization_id: int,
    changes: Sequence[tuple[int, int, int | None]],
    new_owner_id: int | None,
    actor_id: int | None,
    source: str,
    batch_id: uuid.UUID,
    now: datetime,
) -> None:
    """One audit row per (record id, module id, previous owner id) in `changes`, one statement.

    On PostgreSQL the rows travel as arrays: `bulk_create` prepares every field of every row in
    Python, about 40 us a row, a third of a 500-id change (bench/, cProfile). Elsewhere (SQLite
    under `make run`), `bulk_create`.
    """
    if not changes:
        return
    if connection.vendor != "postgresql":
        AuditEntry.objects.bulk_create(
            AuditEntry(
                organization_id=organization_id,
                module_id=module_id,
                record_id=record_id,
                previous_owner_id=previous_owner_id,
                new_owner_id=new_owner_id,
                actor_id=actor_id,
                source=source,
                batch_id=batch_id,
                created_time=now,
            )
            for record_id, module_id, previous_owner_id in changes
        )
        watch_events.owner_change_event_elsewhere(
            organization_id=organization_id,
            changes=[(record_id, module_id) for record_id, module_id, _ in changes],
            source=source,
            batch_id=batch_id,
            now=now,
        )
        return
    with _cursor() as cursor:
        # The audit rows, and in the same statement the watch event when a channel wants it.
        cursor.execute(
            _WITH_AUDIT.format(audit=_AUDIT_FROM_ARRAYS) + watch_events.WATCH_EVENT_INSERT,
            [
                organization_id,
                new_owner_id,
                actor_id,
                source,
                batch_id,
                now,
                [new_id() for _ in changes],  # the model's default, drawn here
                [record_id for record_id, _, _ in changes],
                [module_id for _, module_id, _ in changes],
                [previous_owner_id for _, _, previous_owner_id in changes],
                *watch_events.watch_event_params(
                    organization_id=organization_id,
                    changes=[(record_id, module_id) for record_id, module_id, _ in changes],
                    source=source,
                    batch_id=batch_id,
                    now=now,
                ),
            ],
        )
        watch_events.written(cursor.fetchall(), organization_id)


_AUDIT_EACH_FROM_ARRAYS = f"""
    INSERT INTO {AuditEntry._meta.db_table} (id, record_id, module_id, previous_owner_id,
        new_owner_id, organization_id, actor_id, source, batch_id, created_time)
    SELECT a.id, a.record_id, a.module_id, a.previous_owner_id, a.new_owner_id,
        %s, %s::bigint, %s, %s, %s
    FROM unnest(%s::bigint[], %s::bigint[], %s::bigint[], %s::bigint[], %s::bigint[])
        AS a(id, record_id, module_id, previous_owner_id, new_owner_id)
"""


def record_owner_changes_each(
    *,
    organization_id: int,
    changes: Sequence[tuple[int, int, int | None, int]],
    actor_id: int | None,
    source: str,
    batch_id: uuid.UUID,
    now: datetime,
) -> None:
    """`record_owner_changes` for changes with an owner each: one audit row per (record id,
    module id, previous owner id, new owner id), one statement (elsewhere than on PostgreSQL,
    one per new owner)."""
    if not changes:
        return
    if connection.vendor != "postgresql":
        by_owner: dict[int, list[tuple[int, int, int | None]]] = {}
        for record_id, module_id, previous_owner_id, new_owner_id in changes:
            by_owner.setdefault(new_owner_id, []).append((record_id, module_id, previous_owner_id))
        for new_owner_id, owned in by_owner.items():
            record_owner_changes(
                organization_id=organization_id,
                changes=owned,
                new_owner_id=new_owner_id,
                actor_id=actor_id,
                source=source,
                batch_id=batch_id,
                now=now,
            )
        return
    columns = list(zip(*changes, strict=True))
    with connection.cursor() as cursor:
        cursor.execute(
            _WITH_AUDIT.format(audit=_AUDIT_EACH_FROM_ARRAYS) + watch_events.WATCH_EVENT_INSERT,
            [
                organization_id,
                actor_id,
                source,
                batch_id,
                now,
                [new_id() for _ in changes],
                *(list(column) for column in columns),
                *watch_events.watch_event_params(
                    organization_id=organization_id,
                    changes=[(record_id, module_id) for record_id, module_id, _, _ in changes],
                    source=source,
                    batch_id=batch_id,
                    now=now,
                ),
            ],
        )
        watch_events.written(cursor.fetchall(), organization_id)


def owner_statuses(user_ids: Sequence[int]) -> dict[int, str]:
    """The status of each user of `user_ids` (missing: no such user), read FOR SHARE in id order
    on PostgreSQL, as `new_owner_status` reads one: for a revert's chunk, which gives records to
    several previous owners."""
    if not user_ids:
        return {}
    condition, params = _ids_condition(sorted(user_ids))
    share = " FOR SHARE" if connection.features.has_select_for_update else ""
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT id, status FROM {User._meta.db_table} WHERE id {condition} ORDER BY id{share}",
            params,
        )
        return dict(cursor.fetchall())


def new_owner_status(user_id: int) -> str | None:
    """The status of the user `user_id`, read FOR SHARE on PostgreSQL: a concurrent change of
    it waits for the caller's transaction (an transfer job chunk), or the caller reads the
    status it committed."""
    share = " FOR SHARE" if connection.features.has_select_for_update else ""
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT status FROM {User._meta.db_table} WHERE id = %s{share}", [user_id])
        row = cursor.fetchone()
    return row[0] if row else None


# The outbox rows of one change (related transfer, notification): one INSERT with a row of
# plain values each, instead of `bulk_create`, which prepares every field of every row in Python
# and compiles the statement on each request. A change writes one or two of them, so the
# statement's text differs only by that count and each is prepared (`_cursor`); plain values
# also cost psycopg less to send than a column of arrays (cProfile of a single-record change:
# the arrays' adaptation was most of the INSERT's time on the client).
_OUTBOX_COLUMNS = (
    "id, organization_id, kind, status, batch_id, payload, attempts, run_after, claimed_at,"
    " finished_at, last_error, result, created_time"
)
_OUTBOX_ROW = "(%s, %s, %s, %s, %s, %s::jsonb, %s, %s, %s, %s, %s, %s::jsonb, %s)"


@functools.cache
def _insert_outbox_entries(rows: int) -> str:
    values = ", ".join([_OUTBOX_ROW] * rows)
    return f"INSERT INTO {OutboxEntry._meta.db_table} ({_OUTBOX_COLUMNS}) VALUES {values}"


def insert_outbox_entries(entries: Sequence[OutboxEntry]) -> None:
    """Save the new `entries` in one statement, as `OutboxEntry.objects.bulk_create` would (each
    gets its id here when it has none)."""
    if not entries:
        return
    if connection.vendor != "postgresql":
        OutboxEntry.objects.bulk_create(entries)
        return
    params: list[object] = []
    for entry in entries:
        if entry.id is None:
            entry.id = new_id()
        params += (
            entry.id,
            entry.organization_id,
            entry.kind,
            entry.status,
            entry.batch_id,
            json.dumps(entry.payload),
            entry.attempts,
            entry.run_after,
            entry.claimed_at,
            entry.finished_at,
            entry.last_error,
            json.dumps(entry.result),
            entry.created_time,
        )
    with _cursor() as cursor:
        cursor.execute(_insert_outbox_entries(len(entries)), params)
    for entry in entries:
        entry._state.adding, entry._state.db = False, connection.alias


# Transfer-job chunks (owners/transfers/runner.py) --------------------------------------------
#
# A chunk of a transfer job, on PostgreSQL, is TWO statements: the records of its id range locked
# in id order (their ids come back as one array), then one statement that locks their related
# activities in id order and moves both, writing their audit rows and the watch event, as
# data-modifying CTEs. A chunk of 5,000 records used to send its ids four times (the lock's rows,
# the UPDATE's array, the audit arrays, the watch payload), and quoting and parsing those was
# about a third of a chunk's time (python -m bench.offboarding, cProfile). Elsewhere (SQLite)
# the runner keeps the statements above, one by one.
#
# The activities are found with the records' ids as a constant array (`related_to_id = ANY`),
# not through a sub-select of the locked rows: the planner then knows how many parents there
# are and reads the related_to index. With a sub-select it guessed ten, and in an organization
# next to millions of other rows it ANDed that index with the (organization, module) bitmap for
# every parent: 1.6 s for 1,000 activities instead of 4 ms (EXPLAIN ANALYZE, the bench's
# database with its 6,000,000-row organization).
#
# The audit ids are the generator's (crm/ids.py): the statement cannot know beforehand how many
# activities it moves, so it takes blocks of its own from the block sequence, one per
# BLOCK_SIZE rows (a chunk takes one), instead of drawing from the process's block.

_NO_RELATED = "SELECT NULL::bigint, NULL::bigint, false WHERE false"
_LOCKED_IDS = "SELECT coalesce(array_agg(id ORDER BY id), '{}') FROM ({records}) AS locked"

# What follows `moved` (id, module_id, previous_owner_id) in both statements below: the audit rows,
# numbered within blocks of ids the statement takes, and the watch event.
_AUDIT_AND_EVENT = f"""
numbered AS MATERIALIZED (
    SELECT id, module_id, previous_owner_id, row_number() OVER (ORDER BY id) - 1 AS n FROM moved
),
id_blocks AS MATERIALIZED (
    SELECT g, nextval('{BLOCK_SEQUENCE}') AS block
    FROM generate_series(
        0, ((SELECT count(*) FROM numbered) + %(block_size)s - 1) / %(block_size)s - 1) AS g
),
audit AS (
    INSERT INTO {AuditEntry._meta.db_table} (id, record_id, module_id, previous_owner_id,
        organization_id, new_owner_id, actor_id, source, batch_id, created_time)
    SELECT %(id_base)s + b.block * %(block_size)s + numbered.n %% %(block_size)s, numbered.id,
        numbered.module_id, numbered.previous_owner_id, %(organization)s, %(new_owner)s,
        %(actor)s, %(source)s, %(batch)s, %(now)s
    FROM numbered JOIN id_blocks AS b ON b.g = numbered.n / %(block_size)s
),
by_module AS MATERIALIZED (
    SELECT m.api_name, jsonb_agg(moved.id::text ORDER BY moved.id) AS ids
    FROM moved JOIN unnest(%(module_ids)s::bigint[], %(module_names)s::text[]) AS m(id, api_name)
        ON m.id = moved.module_id
    GROUP BY m.api_name
),
event AS (
    INSERT INTO {OutboxEntry._meta.db_table} (id, organization_id, kind, status, batch_id, payload,
        attempts, run_after, last_error, result, created_time)
    SELECT %(event_id)s, %(organization)s, '{OutboxEntry.Kind.WATCH_EVENT.value}', 'pending',
        %(batch)s,
        jsonb_build_object('event', %(event)s, 'operation', %(operation)s, 'source', %(source)s,
            'changes', (SELECT jsonb_object_agg(api_name, ids) FROM by_module)),
        0, %(now)s, '', '{{}}'::jsonb, %(now)s
    WHERE EXISTS (
        SELECT 1 FROM {WatchChannel._meta.db_table} AS c
        WHERE c.organization_id = %(organization)s AND c.channel_expiry > %(now)s
          AND c.events ?| ARRAY(
              SELECT api_name || '.' || e FROM by_module, unnest(ARRAY[%(event)s, 'all']) AS e)
    )
    RETURNING id, run_after
)
"""

_MOVE_CHUNK = f"""
WITH chunk_parents AS MATERIALIZED (
    SELECT id, owner_id FROM {Record._meta.db_table}
    WHERE organization_id = %(organization)s AND id = ANY(%(parents)s::bigint[])
),
chunk_related (id, owner_id, in_job) AS MATERIALIZED ({{related}}),
chunk_rows AS (
    SELECT id, owner_id, false AS related, false AS in_job FROM chunk_parents
    UNION ALL
    SELECT id, owner_id, true, in_job FROM chunk_related
),
moved AS (
    UPDATE {Record._meta.db_table} AS r
    SET owner_id = %(new_owner)s, modified_time = %(now)s, owner_changed_time = %(now)s,
        modified_by_id = %(actor)s
    FROM chunk_rows AS c
    WHERE r.organization_id = %(organization)s AND r.id = c.id
    RETURNING r.id, r.module_id, c.owner_id AS previous_owner_id, c.related, c.in_job
),
{{audit_and_event}}SELECT (SELECT count(*) FILTER (WHERE related) FROM moved),
    (SELECT count(*) FILTER (WHERE in_job) FROM moved),
    (SELECT id FROM event), (SELECT run_after FROM event)
""".replace("{audit_and_event}", _AUDIT_AND_EVENT)


@dataclass(frozen=True)
class ChunkMoved:
    locked: int  # records locked: at most `limit` + 1
    moved: int  # of which moved: the first `limit` by id
    last_moved_id: int | None
    related: int  # activities that moved with them
    related_in_job: int  # of which match the job's own condition


def _named(sql: str, params: Sequence, prefix: str) -> tuple[str, dict]:
    """`sql` with its positional placeholders named `prefix0`, `prefix1`, ... (`%%` kept)."""
    names = iter(range(len(params)))
    named = re.sub(r"%[%s]", lambda m: m[0] if m[0] == "%%" else f"%({prefix}{next(names)})s", sql)
    return named, {f"{prefix}{n}": value for n, value in enumerate(params)}


def move_chunk(
    *,
    records: tuple[str, Sequence],
    limit: int,
    related: Callable[[list[int]], tuple[str, Sequence]] | None,
    organization_id: int,
    new_owner_id: int | None,
    actor_id: int | None,
    source: str,
    batch_id: uuid.UUID,
    now: datetime,
) -> ChunkMoved:
    """Move a chunk of a transfer job in two statements (PostgreSQL only), as the comment above
    says. `records`: SQL and parameters of a SELECT of (id, owner id) of the records to move,
    locked FOR UPDATE in id order, at most `limit` + 1 rows (the first `limit` move). `related`:
    given the ids of the records that move, the same of (id, owner id, in job) of their
    activities, locked FOR UPDATE in id order; None: no activities move."""
    records_sql, records_params = records
    with connection.cursor() as cursor:
        cursor.execute(_LOCKED_IDS.replace("{records}", records_sql), records_params)
        (locked,) = cursor.fetchone()
    parents = locked[:limit]
    if not parents:
        return ChunkMoved(len(locked), 0, None, 0, 0)
    related_sql, related_params = _named(*related(parents), "r") if related else (_NO_RELATED, {})
    params = _audit_and_event_params(
        organization_id=organization_id,
        new_owner_id=new_owner_id,
        actor_id=actor_id,
        source=source,
        batch_id=batch_id,
        now=now,
    )
    params.update(related_params, parents=parents)
    with connection.cursor() as cursor:
        cursor.execute(_MOVE_CHUNK.replace("{related}", related_sql), params)
        related_moved, in_job, event_id, run_after = cursor.fetchone()
    if event_id is not None:
        watch_events.written([(event_id, run_after)], organization_id)
    return ChunkMoved(len(locked), len(parents), parents[-1], related_moved, in_job)


def _audit_and_event_params(
    *,
    organization_id: int,
    new_owner_id: int | None,
    actor_id: int | None,
    source: str,
    batch_id: uuid.UUID,
    now: datetime,
) -> dict:
    """The parameters of `_AUDIT_AND_EVENT` (the UPDATE before it shares the first six)."""
    event, operation = watch_events.operation_of(source)
    return {
        "organization": organization_id,
        "new_owner": new_owner_id,
        "actor": actor_id,
        "now": now,
        "source": source,
        "batch": batch_id,
        "block_size": BLOCK_SIZE,
        "id_base": ID_BASE,
        "module_ids": [module.id for module in MODULES],
        "module_names": [module.api_name for module in MODULES],
        "event_id": new_id(),
        "event": event,
        "operation": operation,
    }


# The related transfer of a batch (owners/outbox.py, `run_related_transfer`), on PostgreSQL: the
# same shape, two statements. The parents that still have the new owner locked in id order (their
# ids back as one array, which the next statement names as a constant, as a chunk does: see
# above); then their activities of the job's modules (or among its ids) that the new owner does
# not have yet, locked in id order; of those, the ones nobody changed since the batch (and all of
# them only when the new owner may own records) moved and audited; the job's result written on
# its row.
_LOCK_RELATED_PARENTS = f"""
SELECT coalesce(array_agg(id ORDER BY id), '{{}}') FROM (
    SELECT id FROM {Record._meta.db_table}
    WHERE organization_id = %s AND id = ANY(%s::bigint[]) AND owner_id = %s
    ORDER BY id FOR UPDATE
) AS locked
"""
_MOVE_RELATED = f"""
WITH candidates AS MATERIALIZED (
    SELECT id, owner_id, (%(may_own)s AND (owner_changed_time IS NULL
                                           OR owner_changed_time < %(since)s)) AS moves
    FROM {Record._meta.db_table}
    WHERE organization_id = %(organization)s
      AND related_to_id = ANY(%(parent_ids)s::bigint[])
      AND (module_id = ANY(%(related_modules)s::bigint[])
           OR (id = ANY(%(related_ids)s::bigint[])
               AND module_id = ANY(%(activity_modules)s::bigint[])))
      AND owner_id IS DISTINCT FROM %(new_owner)s
    ORDER BY id FOR UPDATE
),
moved AS (
    UPDATE {Record._meta.db_table} AS r
    SET owner_id = %(new_owner)s, modified_time = %(now)s, owner_changed_time = %(now)s,
        modified_by_id = %(actor)s
    FROM candidates AS c
    WHERE c.moves AND r.organization_id = %(organization)s AND r.id = c.id
    RETURNING r.id, r.module_id, c.owner_id AS previous_owner_id
),
{{audit_and_event}}, skipped AS (
    SELECT count(*) AS count,
        (SELECT coalesce(jsonb_agg(id::text ORDER BY id), '[]') FROM (
            SELECT id FROM candidates WHERE NOT moves ORDER BY id LIMIT %(listed)s) AS listed
        ) AS ids
    FROM candidates WHERE NOT moves
),
result AS (
    UPDATE {OutboxEntry._meta.db_table}
    SET result = jsonb_build_object('moved', (SELECT count(*) FROM moved),
        'skipped', skipped.count, 'skipped_ids', skipped.ids)
    FROM skipped WHERE {OutboxEntry._meta.db_table}.id = %(job)s
)
SELECT (SELECT coalesce(array_agg(id ORDER BY id), '{{}}') FROM moved),
    (SELECT count FROM skipped), (SELECT id FROM event), (SELECT run_after FROM event)
""".replace("{audit_and_event}", _AUDIT_AND_EVENT.rstrip().rstrip(","))


def move_related(
    *,
    job_id: int,
    organization_id: int,
    parent_ids: Sequence[int],
    module_ids: Sequence[int],
    related_ids: Sequence[int],
    activity_module_ids: Sequence[int],
    may_own: bool,
    since: datetime,
    new_owner_id: int,
    actor_id: int | None,
    source: str,
    batch_id: uuid.UUID,
    now: datetime,
    listed: int,
) -> tuple[list[int], int]:
    """The related transfer of job `job_id` in two statements (PostgreSQL only), as the comment
    above says; its result (`moved`, `skipped`, the first `listed` skipped ids) written on the
    job's row. Returns the ids moved, in order, and how many were skipped."""
    params = _audit_and_event_params(
        organization_id=organization_id,
        new_owner_id=new_owner_id,
        actor_id=actor_id,
        source=source,
        batch_id=batch_id,
        now=now,
    )
    with connection.cursor() as cursor:
        cursor.execute(_LOCK_RELATED_PARENTS, [organization_id, list(parent_ids), new_owner_id])
        (parents,) = cursor.fetchone()
    params.update(
        job=job_id,
        parent_ids=parents,
        related_modules=list(module_ids),
        related_ids=list(related_ids),
        activity_modules=list(activity_module_ids),
        may_own=may_own,
        since=since,
        listed=listed,
    )
    with connection.cursor() as cursor:
        cursor.execute(_MOVE_RELATED, params)
        moved, skipped, event_id, run_after = cursor.fetchone()
    if event_id is not None:
        watch_events.written([(event_id, run_after)], organization_id)
    return moved, skipped
