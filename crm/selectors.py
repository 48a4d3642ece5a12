"""Reads for the Bigin read APIs. Every selector takes the organization and filters by it, so an id
from another organization reads exactly like one that does not exist.

A list is one query, whatever the page size: it asks for one row more than the page holds, and
that extra row is how `more_records` is known, so no count query is needed. (Bigin's `info.count`
is the number of entries on the page, not a total.)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Generic, TypeVar

from django.db.models import Q, QuerySet

from .models import Organization, Record, User
from .modules import ModuleInfo

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


def _page_of(queryset: QuerySet, *, page: int, per_page: int) -> Page:
    offset = (page - 1) * per_page
    rows = list(queryset[offset : offset + per_page + 1])
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
    *, organization: Organization, user_type: str, current_user: User, page: int, per_page: int
) -> Page[User]:
    """One page of the organization's users of one `type` (USER_TYPES), in id (creation) order."""
    users = _users(organization).filter(_user_filter(user_type, current_user)).order_by("id")
    return _page_of(users, page=page, per_page=per_page)


def user_by_id(*, organization: Organization, user_id: int) -> User | None:
    """Any user of the organization, deleted ones included: a record's Owner always resolves."""
    return _users(organization).filter(id=user_id).first()


def _records(organization: Organization, module: ModuleInfo) -> QuerySet[Record]:
    # Only what a rendered record shows: the related record's JSON fields can be large.
    return (
        Record.objects.filter(organization_id=organization.id, module_id=module.id)
        .select_related("owner", "related_to")
        .only(
            "id",
            "module_id",
            "fields",
            "created_time",
            "modified_time",
            "owner__id",
            "owner__full_name",
            "owner__email",
            "related_to__id",
            "related_to__name",
            "related_to__module_id",
        )
    )


def records_page(
    *,
    organization: Organization,
    module: ModuleInfo,
    page: int,
    per_page: int,
    sort_by: str = "id",
    sort_order: str = "asc",
    owner_id: int | None = None,
) -> Page[Record]:
    """One page of a module's records, optionally only those of one owner."""
    records = _records(organization, module)
    if owner_id is not None:
        records = records.filter(owner_id=owner_id)
    sign = "-" if sort_order == "desc" else ""
    column = RECORD_SORT_FIELDS[sort_by]
    ordering = [f"{sign}{column}"] if column == "id" else [f"{sign}{column}", f"{sign}id"]
    return _page_of(records.order_by(*ordering), page=page, per_page=per_page)


def record_by_id(
    *, organization: Organization, module: ModuleInfo, record_id: int
) -> Record | None:
    return _records(organization, module).filter(id=record_id).first()
