"""`Idempotency-Key` (ours, after Stripe's): a client that retries a write with the key it sent
the first time gets the first answer again, and the work is done once.

A key is stored per organization with a fingerprint of the request (method, path, query and the
body as JSON, keys sorted) and, once the first request has answered, its status, body and
headers. The life of a key:

- `begin` inserts it, in flight. The unique constraint (organization, key) decides which of two
  concurrent requests runs: the other finds the row.
- `finish` stores the answer; `abandon` deletes a key whose request raised an error (nothing was
  written: every write is one transaction that rolled back), so a retry runs again.
- A repeat finds the row: another fingerprint is refused, a stored answer is replayed, and a key
  still in flight answers 409 with Retry-After (the first request's outcome is unknown yet). A
  key in flight longer than `IN_FLIGHT_LEASE` (its process died) is taken over.
- After `KEY_LIFETIME` a key is forgotten: replaced on access, deleted by the sweep
  (`delete_expired_keys`).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder
from django.db import IntegrityError, transaction
from django.utils import timezone

from .models import IdempotencyKey

KEY_LIFETIME = timedelta(hours=24)
# Longer than any request may run (gunicorn's timeout, config/gunicorn.py): a key still in flight
# after this was left by a process that died.
IN_FLIGHT_LEASE = timedelta(minutes=5)
MAX_KEY_LENGTH = 255
EXPIRED_DELETE_BATCH = 5000


def fingerprint(*, method: str, path: str, query: str, body: bytes) -> str:
    """What a request asked, as a hash: the same JSON body with its keys in another order or
    other spacing is the same request."""
    try:
        canonical = json.dumps(json.loads(body), sort_keys=True, separators=(",", ":")).encode()
    except (ValueError, UnicodeDecodeError, RecursionError):
        canonical = body
    digest = hashlib.sha256()
    for part in (method.encode(), path.encode(), query.encode(), canonical):
        digest.update(part)
        digest.update(b"\0")
    return digest.hexdigest()


@dataclass(frozen=True)
class Begun:
    """What `begin` found: `owned` (this request runs; `key_id` to finish or abandon), a stored
    answer to replay, a key still in flight, or a key used for another request."""

    key_id: int | None = None
    replay: IdempotencyKey | None = None
    in_flight: bool = False
    mismatch: bool = False

    @property
    def owned(self) -> bool:
        return self.key_id is not None


def begin(*, organization_id: int, key: str, request_fingerprint: str) -> Begun:
    """Take `key` for a request, or say why not. At most three short statements, each its own
    transaction: this runs before the write's own (durable) transaction."""
    now = timezone.now()
    try:
        with transaction.atomic():
            row = IdempotencyKey.objects.create(
                organization_id=organization_id,
                key=key,
                fingerprint=request_fingerprint,
                created_time=now,
            )
        return Begun(key_id=row.id)
    except IntegrityError:
        pass
    existing = IdempotencyKey.objects.filter(organization_id=organization_id, key=key).first()
    if existing is None:
        # Abandoned since the INSERT failed: its request raised; this one may answer 409 and
        # the client's next retry runs.
        return Begun(in_flight=True)
    expired = existing.created_time <= now - KEY_LIFETIME
    stale = existing.status_code is None and existing.created_time <= now - IN_FLIGHT_LEASE
    if expired or stale:
        # Taken over by one conditional UPDATE: of two repeats at once, one gets the row.
        taken = IdempotencyKey.objects.filter(
            id=existing.id, created_time=existing.created_time
        ).update(
            fingerprint=request_fingerprint,
            status_code=None,
            body=None,
            headers={},
            created_time=now,
        )
        if taken:
            return Begun(key_id=existing.id)
        return Begun(in_flight=True)
    if existing.fingerprint != request_fingerprint:
        return Begun(mismatch=True)
    if existing.status_code is None:
        return Begun(in_flight=True)
    return Begun(replay=existing)


def finish(key_id: int, *, status_code: int, body: Any, headers: dict[str, str]) -> None:
    """Store the first answer of the request that holds `key_id`."""
    stored = json.loads(json.dumps(body, cls=DjangoJSONEncoder))
    IdempotencyKey.objects.filter(id=key_id, status_code__isnull=True).update(
        status_code=status_code, body=stored, headers=headers
    )


def abandon(key_id: int) -> None:
    """Forget a key whose request ended in an error before answering: a retry runs again."""
    IdempotencyKey.objects.filter(id=key_id, status_code__isnull=True).delete()


def delete_expired_keys() -> int:
    """Delete keys older than `KEY_LIFETIME`, a batch at a time (the sweep calls it)."""
    cutoff = timezone.now() - KEY_LIFETIME
    expired = IdempotencyKey.objects.filter(created_time__lte=cutoff).values_list("id", flat=True)[
        :EXPIRED_DELETE_BATCH
    ]
    deleted, _ = IdempotencyKey.objects.filter(id__in=list(expired)).delete()
    return deleted
