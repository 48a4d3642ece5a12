"""OpenAPI description of the change_owner bodies (the responses are built as plain dicts)."""

from __future__ import annotations

from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiParameter,
    OpenApiResponse,
    PolymorphicProxySerializer,
)
from rest_framework import serializers

from crm.http import openapi as docs
from crm.http.boundary_docs import IdField
from crm.http.errors import INVALID_BODY, INVALID_MODULE, INVALID_REQUEST_METHOD, NO_PERMISSION

from . import request as rules


class OwnerRefSerializer(serializers.Serializer):
    id = IdField(help_text="The new owner's user id.")


class RelatedModuleSerializer(serializers.Serializer):
    api_name = serializers.CharField(required=False, help_text="Tasks, Events or Calls.")
    id = IdField(required=False, help_text="One related record to move.")


class ChangeOwnerSingleBodySerializer(serializers.Serializer):
    owner = OwnerRefSerializer()
    notify = serializers.BooleanField(
        required=False, default=False, help_text='Email the new owner; "true"/"false" accepted.'
    )
    related_modules = RelatedModuleSerializer(
        many=True, required=False, max_length=rules.MAX_RELATED
    )


class ChangeOwnerBulkBodySerializer(ChangeOwnerSingleBodySerializer):
    ids = serializers.ListField(
        child=IdField(),
        min_length=1,
        max_length=rules.MAX_IDS,
        help_text="Record ids: strings of 1 to 19 digits or integers; duplicates count once.",
    )


class RecordResultDetailsSerializer(serializers.Serializer):
    id = serializers.CharField()


class RecordResultSerializer(serializers.Serializer):
    code = serializers.CharField(help_text="SUCCESS or INVALID_DATA.")
    details = RecordResultDetailsSerializer()
    message = serializers.CharField()
    status = serializers.CharField(help_text="success or error.")


class ChangeOwnerResultSerializer(serializers.Serializer):
    data = RecordResultSerializer(many=True, help_text="One entry per distinct id, in order.")


def _results(description: str) -> OpenApiResponse:
    return OpenApiResponse(ChangeOwnerResultSerializer, description=description)


BATCH_HEADER = OpenApiParameter(
    "X-Owner-Batch-Id",
    str,
    OpenApiParameter.HEADER,
    # Sent where the request reached the records: not on an error of the whole request.
    response=[200, 202, 400],
    description="The batch id stored on every audit row the request caused.",
)

_OWNER_ID = {"api_name": "id", "json_path": "$.owner.id"}
_ERRORS = docs.error_responses(
    (INVALID_MODULE, {"resource_path_index": 0}),
    (INVALID_BODY, {}),
    (rules.MANDATORY_NOT_FOUND, {"api_name": "ids", "json_path": "$.ids"}),
    (
        rules.INVALID_TYPE,
        {"expected_data_type": "long", "api_name": "ids", "json_path": "$.ids[0]"},
    ),
    (rules.IDS_LIMIT_EXCEEDED, {"limit": rules.MAX_IDS, "api_name": "ids", "json_path": "$.ids"}),
    (rules.OWNER_UNKNOWN, _OWNER_ID),
    (rules.OWNER_DISABLED, {**_OWNER_ID, "owner_status": "inactive"}),
    (rules.OWNER_DELETED, {**_OWNER_ID, "owner_status": "deleted"}),
    (
        rules.RELATED_NOT_SUPPORTED,
        {"api_name": "api_name", "json_path": "$.related_modules[0].api_name"},
    ),
    (NO_PERMISSION, {"permissions": ["Change_Owner"]}),
    (INVALID_REQUEST_METHOD, {}),
)

# 400 is either a whole-request error (the envelope) or every record invalid (`data`).
_ERRORS[400] = OpenApiResponse(
    PolymorphicProxySerializer(
        component_name="ChangeOwnerRefused",
        serializers=[docs.BiginErrorSerializer, ChangeOwnerResultSerializer],
        resource_type_field_name=None,
    ),
    description=f"{_ERRORS[400].description}; or every record invalid, reported per record",
    examples=_ERRORS[400].examples,
)

RESPONSES = {
    200: _results("Every record's owner is the new owner."),
    202: _results("Some records changed; the others are reported per record."),
    **_ERRORS,
}

SUCCESS_EXAMPLE = OpenApiExample(
    "Success",
    value={
        "data": [
            {
                "code": "SUCCESS",
                "details": {"id": "4876876000100100018"},
                "message": "owner is successfully updated",
                "status": "success",
            }
        ]
    },
    response_only=True,
    status_codes=["200"],
)
