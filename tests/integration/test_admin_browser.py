"""The admin's change-owner flow in a real browser: Debian's Chromium driven by Playwright.

Playwright runs in the test thread (its sync API); pytest-django's live_server serves the app
from its own thread on the same test database, so the test is transactional.
"""

from __future__ import annotations

import re

import pytest
from django.conf import settings
from playwright.sync_api import Page, expect, sync_playwright

from audit.models import AuditEntry
from crm.models import Record, User
from tests.conftest import ADMIN_PASSWORD, CHROMIUM
from tests.factories import OrganizationFactory, RecordFactory, UserFactory

pytestmark = [
    pytest.mark.browser,
    # Transactional tests flush every table afterwards; serialized_rollback puts back the rows
    # of the data migrations (the seven modules) for the tests that follow.
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SCREENSHOT = settings.BASE_DIR / "test-artifacts" / "admin-change-owner-intermediate.png"


def rows(page: Page):
    return page.locator("#result_list tbody tr")


def test_an_operator_reassigns_records_in_the_admin_and_finds_them_audited(live_server):
    zylker = OrganizationFactory(name="Zylker")
    ann = UserFactory(
        organization=zylker,
        full_name="Ann Lee",
        email="ann.lee@zylker.test",
        is_staff=True,
        is_superuser=True,
    )
    ann.set_password(ADMIN_PASSWORD)
    ann.save()
    ben = UserFactory(organization=zylker, full_name="Ben Ortiz", email="ben@zylker.test")
    chen = UserFactory(organization=zylker, full_name="Chen Wei", email="chen@zylker.test")
    eli = UserFactory(
        organization=zylker,
        full_name="Eli Novak",
        email="eli@zylker.test",
        status=User.Status.DISABLED,
    )
    bens = {
        name: RecordFactory(organization=zylker, owner=ben, name=name, module_name=module)
        for name, module in [
            ("Olivia Smith", "Contacts"),
            ("Liam Garcia", "Contacts"),
            ("Emma Tanaka", "Contacts"),
            ("Acme Tools - Growth plan", "Pipelines"),
            ("Noah Okafor", "Contacts"),  # stays with Ben: not selected
        ]
    }
    RecordFactory(organization=zylker, owner=ann, name="Ava Rossi")
    selected = [name for name in bens if name != "Noah Okafor"]

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page()

        # Log in.
        page.goto(f"{live_server.url}/admin/login/?next=/admin/crm/record/")
        page.fill("#id_username", ann.email)
        page.fill("#id_password", ADMIN_PASSWORD)
        page.click("input[type=submit]")
        expect(page.locator("#changelist")).to_be_visible()
        expect(rows(page)).to_have_count(6)

        # Filter by owner: Ben's five records.
        page.locator("#changelist-filter").get_by_role("link", name=str(ben)).click()
        expect(rows(page)).to_have_count(5)

        # Select four of them and run "Change owner".
        for name in selected:
            rows(page).filter(has_text=name).locator("input.action-select").check()
        page.select_option("select[name=action]", label="Change owner")
        page.click("button[name=index]")

        # The intermediate page: the four records, active users only.
        expect(page.locator("h1")).to_have_text("Change owner")
        expect(page.locator("#selected-records tbody tr")).to_have_count(4)
        owner_choices = page.locator("#id_new_owner option").all_inner_texts()
        assert str(chen) in owner_choices and str(eli) not in owner_choices
        page.select_option("#id_new_owner", label=str(chen))
        page.get_by_label("Tasks").check()
        SCREENSHOT.parent.mkdir(exist_ok=True)
        page.screenshot(path=str(SCREENSHOT), full_page=True)
        print(f"screenshot of the intermediate page: {SCREENSHOT}")
        page.click("#change-owner-form input[type=submit]")

        # Back on Ben's list: one record left, and the result per module.
        success = page.locator(".messagelist .success")
        expect(success).to_have_count(2)
        expect(success.nth(0)).to_have_text(
            re.compile(
                r"^Contacts: 3 changed to Chen Wei, 0 already owned by Chen Wei\. "
                r"Batch [0-9a-f]{8}\.$"
            )
        )
        expect(success.nth(1)).to_have_text(
            re.compile(r"^Pipelines: 1 changed to Chen Wei, 0 already owned by Chen Wei")
        )
        batch_href = success.nth(0).get_by_role("link").get_attribute("href")
        contacts_batch = re.search(r"/batches/([0-9a-f-]{36})/$", batch_href)[1]
        expect(rows(page)).to_have_count(1)
        expect(rows(page)).to_contain_text("Noah Okafor")

        # Chen's list shows the four records with their new owner.
        page.locator("#changelist-filter").get_by_role("link", name=str(chen)).click()
        expect(rows(page)).to_have_count(4)
        expect(page.locator("#result_list td.field-owner_name")).to_have_text(["Chen Wei"] * 4)

        # The audit admin: four rows from the admin, three in the Contacts batch.
        page.goto(f"{live_server.url}/admin/audit/auditentry/")
        page.locator("#changelist-filter").get_by_role("link", name="Admin").click()
        expect(rows(page)).to_have_count(4)
        expect(page.locator("#result_list td.field-new_owner_name")).to_have_text(["Chen Wei"] * 4)
        expect(page.locator("#result_list td.field-actor_name")).to_have_text(["Ann Lee"] * 4)
        page.fill("#searchbar", contacts_batch)
        page.press("#searchbar", "Enter")
        expect(rows(page)).to_have_count(3)

        browser.close()

    assert {r.name: r.owner_id for r in Record.objects.filter(owner=chen)} == {
        name: chen.id for name in selected
    }
    assert Record.objects.get(name="Noah Okafor").owner_id == ben.id
    entries = AuditEntry.objects.filter(source="admin")
    assert {(e.record_id, e.previous_owner_id, e.new_owner_id, e.actor_id) for e in entries} == {
        (bens[name].id, ben.id, chen.id, ann.id) for name in selected
    }
