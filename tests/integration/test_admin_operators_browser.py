"""The operators' admin pages in Debian's Chromium (Playwright): the audit list at 1400 px, the
batch page, the change-owner message, the selection kept after a refusal, Recent actions, the
landing page and retrying a failed outbox entry with a real worker. Screenshots: test-artifacts/.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import expect, sync_playwright

from audit.models import AuditEntry
from crm.modules import module_by_name
from owners.models import OutboxEntry
from owners.services import RelatedSelection, change_owner
from tests.factories import OrganizationFactory, RecordFactory

from .browser import launch, log_in, result_rows, screenshot
from .conftest import wait_until

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]


def assert_fits(page, *, last_columns: list[str]) -> None:
    """Every column of the list is on screen at 1400 px: the table is no wider than its box,
    and the last headers end inside the viewport."""
    widths = page.evaluate(
        "() => { const r = document.querySelector('#changelist .results');"
        " return [r.scrollWidth, r.clientWidth]; }"
    )
    assert widths[0] <= widths[1], widths
    for column in last_columns:
        box = page.locator("#result_list thead th", has_text=column).bounding_box()
        assert box["x"] + box["width"] <= 1400, (column, box)


def test_the_audit_list_fits_1400_px_and_leads_to_the_batch_page(live_server, zylker, ann, ben):
    contacts = [
        RecordFactory(organization=zylker, owner=ann, name=f"Contact {n}") for n in range(3)
    ]
    for contact in contacts:
        RecordFactory(organization=zylker, owner=ann, module_name="Calls", related_to=contact)
    result = change_owner(
        organization=zylker,
        actor=ann,
        module=module_by_name("Contacts"),
        record_ids=[contact.id for contact in contacts],
        new_owner=ben,
        notify=True,
        related=RelatedSelection(modules=("Calls",)),
        source=AuditEntry.Source.ADMIN,
    )

    with sync_playwright() as playwright:
        browser = launch(playwright)
        page = log_in(browser, live_server.url, ann)
        page.goto(f"{live_server.url}/admin/audit/auditentry/")
        expect(result_rows(page)).to_have_count(3)
        screenshot(page, "audit-list-1400")

        # Every column is on screen: the table is no wider than its box, and the last header
        # cell (Batch) ends inside the viewport.
        assert_fits(page, last_columns=["By", "Source", "Batch"])

        page.locator("#result_list a.batch-link").first.click()
        expect(page.locator("h1")).to_have_text(f"Batch {str(result.batch_id)[:8]}")
        expect(page.locator("#changed-count")).to_have_text("3")
        expect(page.locator("#batch-jobs tbody tr")).to_have_count(2)
        screenshot(page, "batch-page")
        browser.close()


def test_the_change_owner_message_links_the_batch_and_the_change_is_in_recent_actions(
    live_server, zylker, ann, ben, chen
):
    contacts = [RecordFactory(organization=zylker, owner=ben, name=f"Lead {n}") for n in range(3)]
    for contact in contacts:
        RecordFactory(organization=zylker, owner=ben, module_name="Tasks", related_to=contact)

    with sync_playwright() as playwright:
        browser = launch(playwright)
        page = log_in(browser, live_server.url, ann)
        page.goto(f"{live_server.url}/admin/crm/record/?module__id__exact={contacts[0].module_id}")
        page.locator("#action-toggle").check()
        page.select_option("select[name=action]", label="Change owner")
        page.click("button[name=index]")
        page.select_option("#id_new_owner", label=str(chen))
        page.get_by_label("Tasks").check()
        page.get_by_label("Notify").check()
        page.click("#change-owner-form input[type=submit]")

        success = page.locator(".messagelist .success")
        expect(success).to_have_count(1)
        expect(success).to_have_text(
            re.compile(
                r"^Contacts: 3 changed to Chen Wei, 0 already owned by Chen Wei\. "
                r"3 related Tasks follow in the background; an email to Chen Wei is queued\. "
                r"Batch [0-9a-f]{8}\.$"
            )
        )
        screenshot(page, "change-owner-message")
        short_batch = success.get_by_role("link").inner_text().removeprefix("Batch ")

        success.get_by_role("link").click()
        expect(page.locator("h1")).to_have_text(f"Batch {short_batch}")
        expect(page.locator("#batch-jobs tbody tr")).to_have_count(2)
        screenshot(page, "batch-page-jobs-waiting")

        page.goto(f"{live_server.url}/admin/")
        recent = page.locator("#recent-actions-module li")
        expect(recent).to_have_count(3)
        expect(recent.first).to_contain_text("Lead")
        screenshot(page, "admin-index-recent-actions")

        page.click("#user-tools a:has-text('View site')")
        expect(page.locator("h1")).to_have_text("Bigin record ownership")
        screenshot(page, "landing-page")
        browser.close()


def test_a_refused_selection_stays_selected(live_server, zylker, ann, ben):
    nimbus = OrganizationFactory(name="Nimbus")
    ours = RecordFactory(organization=zylker, owner=ben, name="Olivia Smith")
    theirs = RecordFactory(organization=nimbus, name="Noah Okafor")
    RecordFactory(organization=zylker, owner=ben, name="Not selected")

    with sync_playwright() as playwright:
        browser = launch(playwright)
        page = log_in(browser, live_server.url, ann)
        page.goto(f"{live_server.url}/admin/crm/record/")
        for name in [ours.name, theirs.name]:
            result_rows(page).filter(has_text=name).locator("input.action-select").check()
        page.select_option("select[name=action]", label="Change owner")
        page.click("button[name=index]")

        expect(page.locator(".messagelist .error")).to_contain_text(
            "belong to more than one organization"
        )
        checked = page.locator("#result_list input.action-select:checked")
        expect(checked).to_have_count(2)
        expect(page.locator("span.action-counter")).to_have_text("2 of 3 selected")
        screenshot(page, "refused-selection-kept")
        browser.close()


def test_an_operator_retries_a_failed_outbox_job_and_a_real_worker_runs_it(
    live_server,
    zylker,
    ann,
    ben,
    redis_server,
    queue_name,
    publish_to,
    start_worker,
    tmp_path,
):
    mail_dir = tmp_path / "mail"
    mail_dir.mkdir()
    publish_to(redis_server.url, queue_name)
    start_worker(redis_server.url, queue_name, EMAIL_URL=f"filemail:///{mail_dir}")
    record = RecordFactory(organization=zylker, owner=ben, name="Olivia Smith")
    # As the sweep leaves a job it gave up on.
    failed = OutboxEntry.objects.create(
        organization=zylker,
        kind=OutboxEntry.Kind.NOTIFY,
        status=OutboxEntry.Status.FAILED,
        batch_id="5e0f3b1c-0000-4000-8000-000000000001",
        payload={
            "module": "Contacts",
            "new_owner_id": str(ben.id),
            "actor_id": str(ann.id),
            "source": "admin",
            "record_ids": [str(record.id)],
        },
        attempts=10,
        run_after="2026-01-01T00:00:00Z",
        last_error="gave up after 10 attempts",
    )

    with sync_playwright() as playwright:
        browser = launch(playwright)
        page = log_in(browser, live_server.url, ann)
        page.goto(f"{live_server.url}/admin/owners/outboxentry/")
        page.locator("#status-counts").get_by_role("link", name=re.compile("^Failed")).click()
        expect(result_rows(page)).to_have_count(1)
        expect(result_rows(page)).to_contain_text("gave up after 10 attempts")
        assert_fits(page, last_columns=["Last error", "Created (UTC)", "Finished (UTC)"])
        screenshot(page, "outbox-failed")
        result_rows(page).locator("input.action-select").check()
        page.select_option("select[name=action]", label="Retry the selected failed jobs")
        page.click("button[name=index]")
        expect(page.locator(".messagelist .success")).to_have_text(
            "1 failed job sent to the workers again."
        )

        page.goto(f"{live_server.url}/admin/owners/outboxentry/")
        done = page.locator("#status-counts .status-done")

        def worker_ran_it() -> bool:
            page.reload()
            return done.inner_text() == "Done: 1"

        wait_until(worker_ran_it, what="the worker to run the retried job")
        expect(page.locator("#status-counts .status-failed")).to_have_text("Failed: 0")
        screenshot(page, "outbox-retried")
        browser.close()

    assert OutboxEntry.objects.get(id=failed.id).status == OutboxEntry.Status.DONE
    assert any("Olivia Smith" in file.read_text() for file in Path(mail_dir).iterdir())
