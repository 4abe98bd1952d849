"""The token's cookie in a real headless Chromium (the system's, never a downloaded one).

The app's own page logs in (the login sets a ``__Host-`` cookie, ``HttpOnly``, ``Secure``,
``SameSite=Lax``: Chromium accepts ``Secure`` cookies from ``http://localhost``, a secure
context), reads its notes with the cookie and adds one. A page of another origin then tries
to add a note with the cookie, by a form and by ``fetch`` with credentials, and to read the
answer. Two other origins are tried:

* ``same-site``: ``http://localhost`` on another port. Another origin, but the same *site*,
  so Chromium sends even a ``SameSite=Lax`` (or ``Strict``) cookie with its requests: the
  request reaches the middleware with the cookie, and only the middleware's CSRF check
  (``Sec-Fetch-Site: same-site`` is not ``same-origin``) refuses it with 403. These cases
  prove the check itself: a sibling subdomain, in production.
* ``cross-site``: ``http://127.0.0.1``, another site. Chromium withholds the ``Lax`` cookie
  from its POSTs and sockets, so those arrive without a credential (401): the browser's own
  defence, shown for contrast, which the middleware does not rely on.

In both, a script of the other origin cannot read any answer (no CORS consent): its
``fetch`` fails, even for a ``GET`` the server answered with 200.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from playwright.sync_api import Browser, Page

from jwt_middleware import JWTSettings
from tests.browser import chromium
from tests.helpers import SECRET, TOKEN_COOKIE
from tests.servers import free_port, serve

from .cookie_sites import Record, app_site, other_site

pytestmark = pytest.mark.browser

FETCH = """async ([url, init]) => {
    try {
        const answer = await fetch(url, init);
        return {read: true, status: answer.status, body: await answer.text()};
    } catch (error) {
        return {read: false, error: error.name};
    }
}"""
SOCKET = """(url) => new Promise((resolve) => {
    const socket = new WebSocket(url);
    socket.onmessage = (event) => resolve({opened: true, message: JSON.parse(event.data)});
    socket.onerror = () => resolve({opened: false});
})"""


@dataclass
class Sites:
    app: str
    record: Record
    others: dict[str, str]


@pytest.fixture(scope="module")
def sites() -> Iterator[Sites]:
    record = Record()
    app_port = free_port()
    app = f"http://localhost:{app_port}"
    # The app's own origin, for its WebSocket: Chromium sends no Sec-Fetch-Site with a
    # handshake, only Origin.
    settings = JWTSettings(secret=SECRET, cookie_name=TOKEN_COOKIE, csrf_trusted_origins=[app])
    with (
        serve(app_site(settings, record), port=app_port),
        serve(other_site()) as other,
    ):
        yield Sites(
            app=app,
            record=record,
            others={"same-site": other.replace("127.0.0.1", "localhost"), "cross-site": other},
        )


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as browser:
        yield browser


@pytest.fixture(scope="module")
def logged_in(browser: Browser, sites: Sites) -> Iterator[Page]:
    """A page of the app, logged in: the browser holds the token's cookie."""
    context = browser.new_context()
    page = context.new_page()
    page.goto(sites.app + "/")
    assert page.evaluate(FETCH, ["/login", {"method": "POST"}])["status"] == 200
    cookie = next(c for c in context.cookies() if c["name"] == TOKEN_COOKIE)
    assert (cookie["httpOnly"], cookie["secure"], cookie["sameSite"]) == (True, True, "Lax")
    yield page
    context.close()


def _other_page(logged_in: Page, sites: Sites, site: str) -> Page:
    """A page of the other origin ``site``, in the browser that holds the app's cookie."""
    page = logged_in.context.new_page()
    page.goto(f"{sites.others[site]}/?target={sites.app}")
    return page


def _assert_post_refused(sites: Sites, site: str, notes_before: list[str]) -> None:
    """The last POST to the app came from ``site`` and was refused; no note was added."""
    visit = sites.record.to("POST", "/notes")[-1]
    assert (visit.had_cookie, visit.status) == REFUSED[site]
    assert visit.fetch_site == site
    assert sites.record.notes == notes_before


def _post_note(note: str) -> dict[str, Any]:
    return {"method": "POST", "body": note, "credentials": "include"}


def test_the_apps_own_page_reads_and_writes_with_the_cookie(logged_in: Page, sites: Sites) -> None:
    """Same origin: Chromium sends ``Sec-Fetch-Site: same-origin``, and the cookie is the
    credential for reads, writes and the WebSocket."""
    read = logged_in.evaluate(FETCH, ["/notes", {}])
    assert (read["status"], read["body"]) == (200, '{"user":"alice","notes":[]}')
    written = logged_in.evaluate(FETCH, ["/notes", _post_note("mine")])
    assert written["status"] == 200
    assert sites.record.notes == ["mine"]
    post = sites.record.to("POST", "/notes")[-1]
    assert (post.had_cookie, post.fetch_site, post.status) == (True, "same-origin", 200)
    socket = logged_in.evaluate(SOCKET, sites.app.replace("http", "ws") + "/ws")
    assert socket == {"opened": True, "message": {"user": "alice"}}
    handshake = sites.record.to("WEBSOCKET", "/ws")[-1]
    assert (handshake.had_cookie, handshake.fetch_site, handshake.status) == (True, None, 101)


#: What the app answers the other origin's POST and socket, and whether the cookie came.
REFUSED = {"same-site": (True, 403), "cross-site": (False, 401)}


@pytest.mark.parametrize("site", ["same-site", "cross-site"])
def test_another_origin_cannot_post_with_fetch(logged_in: Page, sites: Sites, site: str) -> None:
    """``fetch`` with credentials, a simple request (no preflight): it reaches the app, is
    refused, adds no note, and the script cannot even read the refusal."""
    page = _other_page(logged_in, sites, site)
    before = list(sites.record.notes)
    answer = page.evaluate(FETCH, [sites.app + "/notes", _post_note("forged by fetch")])
    page.close()
    assert answer == {"read": False, "error": "TypeError"}
    _assert_post_refused(sites, site, before)


@pytest.mark.parametrize("site", ["same-site", "cross-site"])
def test_another_origin_cannot_post_with_a_form(logged_in: Page, sites: Sites, site: str) -> None:
    """A form POST is a top-level navigation: the browser shows the app's answer, but the
    other page never reads it, and the app refused it before its handler ran."""
    page = _other_page(logged_in, sites, site)
    before = list(sites.record.notes)
    with page.expect_navigation():
        page.evaluate("document.getElementById('forged').submit()")
    page.close()
    _assert_post_refused(sites, site, before)


@pytest.mark.parametrize("site", ["same-site", "cross-site"])
def test_another_origin_cannot_read_the_answer(logged_in: Page, sites: Sites, site: str) -> None:
    """A GET is never refused for CSRF (same-site: it arrives with the cookie and is
    answered 200), yet the other origin's script gets no answer: the app gives no CORS
    consent."""
    page = _other_page(logged_in, sites, site)
    answer = page.evaluate(FETCH, [sites.app + "/notes", {"credentials": "include"}])
    page.close()
    assert answer == {"read": False, "error": "TypeError"}
    visit = sites.record.to("GET", "/notes")[-1]
    assert visit.fetch_site == site
    assert visit.had_cookie is (site == "same-site")


@pytest.mark.parametrize("site", ["same-site", "cross-site"])
def test_another_origin_cannot_open_the_websocket(logged_in: Page, sites: Sites, site: str) -> None:
    """Cross-site WebSocket hijacking: a socket opened from the other origin carries the
    cookie when same-site, and is refused before it is accepted."""
    page = _other_page(logged_in, sites, site)
    socket = page.evaluate(SOCKET, sites.app.replace("http", "ws") + "/ws")
    page.close()
    assert socket == {"opened": False}
    visit = sites.record.to("WEBSOCKET", "/ws")[-1]
    assert (visit.had_cookie, visit.status) == REFUSED[site]
