"""Swagger UI in a real headless Chromium: locked out first, then *Authorize* and in.

The demo serves Swagger UI's assets itself, so the page works with no network beyond
loopback. Uses the system Chromium (Debian's package), never a downloaded browser.
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from fastapi import FastAPI
from playwright.sync_api import Browser, Locator, Page

from tests.servers import serve

from .accounts import PASSWORD

pytestmark = pytest.mark.browser

ME = "#operations-auth-me_auth_me_get"


@pytest.fixture
def base_url(app: FastAPI) -> Iterator[str]:
    with serve(app) as url:
        yield url


def _execute(operation: Locator) -> tuple[str, str]:
    """Press Execute; return the status and body text Swagger UI shows for the answer."""
    live = operation.locator(".live-responses-table tbody tr.response")
    operation.get_by_role("button", name="Execute").click()
    live.wait_for()
    status = live.locator(".response-col_status").inner_text().strip()
    body = live.locator(".response-col_description .microlight").first.inner_text()
    return status, body


def test_swagger_ui_authorize_flow(browser: Browser, base_url: str) -> None:
    registered = httpx.post(
        f"{base_url}/auth/register", json={"email": "web@example.com", "password": PASSWORD}
    )
    assert registered.status_code == 201
    page: Page = browser.new_page()
    outside: list[str] = []
    page.on(
        "request",
        lambda request: None if request.url.startswith(base_url) else outside.append(request.url),
    )

    page.goto(f"{base_url}/docs")
    operation = page.locator(ME)
    operation.wait_for(timeout=20_000)
    operation.locator(".opblock-summary").click()
    operation.get_by_role("button", name="Try it out").click()

    status, body = _execute(operation)
    assert status == "401"
    assert "Authentication required." in body

    page.locator(".auth-wrapper .authorize").click()
    page.locator("#oauth_username").fill("web@example.com")
    page.locator("#oauth_password").fill(PASSWORD)
    page.get_by_role("button", name="Apply given OAuth2 credentials").click()
    page.locator(".modal-ux").get_by_text("Authorized", exact=True).wait_for()
    page.locator(".modal-ux .close-modal").click()

    operation.get_by_role("button", name="Clear").click()
    operation.locator(".live-responses-table").wait_for(state="detached")
    status, body = _execute(operation)
    assert status == "200"
    assert '"email": "web@example.com"' in body
    assert outside == []
