"""OpenAPI description of the record APIs' writes and search (the responses are built as plain
dicts: owners/api/records/request.py)."""

from __future__ import annotations

from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiParameter,
    OpenApiResponse,
    PolymorphicProxySerializer,
    extend_schema,
)
from rest_framework import serializers

from crm.api import docs as read_docs
from crm.http import openapi
from crm.http.errors import (
    INVALID_BODY,
    INVALID_MODULE,
    INVALID_PARAMETER,
    INVALID_REQUEST_METHOD,
    NO_PERMISSION,
    REQUIRED_PARAM_MISSING,
)
from crm.sandbox import demo
from crm.search import CRITERIA_LIMIT_EXCEEDED, INVALID_QUERY, MAX_CONDITIONS
from crm.selectors import MAX_PER_PAGE
from owners.api.bigin.docs import BATCH_HEADER
from owners.api.idempotency import PARAMETER as IDEMPOTENCY_KEY

from . import request as rules

SEARCH_BY = ("criteria", "email", "phone", "word")
_DEMO = demo.api_examples()


class RecordInputSerializer(serializers.Serializer):
    """A record to write: its module's fields by api_name (`GET /settings/fields`), `Owner`
    (`{"id"}`), `What_Id` for activities, and `id` for an update."""


class RecordsBodySerializer(serializers.Serializer):
    data = serializers.ListField(
        child=serializers.DictField(),
        min_length=1,
        max_length=rules.MAX_RECORDS,
        help_text='Up to 100 records: each the module\'s fields by api_name, `Owner` ({"id"}), '
        '`What_Id` ({"id"}, activities); for an update, each names its record by `id`.',
    )


class OneRecordBodySerializer(serializers.Serializer):
    data = serializers.ListField(
        child=serializers.DictField(),
        min_length=1,
        max_length=1,
        help_text="The one record's fields to change.",
    )


class UpsertBodySerializer(RecordsBodySerializer):
    duplicate_check_fields = serializers.ListField(
        child=serializers.CharField(),
        min_length=1,
        required=False,
        allow_null=True,
        help_text="Text fields that find the record to update, in order; default (absent or "
        "null): the module's unique fields (Email, Account_Name, Product_Name; Deal_Name).",
    )


class UserRefSerializer(serializers.Serializer):
    name = serializers.CharField()
    id = serializers.CharField()


class WrittenDetailsSerializer(serializers.Serializer):
    Modified_Time = serializers.DateTimeField()
    Modified_By = UserRefSerializer()
    Created_Time = serializers.DateTimeField()
    id = serializers.CharField()
    Created_By = UserRefSerializer(
        allow_null=True, help_text="Null for a record loaded from a sandbox file."
    )


class WriteEntrySerializer(serializers.Serializer):
    code = serializers.CharField(help_text="SUCCESS, or the record's error code.")
    details = serializers.DictField(
        help_text="A success: the record's id, times and users. An error: what it is about "
        "(api_name, json_path, expected_data_type, maximum_length, duplicate_record, ...)."
    )
    message = serializers.CharField()
    status = serializers.CharField(help_text="success or error.")


class UpsertEntrySerializer(WriteEntrySerializer):
    duplicate_field = serializers.CharField(
        allow_null=True, required=False, help_text="The field that found the record; null: added."
    )
    action = serializers.CharField(required=False, help_text="insert or update.")


class WriteResultSerializer(serializers.Serializer):
    data = WriteEntrySerializer(many=True, help_text="One entry per record, in order.")


class UpsertResultSerializer(serializers.Serializer):
    data = UpsertEntrySerializer(many=True, help_text="One entry per record, in order.")


class DeleteDetailsSerializer(serializers.Serializer):
    id = serializers.CharField()


class DeleteEntrySerializer(serializers.Serializer):
    code = serializers.CharField(help_text="SUCCESS or INVALID_DATA.")
    details = DeleteDetailsSerializer()
    message = serializers.CharField()
    status = serializers.CharField()


class DeleteResultSerializer(serializers.Serializer):
    data = DeleteEntrySerializer(many=True, help_text="One entry per distinct id, in order.")


_DATA = {"api_name": "data", "json_path": "$.data"}
_BODY_ERRORS = (
    (INVALID_MODULE, {"resource_path_index": 0}),
    (INVALID_BODY, {}),
    (rules.MANDATORY_NOT_FOUND, _DATA),
    (rules.INVALID_TYPE, {"expected_data_type": "jsonarray", **_DATA}),
    (rules.RECORDS_LIMIT_EXCEEDED, {"limit": rules.MAX_RECORDS, **_DATA}),
    (NO_PERMISSION, {"permissions": ["Create_Records"]}),
    (INVALID_REQUEST_METHOD, {}),
)


def _responses(result, success: int, description: str, errors=_BODY_ERRORS) -> dict:
    """`success` when every record was written; 202 (Bigin; Zoho CRM's paths 207) when some
    were, the others reported per record; 400 for an error of the whole request or when every
    record failed."""
    documented = openapi.error_responses(*errors)
    documented[400] = OpenApiResponse(
        PolymorphicProxySerializer(
            component_name=f"{result.__name__.removesuffix('Serializer')}Refused",
            serializers=[openapi.BiginErrorSerializer, result],
            resource_type_field_name=None,
        ),
        description=f"{documented[400].description}; or every record failed, reported per record",
        examples=documented[400].examples,
    )
    return {
        success: OpenApiResponse(result, description=description),
        202: OpenApiResponse(
            result, description="Some records written; the others reported per record."
        ),
        **documented,
    }


_CONTACT = {"Last_Name": "Lee", "First_Name": "Ada", "Email": "ada.lee@example.test"}
_ADD_EXAMPLE = OpenApiExample(
    "NewContact",
    summary="A contact for Chen Wei",
    value={"data": [{**_CONTACT, "Owner": {"id": _DEMO.new_owner_id}}]},
    request_only=True,
)
_UPDATE_EXAMPLE = OpenApiExample(
    "DemoContact",
    summary="A demo contact's title and phone",
    value={"data": [{"id": _DEMO.contact_ids[0], "Title": "CTO", "Phone": "555-0100"}]},
    request_only=True,
)
_UPDATE_ONE_EXAMPLE = OpenApiExample(
    "Title",
    summary="A new title",
    value={"data": [{"Title": "VP Sales"}]},
    request_only=True,
)
_UPSERT_EXAMPLE = OpenApiExample(
    "ByEmail",
    summary="The demo contact of this email, found by Email and updated",
    value={
        "data": [{"Last_Name": "Updated", "Email": _DEMO.contact_email}],
        "duplicate_check_fields": ["Email"],
    },
    request_only=True,
)
_RECORD_ID = OpenApiParameter(
    "record_id",
    str,
    OpenApiParameter.PATH,
    examples=[OpenApiExample("DemoContact", value=_DEMO.contact_ids[0])],
)
_DELETE_IDS = OpenApiParameter(
    "ids",
    str,
    required=True,
    description="Comma-separated record ids, up to 100.",
    examples=[OpenApiExample("DemoContact", value=_DEMO.contact_ids[1])],
)


_DELETE_ERRORS = (
    (INVALID_MODULE, {"resource_path_index": 0}),
    (NO_PERMISSION, {"permissions": ["Delete_Records"]}),
    (INVALID_REQUEST_METHOD, {}),
)


def _scopes(operation: str) -> str:
    return (
        f"Scopes: `ZohoBigin.modules.ALL`, `ZohoBigin.modules.{operation}`, "
        f"`ZohoBigin.modules.<module>.ALL`, `.WRITE` or `.{operation}` (module in lower case)."
    )


_SEARCH_ERRORS = (
    (INVALID_MODULE, {"resource_path_index": 0}),
    (REQUIRED_PARAM_MISSING, {"param": "criteria"}),
    (INVALID_QUERY, {"param_name": "criteria"}),
    (CRITERIA_LIMIT_EXCEEDED, {"limit": MAX_CONDITIONS, "param_name": "criteria"}),
    (INVALID_PARAMETER, {"param_name": "per_page", "maximum": MAX_PER_PAGE}),
    (INVALID_PARAMETER, {"param_name": "page", "expected_data_type": "integer"}),
)


class SearchInfoSerializer(serializers.Serializer):
    per_page = serializers.IntegerField()
    count = serializers.IntegerField(help_text="Entries on this page.")
    page = serializers.IntegerField()
    more_records = serializers.BooleanField(help_text="Whether a next page has entries.")


class SearchPageSerializer(serializers.Serializer):
    data = read_docs.RecordSerializer(many=True)
    info = SearchInfoSerializer()


VIEWS = {
    "create": extend_schema(
        operation_id="records_create",
        tags=["Records"],
        summary="Add up to 100 records",
        description="Each record is owned by its `Owner`, else by the caller; giving it to "
        "someone else needs the Change_Owner permission. " + _scopes("CREATE"),
        parameters=[openapi.MODULE_PARAMETER, BATCH_HEADER, IDEMPOTENCY_KEY],
        request=RecordsBodySerializer,
        responses=_responses(WriteResultSerializer, 201, "Every record added."),
        examples=[_ADD_EXAMPLE],
    ),
    "bulk_update": extend_schema(
        operation_id="records_update",
        tags=["Records"],
        summary="Update up to 100 records",
        description="Each entry names its record by `id`; the fields it gives change, the "
        "others stay. A new `Owner` is a change of owner (Change_Owner); related records do "
        "not follow. " + _scopes("UPDATE"),
        parameters=[openapi.MODULE_PARAMETER, BATCH_HEADER, IDEMPOTENCY_KEY],
        request=RecordsBodySerializer,
        responses=_responses(WriteResultSerializer, 200, "Every record updated."),
        examples=[_UPDATE_EXAMPLE],
    ),
    "update": extend_schema(
        operation_id="records_update_one",
        tags=["Records"],
        summary="Update one record",
        description="The body's one entry changes the record of the path. " + _scopes("UPDATE"),
        parameters=[openapi.MODULE_PARAMETER, _RECORD_ID, BATCH_HEADER, IDEMPOTENCY_KEY],
        request=OneRecordBodySerializer,
        responses=_responses(WriteResultSerializer, 200, "The record updated."),
        examples=[_UPDATE_ONE_EXAMPLE],
    ),
    "upsert": extend_schema(
        operation_id="records_upsert",
        tags=["Records"],
        summary="Add or update up to 100 records",
        description="A record whose `duplicate_check_fields` value (the first that matches, "
        "without case) is a record's is updated; the others are added. " + _scopes("CREATE"),
        parameters=[openapi.MODULE_PARAMETER, BATCH_HEADER, IDEMPOTENCY_KEY],
        request=UpsertBodySerializer,
        responses=_responses(UpsertResultSerializer, 200, "Every record added or updated."),
        examples=[_UPSERT_EXAMPLE],
    ),
    "bulk_destroy": extend_schema(
        operation_id="records_delete",
        tags=["Records"],
        summary="Delete up to 100 records",
        description="A record's activities are deleted with it. " + _scopes("DELETE"),
        parameters=[openapi.MODULE_PARAMETER, _DELETE_IDS, IDEMPOTENCY_KEY],
        request=None,
        responses=_responses(
            DeleteResultSerializer,
            200,
            "Every record deleted.",
            errors=(
                *_DELETE_ERRORS,
                (REQUIRED_PARAM_MISSING, {"param": "ids"}),
                (rules.IDS_LIMIT_EXCEEDED, {"limit": rules.MAX_RECORDS, "param_name": "ids"}),
            ),
        ),
    ),
    "destroy": extend_schema(
        operation_id="records_delete_one",
        tags=["Records"],
        summary="Delete one record",
        description="Its activities are deleted with it. " + _scopes("DELETE"),
        parameters=[openapi.MODULE_PARAMETER, _RECORD_ID, IDEMPOTENCY_KEY],
        request=None,
        responses=_responses(
            DeleteResultSerializer,
            200,
            "The record deleted.",
            errors=_DELETE_ERRORS,
        ),
    ),
    "search": extend_schema(
        operation_id="records_search",
        tags=["Records"],
        summary="Search a module's records",
        description=(
            "One of `criteria` (`((Email:equals:a@b.test)and(Last_Name:starts_with:Le))`: "
            "equals, not_equal, starts_with, in, greater_than, greater_equal, less_than, "
            f"less_equal, between; at most {MAX_CONDITIONS} conditions), `email`, `phone` or "
            "`word`, tried in that order; text compares without case. Scopes: "
            "`ZohoSearch.securesearch.READ` and one of `ZohoBigin.modules.ALL`, "
            "`ZohoBigin.modules.READ`, `ZohoBigin.modules.<module>.READ`."
        ),
        parameters=[
            openapi.MODULE_PARAMETER,
            OpenApiParameter(
                "criteria",
                str,
                examples=[OpenApiExample("ByEmail", value=f"(Email:equals:{_DEMO.contact_email})")],
            ),
            OpenApiParameter("email", str),
            OpenApiParameter("phone", str),
            OpenApiParameter("word", str),
            OpenApiParameter("fields", str, description="Comma-separated field API names."),
            openapi.PAGE_PARAMETER,
            openapi.PER_PAGE_PARAMETER,
        ],
        responses={
            200: SearchPageSerializer,
            204: openapi.no_content("No record matches."),
            **openapi.error_responses(*_SEARCH_ERRORS),
        },
    ),
}
