"""The OpenAPI description of the notification API (owners/api/watch/views.py)."""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, OpenApiResponse
from rest_framework import serializers

from crm.http import openapi
from crm.http.errors import REQUIRED_PARAM_MISSING

from . import request as watch

TAGS = ["Notifications"]
_SCOPES = "Scopes: `ZohoBigin.notifications.ALL` or "


class ChannelSerializer(serializers.Serializer):
    channel_id = serializers.CharField(help_text="Your id for the channel: up to 19 digits.")
    events = serializers.ListField(
        child=serializers.CharField(), help_text="`{module}.{all|create|edit|delete}`"
    )
    notify_url = serializers.URLField(help_text="Where callbacks are POSTed (http or https).")
    token = serializers.CharField(
        required=False, max_length=50, help_text="Sent back in each callback; signs it (ours)."
    )
    channel_expiry = serializers.DateTimeField(
        required=False, help_text="At most one day ahead; else (or absent) one hour."
    )
    notify_on_related_action = serializers.BooleanField(required=False)


class WatchBodySerializer(serializers.Serializer):
    watch = ChannelSerializer(many=True)


class PatchChannelSerializer(ChannelSerializer):
    events = serializers.ListField(child=serializers.CharField(), required=False)
    notify_url = serializers.URLField(required=False)
    _delete_events = serializers.BooleanField(required=False)


class PatchBodySerializer(serializers.Serializer):
    watch = PatchChannelSerializer(many=True)


_EXAMPLE_BODY = {
    "watch": [
        {
            "channel_id": "1000000068001",
            "events": ["Contacts.edit", "Pipelines.edit"],
            "notify_url": "https://example.com/bigin/callback",
            "token": "TOKEN_FOR_VERIFICATION_OF_1000000068001",
        }
    ]
}


def _entry_errors(*cases) -> dict:
    """The envelope's errors, but a 400 is also `{"watch": [...]}` when every entry failed."""
    errors = openapi.error_responses(*cases)
    errors[400] = OpenApiResponse(
        OpenApiTypes.OBJECT,
        description="The whole request's error (the envelope), or every entry's (`watch`).",
        examples=errors[400].examples,
    )
    return errors


_ENTRY_ERRORS = _entry_errors(
    (watch.MANDATORY_NOT_FOUND, {"api_name": "watch", "json_path": "$.watch"}),
)


def _answers(success: str, *, statuses: tuple[int, ...] = (200, 202)) -> dict:
    answers = {
        status: OpenApiResponse(OpenApiTypes.OBJECT, description=success) for status in statuses
    }
    return {**answers, **_ENTRY_ERRORS}


ENABLE = {
    "operation_id": "watch_enable",
    "tags": TAGS,
    "summary": "Enable notifications: one channel per entry",
    "description": _SCOPES + "`.CREATE` or `.WRITE`. Each entry answers its own result. "
    "See docs/notifications.md.",
    "request": WatchBodySerializer,
    "examples": [OpenApiExample("Enable", value=_EXAMPLE_BODY, request_only=True)],
    "responses": _answers("Every channel enabled (202: some)."),
}
LIST = {
    "operation_id": "watch_list",
    "tags": TAGS,
    "summary": "The organization's channels that have not expired, one entry per module",
    "description": _SCOPES + "`.READ`.",
    "parameters": [OpenApiParameter("channel_id", str)],
    "responses": {
        200: OpenApiResponse(OpenApiTypes.OBJECT, description="The channels."),
        204: openapi.no_content("No channel."),
        **openapi.error_responses(),
    },
}
UPDATE = {
    "operation_id": "watch_update",
    "tags": TAGS,
    "summary": "Update channels: every detail given replaces the old",
    "description": _SCOPES + "`.UPDATE` or `.WRITE`.",
    "request": WatchBodySerializer,
    "examples": [OpenApiExample("Update", value=_EXAMPLE_BODY, request_only=True)],
    "responses": _answers("Every channel updated (202: some)."),
}
PATCH = {
    "operation_id": "watch_patch",
    "tags": TAGS,
    "summary": "Update what each entry gives; `_delete_events: true` removes its events",
    "description": _SCOPES + "`.UPDATE` or `.WRITE`.",
    "request": PatchBodySerializer,
    "examples": [
        OpenApiExample(
            "RemoveEvents",
            value={
                "watch": [
                    {
                        "channel_id": "1000000068001",
                        "events": ["Pipelines.edit"],
                        "_delete_events": True,
                    }
                ]
            },
            request_only=True,
        )
    ],
    "responses": _answers("Every channel updated (202: some)."),
}
DISABLE = {
    "operation_id": "watch_disable",
    "tags": TAGS,
    "summary": "Disable channels",
    "description": _SCOPES + "`.DELETE` or `.WRITE`. The channels and their delivery logs go.",
    "parameters": [
        OpenApiParameter(
            "channel_ids",
            str,
            description="Comma-separated.",
            examples=[OpenApiExample("Channel", value="1000000068001")],
        )
    ],
    "request": None,
    "responses": {
        200: OpenApiResponse(OpenApiTypes.OBJECT, description="Every channel disabled."),
        202: OpenApiResponse(OpenApiTypes.OBJECT, description="Some channels disabled."),
        **_entry_errors((REQUIRED_PARAM_MISSING, {"param": "channel_ids"})),
    },
}
DELIVERIES = {
    "operation_id": "watch_deliveries",
    "tags": TAGS,
    "summary": "(ours) A channel's delivery log, newest first",
    "description": _SCOPES + "`.READ`. `status`: pending, delivered or failed.",
    "parameters": [
        OpenApiParameter(
            "channel_id",
            str,
            OpenApiParameter.PATH,
            examples=[OpenApiExample("Channel", value="1000000068001")],
        ),
        OpenApiParameter("status", str, enum=["pending", "delivered", "failed", ""]),
    ],
    "responses": {
        200: OpenApiResponse(OpenApiTypes.OBJECT, description="The deliveries."),
        204: openapi.no_content("No delivery."),
        **openapi.error_responses(
            (watch.UNKNOWN_CHANNEL, {"api_name": "channel_id", "resource_path_index": 0})
        ),
    },
}
REDELIVER = {
    "operation_id": "watch_redeliver",
    "tags": TAGS,
    "summary": "(ours) Send a failed callback again",
    "description": _SCOPES + "`.UPDATE` or `.WRITE`.",
    "parameters": [
        OpenApiParameter(
            "delivery_id",
            str,
            OpenApiParameter.PATH,
            examples=[OpenApiExample("Delivery", value="1000000000000000412")],
        )
    ],
    "request": None,
    "responses": {
        202: OpenApiResponse(OpenApiTypes.OBJECT, description="Scheduled again."),
        **openapi.error_responses(
            (watch.NOT_FAILED, {"api_name": "delivery_id", "resource_path_index": 0})
        ),
    },
}
