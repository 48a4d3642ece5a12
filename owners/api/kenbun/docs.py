"""The Kenbun API's bodies for the OpenAPI schema only: the views build plain dicts, validated by
owners/kenbun_request.py."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiExample, OpenApiResponse
from rest_framework import serializers

from crm.http.boundary_docs import IdField, closed
from crm.sandbox import demo

from .request import MAX_LEAD_IDS, PER_PAGE


@closed
class AssignOwnerRequest(serializers.Serializer):
    owner_id = IdField(
        required=False,
        allow_null=True,
        help_text="An active user of the caller's organization; null or absent unassigns.",
    )
    owner_name = serializers.CharField(
        required=False,
        allow_null=True,
        help_text="Optional check: when given, it must equal the owner's full name "
        "(case and surrounding spaces ignored).",
    )


@closed
class BulkAssignOwnerRequest(AssignOwnerRequest):
    lead_ids = serializers.ListField(
        child=IdField(),
        min_length=1,
        max_length=MAX_LEAD_IDS,
        help_text="Ids of leads of the caller's organization. Any other id answers 404 "
        "and changes nothing.",
    )


class AssignOwnerResponse(serializers.Serializer):
    status = serializers.CharField(help_text='Always "ok".')
    message = serializers.ChoiceField(choices=["owner assigned", "owner unassigned"])


class BulkAssignOwnerResponse(serializers.Serializer):
    status = serializers.CharField(help_text='Always "ok".')
    affected = serializers.IntegerField(help_text="Leads whose owner changed.")


class Lead(serializers.Serializer):
    id = serializers.CharField()
    name = serializers.CharField()
    owner_id = serializers.CharField(allow_null=True)
    owner_name = serializers.CharField(allow_null=True)


class LeadsResponse(serializers.Serializer):
    status = serializers.CharField(help_text='Always "ok".')
    leads = Lead(many=True)
    page = serializers.IntegerField()
    per_page = serializers.IntegerField(help_text=f"Always {PER_PAGE}.")
    total = serializers.IntegerField(help_text="Leads matching the filters, on every page.")


class KenbunErrorResponse(serializers.Serializer):
    status = serializers.CharField(help_text='Always "error".')
    message = serializers.CharField()


def error(description: str, message: str) -> OpenApiResponse:
    return OpenApiResponse(
        KenbunErrorResponse,
        description=description,
        examples=[
            OpenApiExample("error", value={"status": "error", "message": message}),
        ],
    )


AUTH_ERROR = error(
    "Missing, unknown or expired token, or scope mismatch", "invalid or expired token"
)


class LeadDetailResponse(serializers.Serializer):
    lead_id = serializers.CharField()
    org_id = serializers.CharField(help_text="The organization (Kenbun's OU).")
    name = serializers.CharField()
    score = serializers.IntegerField(allow_null=True, help_text="Always null here.")
    last_event_at = serializers.DateTimeField(allow_null=True, help_text="Always null here.")
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()
    owner_id = serializers.CharField(allow_null=True)
    owner_name = serializers.CharField(allow_null=True)
    metadata = serializers.DictField(help_text="The lead's fields.")


class EventPref(serializers.Serializer):
    event_type = serializers.ChoiceField(choices=["owner.assigned"])
    muted = serializers.BooleanField()


class NotificationPrefs(serializers.Serializer):
    notifications_enabled = serializers.BooleanField(
        help_text="The assignment-alert email: on or off."
    )
    slack_user_id = serializers.CharField(allow_null=True, help_text="Always null here.")
    prefs = EventPref(many=True)


class NotificationPrefsRequest(serializers.Serializer):
    notifications_enabled = serializers.BooleanField(required=False)
    prefs = EventPref(many=True, required=False)


# Ids of the demo sandbox, so Swagger UI's "Try it out" works as shown after `make run`.
_DEMO = demo.api_examples()
LEAD_ID_EXAMPLES = [OpenApiExample("DemoLead", summary="A demo lead", value=_DEMO.contact_ids[0])]
ASSIGN_EXAMPLES = [
    OpenApiExample(
        "ToChenWei",
        summary="To Chen Wei, checking his name",
        value={"owner_id": _DEMO.new_owner_id, "owner_name": _DEMO.new_owner_name},
        request_only=True,
    ),
    OpenApiExample("Unassign", value={"owner_id": None}, request_only=True),
]
BULK_ASSIGN_EXAMPLES = [
    OpenApiExample(
        "DemoLeads",
        summary="Two demo leads to Chen Wei",
        value={"lead_ids": list(_DEMO.contact_ids), "owner_id": _DEMO.new_owner_id},
        request_only=True,
    ),
]
