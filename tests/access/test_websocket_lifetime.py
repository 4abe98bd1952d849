"""A WebSocket outlives its handshake, not its token: closed with 1008 when the token expires,
and soon after it is revoked (logout), on a real uvicorn server."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from jwt_middleware import JWTAuthMiddleware, JWTSettings
from tests.helpers import SECRET, bearer, mint_token
from tests.servers import serve

#: What the app saw of each socket's end: the close code its receive() got.
endings: list[int] = []


async def chat(websocket: WebSocket) -> None:
    await websocket.accept()
    await websocket.send_text("hello")
    try:
        while True:
            await websocket.send_text(await websocket.receive_text())
    except WebSocketDisconnect as exc:
        endings.append(exc.code)


async def short(websocket: WebSocket) -> None:
    await websocket.accept()
    await websocket.send_text("bye")
    await websocket.close()


revoked: set[str] = set()
store_down: list[bool] = []  # non-empty while the revocation store "is down"


async def is_revoked(claims: Any) -> bool:
    if store_down:
        raise ConnectionError("store down")
    return claims.get("jti") in revoked


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    app = Starlette(routes=[WebSocketRoute("/chat", chat), WebSocketRoute("/short", short)])
    settings = JWTSettings(secret=SECRET, leeway_seconds=0, websocket_recheck_seconds=0.3)
    app.add_middleware(JWTAuthMiddleware, settings=settings, is_revoked=is_revoked)
    with serve(app) as base_url:
        yield base_url.replace("http://", "ws://")


def _closed_after(url: str, token: str, action: Any = None) -> tuple[int, float]:
    """Connect, read the greeting, do ``action``, wait for the server to close; (code, s)."""
    with connect(url, additional_headers=bearer(token), open_timeout=5) as socket:
        assert socket.recv(timeout=5) == "hello"
        started = time.monotonic()
        if action is not None:
            action()
        while True:
            try:
                socket.recv(timeout=10)
            except ConnectionClosed as closed:
                code = closed.rcvd.code if closed.rcvd is not None else -1
                return code, time.monotonic() - started


def test_closed_when_the_token_expires(server: str) -> None:
    endings.clear()
    token = mint_token(lifetime=2, jti="expiring")
    code, waited = _closed_after(f"{server}/chat", token)
    assert code == 1008
    assert 0.5 < waited < 3.5
    time.sleep(0.2)
    assert endings == [1008]  # the app saw the close as a disconnect


def test_closed_soon_after_the_token_is_revoked(server: str) -> None:
    token = mint_token(lifetime=600, jti="logged-out")
    code, waited = _closed_after(f"{server}/chat", token, lambda: revoked.add("logged-out"))
    assert code == 1008
    assert waited < 1.5  # the recheck interval is 0.3 s here


def test_closed_when_the_revocation_check_fails(server: str) -> None:
    token = mint_token(lifetime=600, jti="unknowable")
    try:
        code, waited = _closed_after(f"{server}/chat", token, lambda: store_down.append(True))
    finally:
        store_down.clear()
    assert code == 1008
    assert waited < 1.5


def test_a_live_token_keeps_its_socket(server: str) -> None:
    with connect(f"{server}/chat", additional_headers=bearer(mint_token(jti="fine"))) as socket:
        assert socket.recv(timeout=5) == "hello"
        time.sleep(1)  # several rechecks
        socket.send("still here")
        assert socket.recv(timeout=5) == "still here"


def test_an_app_that_closes_itself_is_left_alone(server: str) -> None:
    with connect(f"{server}/short", additional_headers=bearer(mint_token(jti="short"))) as socket:
        assert socket.recv(timeout=5) == "bye"
        with pytest.raises(ConnectionClosed) as closed:
            socket.recv(timeout=5)
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == 1000


async def whoami(request: Request) -> JSONResponse:
    return JSONResponse({"user_id": request.state.user_id})


#: The maximum token age and the leeway of the ``aged_server``.
MAX_AGE_SECONDS = 10
LEEWAY_SECONDS = 1


@pytest.fixture(scope="module")
def aged_server() -> Iterator[str]:
    app = Starlette(routes=[WebSocketRoute("/chat", chat), Route("/whoami", whoami)])
    settings = JWTSettings(
        secret=SECRET, leeway_seconds=LEEWAY_SECONDS, max_token_age_seconds=MAX_AGE_SECONDS
    )
    app.add_middleware(JWTAuthMiddleware, settings=settings)
    with serve(app) as base_url:
        yield base_url


@pytest.mark.parametrize(
    ("issued_ago", "lifetime", "closes_in"),
    [
        # iat + max age + leeway = now + 2, long before exp
        pytest.param(MAX_AGE_SECONDS - 1, 600, 2, id="max-age-first"),
        # iat + max age + leeway = now + 1: the leeway counts, as over HTTP
        pytest.param(MAX_AGE_SECONDS, 600, 1, id="max-age-with-its-leeway"),
        # exp + leeway = now + 2, before iat + max age
        pytest.param(0, 1, 2, id="exp-first"),
    ],
)
def test_closed_when_http_starts_refusing_the_token(
    aged_server: str, issued_ago: int, lifetime: int, closes_in: int
) -> None:
    """``JWT_MAX_TOKEN_AGE_SECONDS`` ends a socket as it ends HTTP requests: at the earlier
    of ``exp`` and ``iat`` plus the maximum age, each plus the leeway."""
    issued = int(time.time()) - issued_ago
    token = mint_token(iat=issued, exp=issued + issued_ago + lifetime)
    deadline = issued + MAX_AGE_SECONDS + LEEWAY_SECONDS
    deadline = min(deadline, issued + issued_ago + lifetime + LEEWAY_SECONDS)
    http = httpx.Client(base_url=aged_server, headers=bearer(token))
    try:
        assert http.get("/whoami").status_code == 200
        code, _ = _closed_after(aged_server.replace("http://", "ws://") + "/chat", token)
        closed_at = time.time()
        assert http.get("/whoami").status_code == 401
    finally:
        http.close()
    assert code == 1008
    assert deadline - 0.05 <= closed_at < deadline + 1.0
    assert closed_at - (issued + issued_ago) < closes_in + 1.5
