"""Bigin's notification API, `/bigin/v2/actions/watch` (and `/crm/v8/actions/watch`): enable
(POST), list (GET), update (PUT overwrites, PATCH changes what it gives), disable (DELETE
`?channel_ids=`); and (ours) a channel's delivery log and the redelivery of a failed callback.
Thin: parse, call owners/watch/channels.py, render."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone
from drf_spectacular.utils import extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from crm.http.dialects import BIGIN, Dialect
from crm.http.errors import REQUIRED_PARAM_MISSING
from crm.ids import parse_id
from owners import tasks
from owners.models import WatchDelivery
from owners.watch import channels

from . import docs
from . import request as watch

SCOPES = {
    "POST": ("ZohoBigin.notifications.CREATE", "ZohoBigin.notifications.WRITE"),
    "GET": ("ZohoBigin.notifications.READ",),
    "PUT": ("ZohoBigin.notifications.UPDATE", "ZohoBigin.notifications.WRITE"),
    "PATCH": ("ZohoBigin.notifications.UPDATE", "ZohoBigin.notifications.WRITE"),
    "DELETE": ("ZohoBigin.notifications.DELETE", "ZohoBigin.notifications.WRITE"),
}
# Every scope of the family: `.ALL` satisfies each of them.
ALL_SCOPES = ("ZohoBigin.notifications.ALL",)


class WatchBase(APIView):
    dialect: Dialect = BIGIN

    def get_required_scopes(self, request: Request) -> tuple[str, ...]:
        return SCOPES.get(request.method, ALL_SCOPES)


class WatchView(WatchBase):
    @extend_schema(**docs.ENABLE)
    def post(self, request: Request) -> Response:
        now = timezone.now()
        results = []
        for index, entry in enumerate(watch.entries_of(request.data)):
            try:
                spec = watch.parse_entry(index, entry, dialect=self.dialect, now=now, partial=False)
                channel = channels.enable_channel(
                    organization=request.user.organization, actor=request.user, spec=spec
                )
            except watch.EntryError as refused:
                results.append(refused.body)
                continue
            except channels.ChannelExists:
                results.append(watch.channel_id_error(watch.DUPLICATE_CHANNEL, index))
                continue
            results.append(watch.subscribed(channel, self.dialect, watch.ENABLED))
        return Response({"watch": results}, status=watch.response_status(results))

    @extend_schema(**docs.LIST)
    def get(self, request: Request) -> Response:
        raw = request.query_params.get("channel_id")
        channel_id = parse_id(raw) if raw else None
        found = (
            []
            if raw and channel_id is None
            else channels.active_channels(
                organization=request.user.organization, channel_id=channel_id
            )
        )
        entries = [item for channel in found for item in watch.listed(channel, self.dialect)]
        if not entries:
            return Response(status=204)
        info = {"per_page": 200, "count": len(entries), "page": 1, "more_records": False}
        return Response({"watch": entries, "info": info})

    def _update(self, request: Request, *, replace: bool) -> Response:
        now = timezone.now()
        results = []
        for index, entry in enumerate(watch.entries_of(request.data)):
            try:
                spec = watch.parse_entry(
                    index, entry, dialect=self.dialect, now=now, partial=not replace
                )
            except watch.EntryError as refused:
                results.append(refused.body)
                continue
            channel = channels.update_channel(
                organization=request.user.organization, spec=spec, replace=replace
            )
            if channel is None:
                results.append(watch.channel_id_error(watch.UNKNOWN_CHANNEL, index))
                continue
            results.append(watch.subscribed(channel, self.dialect, watch.UPDATED))
        return Response({"watch": results}, status=watch.response_status(results))

    @extend_schema(**docs.UPDATE)
    def put(self, request: Request) -> Response:
        return self._update(request, replace=True)

    @extend_schema(**docs.PATCH)
    def patch(self, request: Request) -> Response:
        return self._update(request, replace=False)

    @extend_schema(**docs.DISABLE)
    def delete(self, request: Request) -> Response:
        raw = request.query_params.get("channel_ids", "")
        given = [part.strip() for part in raw.split(",") if part.strip()]
        if not given:
            raise REQUIRED_PARAM_MISSING(param="channel_ids")
        numbers = {value: parse_id(value) for value in given}
        found = channels.disable_channels(
            organization=request.user.organization,
            channel_ids=[number for number in numbers.values() if number is not None],
        )
        results = [
            watch.disabled(value)
            if numbers[value] in found
            else watch.UNKNOWN_CHANNEL.body({"api_name": "channel_ids", "value": value})
            for value in given
        ]
        return Response({"watch": results}, status=watch.response_status(results))


class DeliveryLogView(WatchBase):
    """`GET /bigin/v2/actions/watch/{channel_id}/deliveries` (ours)."""

    @extend_schema(**docs.DELIVERIES)
    def get(self, request: Request, channel_id: str) -> Response:
        number = parse_id(channel_id)
        channel = (
            channels.channel_by_id(organization=request.user.organization, channel_id=number)
            if number is not None
            else None
        )
        if channel is None:
            raise watch.UNKNOWN_CHANNEL(api_name="channel_id", resource_path_index=0)
        status = request.query_params.get("status") or None
        if status is not None and status not in WatchDelivery.Status.values:
            raise watch.INVALID_WATCH_DATA(
                param_name="status", supported_values=list(WatchDelivery.Status.values)
            )
        deliveries = channels.delivery_log(channel=channel, status=status)
        if not deliveries:
            return Response(status=204)
        return Response(
            {
                "deliveries": [watch.delivery_entry(delivery) for delivery in deliveries],
                "info": {"count": len(deliveries), "more_records": False},
            }
        )


class RedeliverView(WatchBase):
    """`POST /bigin/v2/actions/watch/deliveries/{delivery_id}/actions/redeliver` (ours)."""

    def get_required_scopes(self, request: Request) -> tuple[str, ...]:
        return SCOPES["PUT"]

    @extend_schema(**docs.REDELIVER)
    def post(self, request: Request, delivery_id: str) -> Response:
        number = parse_id(delivery_id)
        with transaction.atomic():
            entries = (
                tasks.redeliver_callbacks(
                    organization_id=request.user.organization_id, delivery_ids=[number]
                )
                if number is not None
                else []
            )
        if not entries:
            raise watch.NOT_FAILED(api_name="delivery_id", resource_path_index=0)
        body = {
            "code": "SCHEDULED",
            "details": {"id": str(number)},
            "message": "the callback will be sent again",
            "status": "success",
        }
        return Response({"data": [body]}, status=202)
