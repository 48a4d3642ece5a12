"""The admin as one product for an operator, in Debian's Chromium (Playwright): "Offboard a user"
where every other task is, job counts that add up (each record once, pending apart from failed),
a finished job page that stops saying "updated", the actor of a batch named whoever they are,
a revert page saying which records stay and why, history entries for jobs scheduled through the
API, and the record list whole at 1400 px. Each test saves its screenshot under test-artifacts/.

Jobs run in-process here (tests/owners/transfers/outbox.py: `drain`), outside the
`sync_playwright()` blocks (Django refuses synchronous queries inside Playwright's event loop).
"""

from __future__ import annotations

import pytest
from django.contrib.admin.models import LogEntry
from playwright.sync_api import expect, sync_playwright
from rest_framework.test import APIClient

from audit.models import AuditEntry
from crm.models import User
from crm.modules import module_by_name
from crm.oauth.grants import issue_access_token
from owners.models import TransferJob
from owners.selectors import batch_overview
from owners.services import change_owner
from owners.transfers import engine
from tests.conftest import ADMIN_PASSWORD
from tests.factories import OrganizationFactory, RecordFactory, UserFactory
from tests.owners.transfers.outbox import drain

from .browser import launch, log_in, screenshot
from .test_admin_operators_browser import assert_fits

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]


def operator(organization, **fields) -> User:
    user = UserFactory(organization=organization, is_staff=True, is_superuser=True, **fields)
    user.set_password(ADMIN_PASSWORD)
    user.save()
    return user


def offboard_ben(zylker, ann, ben, chen) -> TransferJob:
    """Ben's records (and the related activities of others) to Chen, as Ann schedules it."""
    return engine.schedule_offboarding(
        organization=zylker, actor=ann, leaving_user=ben, new_owner=chen
    )


def leaving_records(zylker, ben, other) -> None:
    """Ben owns 3 contacts, each with a task of his; a call of `other` is related to the first.
    Offboarding Ben moves his 6 records and, with them, the call: 7 changes of owner."""
    contacts = [RecordFactory(organization=zylker, owner=ben) for _ in range(3)]
    for contact in contacts:
        RecordFactory(organization=zylker, owner=ben, module_name="Tasks", related_to=contact)
    RecordFactory(organization=zylker, owner=other, module_name="Calls", related_to=contacts[0])


def test_the_index_and_the_sidebar_offer_offboard_a_user_beside_outbox_and_transfer_jobs(
    live_server, ann
):
    with sync_playwright() as playwright:
        browser = launch(playwright)
        page = log_in(browser, live_server.url, ann)
        page.goto(f"{live_server.url}/admin/")
        owners = page.locator("#content-main .app-owners")
        expect(owners.locator("tbody th, tr th[scope=row]")).to_have_text(
            # Notification delivery (docs/notifications.md) sits with the outbox it runs from.
            ["Outbox", "Transfer jobs", "Watch channels", "Watch deliveries", "Offboard a user"]
        )
        screenshot(page, "admin-index-offboard-entry")
        owners.get_by_role("link", name="Offboard a user").click()
        expect(page).to_have_url(f"{live_server.url}/admin/owners/offboard/")
        # The same entry in the sidebar, marked as the current page.
        sidebar = page.locator("#nav-sidebar .app-owners")
        expect(sidebar.locator("tr.current-model th")).to_have_text("Offboard a user")
        screenshot(page, "admin-offboard-from-the-index")
        browser.close()


def test_an_operator_without_the_right_to_offboard_sees_no_entry(live_server, zylker):
    clerk = UserFactory(
        organization=zylker,
        full_name="Dana Kruger",
        email="dana@zylker.test",
        is_staff=True,
        profile_name="Standard",
    )
    clerk.set_password(ADMIN_PASSWORD)
    clerk.save()
    with sync_playwright() as playwright:
        browser = launch(playwright)
        page = log_in(browser, live_server.url, clerk)
        page.goto(f"{live_server.url}/admin/")
        expect(page.locator("#content-main")).to_be_visible()
        expect(page.get_by_role("link", name="Offboard a user")).to_have_count(0)
        browser.close()


def test_a_finished_offboarding_counts_each_record_once_and_stops_saying_updated(
    live_server, zylker, ann, ben, chen
):
    other = UserFactory(organization=zylker, full_name="Eli Novak", email="eli@zylker.test")
    leaving_records(zylker, ben, other)
    transfer = offboard_ben(zylker, ann, ben, chen)
    drain()
    transfer.refresh_from_db()
    changed = batch_overview(organization_id=zylker.id, batch_id=transfer.batch_id).changed_count
    assert (transfer.status, transfer.updated_count, transfer.related_count) == ("completed", 6, 1)
    assert changed == 7 == AuditEntry.objects.filter(batch_id=transfer.batch_id).count()
    with sync_playwright() as playwright:
        browser = launch(playwright)
        page = log_in(browser, live_server.url, ann)
        page.goto(f"{live_server.url}/admin/owners/transferjob/{transfer.id}/change/")
        expect(page.locator("#progress-status")).to_have_text("Completed")
        expect(page.locator("#count-total_count")).to_have_text("6")
        expect(page.locator("#count-updated_count")).to_have_text("6")
        expect(page.locator("#label-not_updated_count")).to_have_text("Left undone")
        expect(page.locator("#count-not_updated_count")).to_have_text("0")
        expect(page.locator("#count-related_count")).to_have_text("1")
        # Equal to the batch's changed_count: the leaving user's tasks are counted once.
        expect(page.locator("#count-changed_count")).to_have_text(str(changed))
        expect(page.get_by_text("Changed, per module")).to_be_visible()
        expect(page.get_by_text("Moved so far, per module")).to_be_hidden()
        expect(page.get_by_text("updated every few seconds")).to_be_hidden()
        screenshot(page, "admin-job-finished-counts")
        browser.close()


def test_a_job_not_yet_run_says_still_to_do_not_failed(live_server, zylker, ann, ben, chen):
    leaving_records(zylker, ben, chen)
    transfer = offboard_ben(zylker, ann, ben, chen)
    with sync_playwright() as playwright:
        browser = launch(playwright)
        page = log_in(browser, live_server.url, ann)
        page.goto(f"{live_server.url}/admin/owners/transferjob/{transfer.id}/change/")
        expect(page.locator("#label-not_updated_count")).to_have_text("Still to do")
        expect(page.locator("#count-not_updated_count")).to_have_text("6")
        expect(page.locator("#count-failed_count")).to_have_text("0")
        expect(page.get_by_text("updated every few seconds while the job runs")).to_be_visible()
        screenshot(page, "admin-job-still-to-do")
        browser.close()


def test_the_batch_page_names_a_superuser_of_another_organization_who_acted(
    live_server, zylker, ann, ben, chen
):
    root = operator(OrganizationFactory(name="Operations"), full_name="Root Operator")
    contacts = [RecordFactory(organization=zylker, owner=ben) for _ in range(2)]
    result = change_owner(
        organization=zylker,
        actor=root,
        module=module_by_name("Contacts"),
        record_ids=[contact.id for contact in contacts],
        new_owner=chen,
        source=AuditEntry.Source.ADMIN,
    )
    with sync_playwright() as playwright:
        browser = launch(playwright)
        page = log_in(browser, live_server.url, ann)
        page.goto(f"{live_server.url}/admin/owners/batches/{result.batch_id}/")
        expect(page.locator("#batch-moves tbody tr td")).to_have_text(
            ["Contacts", "Admin", "Ben Ortiz", "Chen Wei", "Root Operator", "2"]
        )
        screenshot(page, "admin-batch-actor-of-another-organization")
        browser.close()


def test_the_revert_page_says_which_records_stay_and_why(live_server, zylker, ann, ben, chen):
    leaving_records(zylker, ben, chen)
    transfer = offboard_ben(zylker, ann, ben, chen)
    drain()
    assert User.objects.get(id=ben.id).status == User.Status.DELETED
    # Someone gave one of the moved contacts to Ann since: it stays with her.
    moved = AuditEntry.objects.filter(
        batch_id=transfer.batch_id, module_id=module_by_name("Contacts").id
    )
    changed_since = moved.order_by("record_id").first().record_id
    change_owner(
        organization=zylker,
        actor=ann,
        module=module_by_name("Contacts"),
        record_ids=[changed_since],
        new_owner=ann,
        source=AuditEntry.Source.ADMIN,
    )
    with sync_playwright() as playwright:
        browser = launch(playwright)
        page = log_in(browser, live_server.url, ann)
        page.goto(f"{live_server.url}/admin/owners/batches/{transfer.batch_id}/revert/")
        # Nothing goes back to Ben, who is deleted (the call was Chen's already and did not move).
        expect(page.locator("#kept-count")).to_have_text("6")
        rows = page.locator("#will-not-revert tbody tr")
        expect(rows.filter(has_text="its owner changed since")).to_contain_text("1")
        expect(rows.filter(has_text="is deleted")).to_have_count(2)  # Contacts, Tasks
        expect(rows.filter(has_text="records go to active users only").first).to_be_visible()
        screenshot(page, "admin-revert-what-stays-and-why")
        browser.close()


def test_a_job_scheduled_through_the_api_is_in_the_admins_history(live_server, zylker, ann, chen):
    api = APIClient()
    token = issue_access_token(user=ann, scopes=["ZohoBigin.change_owner.CREATE"])
    api.credentials(HTTP_AUTHORIZATION=f"Zoho-oauthtoken {token}")
    RecordFactory(organization=zylker, owner=ann)
    answer = api.post(
        "/bigin/v2/Contacts/actions/mass_change_owner",
        {
            "owner": {"id": str(chen.id)},
            "criteria": {
                "field": {"api_name": "Owner"},
                "comparator": "equal",
                "value": {"id": str(ann.id)},
            },
        },
        format="json",
    )
    assert answer.status_code == 202, answer.content
    transfer = TransferJob.objects.get()
    [entry] = LogEntry.objects.all()
    assert (entry.user_id, entry.object_id) == (ann.id, str(transfer.id))
    with sync_playwright() as playwright:
        browser = launch(playwright)
        page = log_in(browser, live_server.url, ann)
        page.goto(f"{live_server.url}/admin/")
        expect(page.locator("#recent-actions-module")).to_contain_text(
            f"Mass Change job {transfer.id}"
        )
        page.goto(f"{live_server.url}/admin/owners/transferjob/{transfer.id}/history/")
        expect(page.locator("#change-history")).to_contain_text(
            "Mass change of Contacts scheduled through the API"
        )
        screenshot(page, "admin-history-of-an-api-job")
        browser.close()


def test_the_record_list_shows_every_column_at_1400_px(live_server, zylker, ann, ben):
    for n in range(3):
        parent = RecordFactory(
            organization=zylker, owner=ben, name=f"Contact with a long name number {n}"
        )
        RecordFactory(organization=zylker, owner=ben, module_name="Tasks", related_to=parent)
    with sync_playwright() as playwright:
        browser = launch(playwright)
        page = log_in(browser, live_server.url, ann)
        page.goto(f"{live_server.url}/admin/crm/record/")
        assert_fits(page, last_columns=["Related to", "Modified (UTC)"])
        screenshot(page, "admin-record-list-1400")
        browser.close()
