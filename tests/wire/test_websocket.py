"""WebSocket handshakes through uvicorn's WebSocket protocols: accepted with a valid token or
on a public path, refused with a real HTTP answer otherwise.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from jwt_middleware import JWTSettings
from tests.helpers import bearer, build_app
from tests.public_paths import NOT_CANONICAL
from tests.servers import serve
from tests.wire.exchange import (
    AUTH,
    EXPIRED,
    EXPIRED_TOKEN,
    INVALID,
    NO_CREDENTIALS,
    TWO_HEADERS,
    VALID,
    expected_challenge,
)

WS_PROTOCOLS = [
    "websockets-sansio",
    # uvicorn's legacy protocol: deprecated, still selectable with --ws websockets.
    pytest.param(
        "websockets",
        marks=[
            pytest.mark.filterwarnings("ignore:websockets.legacy is deprecated"),
            pytest.mark.filterwarnings("ignore:remove second argument of ws_handler"),
            pytest.mark.filterwarnings("ignore:The `websockets` implementation is deprecated"),
        ],
    ),
]


@pytest.fixture(scope="module", params=WS_PROTOCOLS)
def ws_server(request: pytest.FixtureRequest, module_settings: JWTSettings) -> Iterator[str]:
    app = build_app(module_settings, public=["/health-ws"])
    with serve(app, ws=request.param) as base:
        yield base.replace("http://", "ws://")


WS_ACCEPTED = [
    pytest.param("/ws", AUTH, "user-1", id="valid"),
    pytest.param("/ws", [("Authorization", f"bearer {VALID}")], "user-1", id="lower-case-scheme"),
    pytest.param("/health-ws", [], None, id="public-without-token"),
    pytest.param("/health-ws", [("Authorization", "Bearer garbage")], None, id="public-bad-token"),
    pytest.param("/health-ws", AUTH, "user-1", id="public-valid"),
]


@pytest.mark.parametrize(("path", "headers", "user_id"), WS_ACCEPTED)
def test_websocket_accepted(
    ws_server: str, path: str, headers: list[tuple[str, str]], user_id: str | None
) -> None:
    with connect(ws_server + path, additional_headers=headers, open_timeout=5) as ws:
        message = json.loads(ws.recv(timeout=5))

    assert message == {"user_id": user_id}


REQUIRED = NO_CREDENTIALS["detail"]
ONE_MORE = [("Authorization", "Bearer x")]

WS_REFUSED = [
    pytest.param("/ws", [], 401, None, REQUIRED, id="missing"),
    pytest.param("/ws", [("Authorization", "Basic abc")], 401, None, REQUIRED, id="basic"),
    pytest.param("/ws", [("Authorization", "Bearer x")], 401, "invalid_token", INVALID, id="bad"),
    pytest.param(
        "/ws",
        [*bearer(EXPIRED_TOKEN).items()],
        401,
        "invalid_token",
        EXPIRED,
        id="expired",
    ),
    pytest.param("/ws", [*AUTH, *ONE_MORE], 400, "invalid_request", TWO_HEADERS, id="two-headers"),
    # The query parameter is off unless configured.
    pytest.param(f"/ws?access_token={VALID}", [], 401, None, REQUIRED, id="query-token-off"),
    pytest.param(
        "/ws/../health-ws", [], 400, "invalid_request", NOT_CANONICAL, id="dot-dot-to-public"
    ),
]


@pytest.mark.parametrize(("path", "headers", "status", "error", "description"), WS_REFUSED)
def test_websocket_refused_with_http_answer(
    ws_server: str,
    path: str,
    headers: list[tuple[str, str]],
    status: int,
    error: str | None,
    description: str,
) -> None:
    """uvicorn offers websocket.http.response, so the refusal is a real HTTP 401/400."""
    with pytest.raises(InvalidStatus) as refused:
        connect(ws_server + path, additional_headers=headers, open_timeout=5)

    response = refused.value.response
    assert response.status_code == status
    assert response.headers["WWW-Authenticate"] == expected_challenge(error, description)
    assert json.loads(response.body or b"") == {"detail": description}
