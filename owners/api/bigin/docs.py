"""OpenAPI description of the change_owner bodies (the responses are built as plain dicts)."""

from __future__ import annotations

from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiParameter,
    OpenApiResponse,
    PolymorphicProxySerializer,
    extend_schema_field,
)
from rest_framework import serializers

from crm.http import openapi as docs
from crm.http.boundary_docs import IdField
from crm.http.errors import INVALID_BODY, INVALID_MODULE, INVALID_REQUEST_METHOD, NO_PERMISSION
from crm.sandbox import demo

from . import request as rules


class OwnerRefSerializer(serializers.Serializer):
    id = IdField(help_text="The new owner's user id.")


class RelatedModuleSerializer(serializers.Serializer):
    api_name = serializers.CharField(required=False, help_text="Tasks, Events or Calls.")
    id = IdField(required=False, help_text="One related record to move.")


@extend_schema_field(
    {
        "oneOf": [
            {"type": "boolean"},
            {"type": "string", "pattern": "^([Tt][Rr][Uu][Ee]|[Ff][Aa][Ll][Ss][Ee])$"},
        ]
    }
)
class NotifyField(serializers.Field):
    """`notify`: a boolean, or "true"/"false" in any case (the Deluge sample sends a string)."""


class ChangeOwnerSingleBodySerializer(serializers.Serializer):
    owner = OwnerRefSerializer()
    notify = NotifyField(
        required=False,
        allow_null=True,
        default=False,
        help_text='Email the new owner; "true"/"false" accepted; null means absent.',
    )
    related_modules = RelatedModuleSerializer(
        many=True,
        required=False,
        allow_null=True,
        max_length=rules.MAX_RELATED,
        help_text="null means absent.",
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

# Examples with ids of the demo sandbox, so Swagger UI's "Try it out" works as shown after
# `make run`: its token's user may change owners, and the new owner is an active demo user.
_DEMO = demo.api_examples()


def _success(*ids: str) -> OpenApiExample:
    numbers = tuple(int(record_id) for record_id in ids)
    return OpenApiExample(
        "Success",
        value={"data": rules.record_results(numbers, frozenset(numbers))},
        response_only=True,
        status_codes=["200"],
    )


BULK_EXAMPLES = [
    OpenApiExample(
        "DemoContacts",
        summary="Two demo contacts to Chen Wei, with their Tasks and Calls",
        value={
            "ids": list(_DEMO.contact_ids),
            "owner": {"id": _DEMO.new_owner_id},
            "notify": True,
            "related_modules": [{"api_name": "Tasks"}, {"api_name": "Calls"}],
        },
        request_only=True,
    ),
    _success(*_DEMO.contact_ids),
]
SINGLE_EXAMPLES = [
    OpenApiExample(
        "DemoContact",
        summary="A demo contact to Chen Wei, with its Tasks",
        value={
            "owner": {"id": _DEMO.new_owner_id},
            "notify": True,
            "related_modules": [{"api_name": "Tasks"}],
        },
        request_only=True,
    ),
    _success(_DEMO.contact_ids[0]),
]
