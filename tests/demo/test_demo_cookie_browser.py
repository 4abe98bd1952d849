"""The demo's browser sign-in in a real headless Chromium: the login form sets the token's
``__Host-`` cookie (``HttpOnly``) and the double-submit cookie, the page reads and adds
to-dos with them, and signs out; a page of another origin on the same site, whose requests
carry the cookie, cannot add one.

The demo is served on ``http://localhost``, which Chromium treats as a secure context, so
it keeps the ``Secure`` cookies a plain-http server sets.
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from fastapi import FastAPI
from playwright.sync_api import Browser, Page
from starlette.applications import Starlette
from starlette.responses import HTMLResponse
from starlette.routing import Route

from demo_app.routes_browser import CSRF_COOKIE, TOKEN_COOKIE
from tests.edge.cookie_sites import Record, recorded
from tests.servers import serve

from .accounts import PASSWORD

pytestmark = pytest.mark.browser

EMAIL = "cookie@example.com"


@pytest.fixture
def record() -> Record:
    return Record()


@pytest.fixture
def demo_url(app: FastAPI, record: Record) -> Iterator[str]:
    with serve(recorded(app, record, cookie_name=TOKEN_COOKIE)) as url:
        demo = url.replace("127.0.0.1", "localhost")
        registered = httpx.post(f"{url}/auth/register", json={"email": EMAIL, "password": PASSWORD})
        assert registered.status_code == 201
        yield demo


@pytest.fixture
def other_url() -> Iterator[str]:
    """Another origin of the same site: a blank page on localhost, another port."""
    blank = Starlette(routes=[Route("/", lambda request: HTMLResponse("<title>other</title>"))])
    with serve(blank) as url:
        yield url.replace("127.0.0.1", "localhost")


def _sign_in(page: Page, demo_url: str) -> None:
    page.goto(f"{demo_url}/app")
    page.locator("#signin input[name=email]").fill(EMAIL)
    page.locator("#signin input[name=password]").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.locator("#who").get_by_text(EMAIL).wait_for()


def _add(page: Page, title: str) -> None:
    page.locator("#add input[name=title]").fill(title)
    with page.expect_response(lambda response: response.url.endswith("/todos")) as posted:
        page.get_by_role("button", name="Add").click()
    assert posted.value.status == 201
    page.locator("#list li").get_by_text(title).wait_for()


def test_sign_in_read_and_add_with_the_cookie(browser: Browser, demo_url: str) -> None:
    context = browser.new_context()
    page = context.new_page()
    _sign_in(page, demo_url)
    cookies = {cookie["name"]: cookie for cookie in context.cookies()}
    token, csrf = cookies[TOKEN_COOKIE], cookies[CSRF_COOKIE]
    assert (token["httpOnly"], token["secure"], token["sameSite"], token["path"]) == (
        True,
        True,
        "Lax",
        "/",
    )
    assert (csrf["httpOnly"], csrf["secure"], csrf["sameSite"]) == (False, True, "Strict")
    assert page.evaluate("document.cookie").count(TOKEN_COOKIE) == 0  # no script reads it

    _add(page, "buy milk")
    page.reload()
    page.locator("#list li").get_by_text("buy milk").wait_for()

    page.get_by_role("button", name="Sign out").click()
    page.locator("#signin").wait_for()
    assert {cookie["name"] for cookie in context.cookies()} == set()
    context.close()


def test_another_origin_cannot_add_with_the_cookie(
    browser: Browser, demo_url: str, other_url: str, record: Record
) -> None:
    """The other page's ``fetch`` reaches the demo with the cookie (same site) but without
    the double-submit header (it cannot read the CSRF cookie): the middleware answers 403
    and nothing is added; its script cannot read the answer either."""
    context = browser.new_context()
    page = context.new_page()
    _sign_in(page, demo_url)
    other = context.new_page()
    other.goto(other_url)
    read = other.evaluate(
        """async (url) => {
            try {
                await fetch(url, {method: "POST", credentials: "include",
                                  headers: {"Content-Type": "text/plain"},
                                  body: '{"title": "forged"}'});
                return "read";
            } catch (error) { return error.name; }
        }""",
        f"{demo_url}/todos",
    )
    assert read == "TypeError"
    forged = record.to("POST", "/todos")[-1]
    assert (forged.had_cookie, forged.fetch_site, forged.status) == (True, "same-site", 403)
    page.reload()
    page.locator("#who").get_by_text(EMAIL).wait_for()
    assert page.locator("#list li").count() == 0
    context.close()
