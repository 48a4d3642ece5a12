"""The record APIs: the records ViewSet of crm/api with the writes and the search. Thin: parse,
call the service (owners/records/writes.py) or the search (crm/search.py), render.

    POST   /bigin/v2/{module}            add         PUT    /bigin/v2/{module}          update
    PUT    /bigin/v2/{module}/{id}       update      POST   /bigin/v2/{module}/upsert   upsert
    DELETE /bigin/v2/{module}?ids=       delete      DELETE /bigin/v2/{module}/{id}     delete
    GET    /bigin/v2/{module}/search     search      (GET list and one record: crm/api)
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema_view
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from crm import policy, search
from crm.api import params
from crm.api.views import RecordViewSet
from crm.fields import module_field_specs
from crm.http.errors import NO_PERMISSION, OAUTH_SCOPE_MISMATCH, REQUIRED_PARAM_MISSING
from crm.ids import parse_id
from crm.modules import ModuleInfo
from crm.oauth.tokens import scope_satisfies
from crm.representations import render_record
from crm.selectors import records_where
from owners.api.idempotency import idempotent
from owners.records import writes

from . import docs
from . import request as body

# Per action: the operation of the module scopes it accepts (Bigin's pages: the module's ALL,
# WRITE or the operation; any module's with `ZohoBigin.modules.<operation>`).
OPERATIONS = {
    "create": "CREATE",
    "upsert": "CREATE",
    "bulk_update": "UPDATE",
    "update": "UPDATE",
    "bulk_destroy": "DELETE",
    "destroy": "DELETE",
}
# The collection's PUT and DELETE (crm/api/routers.py): drf-spectacular's extend_schema_view knows
# only DRF's own action names, so these two carry their schema themselves.
BULK = ("bulk_update", "bulk_destroy")
# What the caller's profile needs for each write (crm/policy.py), checked before the body.
PERMISSIONS = {
    "create": (policy.CREATE_RECORDS,),
    "upsert": (policy.CREATE_RECORDS, policy.EDIT_RECORDS),
    "bulk_update": (policy.EDIT_RECORDS,),
    "update": (policy.EDIT_RECORDS,),
    "bulk_destroy": (policy.DELETE_RECORDS,),
    "destroy": (policy.DELETE_RECORDS,),
}
# Search needs this besides a module scope (Bigin's and Zoho CRM's search pages).
SEARCH_SCOPE = "ZohoSearch.securesearch.READ"


def write_scopes(module: str, operation: str) -> tuple[str, ...]:
    return (
        "ZohoBigin.modules.ALL",
        f"ZohoBigin.modules.{operation}",
        f"ZohoBigin.modules.{module}.ALL",
        f"ZohoBigin.modules.{module}.WRITE",
        f"ZohoBigin.modules.{module}.{operation}",
    )


@extend_schema_view(**{name: schema for name, schema in docs.VIEWS.items() if name not in BULK})
class RecordWriteViewSet(RecordViewSet):
    """The records of a module: read (crm/api), written and searched (here)."""

    def get_required_scopes(self, request: Request) -> tuple[str, ...]:
        operation = OPERATIONS.get(self.action)
        if operation is None:  # list, retrieve, search, or a method no action takes
            return super().get_required_scopes(request)
        return write_scopes(self.kwargs.get("module", "").lower(), operation)

    def check_permissions(self, request: Request) -> None:
        super().check_permissions(request)
        if self.action == "search" and not any(
            scope_satisfies(granted, SEARCH_SCOPE) for granted in request.auth.scopes
        ):
            raise OAUTH_SCOPE_MISMATCH()

    def _module(self) -> ModuleInfo:
        module = super()._module()
        try:
            for permission in PERMISSIONS.get(self.action, ()):
                writes.require(self.request.user, permission)
        except writes.NotAllowed as refused:
            raise NO_PERMISSION(permissions=[refused.permission]) from None
        return module

    def _answer(
        self,
        outcomes: list[writes.RecordOutcome],
        module: ModuleInfo,
        *,
        success: int,
        batch_id: Any,
        upsert: bool = False,
    ) -> Response:
        entries = [
            body.write_entry(outcome, dialect=self.dialect, module=module, upsert=upsert)
            for outcome in outcomes
        ]
        status = body.response_status(entries, success=success, dialect=self.dialect)
        headers = {"X-Owner-Batch-Id": str(batch_id)}
        return Response({"data": entries}, status=status, headers=headers)

    def _call(self, service, **kwargs) -> Any:
        try:
            return service(
                organization=self.request.user.organization, actor=self.request.user, **kwargs
            )
        except writes.NotAllowed as refused:
            raise NO_PERMISSION(permissions=[refused.permission]) from None
        except writes.InvalidDuplicateCheckField as invalid:
            raise body.invalid_duplicate_check_field(invalid.index) from None

    @idempotent
    def create(self, request: Request, module: str) -> Response:
        module_info = self._module()
        rows = body.parse_data(request.data)
        result = self._call(writes.add_records, module=module_info, rows=rows)
        return self._answer(result.outcomes, module_info, success=201, batch_id=result.batch_id)

    @docs.VIEWS["bulk_update"]
    @idempotent
    def bulk_update(self, request: Request, module: str) -> Response:
        module_info = self._module()
        rows = body.parse_data(request.data)
        result = self._call(writes.update_records, module=module_info, rows=rows)
        return self._answer(result.outcomes, module_info, success=200, batch_id=result.batch_id)

    @idempotent
    def update(self, request: Request, module: str, record_id: str) -> Response:
        module_info = self._module()
        rows = body.parse_data(request.data, limit=1)
        number = parse_id(record_id)
        if number is None:
            # Not an id at all: the answer of an id that is no record of the module.
            entry = {
                "code": "INVALID_DATA",
                "details": {"api_name": "id", "json_path": "$.data[0].id"},
                "message": "the id given seems to be invalid",
                "status": "error",
            }
            return Response({"data": [entry]}, status=400)
        result = self._call(writes.update_records, module=module_info, rows=rows, record_id=number)
        return self._answer(result.outcomes, module_info, success=200, batch_id=result.batch_id)

    @action(detail=False, methods=["post"], url_path="upsert")
    @idempotent
    def upsert(self, request: Request, module: str) -> Response:
        module_info = self._module()
        rows = body.parse_data(request.data)
        check = body.parse_duplicate_check_fields(request.data)
        result = self._call(
            writes.upsert_records, module=module_info, rows=rows, duplicate_check_fields=check
        )
        return self._answer(
            result.outcomes, module_info, success=200, batch_id=result.batch_id, upsert=True
        )

    @docs.VIEWS["bulk_destroy"]
    @idempotent
    def bulk_destroy(self, request: Request, module: str) -> Response:
        module_info = self._module()
        return self._delete(module_info, body.parse_delete_ids(request))

    @idempotent
    def destroy(self, request: Request, module: str, record_id: str) -> Response:
        return self._delete(self._module(), [record_id])

    def _delete(self, module: ModuleInfo, raw_ids: list[str]) -> Response:
        ids = [number for number in map(parse_id, raw_ids) if number is not None]
        result = self._call(writes.delete_records, module=module, record_ids=ids)
        entries = [body.delete_entry(raw_id, result.deleted) for raw_id in raw_ids]
        status = body.response_status(entries, success=200, dialect=self.dialect)
        return Response({"data": entries}, status=status)

    @action(detail=False, methods=["get"], url_path="search")
    def search(self, request: Request, module: str) -> Response:
        module_info = self._module()
        fields = params.field_names(request)
        page, per_page = params.paging(request)
        condition, aliases = self._search_condition(request, module_info)
        result = records_where(
            organization=request.user.organization,
            module=module_info,
            condition=condition,
            aliases=aliases,
            page=page,
            per_page=per_page,
        )
        if not result.items:
            return Response(status=204)
        data = [render_record(row, module_info, fields, self.dialect) for row in result.items]
        info = {
            "per_page": result.per_page,
            "count": len(result.items),
            "page": result.page,
            "more_records": result.more_records,
        }
        return Response({"data": data, "info": info})

    def _search_condition(self, request: Request, module: ModuleInfo):
        """The first of criteria, email, phone, word the request gives."""
        specs = module_field_specs(request.user.organization, module)
        given = {name: request.query_params.get(name) for name in docs.SEARCH_BY}
        if given["criteria"]:
            return search.criteria_condition(given["criteria"], module, specs)
        if given["email"]:
            return search.typed_condition(given["email"], frozenset({"email"}), specs)
        if given["phone"]:
            return search.typed_condition(given["phone"], frozenset({"phone"}), specs)
        if given["word"]:
            return search.word_condition(given["word"], specs)
        raise REQUIRED_PARAM_MISSING(param="criteria")
