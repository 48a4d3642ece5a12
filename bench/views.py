"""The two bench-only endpoints, behind the product's authentication and scope check.

- `RawChangeOwnerView`: the single-record change_owner writes (lock, UPDATE, audit INSERT,
  commit) as hand-written SQL on Django's connection: the same writes behind the same stack, the
  yardstick for the product's single-record throughput (design.md).
- `PreparedRawChangeOwnerView`: the same SQL on a psycopg connection of its own with prepared
  statements, for context: what leaving Django's connection would still gain.
- `NoopView`: authenticated and nothing else, for context.
"""

from __future__ import annotations

from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from crm.ids import parse_id
from crm.modules import module_by_name
from owners.api.bigin.views import CHANGE_OWNER_SCOPES

from . import rawsql


class RawChangeOwnerView(APIView):
    required_scopes = CHANGE_OWNER_SCOPES
    prepared = False

    def post(self, request: Request, module: str, pk: str) -> Response:
        module_info = module_by_name(module)
        record_id = parse_id(pk)
        owner_id = parse_id((request.data.get("owner") or {}).get("id"))
        if module_info is None or record_id is None or owner_id is None:
            return Response({"data": []}, status=400)
        if not request.user.profile.can_change_owner:
            return Response({"data": []}, status=403)
        change = dict(
            organization_id=request.user.organization_id,
            module_id=module_info.id,
            module_name=module_info.api_name,
            record_ids=(record_id,),
            new_owner_id=owner_id,
            actor_id=request.user.id,
            outbox=False,
        )
        if self.prepared:
            conn = rawsql.thread_connection(rawsql.dsn_from_django())
            found, _ = rawsql.change_owner_sql(conn, **change)
        else:
            found, _ = rawsql.change_owner_django_sql(**change)
        status = "success" if found else "error"
        return Response(
            {"data": [{"code": "SUCCESS", "details": {"id": pk}, "status": status}]},
            status=200 if found else 400,
        )


class PreparedRawChangeOwnerView(RawChangeOwnerView):
    prepared = True


class NoopView(APIView):
    required_scopes = CHANGE_OWNER_SCOPES

    def post(self, request: Request) -> Response:
        return Response({"data": []})
