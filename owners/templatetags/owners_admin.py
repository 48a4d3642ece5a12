"""What the admin's app list (index and sidebar) needs to know about the owners' pages that are
not a model's."""

from __future__ import annotations

from django import template

from crm import policy

register = template.Library()


@register.simple_tag
def may_offboard(user) -> bool:
    """Whether `user` may open "Offboard a user" (the page asks the same policy)."""
    return policy.staff_has_permission(user, policy.MANAGE_USERS)
