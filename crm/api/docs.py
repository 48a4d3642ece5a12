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
    next_page_token = serializers.CharField(
        allow_null=True, help_text="`page_token` of the next page; null on the last page."
    )
    previous_page_token = serializers.CharField(
        allow_null=True, help_text="Always null: tokens only go forward."
    )
    page_token_expiry = serializers.DateTimeField(
        allow_null=True, help_text="When next_page_token stops working (24 hours)."
    )


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


class OrgEntrySerializer(serializers.Serializer):
    id = serializers.CharField()
    company_name = serializers.CharField()
    primary_email = serializers.EmailField(
        allow_null=True, help_text="The first active Administrator's email."
    )
    zgid = serializers.CharField(help_text="The organization id, as the SDKs read it.")
    time_zone = serializers.CharField()
    employee_count = serializers.CharField(help_text="Active users.")
    mc_status = serializers.BooleanField()
    gapps_enabled = serializers.BooleanField()
    privacy_settings = serializers.BooleanField()
    created_time = serializers.DateTimeField()

    def get_fields(self) -> dict[str, serializers.Field]:
        fields = super().get_fields()
        # Zoho's keys the service does not model: always null, never invented.
        for name in NULL_ORG_KEYS:
            fields[name] = serializers.CharField(
                allow_null=True, help_text="Not modelled: always null."
            )
        return fields


NULL_ORG_KEYS = (
    "alias",
    "primary_zuid",
    "currency",
    "currency_symbol",
    "currency_locale",
    "iso_code",
    "country",
    "country_code",
    "city",
    "state",
    "street",
    "zip",
    "phone",
    "mobile",
    "fax",
    "website",
    "description",
    "photo_id",
    "license_details",
)


class OrgSerializer(serializers.Serializer):
    org = OrgEntrySerializer(many=True, help_text="The caller's organization.")


class LookupModuleSerializer(serializers.Serializer):
    api_name = serializers.CharField()
    id = serializers.CharField(allow_null=True)


class LookupSerializer(serializers.Serializer):
    module = LookupModuleSerializer()


class PickListValueSerializer(serializers.Serializer):
    display_value = serializers.CharField()
    actual_value = serializers.CharField()
    id = serializers.CharField()
    sequence_number = serializers.IntegerField()


class FieldSerializer(serializers.Serializer):
    api_name = serializers.CharField()
    field_label = serializers.CharField()
    display_label = serializers.CharField()
    data_type = serializers.CharField(help_text="text, email, integer, ownerlookup, lookup, ...")
    json_type = serializers.CharField()
    id = serializers.CharField()
    read_only = serializers.BooleanField()
    system_mandatory = serializers.BooleanField()
    custom_field = serializers.BooleanField()
    visible = serializers.BooleanField()
    length = serializers.IntegerField(
        required=False, help_text="Text fields: the longest value a write may give."
    )
    pick_list_values = PickListValueSerializer(
        many=True, required=False, help_text="Picklists: the values a write may give."
    )
    lookup = LookupSerializer(
        required=False,
        help_text="Lookups: the module they point to (What_Id: `se_module`, any module).",
    )


class FieldsSerializer(serializers.Serializer):
    fields = FieldSerializer(many=True)


class SectionSerializer(serializers.Serializer):
    api_name = serializers.CharField()
    name = serializers.CharField()
    display_label = serializers.CharField()
    sequence_number = serializers.IntegerField()
    column_count = serializers.IntegerField()
    fields = FieldSerializer(many=True)


class LayoutSerializer(serializers.Serializer):
    id = serializers.CharField()
    name = serializers.CharField()
    api_name = serializers.CharField()
    display_label = serializers.CharField()
    status = serializers.CharField()
    visible = serializers.BooleanField()
    generated_type = serializers.CharField()
    sections = SectionSerializer(many=True)


class LayoutsSerializer(serializers.Serializer):
    layouts = LayoutSerializer(many=True)


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
