"""The naive peer: change owner written the way a first DRF version would be, bench-only.

`NaiveChangeOwnerView` (routed only by bench/urls.py, never by the product's config.urls) takes
the same body as the bulk change_owner and does the same writes, one record at a time: a
`ModelSerializer` validates each record's new owner (a query for the user), `save()` writes the
record, `AuditEntry.objects.create` its audit row, inside one transaction with each record locked
by `select_for_update().get()`. No related transfer, no notification: the product's side of the
comparison asks for neither.

`measure` times both, over HTTP, one request at a time, at 100 and 500 ids.
"""

from __future__ import annotations

import os
import uuid
from datetime import timedelta
from time import perf_counter

from django.db import transaction
from django.utils import timezone
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from audit.models import AuditEntry
from crm.models import Record
from crm.modules import module_by_name
from owners.api.bigin.views import CHANGE_OWNER_SCOPES

SIZES = (100, 500)
RUNS = int(os.environ.get("BENCH_NAIVE_RUNS", "5"))


class _RecordOwnerSerializer(serializers.ModelSerializer):
    class Meta:
        model = Record
        fields = ["id", "owner"]


class NaiveChangeOwnerView(APIView):
    required_scopes = CHANGE_OWNER_SCOPES

    def post(self, request: Request, module: str) -> Response:
        module_info = module_by_name(module)
        owner_id = request.data["owner"]["id"]
        batch_id = uuid.uuid4()
        results = []
        with transaction.atomic():
            for raw_id in request.data["ids"]:
                try:
                    record = Record.objects.select_for_update().get(
                        organization_id=request.user.organization_id,
                        module_id=module_info.id,
                        id=int(raw_id),
                    )
                except Record.DoesNotExist:
                    results.append(
                        {"code": "INVALID_DATA", "details": {"id": raw_id}, "status": "error"}
                    )
                    continue
                previous_owner_id = record.owner_id
                serializer = _RecordOwnerSerializer(record, data={"owner": owner_id}, partial=True)
                serializer.is_valid(raise_exception=True)
                serializer.save(modified_by=request.user, modified_time=timezone.now())
                if previous_owner_id != record.owner_id:
                    AuditEntry.objects.create(
                        organization_id=record.organization_id,
                        module_id=record.module_id,
                        record_id=record.id,
                        previous_owner_id=previous_owner_id,
                        new_owner_id=record.owner_id,
                        actor=request.user,
                        source="api",
                        batch_id=batch_id,
                    )
                results.append(
                    {
                        "code": "SUCCESS",
                        "details": {"id": raw_id},
                        "message": "owner is successfully updated",
                        "status": "success",
                    }
                )
        return Response({"data": results})


def measure(data) -> dict:
    """Product vs naive peer over HTTP, each on a 500-record set of its own from part 1,
    alternating two owners so every timed request changes every record."""
    from crm.oauth.grants import issue_access_token

    from .load import gunicorn, request, summary

    token = issue_access_token(
        user=data.actor, scopes=[CHANGE_OWNER_SCOPES[0]], expires_in=timedelta(hours=1)
    )
    headers = {"Authorization": f"Zoho-oauthtoken {token}", "Content-Type": "application/json"}
    paths = {
        "product": "/bigin/v2/Contacts/actions/change_owner",
        "naive": "/bench/naive/Contacts/change_owner",
    }
    sets = {"product": data.service_sets[500], "naive": data.raw_sets[500]}
    owners = [data.owner_a, data.owner_b]
    rows = []
    with gunicorn(workers=2, worker_class="sync", threads=1, env=dict(os.environ)) as (port, _):
        for size in SIZES:
            timings: dict[str, list[float]] = {name: [] for name in paths}
            for n in range(RUNS + 1):  # the first of each warms up
                for name, path in paths.items():
                    ids = [str(record_id) for record_id in sets[name][:size]]
                    body = {"ids": ids, "owner": {"id": str(owners[n % 2].id)}}
                    start = perf_counter()
                    status, content = request(port, "POST", path, body, headers)
                    elapsed = (perf_counter() - start) * 1000
                    if status != 200:
                        raise RuntimeError(f"{path}: {status} {content[:300]!r}")
                    if n:
                        timings[name].append(elapsed)
            product, naive = summary(timings["product"]), summary(timings["naive"])
            rows.append(
                {
                    "size": size,
                    "product": product,
                    "naive": naive,
                    "speedup": naive["median_ms"] / product["median_ms"],
                }
            )
    return {"rows": rows}
