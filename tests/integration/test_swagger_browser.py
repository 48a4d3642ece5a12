"""Swagger UI's "Try it out" works as shown on the demo sandbox, in a real browser: Debian's
Chromium driven by Playwright against pytest-django's live_server, with the demo loaded as
`make run` loads it. The examples fill the form; Execute answers 200."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect, sync_playwright

from crm.models import Record, User
from crm.oauth.grants import issue_access_token
from crm.sandbox import demo
from crm.sandbox.loader import load
from tests.conftest import CHROMIUM
from tests.integration.test_admin_browser import CHROMIUM_ARGS

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]

SCOPES = ["ZohoBigin.change_owner.CREATE", "ZohoBigin.modules.ALL", "ZohoBigin.users.READ"]


def authorize(page: Page, token: str) -> None:
    page.click("button.authorize")
    page.fill(".modal-ux input[type=text]", f"Zoho-oauthtoken {token}")
    page.click(".modal-ux .auth-btn-wrapper button.authorize")
    page.click(".modal-ux button.btn-done")


def try_it_out(page: Page, operation_dom_id: str) -> str:
    """Expand the operation, Try it out, Execute as filled in; returns the answer's status."""
    operation = page.locator(f"#{operation_dom_id}")
    operation.locator(".opblock-summary").first.click()
    operation.locator("button.try-out__btn").click()
    operation.locator("button.execute").click()
    status = operation.locator(".live-responses-table .response .response-col_status").first
    expect(status).to_be_visible(timeout=30_000)
    return status.inner_text().strip()


def test_try_it_out_with_the_examples_succeeds_on_the_demo(live_server):
    load(demo.build())
    admin = User.objects.get(email=demo.ADMIN_EMAIL)
    token = issue_access_token(user=admin, scopes=SCOPES)
    examples = demo.api_examples()

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page()
        page.goto(f"{live_server.url}/api/docs/")
        authorize(page, token)

        statuses = {
            dom_id: try_it_out(page, dom_id)
            for dom_id in (
                "operations-Change_owner-change_owner_bulk",
                "operations-Change_owner-change_owner_single",
                "operations-Records-records_retrieve",
                "operations-Users-users_retrieve",
                "operations-Kenbun_lead_owner-kenbun_assign_lead_owner",
            )
        }
        browser.close()

    assert statuses == dict.fromkeys(statuses, "200")
    # The bulk example moved its two demo contacts to the example's new owner.
    assert set(
        Record.objects.filter(id__in=examples.contact_ids).values_list("owner_id", flat=True)
    ) == {int(examples.new_owner_id)}
