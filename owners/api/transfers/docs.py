"""OpenAPI description of the transfer job endpoints (the views build plain dicts: these
serializers describe them, and tests/crm/http/test_documented_responses.py holds the two
together). Examples name ids of the demo sandbox and are dry runs, so Swagger UI's "Try it out"
changes nothing. The shapes are docs/transfer-jobs.md's."""

from __future__ import annotations

from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiParameter,
    OpenApiResponse,
    PolymorphicProxySerializer,
)
from rest_framework import serializers

from crm.http import openapi as docs
from crm.http.errors import INVALID_BODY, INVALID_MODULE, NO_PERMISSION
from crm.sandbox import demo
from owners.api.bigin import docs as bigin_docs
from owners.transfers import criteria as criteria_rules

from . import request as rules

_DEMO = demo.api_examples()

# ---- Request bodies


class ActivityModuleSerializer(serializers.Serializer):
    api_name = serializers.CharField(help_text="Tasks, Events or Calls.")


class MassChangeOwnerBodySerializer(serializers.Serializer):
    owner = bigin_docs.OwnerRefSerializer()
    criteria = serializers.JSONField(
        help_text=(
            'Zoho CRM\'s criteria: `{"field": {"api_name"}, "comparator", "value"}` or '
            '`{"group_operator": "and"|"or", "group": [...]}`, nested at most '
            f"{criteria_rules.MAX_DEPTH} levels, at most {criteria_rules.MAX_CONDITIONS} "
            "conditions. Comparators: " + ", ".join(criteria_rules.COMPARATORS) + "."
        )
    )
    related_modules = ActivityModuleSerializer(
        many=True, required=False, help_text="Activities moving with their parents."
    )
    notify = serializers.BooleanField(
        required=False, default=False, help_text="One digest email to the new owner at the end."
    )
    dry_run = serializers.BooleanField(
        required=False, default=False, help_text="(ours) Count what would move; change nothing."
    )


class TransferTargetSerializer(serializers.Serializer):
    id = serializers.CharField(help_text="The new owner's user id: an active user.")
    records = serializers.BooleanField(
        required=False, default=True, help_text="Must be true (false answers NOT_SUPPORTED)."
    )


class TransferAndDeleteEntrySerializer(serializers.Serializer):
    id = serializers.CharField(
        required=False, help_text="The leaving user's id (not on the /users/{user_id} path)."
    )
    transfer = TransferTargetSerializer()
    delete = serializers.BooleanField(
        required=False, default=True, help_text="(ours) false disables the user instead."
    )
    dry_run = serializers.BooleanField(
        required=False, default=False, help_text="(ours) Count per module; change nothing."
    )


class TransferAndDeleteBodySerializer(serializers.Serializer):
    transfer_and_delete = TransferAndDeleteEntrySerializer(
        many=True, min_length=1, max_length=1, help_text="Exactly one user."
    )


# ---- Response bodies


class JobDetailsSerializer(serializers.Serializer):
    job_id = serializers.CharField()
    batch_id = serializers.CharField(
        required=False, help_text="A revert's own batch id (revert only)."
    )


class JobEntrySerializer(serializers.Serializer):
    code = serializers.CharField(help_text="SCHEDULED, or SUCCESS for a cancel.")
    details = JobDetailsSerializer()
    message = serializers.CharField()
    status = serializers.CharField(help_text='"success".')


class JobAnswerSerializer(serializers.Serializer):
    data = JobEntrySerializer(many=True)


class TransferAndDeleteScheduledSerializer(serializers.Serializer):
    transfer_and_delete = JobEntrySerializer(many=True)


class DryRunDetailsSerializer(serializers.Serializer):
    Total_Count = serializers.IntegerField(help_text="Records that would move.")
    related_count = serializers.DictField(
        child=serializers.IntegerField(), help_text="Related activities per module."
    )
    sample_ids = serializers.ListField(
        child=serializers.CharField(), help_text="Up to 20 of the record ids."
    )
    module_count = serializers.DictField(
        child=serializers.IntegerField(),
        required=False,
        help_text="Records per module (transfer and delete only).",
    )


class DryRunEntrySerializer(serializers.Serializer):
    code = serializers.CharField(help_text='"SUCCESS".')
    details = DryRunDetailsSerializer()
    message = serializers.CharField()
    status = serializers.CharField()


class MassChangeDryRunSerializer(serializers.Serializer):
    data = DryRunEntrySerializer(many=True)


class TransferAndDeleteDryRunSerializer(serializers.Serializer):
    transfer_and_delete = DryRunEntrySerializer(many=True)


class _CountsSerializer(serializers.Serializer):
    """Zoho's count keys, then ours (Skipped_Count, batch_id, cancelled)."""

    Total_Count = serializers.IntegerField()
    Updated_Count = serializers.IntegerField()
    Not_Updated_Count = serializers.IntegerField()
    Failed_Count = serializers.IntegerField()
    Skipped_Count = serializers.IntegerField(
        help_text="(ours) Records that no longer matched when their chunk ran."
    )
    batch_id = serializers.CharField(help_text="(ours) The job's batch id.")
    cancelled = serializers.BooleanField(help_text="(ours)")


# Named in SPECTACULAR_SETTINGS["ENUM_NAME_OVERRIDES"]: by its field name alone, `Status` and
# the `status` below would share one component, StatusEnum.
ZOHO_JOB_STATUSES = ("SCHEDULED", "RUNNING", "COMPLETED", "FAILED")


class MassChangeStatusEntrySerializer(_CountsSerializer):
    Status = serializers.ChoiceField(choices=ZOHO_JOB_STATUSES)


class MassChangeStatusSerializer(serializers.Serializer):
    data = MassChangeStatusEntrySerializer(many=True)


class TransferAndDeleteStatusEntrySerializer(_CountsSerializer):
    status = serializers.ChoiceField(choices=["in_progress", "completed", "failed"])


class TransferAndDeleteStatusSerializer(serializers.Serializer):
    transfer_and_delete = TransferAndDeleteStatusEntrySerializer(many=True)


class BatchActorSerializer(serializers.Serializer):
    id = serializers.CharField()


class BatchJobSerializer(serializers.Serializer):
    kind = serializers.CharField(help_text="related_transfer, notify_email, ...")
    status = serializers.CharField(help_text="pending, running, done or failed.")
    attempts = serializers.IntegerField()
    last_error = serializers.CharField(allow_null=True)


class SkippedReasonsSerializer(serializers.Serializer):
    """owners/transfers/revert.py: a record is counted under the first reason that applies."""

    record_deleted = serializers.IntegerField(help_text="The record no longer exists.")
    added_by_batch = serializers.IntegerField(
        help_text="The batch added it (the record APIs): it had no owner before."
    )
    changed_since = serializers.IntegerField(
        help_text="Its owner changed after the batch, even back to the batch's owner."
    )
    already_previous_owner = serializers.IntegerField(
        help_text="The batch left it with the owner it had before."
    )
    owner_not_active = serializers.IntegerField(
        help_text="Its owner from before the batch is disabled or deleted: records go to "
        "active users only (an offboarding's leaving user, say)."
    )


class BatchTransferSerializer(MassChangeStatusEntrySerializer):
    job_id = serializers.CharField()
    kind = serializers.CharField(help_text="mass_change, offboarding or revert.")
    skipped_reasons = SkippedReasonsSerializer(
        required=False,
        help_text="(revert jobs only) The records left alone, by reason; they add up to "
        "Skipped_Count.",
    )


class OwnerBatchSerializer(serializers.Serializer):
    batch_id = serializers.CharField()
    source = serializers.CharField(help_text="api, mass_change, offboarding, revert, ...")
    actor = BatchActorSerializer(allow_null=True)
    created_time = serializers.CharField(help_text="Bigin's time format.")
    changed_count = serializers.IntegerField(help_text="Audit rows of the batch.")
    jobs = BatchJobSerializer(many=True, help_text="The request's follow-up jobs.")
    status = serializers.ChoiceField(choices=["in_progress", "completed", "failed"])
    job = BatchTransferSerializer(required=False, help_text="The transfer job, for a job's batch.")


# ---- Parameters

# A job or batch id exists only once something was scheduled: the examples show their form.
JOB_ID_PARAMETER = OpenApiParameter(
    "job_id",
    str,
    OpenApiParameter.QUERY,
    description="The `details.job_id` of the answer that scheduled the job.",
    examples=[OpenApiExample("AJob", summary="A scheduled job's id", value="4876876000100900001")],
)
JOB_ACTION_ID_PARAMETER = OpenApiParameter(
    "job_id",
    str,
    OpenApiParameter.QUERY,
    required=False,
    description="With `action`: the job to cancel or retry (no body then).",
)
JOB_ACTION_PARAMETER = OpenApiParameter(
    "action",
    str,
    OpenApiParameter.QUERY,
    required=False,
    enum=["cancel", "retry"],
    description=(
        "`cancel`: stop the job after the chunks running now. `retry`: run again the chunks of a"
        " FAILED job that did not get done."
    ),
)
RETRY_JOB_ID_PARAMETER = OpenApiParameter(
    "job_id",
    str,
    OpenApiParameter.QUERY,
    required=False,
    description="With `action=retry`: the FAILED job to retry (no body then).",
)
RETRY_ACTION_PARAMETER = OpenApiParameter(
    "action", str, OpenApiParameter.QUERY, required=False, enum=["retry"]
)
BATCH_ID_PARAMETER = OpenApiParameter(
    "batch_id",
    str,
    OpenApiParameter.PATH,
    description="The `X-Owner-Batch-Id` header of a change-owner or scheduling answer.",
    examples=[
        OpenApiExample(
            "ABatch", summary="A batch id's form", value="0e8c2f4a-3b1d-4c9e-9f7a-5d6b8a1c2e3f"
        )
    ],
)
LEAVING_USER_PARAMETER = OpenApiParameter(
    "user_id",
    str,
    OpenApiParameter.PATH,
    description="The leaving user's id.",
    examples=[OpenApiExample("DemoUser", summary="Ben Ortiz", value=_DEMO.leaving_user_id)],
)

# ---- Errors

_OWNER_ID = {"api_name": "id", "json_path": "$.owner.id"}
_JOB = {"param_name": "job_id"}
_MASS_CHANGE_ERRORS = docs.error_responses(
    (INVALID_MODULE, {"resource_path_index": 0}),
    (INVALID_BODY, {}),
    (rules.NOT_SUPPORTED, {"api_name": "cvid", "json_path": "$.cvid"}),
    (rules.MANDATORY_NOT_FOUND, {"api_name": "criteria", "json_path": "$.criteria"}),
    (
        criteria_rules.INVALID_TYPE,
        {"api_name": "comparator", "json_path": "$.criteria.comparator"},
    ),
    (
        criteria_rules.CRITERIA_LIMIT_EXCEEDED,
        {"limit": criteria_rules.MAX_CONDITIONS, "api_name": "criteria", "json_path": "$.criteria"},
    ),
    (rules.OWNER_UNKNOWN, _OWNER_ID),
    (bigin_docs.rules.OWNER_DISABLED, {**_OWNER_ID, "owner_status": "inactive"}),
    (bigin_docs.rules.OWNER_DELETED, {**_OWNER_ID, "owner_status": "deleted"}),
    (rules.RELATED_NOT_SUPPORTED, {"api_name": "id", "json_path": "$.related_modules[0].id"}),
    (rules.REQUIRED_PARAM_MISSING, _JOB),
    (rules.INVALID_ACTION, {"param_name": "action", "supported_values": ["cancel", "retry"]}),
    (rules.INVALID_JOB, _JOB),
    (rules.JOB_FINISHED, {**_JOB, "job_status": "COMPLETED"}),
    (rules.JOB_NOT_FAILED, {**_JOB, "job_status": "RUNNING"}),
    (NO_PERMISSION, {"permissions": ["Change_Owner"]}),
)
_MASS_STATUS_ERRORS = docs.error_responses(
    (INVALID_MODULE, {"resource_path_index": 0}),
    (rules.REQUIRED_PARAM_MISSING, _JOB),
    (rules.INVALID_JOB, _JOB),
    (NO_PERMISSION, {"permissions": ["Change_Owner"]}),
)
_ENTRY = "$.transfer_and_delete[0]"


def _transfer_errors(leaving_user: dict, *more: tuple) -> dict:
    """The errors of transfer and delete; `leaving_user` names where the leaving user's id is
    (the entry's `id`, or the path's on `/users/{user_id}/...`); `more`, those of one path."""
    return docs.error_responses(
        (INVALID_BODY, {}),
        (
            rules.MANDATORY_NOT_FOUND,
            {"api_name": "transfer_and_delete", "json_path": "$.transfer_and_delete"},
        ),
        (
            rules.TRANSFER_LIMIT_EXCEEDED,
            {"limit": 1, "api_name": "transfer_and_delete", "json_path": "$.transfer_and_delete"},
        ),
        (rules.USER_UNKNOWN, leaving_user),
        (rules.USER_ALREADY_DELETED, {**leaving_user, "user_status": "deleted"}),
        *((refused, leaving_user) for refused in rules.OFFBOARDING_REFUSED.values()),
        (rules.NOT_SUPPORTED, {"api_name": "records", "json_path": f"{_ENTRY}.transfer.records"}),
        (rules.SAME_USER, {"api_name": "id", "json_path": f"{_ENTRY}.transfer.id"}),
        (rules.OWNER_UNKNOWN, {"api_name": "id", "json_path": f"{_ENTRY}.transfer.id"}),
        (
            bigin_docs.rules.OWNER_DISABLED,
            {"api_name": "id", "json_path": f"{_ENTRY}.transfer.id", "owner_status": "inactive"},
        ),
        (
            bigin_docs.rules.OWNER_DELETED,
            {"api_name": "id", "json_path": f"{_ENTRY}.transfer.id", "owner_status": "deleted"},
        ),
        *more,
        (NO_PERMISSION, {"permissions": ["Manage_Users"]}),
    )


_TRANSFER_ERRORS = _transfer_errors(
    {"api_name": "id", "json_path": f"{_ENTRY}.id"},
    (rules.INVALID_ACTION, {"param_name": "action", "supported_values": ["retry"]}),
    (rules.INVALID_JOB, _JOB),
    (rules.JOB_NOT_FAILED, {**_JOB, "job_status": "in_progress"}),
)
_USER_TRANSFER_ERRORS = _transfer_errors(rules.PATH_USER_ID)
_TRANSFER_STATUS_ERRORS = docs.error_responses(
    (rules.REQUIRED_PARAM_MISSING, _JOB),
    (rules.INVALID_JOB, _JOB),
    (NO_PERMISSION, {"permissions": ["Manage_Users"]}),
)
_BATCH_ERRORS = docs.error_responses()
_A_BATCH = "0e8c2f4a-3b1d-4c9e-9f7a-5d6b8a1c2e3f"
_REVERT_ERRORS = docs.error_responses(
    (rules.INVALID_BATCH, {"batch_id": _A_BATCH}),
    (rules.BATCH_RUNNING, {"batch_id": _A_BATCH, "job_status": "RUNNING"}),
    # Or ["Manage_Users"]: an offboarding's revert, by a profile that may not offboard.
    (NO_PERMISSION, {"permissions": ["Change_Owner"]}),
)

# ---- Responses

_SCHEDULED_DESCRIPTION = (
    "Scheduled: nothing has moved yet. The `X-Owner-Batch-Id` header is the job's batch id."
)

MASS_CHANGE_RESPONSES = {
    200: OpenApiResponse(
        PolymorphicProxySerializer(
            component_name="MassChangeOwnerAnswer",
            serializers=[MassChangeDryRunSerializer, JobAnswerSerializer],
            resource_type_field_name=None,
        ),
        description="A dry run's counts (nothing changed), or a cancelled job (`action=cancel`).",
    ),
    202: OpenApiResponse(
        JobAnswerSerializer,
        description=f"{_SCHEDULED_DESCRIPTION} Or a failed job retried (`action=retry`).",
    ),
    **_MASS_CHANGE_ERRORS,
}
MASS_CHANGE_STATUS_RESPONSES = {
    200: OpenApiResponse(MassChangeStatusSerializer, description="The job's progress."),
    **_MASS_STATUS_ERRORS,
}
TRANSFER_RESPONSES = {
    200: OpenApiResponse(
        TransferAndDeleteDryRunSerializer, description="A dry run's counts; nothing changed."
    ),
    202: OpenApiResponse(
        TransferAndDeleteScheduledSerializer,
        description=f"{_SCHEDULED_DESCRIPTION} Or a failed job retried (`action=retry`).",
    ),
    **_TRANSFER_ERRORS,
}
USER_TRANSFER_RESPONSES = {
    200: TRANSFER_RESPONSES[200],
    202: OpenApiResponse(TransferAndDeleteScheduledSerializer, description=_SCHEDULED_DESCRIPTION),
    **_USER_TRANSFER_ERRORS,
}
TRANSFER_STATUS_RESPONSES = {
    200: OpenApiResponse(TransferAndDeleteStatusSerializer, description="The job's progress."),
    **_TRANSFER_STATUS_ERRORS,
}
BATCH_RESPONSES = {
    200: OpenApiResponse(OwnerBatchSerializer, description="What the batch did."),
    204: docs.no_content("The organization has no such batch (or the id is not a UUID)."),
    **_BATCH_ERRORS,
}
REVERT_RESPONSES = {
    202: OpenApiResponse(
        JobAnswerSerializer,
        description=(
            "The revert job is scheduled; `details.batch_id` (and `X-Owner-Batch-Id`) is its own "
            "batch id."
        ),
    ),
    **_REVERT_ERRORS,
}

BATCH_HEADER = bigin_docs.BATCH_HEADER

# ---- Examples: demo ids, dry runs


def _by_owner(user_id: str) -> dict:
    return {"field": {"api_name": "Owner"}, "comparator": "equal", "value": {"id": user_id}}


MASS_CHANGE_EXAMPLES = [
    OpenApiExample(
        "DemoDryRun",
        summary="Dry run: Ben Ortiz's contacts to Chen Wei, with their Tasks",
        value={
            "owner": {"id": _DEMO.new_owner_id},
            "criteria": _by_owner(_DEMO.leaving_user_id),
            "related_modules": [{"api_name": "Tasks"}],
            "notify": True,
            "dry_run": True,
        },
        request_only=True,
    ),
]
TRANSFER_EXAMPLES = [
    OpenApiExample(
        "DemoDryRun",
        summary="Dry run: Ben Ortiz's records to Chen Wei, then delete Ben Ortiz",
        value={
            "transfer_and_delete": [
                {
                    "id": _DEMO.leaving_user_id,
                    "transfer": {"id": _DEMO.new_owner_id, "records": True},
                    "dry_run": True,
                }
            ]
        },
        request_only=True,
    ),
]
USER_TRANSFER_EXAMPLES = [
    OpenApiExample(
        "DemoDryRun",
        summary="Dry run: the path user's records to Chen Wei, then delete them",
        value={
            "transfer_and_delete": [
                {"transfer": {"id": _DEMO.new_owner_id, "records": True}, "dry_run": True}
            ]
        },
        request_only=True,
    ),
]
