"""Who may do what, for every door: the API, the admin and the management commands.

One place decides who may change owners, offboard whom, revert which batch and edit which user
(design.md, "One policy, one truth"; api-spec.md, "Where features meet"). The doors only render
the answer their own way: an API error, a 403 page or a form error in the admin, a CommandError.

crm/ depends on nothing of ours, so the policy speaks of users, profiles and the names of
operations (a transfer job's kind, an audit source), never of the owners app's models.
"""

from __future__ import annotations

from enum import Enum

from .models import User

# The profile that manages users (Zoho's transfer and delete).
ADMINISTRATOR = "Administrator"

# The permissions, named as the API's NO_PERMISSION names them: {"permissions": [...]}.
CHANGE_OWNER = "Change_Owner"
MANAGE_USERS = "Manage_Users"

# What the record APIs need (add; update and upsert; delete), held together by a profile that
# may write records (every built-in profile but Read Only). Giving a record an owner other than
# the caller, on add or update, is a change of owner besides: it needs CHANGE_OWNER too.
CREATE_RECORDS = "Create_Records"
EDIT_RECORDS = "Edit_Records"
DELETE_RECORDS = "Delete_Records"
RECORD_PERMISSIONS = frozenset({CREATE_RECORDS, EDIT_RECORDS, DELETE_RECORDS})

# The operation that needs MANAGE_USERS (a TransferJob kind and an audit source in owners/);
# every other operation that writes a batch (a change-owner request, a mass change, a revert of
# those) needs CHANGE_OWNER.
OFFBOARDING = "offboarding"

# What a user is allowed to do, and where they belong: in the admin, only a superuser sets these
# on another user (setting them would hand out admin powers or move a user to another tenant).
SUPERUSER_ONLY_USER_FIELDS = (
    "organization",
    "is_staff",
    "is_superuser",
    "groups",
    "user_permissions",
)
# What a user may do in Bigin: nobody changes their own (nobody raises themselves).
OWN_LOCKED_USER_FIELDS = ("profile", "status")


def has_permission(user: User, permission: str) -> bool:
    """Whether `user` holds `permission` through any door. CHANGE_OWNER: a profile that may
    change owners. MANAGE_USERS: the Administrator profile (which must also be allowed to change
    owners: offboarding moves records). RECORD_PERMISSIONS: a profile that may write records. A
    superuser holds every permission."""
    if user.is_superuser:
        return True
    profile = user.profile
    if permission == CHANGE_OWNER:
        return profile.can_change_owner
    if permission == MANAGE_USERS:
        return profile.name == ADMINISTRATOR and profile.can_change_owner
    if permission in RECORD_PERMISSIONS:
        return profile.can_write_records
    raise ValueError(f"unknown permission {permission!r}")


def may_change_owners(user: User) -> bool:
    return has_permission(user, CHANGE_OWNER)


def may_offboard(user: User) -> bool:
    return has_permission(user, MANAGE_USERS)


def may_give_record(
    actor: User, *, new_owner_id: int, current_owner_id: int | None, adding: bool
) -> bool:
    """Whether `actor` may write a record (`adding` it, or updating one owned by
    `current_owner_id`) with the owner `new_owner_id`. Adding a record of one's own, or keeping a
    record's owner, needs nothing more; anything else is a change of owner."""
    if new_owner_id == (actor.id if adding else current_owner_id):
        return True
    return may_change_owners(actor)


def staff_has_permission(user: User, permission: str) -> bool:
    """The admin's door: an active staff user who is a superuser, or whom Django allows to change
    records (`crm.change_record`) and who holds `permission` (the API's rule)."""
    if not (user.is_active and user.is_staff):
        return False
    if user.is_superuser:
        return True
    return user.has_perm("crm.change_record") and has_permission(user, permission)


# Reverting a batch ------------------------------------------------------------------------------


def permission_to_revert(operation: str) -> str:
    """A revert needs the permission the batch's own operation needed: reverting an offboarding
    moves a leaving user's records as the offboarding did."""
    return MANAGE_USERS if operation == OFFBOARDING else CHANGE_OWNER


def may_revert(actor: User | None, operation: str) -> bool:
    """Whether `actor` may revert a batch that `operation` wrote. No actor: the operator at a
    shell (a management command), who may do whatever the data allows."""
    return actor is None or has_permission(actor, permission_to_revert(operation))


# Offboarding whom --------------------------------------------------------------------------------


class OffboardingRefusal(Enum):
    """Why `actor` may not offboard a user; the value is the admin's sentence (the API has a
    row of its error table for each)."""

    SELF = "You cannot offboard yourself."
    SUPERUSER = "A superuser cannot be offboarded: a superuser removes that status first."
    STAFF = "Only a superuser offboards a staff account."


def offboarding_refusal(actor: User | None, leaving_user: User) -> OffboardingRefusal | None:
    """Why `actor` may not offboard `leaving_user`, or None when they may (given they hold
    MANAGE_USERS). Nobody offboards themselves or a superuser; a staff account is a superuser's
    to offboard (as only a superuser manages it in the user admin). No actor: a shell's operator,
    who may offboard anyone but a superuser."""
    if actor is not None and leaving_user.pk == actor.pk:
        return OffboardingRefusal.SELF
    if leaving_user.is_superuser:
        return OffboardingRefusal.SUPERUSER
    if leaving_user.is_staff and actor is not None and not actor.is_superuser:
        return OffboardingRefusal.STAFF
    return None


# Editing users -----------------------------------------------------------------------------------


def may_manage_user(actor: User, user: User | None) -> bool:
    """Whether `actor` may change `user` at all (their form, password, deletion) in the admin.
    Setting another admin account's password would hand a non-superuser that account's powers:
    staff accounts are a superuser's to manage, or their own."""
    if user is None or actor.is_superuser or user.pk == actor.pk:
        return True
    return not (user.is_staff or user.is_superuser)


def locked_user_fields(actor: User, user: User | None) -> tuple[str, ...]:
    """The fields of `user` (None: a new user) that `actor` may not set in the admin. Only a
    superuser gives admin powers or moves a user to another organization; nobody changes their
    own profile or status."""
    if user is None:
        return ()
    locked: list[str] = []
    if not actor.is_superuser:
        locked += SUPERUSER_ONLY_USER_FIELDS
    if user.pk == actor.pk:
        locked += OWN_LOCKED_USER_FIELDS
    return tuple(locked)


# Records go to active users ----------------------------------------------------------------------


def may_own_records(status: str | None) -> bool:
    """Whether a user of `status` may be given records: an active user only. A disabled or
    deleted user is given nothing, by a change, a job or a revert (None: not a user at all)."""
    return status == User.Status.ACTIVE
