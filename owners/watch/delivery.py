"""Watch callbacks, sent by the workers from the outbox (never inside a request).

- A `watch_event` entry (written with the owner change, owners/watch/events.py) becomes, in one
  transaction with its `done`, one `WatchDelivery` per channel and module that watches it, each
  with its `watch_delivery` entry: the callback body is fixed then (the channels as they are at
  that moment; an expired channel gets nothing).
- A `watch_delivery` entry POSTs its body to the channel's `notify_url`, signed (ours). A 2xx
  marks it delivered. Anything else (another status, a refused connection, a timeout) is a
  transient error of the outbox: retried with backoff by Celery, then by the sweep, until the
  outbox gives up (`OUTBOX_MAX_ATTEMPTS`) and the delivery is failed. Each attempt's outcome is
  kept on the delivery (the delivery log, ours); a failed delivery can be sent again
  (`redeliver`).

At least once: a worker that dies between the receiver's answer and the UPDATE sends the
callback again after the lease. The `X-Bigin-Delivery-Id` header (ours) lets a receiver fold the
duplicate.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import urllib.error
import urllib.request
from collections.abc import Iterable
from datetime import datetime

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from crm.ids import new_id

from ..models import OutboxEntry, WatchChannel, WatchDelivery
from ..outbox import TransientJobError, finish_claimed, reset_failed_entries

SIGNATURE_HEADER = "X-Bigin-Signature"
DELIVERY_HEADER = "X-Bigin-Delivery-Id"
# A receiver that has not answered by then is treated as down for this attempt.
DELIVERY_TIMEOUT_SECONDS = 10
MAX_ERROR_LENGTH = 500


def signature(body: bytes, token: str) -> str:
    """Hex HMAC-SHA256 of the exact body, keyed with the channel's token (ours)."""
    return hmac.new(token.encode(), body, hashlib.sha256).hexdigest()


def resource_uri(module_name: str, path_prefix: str = "/bigin/v2/") -> str:
    return f"{settings.API_DOMAIN.rstrip('/')}{path_prefix}{module_name}"


def callback_body(
    channel: WatchChannel, *, module_name: str, ids: list[str], operation: str, now: datetime
) -> str:
    """Bigin's callback: the module, the record ids, what happened and the channel's id and
    token. An update names `Owner` among each record's affected fields."""
    body = {
        "server_time": int(now.timestamp() * 1000),
        "query_params": {},
        "module": module_name,
        "resource_uri": resource_uri(module_name),
        "ids": ids,
        "operation": operation,
        "channel_id": str(channel.channel_id),
        "token": channel.token,
    }
    if operation == "update":
        body["affected_fields"] = [{record_id: ["Owner"]} for record_id in ids]
    return json.dumps(body)


def watches(channel: WatchChannel, module_name: str, event: str) -> bool:
    return f"{module_name}.{event}" in channel.events or f"{module_name}.all" in channel.events


def run_watch_event(job: OutboxEntry) -> list[OutboxEntry]:
    """The callbacks of one owner change: a delivery and its entry per channel and module, and
    the event done, in one transaction. Returns the entries, for the caller to send after it."""
    payload = job.payload
    now = timezone.now()
    channels = list(
        WatchChannel.objects.filter(organization_id=job.organization_id, channel_expiry__gt=now)
    )
    deliveries: list[WatchDelivery] = []
    entries: list[OutboxEntry] = []
    for channel in channels:
        for module_name, ids in payload["changes"].items():
            if not watches(channel, module_name, payload["event"]):
                continue
            entry_id = new_id()
            deliveries.append(
                WatchDelivery(
                    id=new_id(),
                    organization_id=job.organization_id,
                    channel=channel,
                    batch_id=job.batch_id,
                    module_name=module_name,
                    body=callback_body(
                        channel,
                        module_name=module_name,
                        ids=ids,
                        operation=payload["operation"],
                        now=now,
                    ),
                    outbox_entry_id=entry_id,
                    created_time=now,
                )
            )
            entries.append(
                OutboxEntry(
                    id=entry_id,
                    organization_id=job.organization_id,
                    kind=OutboxEntry.Kind.WATCH_DELIVERY,
                    batch_id=job.batch_id,
                    payload={"delivery_id": str(deliveries[-1].id)},
                    run_after=now,
                    created_time=now,
                )
            )
    with transaction.atomic(durable=True):
        if not finish_claimed(job, result={"callbacks": len(deliveries)}):
            return []
        WatchDelivery.objects.bulk_create(deliveries)
        OutboxEntry.objects.bulk_create(entries)
    return entries


def post_callback(url: str, body: bytes, headers: dict[str, str]) -> tuple[int | None, str]:
    """POST the callback: (the receiver's status, or None when it could not be reached; the
    error, empty on a 2xx)."""
    request = urllib.request.Request(url, data=body, method="POST", headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=DELIVERY_TIMEOUT_SECONDS) as response:
            response.read(1024)
            return response.status, ""
    except urllib.error.HTTPError as error:
        return error.code, f"the receiver answered {error.code}"
    except (urllib.error.URLError, OSError, ValueError) as error:
        reason = getattr(error, "reason", error)
        return None, f"not delivered: {reason!r}"[:MAX_ERROR_LENGTH]


def run_watch_delivery(job: OutboxEntry) -> bool:
    """Send one callback; True when the receiver took it (2xx)."""
    delivery = (
        WatchDelivery.objects.select_related("channel")
        .filter(id=int(job.payload["delivery_id"]))
        .first()
    )
    if delivery is None:
        # The channel was disabled since (its deliveries went with it): nothing to send.
        finish_claimed(job, result={"delivered": False})
        return False
    channel = delivery.channel
    now = timezone.now()
    if channel.channel_expiry <= now:
        # Bigin sends nothing to an expired channel, retries included.
        with transaction.atomic(durable=True):
            if finish_claimed(job, result={"delivered": False}):
                WatchDelivery.objects.filter(id=delivery.id).update(
                    status=WatchDelivery.Status.FAILED, last_error="the channel expired"
                )
        return False
    body = delivery.body.encode()
    status, error = post_callback(
        channel.notify_url,
        body,
        {
            "Content-Type": "application/json",
            "User-Agent": "bigin-owners-watch",
            SIGNATURE_HEADER: signature(body, channel.token),
            DELIVERY_HEADER: str(delivery.id),
        },
    )
    delivered = status is not None and 200 <= status < 300
    WatchDelivery.objects.filter(id=delivery.id).update(
        attempts=F("attempts") + 1, last_status_code=status, last_error=error
    )
    if not delivered:
        raise TransientJobError(error)
    with transaction.atomic(durable=True):
        if finish_claimed(job, result={"delivered": True}):
            WatchDelivery.objects.filter(id=delivery.id).update(
                status=WatchDelivery.Status.DELIVERED, delivered_time=timezone.now()
            )
    return True


def delivery_failed(job: OutboxEntry, error: str) -> None:
    """The outbox gave up on a callback: its delivery is failed (same transaction)."""
    WatchDelivery.objects.filter(id=int(job.payload["delivery_id"])).update(
        status=WatchDelivery.Status.FAILED
    )


def redeliver(*, organization_id: int, delivery_ids: Iterable[int]) -> list[OutboxEntry]:
    """Failed deliveries of the organization among `delivery_ids` pending again (their outbox
    entries reset, due now). Returns the entries, for the caller to send after its commit."""
    with transaction.atomic():
        failed = list(
            WatchDelivery.objects.filter(
                organization_id=organization_id,
                id__in=list(delivery_ids),
                status=WatchDelivery.Status.FAILED,
            ).values_list("id", "outbox_entry_id")
        )
        entries = reset_failed_entries(job_ids=[entry_id for _, entry_id in failed])
        reset = {entry.id for entry in entries}
        WatchDelivery.objects.filter(
            id__in=[delivery_id for delivery_id, entry_id in failed if entry_id in reset]
        ).update(status=WatchDelivery.Status.PENDING, last_error="")
    return entries
