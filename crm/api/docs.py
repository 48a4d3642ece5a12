"""OpenAPI description of the read APIs' bodies (users, records, settings/modules).

The serializers only describe bodies for drf-spectacular; responses are built as plain dicts
(crm/representations.py). tests/crm/http/test_documented_responses.py holds the two together:
it renders real responses and validates them against these shapes.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.extensions import OpenApiSerializerExtension
from drf_spectacular.utils import OpenApiExample, OpenApiParameter
from rest_framework import serializers

from crm.sandbox import demo


class NamedRefSerializer(serializers.Serializer):
    name = serializers.CharField()
    id = serializers.CharField(help_text="Numeric id, as a string.")


class PageInfoSerializer(serializers.Serializer):
    per_page = serializers.IntegerField()
    count = serializers.IntegerField(help_text="Entries on this page.")
    page = serializers.IntegerField()
    more_records = serializers.BooleanField(help_text="Whether a next page has entries.")


class UserSerializer(serializers.Serializer):
    id = serializers.CharField()
    full_name = serializers.CharField()
    first_name = serializers.CharField(allow_null=True)
    last_name = serializers.CharField()
    email = serializers.EmailField()
    status = serializers.CharField(help_text='"active", "disabled" or "deleted".')
    role = NamedRefSerializer(allow_null=True)
    profile = NamedRefSerializer()
    created_time = serializers.DateTimeField()
    Modified_Time = serializers.DateTimeField()


class UsersPageSerializer(serializers.Serializer):
    users = UserSerializer(many=True)
    info = PageInfoSerializer()


class UserDetailSerializer(serializers.Serializer):
    users = UserSerializer(many=True, help_text="The one user.")


class OwnerSerializer(serializers.Serializer):
    name = serializers.CharField()
    id = serializers.CharField()
    email = serializers.EmailField()


class RecordSerializer(serializers.Serializer):
    id = serializers.CharField()
    # Only `id` is always there: `fields=` may leave out the others.
    Owner = OwnerSerializer(
        allow_null=True, required=False, help_text="Null only for a record unassigned by Kenbun."
    )
    Created_Time = serializers.DateTimeField(required=False)
    Modified_Time = serializers.DateTimeField(required=False)
    What_Id = NamedRefSerializer(
        allow_null=True, required=False, help_text="Activities only: the related record."
    )

    def get_fields(self) -> dict[str, serializers.Field]:
        fields = super().get_fields()
        # Not a Python name, so it cannot be declared as a class attribute.
        fields["$se_module"] = serializers.CharField(
            allow_null=True, required=False, help_text="Activities only: the related module."
        )
        return fields


class RecordSchema(OpenApiSerializerExtension):
    """A record also carries its module's own fields (Last_Name, Email, ...), merged in."""

    target_class = RecordSerializer

    def map_serializer(self, auto_schema: Any, direction: str) -> dict[str, Any]:
        schema = auto_schema._map_basic_serializer(self.target, direction)
        schema["additionalProperties"] = True
        return schema


class RecordsPageSerializer(serializers.Serializer):
    data = RecordSerializer(many=True)
    info = PageInfoSerializer()


class RecordDetailSerializer(serializers.Serializer):
    data = RecordSerializer(many=True, help_text="The one record.")


class ModuleSerializer(serializers.Serializer):
    api_name = serializers.CharField()
    module_name = serializers.CharField()
    singular_label = serializers.CharField()
    plural_label = serializers.CharField()
    id = serializers.CharField()
    api_supported = serializers.BooleanField()


class ModulesSerializer(serializers.Serializer):
    modules = ModuleSerializer(many=True)


# A demo user's id, so Swagger UI's "Try it out" works as shown after `make run`.
USER_ID_PARAMETER = OpenApiParameter(
    "user_id",
    str,
    OpenApiParameter.PATH,
    examples=[
        OpenApiExample(
            "DemoAdministrator",
            summary="Ann Lee, the demo administrator",
            value=demo.api_examples().admin_id,
        )
    ],
)
