"""Shared by the browser tests: Debian's Chromium through Playwright, a login, screenshots.

Screenshots go to test-artifacts/ (gitignored) at the width the issue asked about, 1400 px.
"""

from __future__ import annotations

from pathlib import Path

from django.conf import settings
from playwright.sync_api import Browser, Page, Playwright, expect

from tests.conftest import ADMIN_PASSWORD, CHROMIUM

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ARTIFACTS = Path(settings.BASE_DIR) / "test-artifacts"
VIEWPORT = {"width": 1400, "height": 900}


def launch(playwright: Playwright) -> Browser:
    return playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)


def log_in(browser: Browser, live_server_url: str, user) -> Page:
    """A page of a new browser context, logged in to the admin as `user` (ADMIN_PASSWORD)."""
    page = browser.new_context(viewport=VIEWPORT).new_page()
    page.goto(f"{live_server_url}/admin/login/")
    page.fill("#id_username", user.email)
    page.fill("#id_password", ADMIN_PASSWORD)
    page.click("input[type=submit]")
    expect(page.locator("#content")).to_be_visible()
    return page


def screenshot(page: Page, name: str, *, full_page: bool = True) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=full_page)
    print(f"screenshot: {path}")
    return path


def result_rows(page: Page):
    return page.locator("#result_list tbody tr")
