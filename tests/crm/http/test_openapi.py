"""The OpenAPI schema covers every API URL, and Swagger UI works with no internet."""

from __future__ import annotations

import re
from collections.abc import Iterator
from html.parser import HTMLParser
from urllib.parse import urlsplit

import pytest
from django.urls import URLPattern, URLResolver, get_resolver
from drf_spectacular.generators import SchemaGenerator

pytestmark = pytest.mark.django_db

API_PREFIXES = ("bigin/v2/", "oauth/v2/")
NOT_DOCUMENTED_METHODS = {"options", "head", "trace"}


def _openapi_path(pattern: str) -> str:
    """`^(?P<module>[^/.]+)$` and `users/<str:user_id>` as OpenAPI writes them: `{module}`."""
    pattern = pattern.removeprefix("^").removesuffix("$").removesuffix(r"\Z")
    pattern = re.sub(r"\(\?P<(\w+)>[^)]*\)", r"{\1}", pattern)
    return re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", pattern)


def _walk(patterns: list, prefix: str = "") -> Iterator[tuple[str, URLPattern]]:
    for entry in patterns:
        path = prefix + _openapi_path(str(entry.pattern))
        if isinstance(entry, URLResolver):
            yield from _walk(entry.url_patterns, path)
        else:
            yield path, entry


def _methods(entry: URLPattern) -> set[str]:
    """The HTTP methods a route answers: a ViewSet's mapping, an APIView's handlers."""
    callback = entry.callback
    actions = getattr(callback, "actions", None)
    if actions:
        # DRF adds `head` to a ViewSet's mapping the first time it serves a GET.
        return set(actions) - NOT_DOCUMENTED_METHODS
    view_class = getattr(callback, "cls", None) or getattr(callback, "view_class", None)
    if view_class is None:
        return {"get"}  # a function view: at least its path must be documented
    return {
        method
        for method in view_class.http_method_names
        if hasattr(view_class, method) and method not in NOT_DOCUMENTED_METHODS
    }


def test_every_api_url_is_in_the_schema():
    schema = SchemaGenerator().get_schema(request=None, public=True)
    routes = [
        (f"/{path}", entry)
        for path, entry in _walk(get_resolver().url_patterns)
        if path.startswith(API_PREFIXES)
    ]

    # The walk itself finds the routes, so the check below is not vacuous.
    assert {"/bigin/v2/users", "/bigin/v2/{module}/{record_id}"} <= {p for p, _ in routes}
    missing = [
        f"{method.upper()} {path}"
        for path, entry in routes
        for method in sorted(_methods(entry))
        if method not in schema["paths"].get(path, {})
    ]
    assert missing == []


def test_the_schema_is_served_without_a_token(client):
    response = client.get("/api/schema/", HTTP_ACCEPT="application/json")

    assert response.status_code == 200
    schema = response.json()
    assert schema["openapi"].startswith("3.")
    assert schema["components"]["securitySchemes"]["ZohoOAuthToken"] == {
        "type": "apiKey",
        "in": "header",
        "name": "Authorization",
        "description": (
            "`Zoho-oauthtoken <access token>`; `Bearer <access token>` works too. Each endpoint "
            "lists the scopes it accepts; a `.ALL` scope satisfies the other operations of its "
            "resource."
        ),
    }
    assert schema["paths"]["/bigin/v2/users"]["get"]["security"] == [{"ZohoOAuthToken": []}]


class _AssetCollector(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []
        self.inline_scripts: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag == "script":
            self._in_script = True
            if values.get("src"):
                self.urls.append(values["src"])
        elif tag == "link" and values.get("href"):
            self.urls.append(values["href"])
        elif tag in ("img", "iframe") and values.get("src"):
            self.urls.append(values["src"])

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._in_script = False

    def handle_data(self, data: str) -> None:
        if self._in_script and data.strip():
            self.inline_scripts.append(data)


def test_swagger_ui_loads_every_asset_from_the_service_itself(client, settings):
    # With DEBUG off Django serves no static files itself: whitenoise's middleware (finders on)
    # is what answers the asset requests, as in production.
    assert not settings.DEBUG
    page = client.get("/api/docs/")
    assert page.status_code == 200
    collector = _AssetCollector()
    collector.feed(page.content.decode())
    # The schema URL Swagger UI fetches is set in the inline start-up script.
    schema_urls = re.findall(r'url: "([^"]+)"', "".join(collector.inline_scripts))
    urls = collector.urls + schema_urls

    assert len(collector.urls) >= 4  # favicon, stylesheet, bundle, standalone preset
    assert schema_urls == ["/api/schema/"]
    for url in urls:
        parts = urlsplit(url)
        assert not parts.scheme and not parts.netloc, f"{url} is not on this service"
        asset = client.get(url)
        assert asset.status_code == 200, url
        body = b"".join(asset.streaming_content) if asset.streaming else asset.content
        assert body, url
    assert not re.search(rb"https?://", page.content), "the page names an outside host"
    # Swagger UI's default would post the schema to an outside validator.
    assert '"validatorUrl": null' in "".join(collector.inline_scripts)
