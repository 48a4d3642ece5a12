"""Owner changes become watch events (Bigin's notification API), written in the transaction of
the change: the one place that writes owners (owners/statements.py) calls `owner_change_event`
with each audit INSERT. This module imports no other of owners/ but the models, so statements
may import it.

An event is one outbox entry (kind `watch_event`) per audit statement, that is per request, per
transfer-job chunk, per related transfer, and only when the organization has a channel, not
expired, that watches one of its modules' events: the delivery (owners/watch/delivery.py) turns
it into one callback per channel and module, with every record id of the statement.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import datetime

from django.db import connection
from django.dispatch import Signal

from crm.ids import new_id
from crm.modules import module_by_id

from ..models import OutboxEntry, WatchChannel

# Sent with `entries` (the watch_event entries a statement wrote) in the writer's transaction:
# owners/tasks.py dispatches them after its commit. A signal, because tasks import the writers.
entries_written = Signal()

# What an audit source is as a Bigin event: a record added is `create` (operation `insert`),
# every other owner change `edit` (operation `update`, with Owner in the affected fields).
INSERT_SOURCE = "insert"


def operation_of(source: str) -> tuple[str, str]:
    """(event, callback operation) of an owner write of audit source `source`."""
    return ("create", "insert") if source == INSERT_SOURCE else ("edit", "update")


def watched_events(module_names: Iterable[str], event: str) -> list[str]:
    """The channel events that ask for `event` on these modules: `Contacts.edit`, `Contacts.all`."""
    return sorted({f"{name}.{suffix}" for name in module_names for suffix in (event, "all")})


def event_payload(changes: Iterable[tuple[int, int]], source: str) -> dict:
    """The entry's payload: the record ids (strings) by module API name, and the operation."""
    by_module: dict[str, list[str]] = {}
    for record_id, module_id in changes:
        by_module.setdefault(module_by_id(module_id).api_name, []).append(str(record_id))
    event, operation = operation_of(source)
    return {"event": event, "operation": operation, "source": source, "changes": by_module}


# On PostgreSQL the entry is written by the audit INSERT's own statement (a data-modifying CTE
# runs to completion whatever the main statement reads): no query more for any write, whether
# or not the organization watches anything.
WATCH_EVENT_INSERT = f"""
    INSERT INTO {OutboxEntry._meta.db_table} (id, organization_id, kind, status, batch_id,
        payload, attempts, run_after, last_error, result, created_time)
    SELECT %s, %s, '{OutboxEntry.Kind.WATCH_EVENT.value}', 'pending', %s, %s::jsonb, 0, %s, '',
        '{{}}'::jsonb, %s
    WHERE EXISTS (
        SELECT 1 FROM {WatchChannel._meta.db_table} AS c
        WHERE c.organization_id = %s AND c.channel_expiry > %s AND c.events ?| %s::text[]
    )
    RETURNING id, run_after
"""


def watch_event_params(
    *,
    organization_id: int,
    changes: list[tuple[int, int]],
    source: str,
    batch_id: object,
    now: datetime,
) -> list:
    """The parameters of `WATCH_EVENT_INSERT` for `changes`, (record id, module id) each."""
    payload = event_payload(changes, source)
    events = watched_events(payload["changes"], payload["event"])
    return [
        new_id(),
        organization_id,
        batch_id,
        json.dumps(payload),
        now,
        now,
        organization_id,
        now,
        events,
    ]


def written(rows: list[tuple[int, datetime]], organization_id: int) -> None:
    """Tell the dispatcher about the entries a statement returned (none: nobody watches)."""
    if rows:
        entries = [
            OutboxEntry(id=entry_id, organization_id=organization_id, run_after=run_after)
            for entry_id, run_after in rows
        ]
        entries_written.send(sender=OutboxEntry, entries=entries)


def owner_change_event_elsewhere(
    *,
    organization_id: int,
    changes: list[tuple[int, int]],
    source: str,
    batch_id: object,
    now: datetime,
) -> None:
    """`WATCH_EVENT_INSERT` off PostgreSQL (SQLite under `make run`): the channels read, and the
    entry created when one of them watches the change."""
    payload = event_payload(changes, source)
    wanted = set(watched_events(payload["changes"], payload["event"]))
    channels = WatchChannel.objects.filter(
        organization_id=organization_id, channel_expiry__gt=now
    ).values_list("events", flat=True)
    if not any(wanted.intersection(events) for events in channels):
        return
    entry = OutboxEntry.objects.create(
        organization_id=organization_id,
        kind=OutboxEntry.Kind.WATCH_EVENT,
        batch_id=batch_id,
        payload=payload,
        run_after=now,
        created_time=now,
    )
    written([(entry.id, entry.run_after)], organization_id)


def on_postgresql() -> bool:
    return connection.vendor == "postgresql"
