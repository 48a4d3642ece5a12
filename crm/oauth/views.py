"""The token server's HTTP face: Zoho's `/oauth/v2/token` and `/oauth/v2/token/revoke`.

These endpoints authenticate the client by its id and secret in the parameters, not by a token,
so they switch off the Bigin authentication and scope check. Failures answer HTTP 200 with
`{"error": ...}`, as Zoho's accounts server does.
"""

from __future__ import annotations

from django.conf import settings
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework.exceptions import ParseError, UnsupportedMediaType
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from crm.http.boundary import client_address

from . import grants, guessing

UNSUPPORTED_GRANT_TYPE = "unsupported_grant_type"


def _params(request: Request) -> dict[str, str]:
    """Parameters from the query string, overridden by the form body (Zoho accepts either)."""
    params = {key: request.query_params.get(key, "") for key in request.query_params}
    try:
        body = request.data
    except (ParseError, UnsupportedMediaType):
        # A body we can't read (JSON, say) is ignored: the query string may carry everything.
        body = {}
    params.update({key: body.get(key, "") for key in body})
    return params


class TokenServerView(APIView):
    """No token: the client authenticates by its parameters. Nothing is cached (RFC 6749 5.1)."""

    authentication_classes: list = []
    permission_classes: list = []
    parser_classes = [FormParser, MultiPartParser]

    def finalize_response(self, request, response, *args, **kwargs):
        response = super().finalize_response(request, response, *args, **kwargs)
        response["Cache-Control"] = "no-store"
        response["Pragma"] = "no-cache"
        return response


class TokenView(TokenServerView):
    @extend_schema(
        summary="Exchange a grant code, or refresh an access token (Zoho's token endpoint)",
        request={"application/x-www-form-urlencoded": OpenApiTypes.OBJECT},
        responses={200: OpenApiTypes.OBJECT},
        auth=[],
    )
    def post(self, request: Request) -> Response:
        params = _params(request)
        grant_type = params.get("grant_type", "")
        client = {
            "client_id": params.get("client_id", ""),
            "client_secret": params.get("client_secret", ""),
        }
        # Counted as a failure from here until it succeeds (crm/oauth/guessing.py).
        attempt = guessing.take_attempt(address=client_address(request))
        if attempt.refused:
            return Response(
                guessing.ACCESS_DENIED,
                status=429,
                headers={"Retry-After": str(attempt.retry_after)},
            )
        try:
            if grant_type == "authorization_code":
                issued = grants.exchange_code(**client, code=params.get("code", ""))
            elif grant_type == "refresh_token":
                issued = grants.refresh(**client, refresh_token=params.get("refresh_token", ""))
            else:
                guessing.give_back(attempt)  # no guess at a secret
                return Response({"error": UNSUPPORTED_GRANT_TYPE})
        except grants.OAuthError as failure:
            return Response({"error": failure.error})
        guessing.give_back(attempt)
        body = {"access_token": issued.access_token}
        if issued.refresh_token is not None:
            body["refresh_token"] = issued.refresh_token
        body.update(
            {
                # RFC 6749 and Zoho both answer the scopes space-separated.
                "scope": " ".join(issued.scopes),
                "api_domain": settings.API_DOMAIN,
                "token_type": "Bearer",
                "expires_in": issued.expires_in,
            }
        )
        return Response(body)


class RevokeView(TokenServerView):
    @extend_schema(
        summary="Revoke a refresh token and its access tokens",
        request={"application/x-www-form-urlencoded": OpenApiTypes.OBJECT},
        responses={200: OpenApiTypes.OBJECT},
        auth=[],
    )
    def post(self, request: Request) -> Response:
        grants.revoke(token=_params(request).get("token", ""))
        return Response({"status": "success"})
