from __future__ import annotations

from rest_framework.permissions import BasePermission
from rest_framework.request import Request

from crm.http.dialects import dialect_of
from crm.http.errors import AUTHENTICATION_FAILURE, OAUTH_SCOPE_MISMATCH

from .tokens import scope_satisfies


def accepted_scopes(view: object, request: Request) -> tuple[str, ...]:
    """The scopes an endpoint accepts: `get_required_scopes(request)` or `required_scopes`."""
    getter = getattr(view, "get_required_scopes", None)
    scopes = tuple(getter(request)) if getter else tuple(getattr(view, "required_scopes", ()))
    # Views declare the Bigin family; under another dialect its twins are accepted instead.
    return dialect_of(view).scopes(scopes)


class HasRequiredScope(BasePermission):
    """An authenticated caller whose token holds one of the scopes the view accepts."""

    def has_permission(self, request: Request, view: object) -> bool:
        if request.auth is None:
            raise AUTHENTICATION_FAILURE()
        accepted = accepted_scopes(view, request)
        if not any(
            scope_satisfies(granted, scope) for granted in request.auth.scopes for scope in accepted
        ):
            raise OAUTH_SCOPE_MISMATCH()
        return True
