"""The middleware with ``cookie_name=`` (``JWT_COOKIE_NAME``): the header is the credential
when it comes and the cookie otherwise; the cookie's token passes the same checks as a
header's; unsafe requests and WebSocket handshakes by cookie need evidence of origin
(403 without a challenge); public and optional paths; the RFC 9728 document; and the
options that cannot work together.
"""

from __future__ import annotations

import logging
from typing import Any

import pytest
from starlette.testclient import TestClient, WebSocketDenialResponse

from jwt_middleware import JWTAuthMiddleware, JWTSettings, TokenVerifier
from jwt_middleware.verification.bearer import BearerAuthenticator
from jwt_middleware.verification.cookie import CookieAuthenticator
from tests.asgi import call, http_scope
from tests.helpers import (
    APP_ORIGIN,
    CSRF_COOKIE,
    CSRF_HEADER,
    OTHER_SECRET,
    SECRET,
    TOKEN_COOKIE,
    bearer,
    build_app,
    cookie_settings,
    mint_token,
)

ALICE = mint_token("alice")
CSRF = "Vb2cT4x0Zr9Qm1kP7sN3wD6yH8jL5fA2"
SAME_ORIGIN = {"Sec-Fetch-Site": "same-origin"}


def _client(**options: Any) -> TestClient:
    return TestClient(build_app(cookie_settings(), **options), base_url="https://api.example.com")


def _cookie(token: str = ALICE, *, extra: str = "") -> dict[str, str]:
    return {"Cookie": f"theme=dark; {TOKEN_COOKIE}={token}{extra}"}


@pytest.mark.parametrize(
    ("method", "headers", "status", "user"),
    [
        pytest.param("GET", _cookie(), 200, "alice", id="cookie"),
        pytest.param(
            "GET", {**_cookie(), **bearer(mint_token("bob"))}, 200, "bob", id="header-wins"
        ),
        pytest.param(
            "GET",
            {**_cookie(), **bearer(mint_token("bob", secret=OTHER_SECRET))},
            401,
            None,
            id="bad-header-not-rescued-by-cookie",
        ),
        pytest.param(
            "GET",
            {**_cookie(), "Authorization": "Basic YWxpY2U6cGFzcw=="},
            200,
            "alice",
            id="other-scheme-then-cookie",
        ),
        pytest.param(
            "GET", _cookie(mint_token("alice", secret=OTHER_SECRET)), 401, None, id="bad-cookie"
        ),
        pytest.param(
            "GET", _cookie(mint_token("alice", lifetime=-120)), 401, None, id="expired-cookie"
        ),
        pytest.param("GET", _cookie("not a token"), 400, None, id="spaces-in-cookie"),
        pytest.param("GET", _cookie("a.b.c@"), 400, None, id="not-b64token"),
        pytest.param("GET", _cookie(extra=f"; {TOKEN_COOKIE}=x"), 400, None, id="cookie-twice"),
        pytest.param("GET", {"Cookie": "theme=dark"}, 401, None, id="no-token-cookie"),
        pytest.param("HEAD", _cookie(), 200, None, id="head-is-safe"),
        pytest.param("OPTIONS", _cookie(), 200, "alice", id="options-is-safe"),
        pytest.param("POST", _cookie(), 403, None, id="post-without-evidence"),
        pytest.param("POST", {**_cookie(), **SAME_ORIGIN}, 200, "alice", id="post-same-origin"),
        pytest.param(
            "POST", {**_cookie(), "Origin": APP_ORIGIN}, 200, "alice", id="post-trusted-origin"
        ),
        pytest.param(
            "POST",
            {"Cookie": f"{TOKEN_COOKIE}={ALICE}; {CSRF_COOKIE}={CSRF}", CSRF_HEADER: CSRF},
            200,
            "alice",
            id="post-double-submit",
        ),
        pytest.param(
            "POST",
            {**_cookie(), **bearer(mint_token("bob"))},
            200,
            "bob",
            id="post-by-header-no-csrf",
        ),
        pytest.param(
            "POST",
            {**_cookie(mint_token("alice", secret=OTHER_SECRET)), "Origin": "https://evil.example"},
            403,
            None,
            id="csrf-checked-before-the-token",
        ),
    ],
)
def test_cookie_requests(
    method: str, headers: dict[str, str], status: int, user: str | None
) -> None:
    answer = _client().request(method, "/private", headers=headers)
    assert answer.status_code == status
    if status == 200 and method != "HEAD":
        assert answer.json()["user_id"] == user
    if status == 403:
        assert answer.json() == {"detail": "Cross-site request refused."}
        assert "www-authenticate" not in answer.headers
    if status == 401:
        assert answer.headers["www-authenticate"].startswith('Bearer realm="api"')


@pytest.mark.parametrize("method", ["PUT", "PATCH", "DELETE", "POST"])
def test_every_unsafe_method_is_checked(method: str) -> None:
    """The guard runs whatever the method, before routing: the app never sees the request."""
    scope = http_scope(
        "/posts/1", method=method, headers=[(b"cookie", f"{TOKEN_COOKIE}={ALICE}".encode())]
    )
    assert call(build_app(cookie_settings()), scope).status == 403


@pytest.mark.parametrize(
    ("path", "method", "status", "user"),
    [
        pytest.param("/private", "POST", 200, None, id="public-goes-on-anonymous"),
        pytest.param("/posts", "POST", 403, None, id="optional-refused"),
        pytest.param("/posts", "GET", 200, "alice", id="optional-safe"),
    ],
)
def test_public_and_optional_paths(path: str, method: str, status: int, user: str | None) -> None:
    client = TestClient(
        build_app(cookie_settings(), public=["/private"], optional=["/posts"]),
        base_url="https://api.example.com",
    )
    answer = client.request(method, path, headers=_cookie())
    assert answer.status_code == status
    if status == 200:
        assert answer.json()["user_id"] == user


@pytest.mark.parametrize(
    ("headers", "accepted"),
    [
        pytest.param({"Origin": APP_ORIGIN}, True, id="trusted-origin"),
        pytest.param(
            {"Sec-Fetch-Site": "same-origin", "Origin": "https://api.example.com"},
            True,
            id="same-origin",
        ),
        pytest.param({"Origin": "https://evil.example"}, False, id="hijacking-refused"),
        pytest.param({}, False, id="no-origin"),
    ],
)
def test_websocket_handshake_by_cookie_checks_the_origin(
    headers: dict[str, str], accepted: bool
) -> None:
    client = _client()
    if accepted:
        with client.websocket_connect("/ws", headers={**_cookie(), **headers}) as socket:
            assert socket.receive_json() == {"user_id": "alice"}
    else:
        with (
            pytest.raises(WebSocketDenialResponse) as denied,
            client.websocket_connect("/ws", headers={**_cookie(), **headers}),
        ):
            pass
        assert denied.value.status_code == 403  # the denial-response extension's answer


def test_the_websocket_by_header_is_not_checked() -> None:
    headers = {**bearer(mint_token("bob")), "Origin": "https://evil.example"}
    with _client().websocket_connect("/ws", headers=headers) as socket:
        assert socket.receive_json() == {"user_id": "bob"}


def test_the_metadata_lists_no_cookie() -> None:
    """RFC 9728 ``bearer_methods_supported`` has no value for cookies."""
    settings = cookie_settings(resource="https://api.example.com")
    client = TestClient(build_app(settings), base_url="https://api.example.com")
    document = client.get("/.well-known/oauth-protected-resource").json()
    assert document["bearer_methods_supported"] == ["header"]


def test_the_constructor_option_and_the_setting_agree() -> None:
    settings = JWTSettings(secret=SECRET)
    client = TestClient(build_app(settings, cookie_name=TOKEN_COOKIE), base_url="https://x.example")
    assert client.get("/private", headers=_cookie()).json()["user_id"] == "alice"
    assert client.post("/private", headers=_cookie()).status_code == 403
    assert client.post("/private", headers={**_cookie(), **SAME_ORIGIN}).status_code == 200


@pytest.mark.parametrize(
    ("options", "message"),
    [
        pytest.param({"cookie_name": "a b"}, "JWT_COOKIE_NAME", id="bad-name"),
        pytest.param(
            {"cookie_name": "c", "authenticators": ["placeholder"]},
            "authenticators= or cookie_name=",
            id="with-authenticators",
        ),
    ],
)
def test_options_that_cannot_work(options: dict[str, Any], message: str) -> None:
    settings = JWTSettings(secret=SECRET)
    if options.get("authenticators") == ["placeholder"]:
        options["authenticators"] = [BearerAuthenticator(TokenVerifier(settings))]
    middleware = JWTAuthMiddleware(build_app(settings), settings=settings, **options)
    assert middleware.configuration_error is not None
    assert message in str(middleware.configuration_error)


@pytest.mark.parametrize(
    ("changes", "variable"),
    [
        pytest.param({"cookie_name": "a;b"}, "JWT_COOKIE_NAME", id="cookie-name"),
        pytest.param({"csrf_cookie_name": None}, "JWT_CSRF_HEADER", id="header-alone"),
        pytest.param({"csrf_header": "X CSRF"}, "JWT_CSRF_HEADER", id="header-name"),
        pytest.param({"csrf_cookie_name": TOKEN_COOKIE}, "JWT_CSRF_COOKIE_NAME", id="same-cookie"),
        pytest.param(
            {"csrf_trusted_origins": "https://a.example/app"}, "JWT_CSRF_TRUSTED_ORIGINS", id="path"
        ),
        pytest.param(
            {"csrf_trusted_origins": "app.example.com"}, "JWT_CSRF_TRUSTED_ORIGINS", id="no-scheme"
        ),
    ],
)
def test_settings_that_cannot_work(changes: dict[str, Any], variable: str) -> None:
    with pytest.raises(ValueError, match=variable) as refused:
        cookie_settings(**changes)
    assert "a;b" not in str(refused.value)  # never the value


def test_a_standalone_cookie_authenticator_needs_its_header_on_the_same_verifier() -> None:
    settings = JWTSettings(secret=SECRET)
    with pytest.raises(ValueError, match="share its verifier"):
        CookieAuthenticator(
            TokenVerifier(settings),
            cookie_name=TOKEN_COOKIE,
            header=BearerAuthenticator(TokenVerifier(settings)),
        )


def test_a_csrf_refusal_is_logged_by_its_reason_only(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="jwt_middleware.refusals")
    answer = _client().post("/private", headers={**_cookie(), "Origin": "https://evil.example"})
    assert answer.status_code == 403
    assert [record.getMessage() for record in caplog.records] == ["refused: reason=csrf"]


@pytest.mark.parametrize(
    ("query", "user"),
    [
        pytest.param(f"?access_token={mint_token('bob')}", "bob", id="query-decides"),
        pytest.param("", "alice", id="no-query-then-cookie"),
    ],
)
def test_a_token_in_the_query_is_asked_before_the_cookie(query: str, user: str) -> None:
    client = TestClient(
        build_app(cookie_settings(), token_query_param="access_token"),
        base_url="https://api.example.com",
    )
    assert client.get("/private" + query, headers=_cookie()).json()["user_id"] == user
