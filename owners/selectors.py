from __future__ import annotations

from crm.models import Organization, User


def organization_user(*, organization: Organization, user_id: int) -> User | None:
    """The user `user_id` of `organization`, whatever its status; None when there is none."""
    return User.objects.filter(organization_id=organization.id, id=user_id).first()
