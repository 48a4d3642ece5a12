"""Watch channels (Bigin's notification API): enable, update, disable, list; and a channel's
delivery log (ours). The API views (owners/api/watch/) and the admin call these."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import IntegrityError, transaction
from django.utils import timezone

from crm.models import Organization, User

from ..models import WatchChannel, WatchDelivery

# Bigin: a channel lasts at most one day from when it is enabled (or updated); without an
# expiry, or with one further away, it lasts one hour.
MAX_CHANNEL_LIFETIME = timedelta(days=1)
DEFAULT_CHANNEL_LIFETIME = timedelta(hours=1)
DELIVERY_LOG_PAGE = 200


def channel_expiry(requested: datetime | None, now: datetime) -> datetime:
    if requested is None or requested > now + MAX_CHANNEL_LIFETIME:
        return now + DEFAULT_CHANNEL_LIFETIME
    return requested


@dataclass(frozen=True)
class ChannelSpec:
    """A channel as a client describes it (validated): None where a PATCH leaves it as it is."""

    channel_id: int
    events: tuple[str, ...] | None = None
    notify_url: str | None = None
    token: str | None = None
    channel_expiry: datetime | None = None
    expiry_given: bool = False
    notify_on_related_action: bool | None = None
    delete_events: bool = False


class ChannelExists(Exception):
    pass


def enable_channel(*, organization: Organization, actor: User, spec: ChannelSpec) -> WatchChannel:
    """A new channel; raises ChannelExists when the organization has one with its id."""
    now = timezone.now()
    channel = WatchChannel(
        organization=organization,
        channel_id=spec.channel_id,
        events=list(spec.events or ()),
        notify_url=spec.notify_url or "",
        token=spec.token or "",
        channel_expiry=channel_expiry(spec.channel_expiry, now),
        notify_on_related_action=bool(spec.notify_on_related_action),
        created_by=actor,
        created_time=now,
    )
    try:
        with transaction.atomic():
            channel.save(force_insert=True)
    except IntegrityError:
        raise ChannelExists() from None
    return channel


def update_channel(
    *, organization: Organization, spec: ChannelSpec, replace: bool
) -> WatchChannel | None:
    """Update a channel: `replace` (PUT) overwrites every detail, else (PATCH) those given, and
    `delete_events` removes the given events. None when the organization has no such channel."""
    now = timezone.now()
    with transaction.atomic():
        channel = (
            WatchChannel.objects.select_for_update()
            .filter(organization=organization, channel_id=spec.channel_id)
            .first()
        )
        if channel is None:
            return None
        if spec.delete_events:
            channel.events = [e for e in channel.events if e not in set(spec.events or ())]
        elif spec.events is not None:
            channel.events = (
                list(spec.events)
                if replace
                else list(dict.fromkeys([*channel.events, *spec.events]))
            )
        if spec.notify_url is not None:
            channel.notify_url = spec.notify_url
        if spec.token is not None or replace:
            channel.token = spec.token or ""
        if spec.expiry_given or replace:
            channel.channel_expiry = channel_expiry(spec.channel_expiry, now)
        if spec.notify_on_related_action is not None or replace:
            channel.notify_on_related_action = bool(spec.notify_on_related_action)
        channel.save()
    return channel


def disable_channels(*, organization: Organization, channel_ids: Sequence[int]) -> set[int]:
    """Delete these channels (their delivery log with them); returns the ids that existed."""
    found = set(
        WatchChannel.objects.filter(
            organization=organization, channel_id__in=channel_ids
        ).values_list("channel_id", flat=True)
    )
    WatchChannel.objects.filter(organization=organization, channel_id__in=found).delete()
    return found


def active_channels(
    *, organization: Organization, channel_id: int | None = None
) -> list[WatchChannel]:
    """The organization's channels that have not expired, by channel id."""
    channels = WatchChannel.objects.filter(
        organization=organization, channel_expiry__gt=timezone.now()
    )
    if channel_id is not None:
        channels = channels.filter(channel_id=channel_id)
    return list(channels.order_by("channel_id"))


def channel_by_id(*, organization: Organization, channel_id: int) -> WatchChannel | None:
    return WatchChannel.objects.filter(organization=organization, channel_id=channel_id).first()


def delivery_log(
    *, channel: WatchChannel, status: str | None = None, limit: int = DELIVERY_LOG_PAGE
) -> list[WatchDelivery]:
    """The channel's latest deliveries, newest first."""
    deliveries = WatchDelivery.objects.filter(channel=channel)
    if status:
        deliveries = deliveries.filter(status=status)
    return list(deliveries.order_by("-created_time", "-id")[:limit])
