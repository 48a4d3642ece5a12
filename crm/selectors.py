"""Reads for the Bigin read APIs. Every selector takes the organization and filters by it, so an id
from another organization reads exactly like one that does not exist.

A list is one query, whatever the page size: it asks for one row more than the page holds, and
that extra row is how `more_records` is known, so no count query is needed. (Bigin's `info.count`
is the number of entries on the page, not a total.) A page is found by its number (OFFSET), or,
given the sort key of the row before it (`after`, from a `page_token`: crm/paging.py), by an
index range that costs the same at any depth.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, TypeVar

from django.db.models import Q, QuerySet

from .models import Organization, Record, User
from .modules import ModuleInfo
from .paging import after_condition

T = TypeVar("T")

MAX_PER_PAGE = 200

# The `type` filter of GET /users. Deleted users are only listed by DeletedUsers: a user who has
# closed their account is no longer one of "all users" of the organization, as in Zoho CRM.
USER_TYPES = (
    "AllUsers",
    "ActiveUsers",
    "DeactiveUsers",
    "DeletedUsers",
    "AdminUsers",
    "CurrentUser",
)
ADMIN_PROFILE = "Administrator"

# sort_by as Bigin names it -> the column; ties are broken by id in the same direction.
RECORD_SORT_FIELDS = {"id": "id", "Created_Time": "created_time", "Modified_Time": "modified_time"}
SORT_ORDERS = ("asc", "desc")


@dataclass(frozen=True)
class Page(Generic[T]):
    items: list[T]
    page: int
    per_page: int
    more_records: bool


def _page_of(
    queryset: QuerySet,
    *,
    page: int,
    per_page: int,
    order: Sequence[str],
    after: Sequence[Any] | None,
    descending: bool = False,
) -> Page:
    """Page `page`, by OFFSET; or, with `after` (the sort key of the row before it, the columns of
    `order`), the rows after that key."""
    queryset = queryset.order_by(*(f"-{c}" if descending else c for c in order))
    if after is None:
        offset = (page - 1) * per_page
        rows = list(queryset[offset : offset + per_page + 1])
    else:
        queryset = queryset.filter(after_condition(order, after, descending=descending))
        rows = list(queryset[: per_page + 1])
    return Page(
        items=rows[:per_page], page=page, per_page=per_page, more_records=len(rows) > per_page
    )


def _users(organization: Organization) -> QuerySet[User]:
    return User.objects.filter(organization_id=organization.id).select_related("role", "profile")


def _user_filter(user_type: str, current_user: User) -> Q:
    deleted = Q(status=User.Status.DELETED)
    filters = {
        "AllUsers": ~deleted,
        "ActiveUsers": Q(status=User.Status.ACTIVE),
        "DeactiveUsers": Q(status=User.Status.DISABLED),
        "DeletedUsers": deleted,
        "AdminUsers": Q(profile__name=ADMIN_PROFILE) & ~deleted,
        "CurrentUser": Q(id=current_user.id),
    }
    return filters[user_type]


def users_page(
    *,
    organization: Organization,
    user_type: str,
    current_user: User,
    page: int,
    per_page: int,
    after: Sequence[Any] | None = None,
) -> Page[User]:
    """One page of the organization's users of one `type` (USER_TYPES), in id (creation) order;
    with `after` (an id), the page after that user."""
    users = _users(organization).filter(_user_filter(user_type, current_user))
    return _page_of(users, page=page, per_page=per_page, order=["id"], after=after)


def user_by_id(*, organization: Organization, user_id: int) -> User | None:
    """Any user of the organization, deleted ones included: a record's Owner always resolves."""
    return _users(organization).filter(id=user_id).first()


@dataclass(frozen=True, slots=True)
class OwnerRow:
    id: int
    full_name: str
    email: str


@dataclass(frozen=True, slots=True)
class ParentRow:
    id: int
    name: str
    module_id: int


@dataclass(frozen=True, slots=True)
class RecordRow:
    """What a rendered record shows (crm/representations.py reads these names, as on a Record)."""

    id: int
    module_id: int
    fields: dict[str, Any]
    created_time: datetime
    modified_time: datetime
    owner: OwnerRow | None
    related_to: ParentRow | None


_RECORD_COLUMNS = ("id", "module_id", "fields", "created_time", "modified_time")
_OWNER_COLUMNS = ("owner_id", "owner__full_name", "owner__email")
_RELATED_COLUMNS = ("related_to_id", "related_to__name", "related_to__module_id")


def _records(organization: Organization, module: ModuleInfo) -> QuerySet:
    # Only what a rendered record shows, as tuples: building a model instance for the record and
    # one for its owner was half of a 200-record page's time (bench/, cProfile). The related
    # record only for activities (the only modules that render What_Id): a join costs every row.
    records = Record.objects.filter(organization_id=organization.id, module_id=module.id)
    related = _RELATED_COLUMNS if module.is_activity else ()
    return records.values_list(*_RECORD_COLUMNS, *_OWNER_COLUMNS, *related)


def _record_row(values: tuple) -> RecordRow:
    record_id, module_id, fields, created, modified, owner_id, owner_name, owner_email = values[:8]
    parent = values[8:]
    return RecordRow(
        id=record_id,
        module_id=module_id,
        fields=fields,
        created_time=created,
        modified_time=modified,
        owner=None if owner_id is None else OwnerRow(owner_id, owner_name, owner_email),
        related_to=ParentRow(*parent) if parent and parent[0] is not None else None,
    )


def record_sort_columns(sort_by: str) -> list[str]:
    """The columns a records list is ordered by: the sort column, then the id to break ties."""
    column = RECORD_SORT_FIELDS[sort_by]
    return [column] if column == "id" else [column, "id"]


def record_sort_key(record: RecordRow, sort_by: str) -> tuple[Any, ...]:
    """A record's values of `record_sort_columns(sort_by)`: what a page token carries."""
    return tuple(getattr(record, column) for column in record_sort_columns(sort_by))


def records_page(
    *,
    organization: Organization,
    module: ModuleInfo,
    page: int,
    per_page: int,
    sort_by: str = "id",
    sort_order: str = "asc",
    owner_id: int | None = None,
    after: Sequence[Any] | None = None,
) -> Page[RecordRow]:
    """One page of a module's records, optionally only those of one owner; with `after` (a
    `record_sort_key`), the page after that record. On PostgreSQL the index
    (organization, owner, module, id) serves the owner's list, (organization, module, id) the
    whole module's: both give the rows in id order, so a page is a range of one index."""
    records = _records(organization, module)
    if owner_id is not None:
        records = records.filter(owner_id=owner_id)
    result = _page_of(
        records,
        page=page,
        per_page=per_page,
        order=record_sort_columns(sort_by),
        after=after,
        descending=sort_order == "desc",
    )
    return Page(
        items=[_record_row(values) for values in result.items],
        page=result.page,
        per_page=result.per_page,
        more_records=result.more_records,
    )


def record_by_id(
    *, organization: Organization, module: ModuleInfo, record_id: int
) -> RecordRow | None:
    values = _records(organization, module).filter(id=record_id).first()
    return None if values is None else _record_row(values)


def records_where(
    *,
    organization: Organization,
    module: ModuleInfo,
    condition: Q,
    aliases: dict[str, Any],
    page: int,
    per_page: int,
) -> Page[RecordRow]:
    """One page (by number) of the module's records that meet `condition` (over `aliases`:
    crm/search.py), in id order."""
    records = _records(organization, module).alias(**aliases).filter(condition)
    result = _page_of(records, page=page, per_page=per_page, order=["id"], after=None)
    return Page(
        items=[_record_row(values) for values in result.items],
        page=result.page,
        per_page=result.per_page,
        more_records=result.more_records,
    )
