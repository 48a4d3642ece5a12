"""Who may do what on the owners' admin pages: the API's rules, applied to staff users."""

from __future__ import annotations

from crm.models import User

# The profile Zoho lets transfer a user's records and delete the user.
OFFBOARDING_PROFILE = "Administrator"


def may_change_owners(user: User) -> bool:
    """A superuser, or staff allowed to change records whose profile may change owners (the
    API's rule): the change-owner action, mass changes, reverts, retry and cancel of jobs."""
    if not (user.is_active and user.is_staff):
        return False
    if user.is_superuser:
        return True
    return user.has_perm("crm.change_record") and user.profile.can_change_owner


def may_offboard(user: User) -> bool:
    """As the transfer-and-delete API: the Administrator profile only (or a superuser)."""
    if not may_change_owners(user):
        return False
    return user.is_superuser or user.profile.name == OFFBOARDING_PROFILE
