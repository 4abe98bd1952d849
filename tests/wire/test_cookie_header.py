"""The ``Cookie`` header as real servers deliver it to the cookie authenticator: one field
or several (a client may split cookies over fields; the middleware joins them), the token's
cookie twice refused, the ``Authorization`` header preferred, and the CSRF check on the
methods and headers as sent on the wire.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import NamedTuple

import pytest

from tests.helpers import (
    APP_ORIGIN,
    CSRF_COOKIE,
    CSRF_HEADER,
    OTHER_SECRET,
    TOKEN_COOKIE,
    build_app,
    cookie_settings,
    mint_token,
)
from tests.wire.exchange import exchange
from tests.wire.peers import serve_on

ALICE = mint_token("alice")
CSRF = "Vb2cT4x0Zr9Qm1kP7sN3wD6yH8jL5fA2"


@pytest.fixture(scope="module")
def cookie_server(server: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """:func:`tests.wire.apps.cookie_app` on the server under test."""
    workdir = tmp_path_factory.mktemp("cookies")
    app = build_app(cookie_settings())
    with serve_on(server, app, factory="tests.wire.apps:cookie_app", workdir=workdir) as base:
        yield base


class WireCase(NamedTuple):
    """A request line and its headers as sent, and the answer: status, and the user the
    handler sees when it gets through."""

    request_line: str
    headers: list[tuple[str, str]]
    status: int
    user_id: str | None = None


CASES = [
    pytest.param(
        WireCase(
            "GET /private HTTP/1.1", [("Cookie", f"a=1; {TOKEN_COOKIE}={ALICE}")], 200, "alice"
        ),
        id="one-field",
    ),
    pytest.param(
        WireCase(
            "GET /private HTTP/1.1",
            [("Cookie", "a=1"), ("Cookie", f"{TOKEN_COOKIE}={ALICE}")],
            200,
            "alice",
        ),
        id="two-fields",
    ),
    pytest.param(
        WireCase(
            "GET /private HTTP/1.1",
            [("Cookie", f"{TOKEN_COOKIE}={ALICE}"), ("Cookie", f"{TOKEN_COOKIE}={ALICE}")],
            400,
        ),
        id="twice-over-two-fields",
    ),
    pytest.param(
        WireCase(
            "GET /private HTTP/1.1", [("Cookie", f"{TOKEN_COOKIE}={ALICE}; {TOKEN_COOKIE}=x")], 400
        ),
        id="twice-in-one-field",
    ),
    pytest.param(
        WireCase(
            "GET /private HTTP/1.1",
            [
                ("Cookie", f"{TOKEN_COOKIE}={mint_token('alice', secret=OTHER_SECRET)}"),
                ("Authorization", f"Bearer {mint_token('bob')}"),
            ],
            200,
            "bob",
        ),
        id="header-preferred",
    ),
    pytest.param(
        WireCase("POST /private HTTP/1.1", [("Cookie", f"{TOKEN_COOKIE}={ALICE}")], 403),
        id="post-without-evidence",
    ),
    pytest.param(
        WireCase(
            "POST /private HTTP/1.1",
            [("Cookie", f"{TOKEN_COOKIE}={ALICE}"), ("Origin", "https://evil.example")],
            403,
        ),
        id="post-from-another-origin",
    ),
    pytest.param(
        WireCase(
            "POST /private HTTP/1.1",
            [("Cookie", f"{TOKEN_COOKIE}={ALICE}"), ("Origin", APP_ORIGIN)],
            200,
            "alice",
        ),
        id="post-trusted-origin",
    ),
    pytest.param(
        WireCase(
            "POST /private HTTP/1.1",
            [("Cookie", f"{TOKEN_COOKIE}={ALICE}"), ("sec-fetch-site", "same-origin")],
            200,
            "alice",
        ),
        id="post-same-origin",
    ),
    pytest.param(
        WireCase(
            "POST /private HTTP/1.1",
            [("Cookie", f"{TOKEN_COOKIE}={ALICE}; {CSRF_COOKIE}={CSRF}"), (CSRF_HEADER, CSRF)],
            200,
            "alice",
        ),
        id="post-double-submit",
    ),
    pytest.param(
        WireCase(
            "POST /private HTTP/1.1",
            [
                ("Cookie", f"{TOKEN_COOKIE}={ALICE}; {CSRF_COOKIE}={CSRF}"),
                (CSRF_HEADER.upper(), CSRF[:-1] + "x"),
            ],
            403,
        ),
        id="post-double-submit-mismatch",
    ),
]


@pytest.mark.parametrize("case", CASES)
def test_cookie_on_the_wire(cookie_server: str, case: WireCase) -> None:
    headers = (
        [*case.headers, ("Content-Length", "0")]
        if case.request_line.startswith("POST")
        else case.headers
    )
    reply = exchange(cookie_server, case.request_line, headers)

    assert reply.status == case.status
    if case.status == 200:
        assert reply.json()["user_id"] == case.user_id
    elif case.status == 403:
        assert reply.json() == {"detail": "Cross-site request refused."}
        assert reply.header("WWW-Authenticate") is None
    else:
        assert reply.json() == {"detail": "More than one cookie of the same name."}
    assert ALICE.encode() not in reply.body
