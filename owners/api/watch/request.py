"""What the watch endpoints read and answer: Bigin's bodies (`{"watch": [...]}`), validated
entry by entry; each entry answers its own success or error, as Bigin's per-channel results."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from django.utils.dateparse import parse_datetime

from crm.http.dialects import Dialect
from crm.http.errors import ErrorKind
from crm.ids import parse_id
from crm.modules import module_by_name
from crm.representations import bigin_time
from owners.models import WatchChannel, WatchDelivery
from owners.watch.channels import ChannelSpec
from owners.watch.delivery import resource_uri

MAX_CHANNELS_PER_CALL = 100
MAX_TOKEN_LENGTH = 50
MAX_URL_LENGTH = 2000
OPERATIONS = ("all", "create", "edit", "delete")

# Per entry (and for the body as a whole), Bigin's codes; the messages are Zoho CRM's where it
# documents one, ours otherwise.
MANDATORY_NOT_FOUND = ErrorKind(400, "MANDATORY_NOT_FOUND", "required field not found")
INVALID_WATCH_DATA = ErrorKind(400, "INVALID_DATA", "invalid data")
DUPLICATE_CHANNEL = ErrorKind(400, "DUPLICATE_DATA", "a channel with this channel_id exists")
UNKNOWN_CHANNEL = ErrorKind(400, "INVALID_DATA", "the channel_id given seems to be invalid")
NOT_FAILED = ErrorKind(400, "INVALID_DATA", "only a failed delivery can be sent again")

ENABLED = "Successfully subscribed for actions-watch of the given module"
UPDATED = "Successfully updated the subscribe details"
DISABLED = "Successfully unsubscribed from actions-watch of the given module"


class EntryError(Exception):
    def __init__(self, kind: ErrorKind, details: dict[str, Any]) -> None:
        super().__init__(kind.message)
        self.body = kind.body(details)


def entries_of(data: Any) -> list[Any]:
    """The body's `watch` array (1 to 100 entries), or the whole request's error."""
    if not isinstance(data, dict) or "watch" not in data:
        raise MANDATORY_NOT_FOUND(api_name="watch", json_path="$.watch")
    entries = data["watch"]
    if not isinstance(entries, list) or not entries:
        raise INVALID_WATCH_DATA(api_name="watch", json_path="$.watch")
    if len(entries) > MAX_CHANNELS_PER_CALL:
        raise INVALID_WATCH_DATA(
            api_name="watch", json_path="$.watch", maximum_length=MAX_CHANNELS_PER_CALL
        )
    return entries


def channel_id_error(kind: ErrorKind, index: int) -> dict[str, Any]:
    """An entry refused for its channel_id (taken, or no such channel)."""
    return kind.body({"api_name": "channel_id", "json_path": f"$.watch[{index}].channel_id"})


def _invalid(index: int, name: str, **extra: Any) -> EntryError:
    return EntryError(
        INVALID_WATCH_DATA, {"api_name": name, "json_path": f"$.watch[{index}].{name}", **extra}
    )


def _missing(index: int, name: str) -> EntryError:
    return EntryError(
        MANDATORY_NOT_FOUND, {"api_name": name, "json_path": f"$.watch[{index}].{name}"}
    )


def _events(index: int, value: Any, dialect: Dialect) -> tuple[str, ...]:
    if not isinstance(value, list) or not value:
        raise _invalid(index, "events")
    events = []
    for position, event in enumerate(value):
        module_name, _, operation = (
            event.rpartition(".") if isinstance(event, str) else ("", "", "")
        )
        module = dialect.module(module_name) if module_name else None
        if module is None or operation not in OPERATIONS:
            raise EntryError(
                INVALID_WATCH_DATA,
                {"api_name": "events", "json_path": f"$.watch[{index}].events[{position}]"},
            )
        # Stored under our module names: a CRM client's `Deals.edit` is `Pipelines.edit`.
        events.append(f"{module.api_name}.{operation}")
    return tuple(dict.fromkeys(events))


def _url(index: int, value: Any) -> str:
    if not isinstance(value, str) or len(value) > MAX_URL_LENGTH:
        raise _invalid(index, "notify_url")
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise _invalid(index, "notify_url")
    return value


def _expiry(index: int, value: Any, now: datetime) -> datetime:
    when = parse_datetime(value) if isinstance(value, str) else None
    if when is None or when.tzinfo is None or when <= now:
        raise _invalid(index, "channel_expiry")
    return when


def parse_entry(
    index: int, entry: Any, *, dialect: Dialect, now: datetime, partial: bool
) -> ChannelSpec:
    """One entry of an enable (all of channel_id, events, notify_url), a PUT (the same) or a
    PATCH (`partial`: channel_id and what changes)."""
    if not isinstance(entry, dict):
        raise EntryError(
            INVALID_WATCH_DATA, {"api_name": "watch", "json_path": f"$.watch[{index}]"}
        )
    if "channel_id" not in entry:
        raise _missing(index, "channel_id")
    channel_id = parse_id(entry["channel_id"])
    if channel_id is None:
        raise _invalid(index, "channel_id")
    delete_events = entry.get("_delete_events", False)
    if not isinstance(delete_events, bool):
        raise _invalid(index, "_delete_events")
    for name in ("events", "notify_url"):
        if not partial and name not in entry:
            raise _missing(index, name)
    if delete_events and "events" not in entry:
        raise _missing(index, "events")
    token = entry.get("token")
    if token is not None and (not isinstance(token, str) or len(token) > MAX_TOKEN_LENGTH):
        raise _invalid(index, "token", maximum_length=MAX_TOKEN_LENGTH)
    related = entry.get("notify_on_related_action")
    if related is not None and not isinstance(related, bool):
        raise _invalid(index, "notify_on_related_action")
    expiry_given = entry.get("channel_expiry") is not None
    return ChannelSpec(
        channel_id=channel_id,
        events=_events(index, entry["events"], dialect) if "events" in entry else None,
        notify_url=_url(index, entry["notify_url"]) if "notify_url" in entry else None,
        token=token,
        channel_expiry=_expiry(index, entry["channel_expiry"], now) if expiry_given else None,
        expiry_given=expiry_given,
        notify_on_related_action=related,
        delete_events=delete_events,
    )


def _modules_of(channel: WatchChannel, dialect: Dialect) -> list[tuple[str, list[str]]]:
    """(the dialect's module name, the channel's events of it) per module, in event order."""
    by_module: dict[str, list[str]] = {}
    for event in channel.events:
        module_name, _, operation = event.rpartition(".")
        module = module_by_name(module_name)
        name = dialect.api_name(module) if module else module_name
        by_module.setdefault(name, []).append(f"{name}.{operation}")
    return list(by_module.items())


def _resource(channel: WatchChannel, name: str, dialect: Dialect) -> dict[str, Any]:
    module = dialect.module(name)
    return {
        "channel_expiry": bigin_time(channel.channel_expiry),
        "resource_uri": resource_uri(name, dialect.path_prefix),
        "resource_id": str(module.id) if module else None,
        "resource_name": name,
        "channel_id": str(channel.channel_id),
    }


def subscribed(channel: WatchChannel, dialect: Dialect, message: str) -> dict[str, Any]:
    """The success entry of an enable or an update: one `events` entry per module watched."""
    return {
        "code": "SUCCESS",
        "details": {
            "events": [
                _resource(channel, name, dialect) for name, _ in _modules_of(channel, dialect)
            ]
        },
        "message": message,
        "status": "success",
    }


def listed(channel: WatchChannel, dialect: Dialect) -> list[dict[str, Any]]:
    """The channel as the list answers it: one entry per module watched."""
    return [
        {
            "notify_on_related_action": channel.notify_on_related_action,
            **_resource(channel, name, dialect),
            "events": events,
            "token": channel.token,
            "notify_url": channel.notify_url,
        }
        for name, events in _modules_of(channel, dialect)
    ]


def disabled(channel_id: str) -> dict[str, Any]:
    return {
        "code": "SUCCESS",
        "details": {"channel_id": channel_id},
        "message": DISABLED,
        "status": "success",
    }


def delivery_entry(delivery: WatchDelivery) -> dict[str, Any]:
    """A delivery as the log answers it (ours)."""
    return {
        "id": str(delivery.id),
        "batch_id": str(delivery.batch_id),
        "module": delivery.module_name,
        "status": delivery.status,
        "attempts": delivery.attempts,
        "last_status_code": delivery.last_status_code,
        "last_error": delivery.last_error,
        "created_time": bigin_time(delivery.created_time),
        "delivered_time": bigin_time(delivery.delivered_time) if delivery.delivered_time else None,
        "body": delivery.body,
    }


def response_status(entries: list[dict[str, Any]]) -> int:
    """200 when every entry succeeded, 400 when none did, Bigin's 202 for a mix."""
    succeeded = sum(1 for entry in entries if entry["status"] == "success")
    if succeeded == len(entries):
        return 200
    return 202 if succeeded else 400
