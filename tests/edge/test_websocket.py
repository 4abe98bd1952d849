"""WebSocket: accepted with a valid token, denied before accept without one."""

from __future__ import annotations

import asyncio

import pytest
from starlette.testclient import TestClient, WebSocketDenialResponse
from starlette.types import Message, Receive, Scope, Send
from starlette.websockets import WebSocketDisconnect

from jwt_middleware import JWTAuthMiddleware, JWTSettings
from tests.helpers import bearer, build_app, mint_token


def test_valid_token_is_accepted_and_sees_the_user(settings: JWTSettings) -> None:
    client = TestClient(build_app(settings))
    headers = bearer(mint_token("wsuser"))
    with client.websocket_connect("/ws", headers=headers) as ws:
        assert ws.receive_json() == {"user_id": "wsuser"}


def test_public_websocket_accepts_anonymous(settings: JWTSettings) -> None:
    client = TestClient(build_app(settings, public=["/health-ws"]))
    with client.websocket_connect("/health-ws") as ws:
        assert ws.receive_json() == {"user_id": None}


@pytest.mark.parametrize(
    ("headers", "status", "error"),
    [
        pytest.param({}, 401, None, id="missing"),
        pytest.param({"Authorization": "Bearer nope"}, 401, "invalid_token", id="invalid"),
        pytest.param({"Authorization": "Bearer"}, 400, "invalid_request", id="malformed"),
    ],
)
def test_denied_with_http_response_when_the_server_offers_it(
    settings: JWTSettings, headers: dict[str, str], status: int, error: str | None
) -> None:
    client = TestClient(build_app(settings))
    with (
        pytest.raises(WebSocketDenialResponse) as info,
        client.websocket_connect("/ws", headers=headers),
    ):
        pass  # pragma: no cover - the handshake is refused
    response = info.value
    assert response.status_code == status
    challenge = response.headers["www-authenticate"]
    assert challenge.startswith('Bearer realm="api"')
    assert (f'error="{error}"' in challenge) if error else ("error=" not in challenge)


def test_closed_with_1008_when_the_server_has_no_denial_extension(settings: JWTSettings) -> None:
    reached: list[bool] = []

    async def inner(scope: Scope, receive: Receive, send: Send) -> None:
        reached.append(True)

    middleware = JWTAuthMiddleware(inner, settings=settings)
    sent: list[Message] = []
    scope = {"type": "websocket", "path": "/ws", "headers": [], "query_string": b""}

    async def receive() -> Message:
        return {"type": "websocket.connect"}

    async def send(message: Message) -> None:
        sent.append(message)

    asyncio.run(middleware(scope, receive, send))
    assert sent == [{"type": "websocket.close", "code": 1008}]
    assert reached == []


def test_query_token_for_browser_websockets(settings: JWTSettings) -> None:
    client = TestClient(build_app(settings, token_query_param="access_token"))
    with client.websocket_connect(f"/ws?access_token={mint_token('browser')}") as ws:
        assert ws.receive_json() == {"user_id": "browser"}
    with (
        pytest.raises((WebSocketDenialResponse, WebSocketDisconnect)),
        client.websocket_connect("/ws?access_token=bad"),
    ):
        pass  # pragma: no cover
