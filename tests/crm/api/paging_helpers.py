"""The `info` of a list page, as the read APIs answer it: the tokens match any token (or an
expiry 24 hours from now) when there is a next page, and are null on the last page."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta


class _AnyToken:
    def __eq__(self, other: object) -> bool:
        return isinstance(other, str) and len(other) > 20

    def __repr__(self) -> str:
        return "<any page token>"


class _ExpiryInADay:
    """An ISO time 24 hours from now, to the second, with its offset (as Zoho writes times)."""

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, str):
            return False
        expiry = datetime.fromisoformat(other)
        expected = datetime.now(UTC) + timedelta(hours=24)
        return expiry.utcoffset() is not None and abs(expiry - expected) < timedelta(minutes=1)

    def __repr__(self) -> str:
        return "<in 24 hours>"


ANY_TOKEN, IN_A_DAY = _AnyToken(), _ExpiryInADay()


def info(count: int, *, page: int = 1, per_page: int = 200, more: bool = False) -> dict:
    return {
        "per_page": per_page,
        "count": count,
        "page": page,
        "more_records": more,
        "next_page_token": ANY_TOKEN if more else None,
        "previous_page_token": None,
        "page_token_expiry": IN_A_DAY if more else None,
    }
