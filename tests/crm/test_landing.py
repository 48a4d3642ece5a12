"""The landing page at `/`: where the API docs, the admin and the health check are."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.django_db


def test_the_landing_page_links_the_api_docs_the_admin_and_the_health_check(
    client, django_assert_num_queries
):
    with django_assert_num_queries(0):
        response = client.get("/")

    assert response.status_code == 200
    body = response.content.decode()
    for link in ['href="/api/docs/"', 'href="/api/schema/"', 'href="/admin/"', 'href="/healthz"']:
        assert link in body
    # The links lead somewhere (the health check is tested on its own: it needs the broker).
    assert client.get("/api/docs/").status_code == 200
    assert client.get("/admin/").status_code == 302  # to the login page


def test_the_admins_view_site_link_leads_to_the_landing_page(admin_site_client):
    response = admin_site_client.get("/admin/")

    assert '<a href="/">View site</a>' in response.content.decode()
