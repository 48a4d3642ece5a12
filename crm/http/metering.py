"""Bigin's API limits per organization: credits in a rolling 24-hour window and requests in
flight (docs/limits.md).

`OrganizationLimits` is DRF's throttle for every authenticated endpoint of every API family: it
runs after authentication and the scope check, so an unauthenticated or unscoped request costs
nothing, and before the view, so a refused request does nothing. The slot it takes in the
organization's requests in flight is given back by `BoundaryMiddleware` when the response is
ready.
"""

from __future__ import annotations

import threading
import time
import uuid
from typing import Any

from django.conf import settings
from rest_framework import exceptions
from rest_framework.throttling import BaseThrottle

from . import limits
from .boundary import Problem

FREE, EXPRESS, PREMIER = "free", "express", "premier"  # Organization.Edition
# Bigin's "API Limits" page: (base credits, credits per user license, maximum) in 24 hours.
EDITION_CREDITS = {
    FREE: (5_000, 0, 5_000),
    EXPRESS: (50_000, 250, 100_000),
    PREMIER: (50_000, 250, 100_000),
}
WINDOW = limits.CREDITS_WINDOW
USER_COUNT_CACHE_SECONDS = 300


class LimitReached(exceptions.APIException):
    """Raised by the throttle; every family's handler renders its `problem` (a 429)."""

    status_code = 429

    def __init__(self, problem: Problem) -> None:
        super().__init__(problem.message)
        self.problem = problem


def credits_exhausted(limit: int, retry_after: int) -> Problem:
    return Problem(
        429,
        "TOO_MANY_REQUESTS",
        "the API credits of the organization for the last 24 hours are used up",
        "too many requests: the organization's API credits for 24 hours are used up",
        {"limit_type": "credits", "limit": limit, "window_seconds": WINDOW.seconds},
        retry_after=retry_after,
    )


def too_many_in_flight(limit: int) -> Problem:
    return Problem(
        429,
        "TOO_MANY_REQUESTS",
        "the organization has too many requests in progress",
        "too many requests: the organization has too many requests in progress",
        {"limit_type": "concurrency", "limit": limit},
        retry_after=1,
    )


_user_counts: dict[int, tuple[float, int]] = {}
_user_counts_lock = threading.Lock()


def _active_users(organization_id: int) -> int:
    """Active users of an organization, counted at most every 5 minutes per process: the edition
    formula needs it, and a count per request would cost a query per request."""
    from crm.models import User

    now = time.monotonic()
    with _user_counts_lock:
        cached = _user_counts.get(organization_id)
    if cached is not None and cached[0] > now:
        return cached[1]
    count = User.objects.filter(organization_id=organization_id, status="active").count()
    with _user_counts_lock:
        _user_counts[organization_id] = (now + USER_COUNT_CACHE_SECONDS, count)
    return count


def credits_per_day(organization: Any) -> int:
    """The organization's override, else its edition's figure (with its active users)."""
    if organization.api_credits_per_day is not None:
        return organization.api_credits_per_day
    base, per_user, maximum = EDITION_CREDITS.get(organization.edition, EDITION_CREDITS[EXPRESS])
    if not per_user:
        return base
    return min(base + per_user * _active_users(organization.pk), maximum)


def _credits_floor(organization: Any) -> int:
    """A figure never above `credits_per_day`, known without a query."""
    if organization.api_credits_per_day is not None:
        return organization.api_credits_per_day
    return EDITION_CREDITS.get(organization.edition, EDITION_CREDITS[EXPRESS])[0]


def concurrency_limit(organization: Any) -> int:
    limits_by_edition = settings.API_CONCURRENCY_LIMITS
    return int(limits_by_edition.get(organization.edition, limits_by_edition[EXPRESS]))


def credits_key(organization_id: int) -> str:
    return f"credits:{organization_id}"


def credits_used(organization: Any) -> int | None:
    """Credits the organization spent in the last 24 hours (None when Redis cannot be asked)."""
    store = limits.FailOpen(limits.store())
    return store.used(credits_key(organization.pk), window=WINDOW, now=limits.now())


class OrganizationLimits(BaseThrottle):
    def allow_request(self, request, view) -> bool:
        organization = getattr(request.user, "organization", None)
        if organization is None or not settings.API_LIMITS_ENABLED:
            return True  # the token server and the docs have limits of their own, or none
        store = limits.FailOpen(limits.store())
        in_flight_key, token = f"inflight:{organization.pk}", uuid.uuid4().hex
        in_flight_limit = concurrency_limit(organization)
        admission = {
            "in_flight_key": in_flight_key,
            "token": token,
            "in_flight_limit": in_flight_limit,
            "stale_seconds": settings.API_REQUEST_STALE_SECONDS,
            "credits_key": credits_key(organization.pk),
            "cost": getattr(view, "api_credits", 1),
            "window": WINDOW,
            "now": limits.now(),
        }
        # Against the floor first: the exact figure needs the active users counted, and only
        # matters near the limit. One round trip to Redis either way in the common case.
        credits = _credits_floor(organization)
        decision = store.admit(credit_limit=credits, **admission)
        if isinstance(decision, limits.Decision) and not decision.allowed:
            exact = credits_per_day(organization)
            if exact > credits:
                credits = exact
                decision = store.admit(credit_limit=credits, **admission)
        if decision == limits.IN_FLIGHT:
            raise LimitReached(too_many_in_flight(in_flight_limit))
        if not decision.allowed:
            raise LimitReached(credits_exhausted(credits, decision.retry_after))
        # BoundaryMiddleware calls this once the response is ready.
        request._request.api_limits_release = lambda: store.leave(in_flight_key, token)
        return True
