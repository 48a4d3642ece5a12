"""The sandbox controls, /sandbox/v1 (docs/sandbox.md; api-spec.md, "Sandbox controls"): thin
views over crm/sandbox's services.

Every path answers 404 while SANDBOX_API is off, as if it did not exist, and otherwise only to a
request whose X-Sandbox-Key is SANDBOX_API_KEY (compared in constant time). Errors are in the
Bigin envelope. The controls are not in the public OpenAPI schema, which describes the API a
client targets, not the test harness around it: docs/sandbox.md documents them.
"""

from __future__ import annotations

import hashlib
import hmac
import uuid
from typing import Any

from django.conf import settings
from django.db import IntegrityError
from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from drf_spectacular.utils import extend_schema
from rest_framework.permissions import BasePermission
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from crm.http.errors import INVALID_PARAMETER, INVALID_URL_PATTERN
from crm.ids import parse_id
from crm.models import Organization, User
from crm.oauth.grants import parse_scopes

from . import faults, journal, loader, organizations, snapshots
from .errors import (
    DUPLICATE,
    KEY_HEADER,
    KEY_REFUSED,
    MANDATORY_NOT_FOUND,
    NOT_FOUND,
    NOT_SUPPORTED,
    integer,
    invalid,
    object_body,
    text,
)
from .models import Fault, Snapshot
from .ownership import Ownership

MAX_TOKEN_SECONDS = 86_400
DEFAULT_JOURNAL_LIMIT = 100
SETTINGS = ("related_owner_delay_seconds",)


def _digest(value: str) -> bytes:
    return hashlib.sha256(value.encode()).digest()


class SandboxKey(BasePermission):
    """X-Sandbox-Key equals SANDBOX_API_KEY. Digests of equal length are compared in constant
    time, so the answer's timing tells nothing about the key, not even its length."""

    def has_permission(self, request: Request, view: object) -> bool:
        given = request.META.get("HTTP_X_SANDBOX_KEY", "")
        expected = settings.SANDBOX_API_KEY
        if not (expected and hmac.compare_digest(_digest(given), _digest(expected))):
            raise KEY_REFUSED(header_name=KEY_HEADER)
        return True


@extend_schema(exclude=True)
class ControlView(APIView):
    authentication_classes: list = []
    permission_classes = [SandboxKey]
    throttle_classes: list = []
    ownership: Ownership | None = None  # config/urls.py hands in owners.sandbox

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        if not settings.SANDBOX_API:
            raise INVALID_URL_PATTERN()
        super().initial(request, *args, **kwargs)

    def organization(self) -> Organization:
        raw = self.kwargs["organization_id"]
        organization_id = parse_id(raw)
        found = (
            Organization.objects.filter(id=organization_id).first()
            if organization_id is not None
            else None
        )
        if found is None:
            raise NOT_FOUND(resource="organization", id=raw)
        return found


@csrf_exempt
def not_found(request: HttpRequest, path: str = "") -> JsonResponse:
    """Any other path under /sandbox/v1, whether the controls are on or not."""
    return JsonResponse(INVALID_URL_PATTERN.body(), status=404)


def _scopes(body: dict[str, Any]) -> list[str]:
    scopes = body.get("scopes")
    if scopes is None:
        return list(organizations.ALL_SCOPES)
    if isinstance(scopes, str):
        scopes = scopes.split(",")
    if not isinstance(scopes, list) or not all(isinstance(scope, str) for scope in scopes):
        raise invalid("scopes", "$.scopes", expected_data_type="jsonarray")
    try:
        return parse_scopes(",".join(scopes))
    except ValueError as exc:
        raise invalid("scopes", "$.scopes", reason=str(exc)) from None


def _sandbox_error(exc: loader.SandboxError):
    """The loader names `organizations[0].users[1]: reason`: the same place as a JSON path of
    the body."""
    where, _, reason = str(exc).partition(": ")
    json_path = "$" + where.removeprefix("organizations[0]")
    if json_path == "$":  # a field of the organization itself, named first in the reason
        json_path = f"$.{reason.split()[0]}"
    api_name = json_path.rpartition(".")[2].partition("[")[0]
    return invalid(api_name, json_path, reason=reason)


class OrganizationsView(ControlView):
    def post(self, request: Request) -> Response:
        body = object_body(request.data)
        if "id" in body:
            raise NOT_SUPPORTED(api_name="id", json_path="$.id")
        if not body.get("users"):
            raise MANDATORY_NOT_FOUND(api_name="users", json_path="$.users")
        name = text(body, "name", max_length=200) or f"Sandbox {uuid.uuid4().hex[:12]}"
        if Organization.objects.filter(name=name).exists():
            raise DUPLICATE(api_name="name", json_path="$.name")
        scopes = _scopes(body)
        entry = {key: value for key, value in body.items() if key != "scopes"}
        entry["name"] = name
        try:
            created = organizations.create_organization(entry=entry, scopes=scopes)
        except loader.SandboxError as exc:
            raise _sandbox_error(exc) from None
        except IntegrityError:
            # Another request took the name or an email in the meantime.
            raise DUPLICATE(api_name="name", json_path="$.name") from None
        return Response(
            {
                "organization": {
                    "id": str(created.organization.id),
                    "name": created.organization.name,
                },
                "users": [
                    {
                        "id": str(issued.user.id),
                        "email": issued.user.email,
                        "access_token": issued.access_token,
                        "refresh_token": issued.refresh_token,
                    }
                    for issued in created.users
                ],
                "client": {
                    "client_id": created.client.client.client_id,
                    "client_secret": created.client.client_secret,
                },
                "records": [
                    {"id": str(record_id), "module": module}
                    for record_id, module in created.records
                ],
            },
            status=201,
        )


class OrganizationView(ControlView):
    def delete(self, request: Request, organization_id: str) -> Response:
        organizations.delete_organization(self.organization(), ownership=self.ownership)
        return Response(status=204)


class TokensView(ControlView):
    def post(self, request: Request, organization_id: str) -> Response:
        organization = self.organization()
        body = object_body(request.data)
        if body.get("user_id") is None:
            raise MANDATORY_NOT_FOUND(api_name="user_id", json_path="$.user_id")
        user_id = parse_id(body["user_id"])
        if user_id is None:
            raise invalid("user_id", "$.user_id", expected_data_type="long")
        user = User.objects.filter(organization=organization, id=user_id).first()
        if user is None:
            raise invalid("user_id", "$.user_id", reason="not a user of the organization")
        if not user.is_active:
            raise invalid("user_id", "$.user_id", user_status=user.status)
        scopes = _scopes(body)
        expires_in = integer(body, "expires_in", minimum=1, maximum=MAX_TOKEN_SECONDS) or 3600
        token = organizations.issue_token(user=user, scopes=scopes, expires_in=expires_in)
        return Response(
            {
                "access_token": token,
                "scope": " ".join(scopes),
                "api_domain": settings.API_DOMAIN,
                "token_type": "Bearer",
                "expires_in": expires_in,
                "user_id": str(user.id),
            },
            status=201,
        )


class SettingsView(ControlView):
    @staticmethod
    def _answer(organization: Organization) -> Response:
        return Response(
            {"settings": {"related_owner_delay_seconds": organization.related_owner_delay_seconds}}
        )

    def get(self, request: Request, organization_id: str) -> Response:
        return self._answer(self.organization())

    def put(self, request: Request, organization_id: str) -> Response:
        organization = self.organization()
        body = object_body(request.data)
        for key in body:
            if key not in SETTINGS:
                raise NOT_SUPPORTED(api_name=key, json_path=f"$.{key}")
        if "related_owner_delay_seconds" in body:
            # Below the broker's visibility timeout, as RELATED_OWNER_DELAY_SECONDS must be
            # (config/agreement.py); null: back to that setting.
            visibility = settings.CELERY_BROKER_TRANSPORT_OPTIONS["visibility_timeout"]
            organization.related_owner_delay_seconds = integer(
                body, "related_owner_delay_seconds", minimum=0, maximum=visibility - 1
            )
            Organization.objects.filter(id=organization.id).update(
                related_owner_delay_seconds=organization.related_owner_delay_seconds
            )
        return self._answer(organization)


class SnapshotsView(ControlView):
    def get(self, request: Request, organization_id: str) -> Response:
        found = Snapshot.objects.filter(organization=self.organization()).order_by(
            "created_time", "id"
        )
        return Response({"snapshots": [snapshots.summary(snapshot) for snapshot in found]})

    def post(self, request: Request, organization_id: str) -> Response:
        organization = self.organization()
        body = object_body(request.data)
        name = text(body, "name", max_length=100, required=True)
        if Snapshot.objects.filter(organization=organization, name=name).exists():
            raise DUPLICATE(api_name="name", json_path="$.name")
        try:
            snapshot = snapshots.take(
                organization, name, history=self.ownership.history(organization.id)
            )
        except IntegrityError:
            raise DUPLICATE(api_name="name", json_path="$.name") from None
        return Response({"snapshot": snapshots.summary(snapshot)}, status=201)


class ResetView(ControlView):
    def post(self, request: Request, organization_id: str) -> Response:
        organization = self.organization()
        body = object_body(request.data)
        name = text(body, "snapshot", max_length=100) or Snapshot.CREATION
        snapshot = Snapshot.objects.filter(organization=organization, name=name).first()
        if snapshot is None:
            raise invalid("snapshot", "$.snapshot", reason="no snapshot of that name")
        return Response(
            {"reset": snapshots.reset(organization, snapshot, ownership=self.ownership)}
        )


class RunJobsView(ControlView):
    def post(self, request: Request, organization_id: str) -> Response:
        return Response(self.ownership.run_jobs(self.organization().id))


class FaultsView(ControlView):
    def get(self, request: Request, organization_id: str) -> Response:
        found = Fault.objects.filter(organization=self.organization()).order_by(
            "created_time", "id"
        )
        return Response({"faults": [faults.representation(fault) for fault in found]})

    def post(self, request: Request, organization_id: str) -> Response:
        organization = self.organization()
        rule = faults.parse(
            object_body(request.data), can_drop=faults.drop_supported(request._request)
        )
        fault = Fault.objects.create(organization=organization, **rule)
        return Response({"id": str(fault.id)}, status=201)

    def delete(self, request: Request, organization_id: str) -> Response:
        Fault.objects.filter(organization=self.organization()).delete()
        return Response(status=204)


class FaultView(ControlView):
    def delete(self, request: Request, organization_id: str, fault_id: str) -> Response:
        organization = self.organization()
        deleted = (
            Fault.objects.filter(organization=organization, id=parse_id(fault_id)).delete()[0]
            if parse_id(fault_id) is not None
            else 0
        )
        if not deleted:
            raise NOT_FOUND(resource="fault", id=fault_id)
        return Response(status=204)


def _query_int(request: Request, name: str, default: int, maximum: int) -> int:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    if not raw.isdigit():
        raise INVALID_PARAMETER(param_name=name, expected_data_type="integer")
    value = int(raw)
    if not 1 <= value <= maximum:
        raise INVALID_PARAMETER(param_name=name, minimum=1, maximum=maximum)
    return value


class JournalView(ControlView):
    def get(self, request: Request, organization_id: str) -> Response:
        organization = self.organization()
        method = request.query_params.get("method") or None
        if method is not None and method.upper() not in faults.METHODS:
            raise INVALID_PARAMETER(param_name="method", supported_values=list(faults.METHODS))
        entries = journal.read(
            organization.id,
            method=method,
            path=request.query_params.get("path") or None,
            limit=_query_int(request, "limit", DEFAULT_JOURNAL_LIMIT, journal.CAPACITY),
        )
        return Response({"requests": [journal.representation(entry) for entry in entries]})

    def delete(self, request: Request, organization_id: str) -> Response:
        journal.clear(self.organization().id)
        return Response(status=204)
