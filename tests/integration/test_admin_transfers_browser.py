"""Transfer jobs driven from the admin in Debian's Chromium, run by a real Celery worker on a
redis-server of the test's own: offboarding a user with 20,000 records (the progress bar seen
moving), cancelling a running job, "select all" over 150,000 records, reverting a batch,
retrying a failed job. Screenshots at 1400 px go to test-artifacts/.

The ORM is used only outside the `sync_playwright()` blocks (Playwright's sync API runs an event
loop in this thread, where Django refuses synchronous queries).
"""

from __future__ import annotations

import pytest
from django.db import connection
from playwright.sync_api import Page, expect, sync_playwright

from audit.models import AuditEntry
from crm.ids import new_id
from crm.models import Organization, Record, User
from crm.modules import module_by_name
from owners.models import TransferJob
from owners.services import change_owner
from owners.tasks import sweep
from owners.transfers import engine
from owners.transfers.criteria import parse_criteria
from tests.factories import UserFactory

from .browser import launch, log_in, result_rows, screenshot
from .conftest import wait_until

pytestmark = [
    pytest.mark.browser,
    pytest.mark.postgres,
    pytest.mark.redis,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]

CONTACTS = module_by_name("Contacts")
TASKS = module_by_name("Tasks")
# Long enough for the slowest job here on a busy machine.
JOB_TIMEOUT_MS = 240_000


def bulk_records(
    organization: Organization, owner: User, count: int, *, with_tasks: bool = False
) -> int:
    """`count` Contacts of `owner` (and as many Tasks, one related to each, when `with_tasks`),
    inserted by set-based statements. Ids start 2**40 above now (about 4 minutes ahead in the
    id's clock), so they never meet the ids the processes draw meanwhile."""
    base = new_id() + (1 << 40)
    table = Record._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"""INSERT INTO {table} (id, organization_id, module_id, owner_id, name, fields,
                    created_time, modified_time)
                SELECT %s + g, %s, %s, %s, 'Lead ' || g, '{{}}'::jsonb, now(), now()
                FROM generate_series(1, %s) AS g""",
            [base, organization.id, CONTACTS.id, owner.id, count],
        )
        if with_tasks:
            cursor.execute(
                f"""INSERT INTO {table} (id, organization_id, module_id, owner_id, name, fields,
                        related_to_id, created_time, modified_time)
                    SELECT %s + %s + g, %s, %s, %s, 'Call back ' || g, '{{}}'::jsonb, %s + g,
                        now(), now()
                    FROM generate_series(1, %s) AS g""",
                [base, count, organization.id, TASKS.id, owner.id, base, count],
            )
    return count * (2 if with_tasks else 1)


def bar_value(page: Page) -> int:
    return int(page.locator("#transfer-progress progress").get_attribute("value"))


# Records every value the job page's bar takes, from the first render on.
RECORD_BAR_VALUES = """
document.addEventListener('DOMContentLoaded', () => {
    const bar = document.querySelector('#transfer-progress progress');
    if (!bar) { return; }
    window.barValues = [Number(bar.getAttribute('value'))];
    new MutationObserver(() => window.barValues.push(Number(bar.getAttribute('value'))))
        .observe(bar, {attributes: true, attributeFilter: ['value']});
});
"""


# zylker and ann: tests/integration/conftest.py. Ben and Chen here have the Standard profile.


@pytest.fixture
def ben(zylker):
    return UserFactory(
        organization=zylker, full_name="Ben Ortiz", email="ben@zylker.test", profile_name="Standard"
    )


@pytest.fixture
def chen(zylker):
    return UserFactory(
        organization=zylker, full_name="Chen Wei", email="chen@zylker.test", profile_name="Standard"
    )


@pytest.fixture
def worker(redis_server, queue_name, publish_to, start_worker):
    """`worker(**env)`: this process (and its live server) publishes to a private redis-server,
    and a real Celery worker consumes it."""

    def start(**env: str):
        publish_to(redis_server.url, queue_name)
        return start_worker(redis_server.url, queue_name, **env)

    return start


def contact_ids(owner: User) -> list[int]:
    return list(
        Record.objects.filter(owner=owner, module_id=CONTACTS.id)
        .order_by("id")
        .values_list("id", flat=True)
    )


def test_offboarding_a_user_with_20000_records_from_the_form_to_a_finished_bar(
    live_server, worker, row_lock, zylker, ann, ben, chen
):
    total = bulk_records(zylker, ben, 10_000, with_tasks=True)
    # 1,000-record chunks; a contact of the sixth held by another writer until the page has shown
    # the bar half full.
    lock = row_lock(Record._meta.db_table, [contact_ids(ben)[5_500]])
    worker(TRANSFER_JOB_CHUNK="1000")

    with sync_playwright() as playwright:
        browser = launch(playwright)
        page = log_in(browser, live_server.url, ann)
        page.context.add_init_script(RECORD_BAR_VALUES)
        page.goto(f"{live_server.url}/admin/owners/transferjob/")
        page.click("#offboard-link")
        page.select_option("#id_leaving_user", label="Ben Ortiz <ben@zylker.test> (Zylker)")
        page.select_option("#id_new_owner", label="Chen Wei <chen@zylker.test> (Zylker)")
        screenshot(page, "offboard-form")
        page.click("#preview-offboarding")

        # The dry run: per module, nothing changed yet.
        expect(page.locator("#dry-run-total")).to_have_text("20,000")
        expect(page.locator("#dry-run tbody tr").filter(has_text="Contacts")).to_contain_text(
            "10,000"
        )
        expect(page.locator("#dry-run tbody tr").filter(has_text="Tasks")).to_contain_text("10,000")
        page.get_by_label("Disable the leaving user").check()
        screenshot(page, "offboard-dry-run")
        page.click("#confirm-offboarding")

        # The job page: the bar moves without a reload, then the batch link appears.
        expect(page.locator("h1")).to_contain_text("Offboarding job")
        page.wait_for_function(
            f"() => {{ const v = Number(document.querySelector('#transfer-progress progress')"
            f".getAttribute('value')); return v > 0 && v < {total}; }}",
            timeout=JOB_TIMEOUT_MS,
        )
        screenshot(page, "offboard-job-running")
        lock.release()
        expect(page.locator("#batch-link")).to_be_visible(timeout=JOB_TIMEOUT_MS)
        expect(page.locator("#progress-status")).to_have_text("Completed")
        expect(page.locator("#count-updated_count")).to_have_text("20,000")
        expect(page.locator("#progress-percent")).to_have_text("100 %")
        values = page.evaluate("() => window.barValues")
        screenshot(page, "offboard-job-finished")

        page.click("#batch-link")
        expect(page.locator("#changed-count")).to_have_text("20,000")
        screenshot(page, "offboard-batch")
        browser.close()

    # Seen moving: values strictly between empty and full, never going back.
    assert any(0 < value < total for value in values), values
    assert values == sorted(values) and values[-1] == total, values
    assert Record.objects.filter(owner=chen).count() == total
    assert User.objects.get(id=ben.id).status == User.Status.DISABLED
    transfer = TransferJob.objects.get()
    assert AuditEntry.objects.filter(batch_id=transfer.batch_id).count() == total


def test_an_operator_cancels_a_running_job_from_its_page(
    live_server, worker, row_lock, zylker, ann, ben, chen
):
    total = bulk_records(zylker, ben, 5_000)
    # 250-record chunks; a contact of the eleventh held by another writer until the operator
    # has cancelled: that chunk finishes, the chunks not started do nothing.
    lock = row_lock(Record._meta.db_table, [contact_ids(ben)[2_600]])
    worker(TRANSFER_JOB_CHUNK="250")
    transfer = engine.schedule_mass_change(
        organization=zylker,
        actor=ann,
        module=CONTACTS,
        criteria=parse_criteria(
            {"field": {"api_name": "Owner"}, "comparator": "equal", "value": {"id": str(ben.id)}},
            organization=zylker,
            modules=[CONTACTS],
        ),
        new_owner=chen,
    )

    with sync_playwright() as playwright:
        browser = launch(playwright)
        page = log_in(browser, live_server.url, ann)
        page.goto(f"{live_server.url}/admin/owners/transferjob/{transfer.id}/change/")
        page.wait_for_function(
            "() => Number(document.querySelector('#transfer-progress progress')"
            ".getAttribute('value')) > 0",
            timeout=JOB_TIMEOUT_MS,
        )
        page.click("#cancel-job")
        expect(page.locator(".messagelist .success")).to_contain_text("stops after the chunks")
        expect(page.locator("#cancel-job")).to_be_hidden()
        lock.release()
        expect(page.locator("#batch-link")).to_be_visible(timeout=JOB_TIMEOUT_MS)
        expect(page.locator("#progress-status")).to_have_text("Cancelled")
        screenshot(page, "job-cancelled")
        browser.close()

    transfer.refresh_from_db()
    moved = Record.objects.filter(owner=chen).count()
    assert transfer.cancelled and transfer.status == TransferJob.Status.COMPLETED
    assert 0 < moved < total
    assert transfer.updated_count == moved


def test_select_all_changes_the_owner_of_150000_records_as_a_job(
    live_server, worker, zylker, ann, ben, chen
):
    total = bulk_records(zylker, ben, 150_000)
    worker()  # the default chunk: 5,000 records

    with sync_playwright() as playwright:
        browser = launch(playwright)
        page = log_in(browser, live_server.url, ann)
        page.goto(
            f"{live_server.url}/admin/crm/record/?owner__id__exact={ben.id}"
            f"&module__id__exact={CONTACTS.id}"
        )
        page.check("#action-toggle")
        page.click("div.actions span.question a")  # "Select all 150000 records"
        page.select_option("select[name=action]", label="Change owner")
        page.click("button[name=index]")

        expect(page.locator("#record-count")).to_have_text("150,000")
        expect(page.locator("#selected-modules tbody td")).to_have_text(["Contacts", "150,000"])
        page.select_option("#id_new_owner", label=str(chen))
        screenshot(page, "select-all-150000-confirm")
        page.click("#change-owner-form input[type=submit]")

        expect(page.locator("h1")).to_contain_text("Mass Change job")
        expect(page.locator(".messagelist .success")).to_contain_text(
            "gives the 150,000 records selected to Chen Wei"
        )
        expect(page.locator("#batch-link")).to_be_visible(timeout=JOB_TIMEOUT_MS)
        expect(page.locator("#count-updated_count")).to_have_text("150,000")
        screenshot(page, "select-all-150000-finished")
        browser.close()

    assert Record.objects.filter(owner=chen).count() == total
    assert not Record.objects.filter(owner=ben).exists()


def test_an_operator_reverts_a_batch_after_seeing_what_will_and_will_not_go_back(
    live_server, worker, zylker, ann, ben, chen
):
    worker()
    bulk_records(zylker, ben, 30)
    contacts = list(Record.objects.filter(owner=ben).order_by("id"))
    result = change_owner(
        organization=zylker,
        actor=ann,
        module=CONTACTS,
        record_ids=[c.id for c in contacts],
        new_owner=chen,
        source=AuditEntry.Source.ADMIN,
    )
    # Someone takes one of them since: the revert must leave it alone.
    change_owner(
        organization=zylker,
        actor=ann,
        module=CONTACTS,
        record_ids=[contacts[0].id],
        new_owner=ann,
        source=AuditEntry.Source.API,
    )

    with sync_playwright() as playwright:
        browser = launch(playwright)
        page = log_in(browser, live_server.url, ann)
        page.goto(f"{live_server.url}/admin/owners/batches/{result.batch_id}/")
        page.click("#revert-link")
        expect(page.locator("#revert-count")).to_have_text("29")
        expect(page.locator("#kept-count")).to_have_text("1")
        expect(page.locator("#will-not-revert tbody tr")).to_contain_text("its owner changed since")
        screenshot(page, "revert-confirmation")
        page.click("#confirm-revert")

        expect(page.locator("h1")).to_contain_text("Revert job")
        expect(page.locator("#batch-link")).to_be_visible(timeout=JOB_TIMEOUT_MS)
        expect(page.locator("#count-updated_count")).to_have_text("29")
        expect(page.locator("#count-skipped_count")).to_have_text("1")
        screenshot(page, "revert-finished")

        page.goto(f"{live_server.url}/admin/owners/batches/{result.batch_id}/")
        expect(page.locator(".reverted-by")).to_contain_text("Reverted by")
        screenshot(page, "batch-reverted")
        browser.close()

    owners = dict(Record.objects.filter(id__in=[c.id for c in contacts]).values_list("id", "owner"))
    assert owners.pop(contacts[0].id) == ann.id
    assert set(owners.values()) == {ben.id}


def test_an_operator_retries_a_failed_transfer_job(
    live_server, worker, settings, zylker, ann, ben, chen
):
    total = bulk_records(zylker, ben, 2_000)
    worker(TRANSFER_JOB_CHUNK="500")
    # The new owner is disabled when the chunks run: every chunk fails, the job fails.
    User.objects.filter(id=chen.id).update(status=User.Status.DISABLED)
    transfer = engine.schedule_mass_change(
        organization=zylker,
        actor=ann,
        module=CONTACTS,
        criteria=parse_criteria(
            {"field": {"api_name": "Owner"}, "comparator": "equal", "value": {"id": str(ben.id)}},
            organization=zylker,
            modules=[CONTACTS],
        ),
        new_owner=chen,
    )
    # The step after a failed last chunk is left for the sweep (Celery beat's, every 30 s):
    # this test sweeps as it waits, with no grace period.
    settings.OUTBOX_SWEEP_GRACE_SECONDS = 0

    def job_failed() -> bool:
        sweep()
        return TransferJob.objects.get(id=transfer.id).status == TransferJob.Status.FAILED

    wait_until(job_failed, what="the job to fail", timeout=120)
    User.objects.filter(id=chen.id).update(status=User.Status.ACTIVE)  # the cause, fixed

    with sync_playwright() as playwright:
        browser = launch(playwright)
        page = log_in(browser, live_server.url, ann)
        page.goto(f"{live_server.url}/admin/owners/transferjob/?status__exact=failed")
        expect(result_rows(page)).to_have_count(1)
        expect(result_rows(page)).to_contain_text("NewOwnerNotActive")
        screenshot(page, "transfer-jobs-failed")
        result_rows(page).locator("input.action-select").check()
        page.select_option("select[name=action]", label="Retry the selected failed jobs")
        page.click("button[name=index]")
        expect(page.locator(".messagelist .success")).to_have_text(
            "1 failed job sent to the workers again."
        )
        page.goto(f"{live_server.url}/admin/owners/transferjob/{transfer.id}/change/")
        expect(page.locator("#batch-link")).to_be_visible(timeout=JOB_TIMEOUT_MS)
        expect(page.locator("#progress-status")).to_have_text("Completed")
        expect(page.locator("#count-failed_count")).to_have_text("0")
        screenshot(page, "transfer-job-retried")
        browser.close()

    assert Record.objects.filter(owner=chen).count() == total
