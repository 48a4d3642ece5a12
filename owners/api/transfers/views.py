"""The transfer job endpoints: thin. Parse, call the engine (owners/transfers/engine.py),
render.

    POST/GET /bigin/v2/{module}/actions/mass_change_owner          (Zoho CRM's shape)
    POST/GET /bigin/v2/users/actions/transfer_and_delete           (Zoho CRM's shape)
    POST     /bigin/v2/users/{id}/actions/transfer_and_delete
    GET      /bigin/v2/owner_batches/{batch_id}                    (ours)
    POST     /bigin/v2/owner_batches/{batch_id}/actions/revert     (ours)
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework import viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from crm import policy
from crm.api import params
from crm.http import openapi as crm_docs
from crm.http.dialects import BIGIN, Dialect
from crm.http.errors import NO_PERMISSION
from crm.modules import ModuleInfo
from crm.replica import ReadsFromReplica
from crm.representations import bigin_time
from owners.api.idempotency import PARAMETER as IDEMPOTENCY_KEY
from owners.api.idempotency import idempotent
from owners.history import log_job_scheduled
from owners.models import TransferJob
from owners.selectors import BatchOverview, batch_overview
from owners.transfers import engine, revert

from . import docs
from . import request as parse

# Zoho's Status values for each of ours.
MASS_CHANGE_STATUS = {
    TransferJob.Status.SCHEDULED: "SCHEDULED",
    TransferJob.Status.RUNNING: "RUNNING",
    TransferJob.Status.COMPLETED: "COMPLETED",
    TransferJob.Status.FAILED: "FAILED",
}
TRANSFER_AND_DELETE_STATUS = {
    TransferJob.Status.SCHEDULED: "in_progress",
    TransferJob.Status.RUNNING: "in_progress",
    TransferJob.Status.COMPLETED: "completed",
    TransferJob.Status.FAILED: "failed",
}


def _scopes(request: Request, *, write: tuple[str, ...], read: tuple[str, ...]):
    return write if request.method == "POST" else read


def counts(progress: engine.TransferProgress) -> dict[str, Any]:
    """Zoho's count keys, then ours."""
    return {
        "Total_Count": progress.total_count,
        "Updated_Count": progress.updated_count,
        "Not_Updated_Count": progress.not_updated_count,
        "Failed_Count": progress.failed_count,
        "Skipped_Count": progress.skipped_count,
        "batch_id": str(progress.batch_id),
        "cancelled": progress.cancelled,
    }


def scheduled(transfer: TransferJob, message: str) -> dict[str, Any]:
    return {
        "code": "SCHEDULED",
        "details": {"job_id": str(transfer.id)},
        "message": message,
        "status": "success",
    }


def dry_run_entry(result: engine.DryRun, *, per_module: bool = False) -> dict[str, Any]:
    details: dict[str, Any] = {
        "Total_Count": result.total_count,
        "related_count": result.related_count,
        "sample_ids": [str(record_id) for record_id in result.sample_ids],
    }
    if per_module:
        details["module_count"] = result.per_module
    return {
        "code": "SUCCESS",
        "details": details,
        "message": "dry run: nothing was changed",
        "status": "success",
    }


def _batch_header(transfer: TransferJob) -> dict[str, str]:
    return {"X-Owner-Batch-Id": str(transfer.batch_id)}


class MassChangeOwnerViewSet(ReadsFromReplica, viewsets.ViewSet):
    """`POST/GET /bigin/v2/{module}/actions/mass_change_owner`."""

    write_scopes: tuple[str, ...] = ("ZohoBigin.change_owner.CREATE",)
    read_scopes: tuple[str, ...] = ("ZohoBigin.change_owner.READ",)
    dialect: Dialect = BIGIN

    def initial(self, request: Request, *args, **kwargs) -> None:
        params.reject_unserved_path(kwargs["module"])
        super().initial(request, *args, **kwargs)

    def get_required_scopes(self, request: Request) -> tuple[str, ...]:
        return _scopes(request, write=self.write_scopes, read=self.read_scopes)

    def _module(self) -> ModuleInfo:
        module = params.path_module(self.kwargs["module"], self.dialect)
        if not policy.may_change_owners(self.request.user):
            raise NO_PERMISSION(permissions=[policy.CHANGE_OWNER])
        return module

    @extend_schema(
        operation_id="mass_change_owner_status",
        tags=["Transfer jobs"],
        summary="The status of a mass change outbox entry",
        description=(
            "Scope: `ZohoBigin.change_owner.READ` (or `.ALL`); a profile that may change owners."
            " At the end `Total_Count = Updated_Count + Failed_Count + Skipped_Count`. See"
            " docs/transfer-jobs.md."
        ),
        parameters=[crm_docs.MODULE_PARAMETER, docs.JOB_ID_PARAMETER],
        responses=docs.MASS_CHANGE_STATUS_RESPONSES,
    )
    @action(detail=False, methods=["get"], url_path="actions/mass_change_owner")
    def mass_change_owner_status(self, request: Request, module: str) -> Response:
        progress = self._progress(request, self._module())
        return Response(
            {"data": [{"Status": MASS_CHANGE_STATUS[progress.status], **counts(progress)}]}
        )

    @extend_schema(
        operation_id="mass_change_owner",
        tags=["Transfer jobs"],
        summary="Schedule a mass change of owner, dry-run it, or cancel a job",
        description=(
            "Scope: `ZohoBigin.change_owner.CREATE` (or `.ALL`); a profile that may change"
            " owners. `dry_run: true` (ours) counts and changes nothing. With"
            " `?job_id=...&action=cancel` (ours, no body): cancel that job; it stops after the"
            " chunks running now. `?job_id=...&action=retry` (ours, no body): run again the"
            " chunks of a FAILED job that did not get done (202). See docs/transfer-jobs.md."
        ),
        parameters=[
            crm_docs.MODULE_PARAMETER,
            docs.JOB_ACTION_ID_PARAMETER,
            docs.JOB_ACTION_PARAMETER,
            docs.BATCH_HEADER,
            IDEMPOTENCY_KEY,
        ],
        request=docs.MassChangeOwnerBodySerializer,
        examples=docs.MASS_CHANGE_EXAMPLES,
        responses=docs.MASS_CHANGE_RESPONSES,
    )
    @mass_change_owner_status.mapping.post
    @idempotent
    def mass_change_owner(self, request: Request, module: str) -> Response:
        module_info = self._module()
        organization = request.user.organization
        if "job_id" in request.query_params or "action" in request.query_params:
            return self._job_action(request, module_info)
        parsed = parse.parse_mass_change(
            request.data, organization=organization, module=module_info
        )
        if parsed.dry_run:
            result = engine.dry_run_mass_change(
                organization=organization,
                module=module_info,
                criteria=parsed.criteria,
                new_owner=parsed.new_owner,
                related_modules=parsed.related_modules,
            )
            return Response({"data": [dry_run_entry(result)]})
        transfer = engine.schedule_mass_change(
            organization=organization,
            actor=request.user,
            module=module_info,
            criteria=parsed.criteria,
            new_owner=parsed.new_owner,
            related_modules=parsed.related_modules,
            notify=parsed.notify,
        )
        log_job_scheduled(
            transfer=transfer,
            message=f"Mass change of {module_info.plural_label} scheduled through the API",
        )
        return Response(
            {"data": [scheduled(transfer, "mass change owner is scheduled")]},
            status=202,
            headers=_batch_header(transfer),
        )

    def _progress(self, request: Request, module: ModuleInfo) -> engine.TransferProgress:
        job_id = parse.job_id_param(request)
        progress = engine.transfer_progress(
            organization=request.user.organization,
            transfer_id=job_id,
            kind=TransferJob.Kind.MASS_CHANGE,
        )
        if progress is None or progress.module_ids != [module.id]:
            raise parse.INVALID_JOB(param_name="job_id")
        return progress

    def _job_action(self, request: Request, module: ModuleInfo) -> Response:
        action_name = request.query_params.get("action")
        if action_name not in JOB_ACTIONS:
            raise parse.INVALID_ACTION(param_name="action", supported_values=list(JOB_ACTIONS))
        progress = self._progress(request, module)
        if action_name == "retry":
            return _retry(request, progress, MASS_CHANGE_STATUS, envelope="data")
        if progress.finished:
            raise parse.JOB_FINISHED(
                param_name="job_id", job_status=MASS_CHANGE_STATUS[progress.status]
            )
        engine.cancel_transfer(organization=request.user.organization, transfer_id=progress.job_id)
        return Response(
            {
                "data": [
                    {
                        "code": "SUCCESS",
                        "details": {"job_id": str(progress.job_id)},
                        "message": "the job is cancelled: it stops after the chunks running now",
                        "status": "success",
                    }
                ]
            }
        )


# `POST ...?job_id=...&action=...` (ours): what a client may do to a job it scheduled.
JOB_ACTIONS = ("cancel", "retry")


def _retry(
    request: Request,
    progress: engine.TransferProgress,
    statuses: dict[str, str],
    *,
    envelope: str,
) -> Response:
    """Run again the chunks of a FAILED job that did not get done; any other job is refused."""
    if progress.status != TransferJob.Status.FAILED:
        raise parse.JOB_NOT_FAILED(param_name="job_id", job_status=statuses[progress.status])
    transfer = engine.retry_transfer(
        organization=request.user.organization, transfer_id=progress.job_id
    )
    return Response(
        {
            envelope: [
                {
                    "code": "SUCCESS",
                    "details": {"job_id": str(progress.job_id)},
                    "message": "the job is retried: the chunks not done run again",
                    "status": "success",
                }
            ]
        },
        status=202,
        headers=_batch_header(transfer),
    )


class TransferAndDeleteView(ReadsFromReplica, APIView):
    """`POST/GET /bigin/v2/users/actions/transfer_and_delete` and
    `POST /bigin/v2/users/{id}/actions/transfer_and_delete`: Administrator profile only."""

    write_scopes: tuple[str, ...] = ("ZohoBigin.users.DELETE", "ZohoBigin.users.ALL")
    read_scopes: tuple[str, ...] = ("ZohoBigin.users.READ", "ZohoBigin.users.ALL")

    def get_required_scopes(self, request: Request) -> tuple[str, ...]:
        return _scopes(request, write=self.write_scopes, read=self.read_scopes)

    def _check_administrator(self, request: Request) -> None:
        if not policy.may_offboard(request.user):
            raise NO_PERMISSION(permissions=[policy.MANAGE_USERS])

    @extend_schema(
        operation_id="transfer_and_delete_status",
        tags=["Transfer jobs"],
        summary="The status of a transfer-and-delete job",
        description=(
            "Scope: `ZohoBigin.users.READ` or `ZohoBigin.users.ALL`. Administrator profile only."
        ),
        parameters=[docs.JOB_ID_PARAMETER],
        responses=docs.TRANSFER_STATUS_RESPONSES,
    )
    def get(self, request: Request, user_id: str | None = None) -> Response:
        self._check_administrator(request)
        progress = self._progress(request)
        entry = {"status": TRANSFER_AND_DELETE_STATUS[progress.status], **counts(progress)}
        return Response({"transfer_and_delete": [entry]})

    def _progress(self, request: Request) -> engine.TransferProgress:
        progress = engine.transfer_progress(
            organization=request.user.organization,
            transfer_id=parse.job_id_param(request),
            kind=TransferJob.Kind.OFFBOARDING,
        )
        if progress is None:
            raise parse.INVALID_JOB(param_name="job_id")
        return progress

    @extend_schema(
        operation_id="transfer_and_delete",
        tags=["Transfer jobs"],
        summary="Transfer a user's records to another user, then delete (or disable) the user",
        description=(
            "Scope: `ZohoBigin.users.DELETE` or `ZohoBigin.users.ALL`. Administrator profile"
            " only. Nobody transfers and deletes themselves or a superuser, and only a superuser"
            " a staff account (`400 INVALID_DATA` naming the entry's `id`). `delete: false`"
            " (ours) disables instead; `dry_run: true` (ours) counts per module and changes"
            " nothing. `?job_id=...&action=retry` (ours, no body): run again the chunks of a"
            " FAILED job that did not get done (202)."
        ),
        parameters=[
            docs.RETRY_JOB_ID_PARAMETER,
            docs.RETRY_ACTION_PARAMETER,
            docs.BATCH_HEADER,
            IDEMPOTENCY_KEY,
        ],
        request=docs.TransferAndDeleteBodySerializer,
        examples=docs.TRANSFER_EXAMPLES,
        responses=docs.TRANSFER_RESPONSES,
    )
    @idempotent
    def post(self, request: Request, user_id: str | None = None) -> Response:
        self._check_administrator(request)
        if user_id is None and (
            "job_id" in request.query_params or "action" in request.query_params
        ):
            if request.query_params.get("action") != "retry":
                raise parse.INVALID_ACTION(param_name="action", supported_values=["retry"])
            return _retry(
                request,
                self._progress(request),
                TRANSFER_AND_DELETE_STATUS,
                envelope="transfer_and_delete",
            )
        organization = request.user.organization
        parsed = parse.parse_transfer_and_delete(
            request.data, organization=organization, actor=request.user, path_user_id=user_id
        )
        if parsed.dry_run:
            result = engine.dry_run_offboarding(
                organization=organization,
                leaving_user=parsed.leaving_user,
                new_owner=parsed.new_owner,
            )
            return Response({"transfer_and_delete": [dry_run_entry(result, per_module=True)]})
        transfer = engine.schedule_offboarding(
            organization=organization,
            actor=request.user,
            leaving_user=parsed.leaving_user,
            new_owner=parsed.new_owner,
            delete_user=parsed.delete_user,
        )
        log_job_scheduled(
            transfer=transfer,
            message=f"Offboarding of {parsed.leaving_user.full_name} scheduled through the API",
        )
        return Response(
            {"transfer_and_delete": [scheduled(transfer, "transfer and delete is scheduled")]},
            status=202,
            headers=_batch_header(transfer),
        )


class UserTransferAndDeleteView(TransferAndDeleteView):
    """`POST /bigin/v2/users/{id}/actions/transfer_and_delete` (the status is read on the
    collection path only, as Zoho's)."""

    http_method_names = ["post"]

    @extend_schema(
        operation_id="user_transfer_and_delete",
        tags=["Transfer jobs"],
        summary="Transfer the records of the user in the path, then delete (or disable) them",
        description=(
            "Scope: `ZohoBigin.users.DELETE` or `ZohoBigin.users.ALL`. Administrator profile"
            " only. The entry's `id`, if given, is ignored for the path's; errors about the"
            ' path\'s user name it by its place in the path: `{"api_name": "id",'
            ' "resource_path_index": 1}`.'
        ),
        parameters=[docs.LEAVING_USER_PARAMETER, docs.BATCH_HEADER, IDEMPOTENCY_KEY],
        request=docs.TransferAndDeleteBodySerializer,
        examples=docs.USER_TRANSFER_EXAMPLES,
        responses=docs.USER_TRANSFER_RESPONSES,
    )
    def post(self, request: Request, user_id: str | None = None) -> Response:
        return super().post(request, user_id)


def render_batch(overview: BatchOverview) -> dict[str, Any]:
    body: dict[str, Any] = {
        "batch_id": str(overview.batch_id),
        "source": overview.source,
        "actor": {"id": str(overview.actor_id)} if overview.actor_id else None,
        "created_time": bigin_time(overview.created_time),
        "changed_count": overview.changed_count,
        "jobs": [
            {
                "kind": job.kind,
                "status": job.status,
                "attempts": job.attempts,
                "last_error": job.last_error or None,
            }
            for job in overview.jobs
        ],
        "status": overview.status,
    }
    if overview.transfer is not None:
        progress = engine.progress_of(overview.transfer)
        body["job"] = {
            "job_id": str(progress.job_id),
            "kind": progress.kind,
            "Status": MASS_CHANGE_STATUS[progress.status],
            **counts(progress),
        }
        if progress.kind == TransferJob.Kind.REVERT:
            body["job"]["skipped_reasons"] = revert.skipped_reasons(
                overview.transfer.skipped_reasons
            )
    return body


class OwnerBatchView(ReadsFromReplica, APIView):
    """`GET /bigin/v2/owner_batches/{batch_id}`: 204 for a batch the organization does not
    have, like the read APIs' unknown ids."""

    required_scopes = ("ZohoBigin.change_owner.READ",)

    @extend_schema(
        operation_id="owner_batch",
        tags=["Transfer jobs"],
        summary="What one change-owner request or job did",
        description=(
            "Scope: `ZohoBigin.change_owner.READ` (or `.ALL`). `status` is `in_progress` until"
            " the job and every follow-up job (related transfer, email) is done."
        ),
        parameters=[docs.BATCH_ID_PARAMETER],
        responses=docs.BATCH_RESPONSES,
    )
    def get(self, request: Request, batch_id: str) -> Response:
        parsed = parse.batch_id_param(batch_id)
        overview = (
            batch_overview(organization_id=request.user.organization_id, batch_id=parsed)
            if parsed is not None
            else None
        )
        if overview is None:
            return Response(status=204)
        return Response(render_batch(overview))


class OwnerBatchRevertView(APIView):
    """`POST /bigin/v2/owner_batches/{batch_id}/actions/revert`: schedules the revert job."""

    required_scopes = ("ZohoBigin.change_owner.CREATE",)

    @extend_schema(
        operation_id="owner_batch_revert",
        tags=["Transfer jobs"],
        summary="Give every record a batch changed back to its previous owner",
        description=(
            "Scope: `ZohoBigin.change_owner.CREATE` (or `.ALL`); a profile that may change"
            " owners, and the permission the batch's own operation needed (an offboarding's"
            " revert: Administrator, else `403 NO_PERMISSION`). A batch whose job still runs"
            " is refused (`400 INVALID_DATA` with `job_status`). A record whose owner changed"
            " since the batch, or whose previous owner is not active, is skipped and counted"
            " by reason in the revert job's `skipped_reasons` (`GET /owner_batches/{its"
            " batch_id}`)."
        ),
        parameters=[docs.BATCH_ID_PARAMETER, docs.BATCH_HEADER, IDEMPOTENCY_KEY],
        request=None,
        responses=docs.REVERT_RESPONSES,
    )
    @idempotent
    def post(self, request: Request, batch_id: str) -> Response:
        if not policy.may_change_owners(request.user):
            raise NO_PERMISSION(permissions=[policy.CHANGE_OWNER])
        parsed = parse.batch_id_param(batch_id)
        if parsed is None:
            raise parse.INVALID_BATCH(batch_id=batch_id)
        try:
            transfer = engine.schedule_revert(
                organization=request.user.organization, actor=request.user, batch_id=parsed
            )
        except engine.NothingToRevert:
            raise parse.INVALID_BATCH(batch_id=batch_id) from None
        except engine.RevertNotPermitted as refused:
            raise NO_PERMISSION(permissions=[refused.permission]) from None
        except engine.BatchStillRunning as running:
            raise parse.BATCH_RUNNING(
                batch_id=batch_id, job_status=MASS_CHANGE_STATUS[running.status]
            ) from None
        log_job_scheduled(
            transfer=transfer, message=f"Revert of batch {parsed} scheduled through the API"
        )
        entry = scheduled(transfer, "revert is scheduled")
        entry["details"]["batch_id"] = str(transfer.batch_id)
        return Response({"data": [entry]}, status=202, headers=_batch_header(transfer))
