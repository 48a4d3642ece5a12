"""The Kenbun-style lead-owner API: thin. Parse, call the service or selector, render.

Leads are the Contacts module; the organization of the caller's token is Kenbun's active OU.
"""

from __future__ import annotations

from datetime import UTC
from typing import Any

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from crm import policy
from crm.http.openapi import integer_or_empty
from crm.ids import parse_id
from crm.models import Record, User
from crm.modules import module_by_name
from crm.replica import ReadsFromReplica
from owners.selectors import lead_by_id, leads_page
from owners.services import ChangeOwnerResult, NewOwnerNotActive, RecordsNotFound, change_owner

from . import docs
from . import request as kenbun_request
from .request import (
    CHANGE_OWNER_SCOPE,
    LEAD_NOT_FOUND,
    NOT_FOUND,
    NOT_PERMITTED,
    PER_PAGE,
)

LEADS = module_by_name("Contacts")
# What Python's str.strip() takes off a query value, as a regular-expression class (JavaScript's
# \s differs: it lacks \x1c-\x1f and \x85, and has \ufeff).
_SPACES = (
    "[\\t\\n\\v\\f\\r \\x1c-\\x1f\\x85\\xa0\\u1680\\u2000-\\u200a"
    "\\u2028\\u2029\\u202f\\u205f\\u3000]"
)
TAGS = ["Kenbun lead owner"]


class KenbunView(ReadsFromReplica, APIView):
    """The shared token authentication and scope check, with Kenbun's error shape."""

    required_scopes = (CHANGE_OWNER_SCOPE,)

    def get_exception_handler(self):
        return kenbun_request.kenbun_exception_handler

    def get_authenticate_header(self, request: Request) -> str:
        return "Bearer"

    def change(self, request: Request, change: kenbun_request.OwnerChange) -> ChangeOwnerResult:
        """One transaction through the ownership core; all or nothing over the leads."""
        if not policy.may_change_owners(request.user):
            raise NOT_PERMITTED()
        new_owner = change.new_owner
        try:
            return change_owner(
                organization=request.user.organization,
                actor=request.user,
                module=LEADS,
                record_ids=change.lead_ids,
                new_owner=new_owner,
                # The new owner's own preference decides whether they get the assignment email.
                notify=new_owner.assignment_alert if new_owner else False,
                source="kenbun",
                require_all=True,
            )
        except NewOwnerNotActive:
            # Disabled or deleted while this request ran: as if checked before.
            raise kenbun_request.OWNER_NOT_ACTIVE() from None


class LeadOwnerView(KenbunView):
    @extend_schema(
        operation_id="kenbun_assign_lead_owner",
        summary="Assign or unassign the owner of one lead",
        description="`owner_id` null or absent unassigns. The assignment email goes to the new "
        "owner when their assignment-alert preference is on.",
        tags=TAGS,
        parameters=[
            OpenApiParameter("lead_id", str, OpenApiParameter.PATH, examples=docs.LEAD_ID_EXAMPLES)
        ],
        request=docs.AssignOwnerRequest,
        examples=docs.ASSIGN_EXAMPLES,
        responses={
            200: docs.AssignOwnerResponse,
            400: docs.error(
                "Bad body or owner", "owner_id is not an active user of this organization"
            ),
            401: docs.AUTH_ERROR,
            404: docs.error("Not a lead of the organization", "lead not found"),
        },
    )
    def post(self, request: Request, lead_id: str) -> Response:
        parsed_id = parse_id(lead_id)
        if parsed_id is None:
            raise LEAD_NOT_FOUND()  # not an id at all: the same answer as an unknown one
        change = kenbun_request.parse_assign(
            request.data, lead_id=parsed_id, organization=request.user.organization
        )
        try:
            self.change(request, change)
        except RecordsNotFound:
            raise LEAD_NOT_FOUND() from None
        message = "owner assigned" if change.new_owner else "owner unassigned"
        return Response({"status": "ok", "message": message})


class BulkAssignOwnerView(KenbunView):
    @extend_schema(
        operation_id="kenbun_bulk_assign_lead_owner",
        summary="Assign or unassign the owner of up to 500 leads in one transaction",
        description="All or nothing: any id that is not a lead of the caller's organization "
        "answers 404 naming it, and no lead changes. `affected` counts the leads whose owner "
        "changed.",
        tags=TAGS,
        request=docs.BulkAssignOwnerRequest,
        examples=docs.BULK_ASSIGN_EXAMPLES,
        responses={
            200: docs.BulkAssignOwnerResponse,
            400: docs.error("Bad body or owner", "lead_ids must not be empty"),
            401: docs.AUTH_ERROR,
            404: docs.error(
                "Ids that are not leads of the organization (nothing changed)",
                "leads not found: 123, 456",
            ),
        },
    )
    def post(self, request: Request) -> Response:
        change = kenbun_request.parse_bulk_assign(
            request.data, organization=request.user.organization
        )
        try:
            result = self.change(request, change)
        except RecordsNotFound as missing:
            raise kenbun_request.missing_leads_error(missing.missing_ids) from None
        return Response({"status": "ok", "affected": len(result.changed_ids)})


class LeadsView(KenbunView):
    @extend_schema(
        operation_id="kenbun_list_leads",
        summary="List leads with their owner, filtered by owner",
        description="Leads in id order. Empty parameters are no filter; unknown parameters "
        "answer 400.",
        tags=TAGS,
        parameters=[
            OpenApiParameter(
                "owner_id",
                {
                    "type": "string",
                    "pattern": f"^{_SPACES}*([0-9]{{1,19}}|[Nn][Uu][Ll][Ll])?{_SPACES}*$",
                },
                description="An owner's id, or `null` for unassigned leads (empty: no filter).",
            ),
            OpenApiParameter(
                "owner_name", str, description="The owner's full name (case-insensitive)."
            ),
            OpenApiParameter(
                "page",
                integer_or_empty(1, kenbun_request.MAX_PAGE, 1),
                description=f"1-based; {PER_PAGE} leads a page.",
            ),
        ],
        responses={
            200: docs.LeadsResponse,
            400: docs.error("Bad query string", "page must be an integer from 1 to 1000000"),
            401: docs.AUTH_ERROR,
        },
    )
    def get(self, request: Request) -> Response:
        query = kenbun_request.parse_leads_query(request.query_params)
        page = leads_page(
            organization=request.user.organization,
            owner_id=query.owner_id,
            unassigned=query.unassigned,
            owner_name=query.owner_name,
            offset=query.offset,
            limit=PER_PAGE,
        )
        body: dict[str, Any] = {
            "status": "ok",
            "leads": page.leads,
            "page": query.page,
            "per_page": PER_PAGE,
            "total": page.total,
        }
        return Response(body)


def _kenbun_time(value) -> str:
    return value.astimezone(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def render_lead(lead: Record) -> dict[str, Any]:
    owner = lead.owner
    return {
        "lead_id": str(lead.id),
        "org_id": str(lead.organization_id),
        "name": lead.name,
        "score": None,  # no lead scoring or event tracking here
        "last_event_at": None,
        "created_at": _kenbun_time(lead.created_time),
        "updated_at": _kenbun_time(lead.modified_time),
        "owner_id": str(owner.id) if owner else None,
        "owner_name": owner.full_name if owner else None,
        "metadata": lead.fields,
    }


class LeadDetailView(KenbunView):
    @extend_schema(
        operation_id="kenbun_lead_detail",
        summary="One lead with its owner",
        description="Kenbun's lead detail (`/leads/{lead_id}`, or `/lead/{lead_id}` as Kenbun's "
        "docs spell it). `score` and `last_event_at` are null: the service tracks no events. "
        "`metadata` holds the lead's fields.",
        tags=TAGS,
        parameters=[
            OpenApiParameter("lead_id", str, OpenApiParameter.PATH, examples=docs.LEAD_ID_EXAMPLES)
        ],
        responses={
            200: docs.LeadDetailResponse,
            401: docs.AUTH_ERROR,
            404: docs.error("Not a lead of the organization", "lead not found"),
        },
    )
    def get(self, request: Request, lead_id: str) -> Response:
        parsed_id = parse_id(lead_id)
        lead = (
            None
            if parsed_id is None
            else lead_by_id(organization=request.user.organization, lead_id=parsed_id)
        )
        if lead is None:
            raise LEAD_NOT_FOUND()
        return Response(render_lead(lead))


@extend_schema(exclude=True)
class DocsPathLeadDetailView(LeadDetailView):
    """`/lead/{lead_id}`, as Kenbun's docs spell the path; documented once, as /leads/{lead_id}."""


class NotificationPrefsView(KenbunView):
    """The caller's own assignment-alert preference, as Kenbun's notification preferences."""

    @extend_schema(
        operation_id="kenbun_notification_prefs_read",
        summary="Read your assignment-alert preference",
        tags=TAGS,
        responses={200: docs.NotificationPrefs, 401: docs.AUTH_ERROR},
    )
    def get(self, request: Request) -> Response:
        return Response(kenbun_request.render_notification_prefs(request.user.assignment_alert))

    @extend_schema(
        operation_id="kenbun_notification_prefs_change",
        summary="Turn your assignment-alert email on or off",
        description="`notifications_enabled` (Kenbun's master toggle) or a `prefs` entry for "
        "`owner.assigned` with `muted`. Only the caller's own preference changes.",
        tags=TAGS,
        request=docs.NotificationPrefsRequest,
        responses={
            200: docs.NotificationPrefs,
            400: docs.error("Bad body", "notifications_enabled must be a boolean"),
            401: docs.AUTH_ERROR,
        },
    )
    def put(self, request: Request) -> Response:
        enabled = kenbun_request.parse_notification_prefs(request.data)
        User.objects.filter(pk=request.user.pk).update(assignment_alert=enabled)
        return Response(kenbun_request.render_notification_prefs(enabled))


@csrf_exempt
def not_found(request: HttpRequest) -> HttpResponse:
    """Any other path under /leads, in Kenbun's shape (Django's 404 page is HTML)."""
    return JsonResponse(kenbun_request.error_body(NOT_FOUND.message), status=404)
