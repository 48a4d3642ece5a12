"""The Bigin change_owner endpoints: thin. Parse, call the service, render."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from crm import policy
from crm.api import params
from crm.http import openapi as crm_docs
from crm.http.dialects import BIGIN, Dialect
from crm.http.errors import NO_PERMISSION
from crm.ids import parse_id
from crm.models import User
from crm.modules import ModuleInfo
from owners.api.idempotency import PARAMETER as IDEMPOTENCY_KEY
from owners.api.idempotency import idempotent
from owners.services import NewOwnerNotActive, change_owner

from . import docs
from . import request as bigin_request

CHANGE_OWNER_SCOPES = ("ZohoBigin.change_owner.CREATE",)


class ChangeOwnerViewSet(viewsets.ViewSet):
    """`POST /bigin/v2/{module}/actions/change_owner` and `.../{record_id}/actions/change_owner`."""

    required_scopes = CHANGE_OWNER_SCOPES
    lookup_url_kwarg = "record_id"
    dialect: Dialect = BIGIN

    def initial(self, request: Request, *args, **kwargs) -> None:
        params.reject_unserved_path(kwargs["module"])
        super().initial(request, *args, **kwargs)

    def _module(self) -> ModuleInfo:
        module = params.path_module(self.kwargs["module"], self.dialect)
        if not policy.may_change_owners(self.request.user):
            raise NO_PERMISSION(permissions=[policy.CHANGE_OWNER])
        return module

    def _change(self, request: Request, module: ModuleInfo, parsed) -> Response:
        organization = request.user.organization
        try:
            result = change_owner(
                organization=organization,
                actor=request.user,
                module=module,
                record_ids=parsed.record_ids,
                # Only its id is needed: the lock reads its status (NewOwnerNotActive).
                new_owner=User(id=parsed.new_owner_id, organization=organization),
                notify=parsed.notify,
                related=parsed.related,
                source="api",
            )
        except NewOwnerNotActive as exc:
            # Not a user of the organization, disabled or deleted, as the lock read it.
            raise bigin_request.owner_status_error(exc.status) from None
        if not result.found_ids:
            # No record locked, so no owner read: its error still comes before the records'.
            bigin_request.check_owner(organization, parsed.new_owner_id)
        results = bigin_request.record_results(parsed.record_ids, result.found_ids)
        return Response(
            {"data": results},
            status=bigin_request.response_status(results),
            headers={"X-Owner-Batch-Id": str(result.batch_id)},
        )

    @extend_schema(
        operation_id="change_owner_bulk",
        tags=["Change owner"],
        summary="Change the owner of up to 500 records",
        description="Scope: `ZohoBigin.change_owner.CREATE`.",
        parameters=[crm_docs.MODULE_PARAMETER, docs.BATCH_HEADER, IDEMPOTENCY_KEY],
        request=docs.ChangeOwnerBulkBodySerializer,
        responses=docs.RESPONSES,
        examples=docs.BULK_EXAMPLES,
    )
    @action(detail=False, methods=["post"], url_path="actions/change_owner")
    @idempotent
    def bulk(self, request: Request, module: str) -> Response:
        module_info = self._module()
        organization = request.user.organization
        parsed = bigin_request.parse_change_owner(request.data, organization=organization)
        return self._change(request, module_info, parsed)

    @extend_schema(
        operation_id="change_owner_single",
        tags=["Change owner"],
        summary="Change the owner of one record",
        description="Scope: `ZohoBigin.change_owner.CREATE`. A body `ids` key is ignored.",
        parameters=[
            crm_docs.MODULE_PARAMETER,
            crm_docs.RECORD_ID_PARAMETER,
            docs.BATCH_HEADER,
            IDEMPOTENCY_KEY,
        ],
        request=docs.ChangeOwnerSingleBodySerializer,
        responses=docs.RESPONSES,
        examples=docs.SINGLE_EXAMPLES,
    )
    @action(detail=True, methods=["post"], url_path="actions/change_owner")
    @idempotent
    def single(self, request: Request, module: str, record_id: str) -> Response:
        module_info = self._module()
        path_id = record_id
        record_id = parse_id(path_id)
        parsed = bigin_request.parse_change_owner(
            request.data,
            organization=request.user.organization,
            record_ids=(record_id,) if record_id is not None else (),
        )
        if record_id is None:
            # Not an id at all: the same per-record answer as an id that does not exist (after
            # the owner's error, if any).
            bigin_request.check_owner(request.user.organization, parsed.new_owner_id)
            result = bigin_request.record_result(path_id, frozenset())
            return Response({"data": [result]}, status=400)
        return self._change(request, module_info, parsed)
