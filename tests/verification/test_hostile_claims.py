"""Signed tokens with absurd claims: huge or non-finite times, deep nesting, a wild
``auth_time``. PyJWT signs every one of them, so a provider's bug or an insider can issue
them; each gets a 401 (or is accepted, where that is harmless and well defined), over HTTP
and at a WebSocket handshake, and never a 500. Minted with PyJWT directly (which writes
``Infinity`` and ``NaN`` for non-finite floats, as Python's ``json`` does).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import jwt
import pytest
from starlette.testclient import TestClient, WebSocketDenialResponse

from jwt_middleware import JWTSettings
from jwt_middleware.access.policy import Requirement
from jwt_middleware.types import MAX_CLAIM_DEPTH
from tests.helpers import SECRET, bearer, build_app

HUGE = 10**400  # a JSON integer of 401 digits: no float holds it
INF = float("inf")
NAN = float("nan")
ACCEPTED = "accepted"
INVALID = "invalid_token"
STEP_UP = "insufficient_user_authentication"


def nested(depth: int, *, kind: str = "object") -> Any:
    """A value of ``depth`` levels of objects (or arrays) around a number."""
    value: Any = 1
    for _ in range(depth):
        value = {"a": value} if kind == "object" else [value]
    return value


def hostile_token(**claims: Any) -> str:
    """A token whose claims are the usual ones, replaced or added to by ``claims``."""
    now = int(time.time())
    payload = {"sub": "hostile", "iat": now, "exp": now + 600, "jti": "j", **claims}
    return jwt.encode(payload, SECRET, algorithm="HS256")


def recent() -> int:
    return int(time.time()) - 5


#: (claims, what the token gets without a maximum age, and with JWT_MAX_TOKEN_AGE_SECONDS)
TIME_CASES = [
    pytest.param({"exp": HUGE}, ACCEPTED, ACCEPTED, id="exp-huge"),
    pytest.param({"exp": -HUGE}, INVALID, INVALID, id="exp-huge-negative"),
    pytest.param({"exp": 1e308}, ACCEPTED, ACCEPTED, id="exp-largest-float"),
    pytest.param({"exp": INF}, INVALID, INVALID, id="exp-infinity"),
    pytest.param({"exp": -INF}, INVALID, INVALID, id="exp-minus-infinity"),
    pytest.param({"exp": NAN}, INVALID, INVALID, id="exp-nan"),
    pytest.param({"iat": HUGE}, INVALID, INVALID, id="iat-huge"),
    pytest.param({"iat": -HUGE}, ACCEPTED, INVALID, id="iat-huge-negative"),
    pytest.param({"iat": 1e308}, INVALID, INVALID, id="iat-largest-float"),
    pytest.param({"iat": -1e308}, ACCEPTED, INVALID, id="iat-smallest-float"),
    pytest.param({"iat": INF}, INVALID, INVALID, id="iat-infinity"),
    pytest.param({"iat": NAN}, INVALID, INVALID, id="iat-nan"),
    pytest.param({"nbf": HUGE}, INVALID, INVALID, id="nbf-huge"),
    pytest.param({"nbf": -HUGE}, ACCEPTED, ACCEPTED, id="nbf-huge-negative"),
    pytest.param({"nbf": INF}, INVALID, INVALID, id="nbf-infinity"),
    pytest.param({"nbf": NAN}, INVALID, INVALID, id="nbf-nan"),
    pytest.param({"x": nested(MAX_CLAIM_DEPTH - 1)}, ACCEPTED, ACCEPTED, id="nested-at-the-limit"),
    pytest.param({"x": nested(MAX_CLAIM_DEPTH)}, INVALID, INVALID, id="nested-past-the-limit"),
    pytest.param({"x": nested(500)}, INVALID, INVALID, id="nested-500-objects"),
    pytest.param({"x": nested(950)}, INVALID, INVALID, id="nested-950-objects"),
    pytest.param({"x": nested(950, kind="array")}, INVALID, INVALID, id="nested-950-arrays"),
]


def _settings(max_age: bool) -> JWTSettings:
    return JWTSettings(
        secret=SECRET, max_token_bytes=65536, max_token_age_seconds=3600 if max_age else None
    )


def _check_http(client: TestClient, path: str, token: str, expected: str) -> None:
    reply = client.get(path, headers=bearer(token))
    if expected == ACCEPTED:
        assert reply.status_code == 200, reply.text
        assert reply.json()["user_id"] == "hostile"
    else:
        assert reply.status_code == 401, reply.text
        assert f'error="{expected}"' in reply.headers["www-authenticate"]


def _check_websocket(client: TestClient, path: str, token: str, expected: str) -> None:
    if expected == ACCEPTED:
        with client.websocket_connect(path, headers=bearer(token)) as socket:
            assert socket.receive_json() == {"user_id": "hostile"}
        return
    with (
        pytest.raises(WebSocketDenialResponse) as denied,
        client.websocket_connect(path, headers=bearer(token)),
    ):
        pass  # pragma: no cover - the handshake is refused
    assert denied.value.status_code == 401
    assert f'error="{expected}"' in denied.value.headers["www-authenticate"]


@pytest.mark.parametrize("max_age", [False, True], ids=["no-max-age", "max-age"])
@pytest.mark.parametrize(("claims", "plain", "aged"), TIME_CASES)
def test_time_claims_and_nesting(
    claims: dict[str, Any], plain: str, aged: str, max_age: bool
) -> None:
    token = hostile_token(**claims)
    client = TestClient(build_app(_settings(max_age)), raise_server_exceptions=False)
    expected = aged if max_age else plain
    _check_http(client, "/private", token, expected)
    _check_http(client, "/private", token, expected)  # the cached verification agrees
    _check_websocket(client, "/ws", token, expected)


@pytest.mark.parametrize(
    ("auth_time", "expected"),
    [
        # Worked out when the test runs, not when it is collected: a suite that runs for
        # longer than the rule's max_age must not turn "recent" into "too old".
        pytest.param(lambda: recent(), ACCEPTED, id="recent"),
        pytest.param(lambda: float(recent()), ACCEPTED, id="recent-float"),
        pytest.param(lambda: recent() - 3600, STEP_UP, id="too-old"),
        pytest.param(lambda: HUGE, STEP_UP, id="huge"),
        pytest.param(lambda: -HUGE, STEP_UP, id="huge-negative"),
        pytest.param(lambda: 1e308, STEP_UP, id="largest-float"),
        pytest.param(lambda: INF, STEP_UP, id="infinity"),
        pytest.param(lambda: -INF, STEP_UP, id="minus-infinity"),
        pytest.param(lambda: NAN, STEP_UP, id="nan"),
        pytest.param(lambda: int(time.time()) + 3600, STEP_UP, id="an-hour-ahead"),
        pytest.param(lambda: True, STEP_UP, id="true"),
        pytest.param(lambda: str(recent()), STEP_UP, id="string"),
    ],
)
def test_auth_time_under_a_step_up_rule(auth_time: Callable[[], Any], expected: str) -> None:
    token = hostile_token(auth_time=auth_time())
    rules = {"/private": Requirement(max_age=600), "/ws": Requirement(max_age=600)}
    app = build_app(_settings(max_age=False), scopes=rules)
    client = TestClient(app, raise_server_exceptions=False)
    _check_http(client, "/private", token, expected)
    _check_websocket(client, "/ws", token, expected)
