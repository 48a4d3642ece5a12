"""The record APIs' writes: add, update, upsert and delete records of one module (api-spec.md,
"Records a client writes"). The views call these; so may anything else that writes records as a
client does (the model test's rules).

Each call takes the rows of a body's `data` (up to 100), checks each against the module's fields
(crm/record_input.py) and answers one `RecordOutcome` per row, in order: a row that fails writes
nothing of itself and the others are written. The writes of one call are one transaction, with
a constant number of statements whatever the number of rows (one INSERT, one UPDATE of fields,
one UPDATE of owners, one audit INSERT per source).

An owner written here is an owner change like any other (owners/statements.py): an added record
is audited with source `insert` (no previous owner), an update or upsert that gives a record
another owner with source `update`; both stamp the record's owner-changed time, so a job
scheduled earlier never overwrites them (newest write wins). Related records do not follow an
update (Bigin's behaviour). Who may do what is crm/policy.py's: a profile that may write records,
and a change of owner (any owner but the caller's own on a new record) needs Change_Owner.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import connection, transaction
from django.utils import timezone

from audit.models import AuditEntry
from crm import policy
from crm.fields import NAME_FIELDS, FieldSpec, module_field_specs, record_name
from crm.ids import new_id
from crm.models import Organization, Record, User
from crm.modules import ModuleInfo
from crm.record_input import (
    DUPLICATE_DATA,
    INVALID_ID,
    NO_PERMISSION,
    OWNER_DELETED,
    OWNER_DISABLED,
    OWNER_UNKNOWN,
    UNSET,
    RecordError,
    Row,
    check_mandatory,
    owners_of,
    read_rows,
    records_with_values,
    resolve_lookups,
    unique_key,
)
from owners.statements import (
    insert_records,
    owner_statuses,
    record_owner_changes_each,
    update_owners_each,
)

MAX_RECORDS = 100
# Upsert's duplicate check when the body names none: the module's unique fields, as Bigin's
# system-defined duplicate check fields; Pipelines match on their name. Activities have none:
# every row is added.
DEFAULT_DUPLICATE_CHECK = {"Pipelines": ("Deal_Name",)}
# The field types a duplicate check may compare (text, case-insensitively).
DUPLICATE_CHECK_TYPES = frozenset({"text", "email", "phone", "website"})


class NotAllowed(Exception):
    """The actor's profile lacks `permission` (crm/policy.py): nothing is written."""

    def __init__(self, permission: str) -> None:
        super().__init__(f"needs {permission}")
        self.permission = permission


class InvalidDuplicateCheckField(Exception):
    """Upsert's `duplicate_check_fields[index]` names no text field of the module."""

    def __init__(self, index: int) -> None:
        super().__init__(f"duplicate_check_fields[{index}]")
        self.index = index


@dataclass(frozen=True)
class UserRef:
    id: int
    name: str


@dataclass(frozen=True)
class RecordOutcome:
    """What became of one row: written (`record_id`, `action` insert or update, the record's
    times and users), or not (`error`). Upsert's `duplicate_field` names the field that found
    the updated record."""

    error: RecordError | None = None
    record_id: int | None = None
    action: str | None = None
    created_time: datetime | None = None
    created_by: UserRef | None = None
    modified_time: datetime | None = None
    modified_by: UserRef | None = None
    duplicate_field: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclass(frozen=True)
class WriteResult:
    batch_id: uuid.UUID  # on the audit rows of the owners this call wrote
    outcomes: list[RecordOutcome]


@dataclass(frozen=True)
class DeleteResult:
    requested: tuple[int, ...]  # distinct, in first-seen order
    deleted: frozenset[int]


def add_records(
    *, organization: Organization, actor: User, module: ModuleInfo, rows: Sequence[Any]
) -> WriteResult:
    """Add `rows` (entries of `data`) to `module`; each is owned by its Owner, else by `actor`."""
    require(actor, policy.CREATE_RECORDS)
    specs = module_field_specs(organization, module)
    read = read_rows(rows, specs, module, adding=True)
    return _write(organization, actor, module, specs, inserts=read, updates=[], order=read)


def update_records(
    *,
    organization: Organization,
    actor: User,
    module: ModuleInfo,
    rows: Sequence[Any],
    record_id: int | None = None,
) -> WriteResult:
    """Update the records `rows` name by `id`; with `record_id` (the one-record form), that record
    whatever the rows say. A row that names a record twice is applied in order."""
    require(actor, policy.EDIT_RECORDS)
    specs = module_field_specs(organization, module)
    read = read_rows(rows, specs, module, adding=False, needs_id=record_id is None)
    if record_id is not None:
        for row in read:
            row.record_id = record_id
    return _write(organization, actor, module, specs, inserts=[], updates=read, order=read)


def upsert_records(
    *,
    organization: Organization,
    actor: User,
    module: ModuleInfo,
    rows: Sequence[Any],
    duplicate_check_fields: Sequence[str] | None = None,
) -> WriteResult:
    """Update each row's record found by `duplicate_check_fields` (in order: the first field
    whose value matches a record, the oldest such record), else add it. Without them, the
    module's unique fields."""
    require(actor, policy.CREATE_RECORDS)
    require(actor, policy.EDIT_RECORDS)
    specs = module_field_specs(organization, module)
    check = _duplicate_check(module, specs, duplicate_check_fields)
    read = read_rows(rows, specs, module, adding=False)
    wanted: dict[str, set[str]] = {name: set() for name in check}
    for row in read:
        for name in check:
            key = unique_key(row.values.get(name)) if row.error is None else None
            if key is not None:
                wanted[name].add(key)
    found: dict[tuple[str, str], int] = {}
    for api_name, key, record_id, *_ in records_with_values(organization, module, wanted):
        found.setdefault((api_name, key), record_id)  # the oldest: rows come in id order
    inserts, updates, matched_by = [], [], {}
    for row, entry in zip(read, rows, strict=True):
        if row.error is not None:
            continue
        for name in check:
            record_id = found.get((name, unique_key(row.values.get(name))))
            if record_id is not None:
                row.record_id, matched_by[row.index] = record_id, name
                updates.append(row)
                break
        else:
            check_mandatory(row, entry, specs, adding=True)
            inserts.append(row)
    result = _write(
        organization, actor, module, specs, inserts=inserts, updates=updates, order=read
    )
    outcomes = [
        outcome
        if not outcome.ok
        else RecordOutcome(**{**vars(outcome), "duplicate_field": matched_by.get(index)})
        for index, outcome in enumerate(result.outcomes)
    ]
    return WriteResult(batch_id=result.batch_id, outcomes=outcomes)


def delete_records(
    *, organization: Organization, actor: User, module: ModuleInfo, record_ids: Sequence[int]
) -> DeleteResult:
    """Delete the records `record_ids` of `module`, and the activities related to them (Bigin
    deletes a record's activities with it). Ids that are no record of the module are left out of
    `deleted`. Two statements."""
    require(actor, policy.DELETE_RECORDS)
    requested = tuple(dict.fromkeys(record_ids))
    if not requested:
        return DeleteResult(requested=(), deleted=frozenset())
    with transaction.atomic(durable=True):
        deleted = _delete(organization, requested, module_id=module.id)
        if deleted and not module.is_activity:
            # Their activities (the keys to their parents are checked at commit).
            _delete(organization, deleted, by="related_to_id")
    return DeleteResult(requested=requested, deleted=frozenset(deleted))


# The write of a call ------------------------------------------------------------------------


def require(actor: User, permission: str) -> None:
    """NotAllowed unless `actor` holds `permission` (crm/policy.py). Each write calls it first;
    so does its view, before reading the body (the API checks the permission before the body)."""
    if not policy.has_permission(actor, permission):
        raise NotAllowed(permission)


def _duplicate_check(
    module: ModuleInfo, specs: Sequence[FieldSpec], given: Sequence[str] | None
) -> tuple[str, ...]:
    by_name = {spec.api_name: spec for spec in specs}
    if given is None:
        unique = tuple(spec.api_name for spec in specs if spec.unique)
        return DEFAULT_DUPLICATE_CHECK.get(module.api_name, unique)
    for index, name in enumerate(given):
        spec = by_name.get(name)
        if spec is None or spec.data_type not in DUPLICATE_CHECK_TYPES:
            raise InvalidDuplicateCheckField(index)
    return tuple(dict.fromkeys(given))


def _write(
    organization: Organization,
    actor: User,
    module: ModuleInfo,
    specs: Sequence[FieldSpec],
    *,
    inserts: list[Row],
    updates: list[Row],
    order: list[Row],
) -> WriteResult:
    """Add `inserts` and update `updates` (rows with their record_id), answering for `order`."""
    rows = [row for row in order if row.error is None]
    names = {**owners_of(organization, rows), actor.id: actor.full_name}
    resolve_lookups(organization, rows)
    for row in inserts:
        if row.error is None:
            row.record_id = new_id()  # drawn now: a duplicate later in the call can name it
    # Who a record of this call is owned by, for a duplicate found later in the call: an added
    # one's Owner or the actor, an updated one's new Owner (if the row gives one).
    owners = {row.index: row.owner_id for row in updates if row.owner_id is not UNSET}
    owners |= {row.index: actor.id if row.owner_id is UNSET else row.owner_id for row in inserts}
    _fail_duplicates(organization, module, specs, order, owners=owners, names=names)
    batch_id = uuid.uuid4()
    results: dict[int, RecordOutcome] = {}
    actor_ref = UserRef(actor.id, actor.full_name)
    with transaction.atomic(durable=True):
        # Lock the records to update in id order (two calls over the same records queue rather
        # than deadlock) and read what the update keeps: their owner, fields and creation.
        wanted = [row.record_id for row in updates if row.error is None]
        locked = _lock(organization, module, wanted)
        for row in updates:
            if row.error is None and row.record_id not in locked:
                row.fail(INVALID_ID, api_name="id", json_path=row.path("id"))
        # The new owners' status again, read FOR SHARE: one disabled since the check above, or
        # while this transaction waited for its locks, is given nothing.
        _recheck_owners(actor, inserts + updates)
        now = timezone.now()
        new_records, owner_changes = [], {"insert": [], "update": []}
        for row in inserts:
            if row.error is not None:
                continue
            owner_id = actor.id if row.owner_id is UNSET else row.owner_id
            if not policy.may_give_record(
                actor, new_owner_id=owner_id, current_owner_id=None, adding=True
            ):
                _no_permission(row)
                continue
            parent = None if row.parent_id is UNSET else row.parent_id
            new_records.append(
                (row.record_id, owner_id, record_name(module, row.values), row.values, parent)
            )
            owner_changes["insert"].append((row.record_id, module.id, None, owner_id))
            results[row.index] = RecordOutcome(
                record_id=row.record_id,
                action="insert",
                created_time=now,
                created_by=actor_ref,
                modified_time=now,
                modified_by=actor_ref,
            )
        edited: dict[int, dict[str, Any]] = {}
        for row in updates:
            if row.error is not None:
                continue
            current = locked[row.record_id]
            owner_id = current["owner_id"] if row.owner_id is UNSET else row.owner_id
            if not policy.may_give_record(
                actor, new_owner_id=owner_id, current_owner_id=current["owner_id"], adding=False
            ):
                _no_permission(row)
                continue
            _apply(module, current, row, owner_id)
            edited[row.record_id] = current
            results[row.index] = RecordOutcome(
                record_id=row.record_id,
                action="update",
                created_time=current["created_time"],
                created_by=current["created_by"],
                modified_time=now,
                modified_by=actor_ref,
            )
        insert_records(
            organization_id=organization.id,
            module_id=module.id,
            records=new_records,
            actor_id=actor.id,
            now=now,
        )
        _update_fields(organization, edited.values(), actor_id=actor.id, now=now)
        for record in edited.values():
            if record["owner_id"] != record["original_owner_id"]:
                owner_changes["update"].append(
                    (record["id"], module.id, record["original_owner_id"], record["owner_id"])
                )
        update_owners_each(
            organization.id,
            [(record_id, new) for record_id, _, _, new in owner_changes["update"]],
            actor_id=actor.id,
            now=now,
        )
        for source, changes in owner_changes.items():
            record_owner_changes_each(
                organization_id=organization.id,
                changes=changes,
                actor_id=actor.id,
                source=AuditEntry.Source(source),
                batch_id=batch_id,
                now=now,
            )
    outcomes = [
        RecordOutcome(error=row.error) if row.error is not None else results[row.index]
        for row in order
    ]
    return WriteResult(batch_id=batch_id, outcomes=outcomes)


def _no_permission(row: Row) -> None:
    row.fail(
        NO_PERMISSION,
        permissions=[policy.CHANGE_OWNER],
        api_name="Owner",
        json_path=row.path("Owner"),
    )


def _apply(module: ModuleInfo, current: dict[str, Any], row: Row, owner_id: int) -> None:
    """Row `row` applied to the locked record `current` (rows naming one record, in order)."""
    current["fields"] = {**current["fields"], **row.values}
    if any(name in row.values for name in NAME_FIELDS[module.api_name]):
        current["name"] = record_name(module, current["fields"])
    if row.parent_id is not UNSET:
        current["related_to_id"] = row.parent_id
    current["owner_id"] = owner_id


def _recheck_owners(actor: User, rows: list[Row]) -> None:
    given = {row.owner_id for row in rows if row.error is None and row.owner_id is not UNSET}
    given.discard(actor.id)
    if not given:
        return
    statuses = owner_statuses(sorted(given))
    errors = {
        None: (OWNER_UNKNOWN, {}),
        User.Status.DISABLED: (OWNER_DISABLED, {"owner_status": "inactive"}),
        User.Status.DELETED: (OWNER_DELETED, {"owner_status": "deleted"}),
    }
    for row in rows:
        if row.error is None and row.owner_id in given:
            status = statuses.get(row.owner_id)
            if status != User.Status.ACTIVE:
                kind, extra = errors.get(status, errors[None])
                row.fail(kind, api_name="Owner", json_path=row.path("Owner.id"), **extra)


def _fail_duplicates(
    organization: Organization,
    module: ModuleInfo,
    specs: Sequence[FieldSpec],
    rows: list[Row],
    *,
    owners: dict[int, int],
    names: dict[int, str],
) -> None:
    """Fail each row that gives a unique field a value another record has (Bigin's duplicate
    check), or an earlier row of the same call gave. One query."""
    unique = [spec.api_name for spec in specs if spec.unique]
    wanted: dict[str, set[str]] = {name: set() for name in unique}
    for row in rows:
        if row.error is None:
            for name in unique:
                key = unique_key(row.values.get(name))
                if key is not None:
                    wanted[name].add(key)
    if not any(wanted.values()):
        return
    taken: dict[tuple[str, str], dict[str, Any]] = {}
    for api_name, key, record_id, _, owner_id, owner_name in records_with_values(
        organization, module, wanted
    ):
        taken.setdefault((api_name, key), _duplicate(module, record_id, owner_id, owner_name))
    for row in rows:
        if row.error is not None:
            continue
        for name in unique:
            key = (name, unique_key(row.values.get(name)))
            if key[1] is None:
                continue
            other = taken.get(key)
            if other is not None and other["id"] != str(row.record_id):
                row.fail(
                    DUPLICATE_DATA, api_name=name, json_path=row.path(name), duplicate_record=other
                )
                break
        if row.error is None:
            owner_id = owners.get(row.index)
            for name in unique:
                key = (name, unique_key(row.values.get(name)))
                if key[1] is not None:
                    taken[key] = _duplicate(module, row.record_id, owner_id, names.get(owner_id))


def _duplicate(
    module: ModuleInfo, record_id: int, owner_id: int | None, owner_name: str | None
) -> dict[str, Any]:
    return {
        "module": {"api_name": module.api_name, "id": str(module.id)},
        "id": str(record_id),
        "Owner": None if owner_id is None else {"name": owner_name, "id": str(owner_id)},
    }


_LOCK = f"""
    SELECT r.id, r.owner_id, r.fields, r.name, r.related_to_id, r.created_time,
        r.created_by_id, u.full_name
    FROM {Record._meta.db_table} AS r LEFT JOIN {User._meta.db_table} AS u ON u.id = r.created_by_id
    WHERE r.organization_id = %s AND r.module_id = %s AND r.id {{ids}}
    ORDER BY r.id {{lock}}
"""


def _lock(organization: Organization, module: ModuleInfo, ids: list[int]) -> dict[int, dict]:
    """The records `ids` of `module`, locked FOR UPDATE in id order, by id."""
    if not ids:
        return {}
    ids = sorted(set(ids))
    if connection.vendor == "postgresql":
        condition, params = "= ANY(%s)", [ids]
    else:
        condition, params = "IN ({})".format(", ".join(["%s"] * len(ids))), ids
    lock = "FOR UPDATE OF r" if connection.features.has_select_for_update else ""
    with connection.cursor() as cursor:
        cursor.execute(
            _LOCK.format(ids=condition, lock=lock), [organization.id, module.id, *params]
        )
        rows = cursor.fetchall()
    out = {}
    for record_id, owner_id, fields, name, related_to_id, created, created_by, creator in rows:
        if isinstance(fields, str):  # SQLite hands JSON back as text
            fields = json.loads(fields)
        if isinstance(created, str):
            created = Record._meta.get_field("created_time").to_python(created)
        out[record_id] = {
            "id": record_id,
            "owner_id": owner_id,
            "original_owner_id": owner_id,
            "fields": fields or {},
            "name": name,
            "related_to_id": related_to_id,
            "created_time": created,
            "created_by": None if created_by is None else UserRef(created_by, creator),
        }
    return out


_UPDATE_FIELDS = f"""
    UPDATE {Record._meta.db_table} AS r
    SET fields = c.fields::jsonb, name = c.name, related_to_id = c.related_to_id,
        modified_time = %s, modified_by_id = %s
    FROM unnest(%s::bigint[], %s::text[], %s::text[], %s::bigint[])
        AS c(id, fields, name, related_to_id)
    WHERE r.organization_id = %s AND r.id = c.id
"""


def _update_fields(
    organization: Organization, records: Any, *, actor_id: int, now: datetime
) -> None:
    """Write each locked record's fields, name and parent: one statement on PostgreSQL."""
    records = list(records)
    if not records:
        return
    if connection.vendor != "postgresql":
        Record.objects.bulk_update(
            [
                Record(
                    id=record["id"],
                    fields=record["fields"],
                    name=record["name"],
                    related_to_id=record["related_to_id"],
                    modified_time=now,
                    modified_by_id=actor_id,
                )
                for record in records
            ],
            ["fields", "name", "related_to_id", "modified_time", "modified_by_id"],
        )
        return
    with connection.cursor() as cursor:
        cursor.execute(
            _UPDATE_FIELDS,
            [
                now,
                actor_id,
                [record["id"] for record in records],
                [json.dumps(record["fields"]) for record in records],
                [record["name"] for record in records],
                [record["related_to_id"] for record in records],
                organization.id,
            ],
        )


def _delete(
    organization: Organization,
    ids: Sequence[int],
    *,
    module_id: int | None = None,
    by: str = "id",
) -> list[int]:
    """DELETE the organization's records (of `module_id`, if given) whose `by` column (id or
    related_to_id) is one of `ids`; the ids deleted."""
    if connection.vendor == "postgresql":
        condition, params = "= ANY(%s)", [list(ids)]
    else:
        condition, params = "IN ({})".format(", ".join(["%s"] * len(ids))), list(ids)
    module = "" if module_id is None else f" AND module_id = {int(module_id)}"
    sql = (
        f"DELETE FROM {Record._meta.db_table} WHERE organization_id = %s{module}"
        f" AND {by} {condition} RETURNING id"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [organization.id, *params])
        return [record_id for (record_id,) in cursor.fetchall()]
