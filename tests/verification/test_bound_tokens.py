"""Sender-constrained tokens (a ``cnf`` claim: DPoP, mTLS) are not bearer tokens.

A token bound to a key (RFC 7800 ``cnf``: RFC 9449's ``jkt``, RFC 8705's ``x5t#S256``...)
is only good with a proof that its sender holds the key; the middleware checks bearer
tokens, which prove nothing, so a stolen bound token sent as ``Authorization: Bearer`` is
refused, unless ``JWT_ACCEPT_BOUND_TOKENS_AS_BEARER`` allows it during a migration. Tokens
are minted with PyJWT directly.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import jwt
import pytest
from starlette.testclient import TestClient, WebSocketDenialResponse

from jwt_middleware import InvalidTokenError, JWTSettings, TokenVerifier
from tests.helpers import SECRET, bearer, build_app

BOUND_LOG = "refused: reason=bound_token"
MALFORMED_LOG = "refused: reason=malformed_claim"
THUMBPRINT = "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I"


def _token(**claims: Any) -> str:
    now = int(time.time())
    payload = {"sub": "holder", "iat": now, "exp": now + 600, "jti": "j-1", **claims}
    return jwt.encode(payload, SECRET, algorithm="HS256", headers={"typ": "at+jwt"})


#: (cnf claim or absent, accepted with the setting off, accepted with it on, the log line)
CASES = [
    pytest.param(None, True, True, None, id="no-cnf"),
    pytest.param({"jkt": THUMBPRINT}, False, True, BOUND_LOG, id="dpop-jkt"),
    pytest.param({"x5t#S256": THUMBPRINT}, False, True, BOUND_LOG, id="mtls-x5t-s256"),
    pytest.param({"jwk": {"kty": "OKP", "crv": "Ed25519"}}, False, True, BOUND_LOG, id="jwk"),
    pytest.param({"kid": "k"}, False, True, BOUND_LOG, id="kid"),
    pytest.param({}, False, True, BOUND_LOG, id="empty-object"),
    pytest.param(THUMBPRINT, False, False, MALFORMED_LOG, id="string"),
    pytest.param([{"jkt": THUMBPRINT}], False, False, MALFORMED_LOG, id="list"),
    pytest.param(0, False, False, MALFORMED_LOG, id="number"),
    pytest.param("null", False, False, MALFORMED_LOG, id="null"),
]


def _claims(cnf: Any) -> dict[str, Any]:
    if cnf is None:
        return {}
    return {"cnf": None if cnf == "null" else cnf}


@pytest.mark.parametrize("accept_as_bearer", [False, True], ids=["default", "accepted"])
@pytest.mark.parametrize(("cnf", "default", "accepted", "log"), CASES)
def test_bound_tokens_over_http(
    cnf: Any,
    default: bool,
    accepted: bool,
    log: str | None,
    accept_as_bearer: bool,
    caplog: pytest.LogCaptureFixture,
) -> None:
    settings = JWTSettings(secret=SECRET, accept_bound_tokens_as_bearer=accept_as_bearer)
    client = TestClient(build_app(settings))
    token = _token(**_claims(cnf))
    expected = accepted if accept_as_bearer else default
    with caplog.at_level(logging.INFO, logger="jwt_middleware"):
        first = client.get("/private", headers=bearer(token))
        again = client.get("/private", headers=bearer(token))  # the cache decides alike
    for reply in (first, again):
        if expected:
            assert reply.status_code == 200
            assert reply.json()["user_id"] == "holder"
        else:
            assert reply.status_code == 401
            assert 'error="invalid_token"' in reply.headers["www-authenticate"]
    messages = [record.getMessage() for record in caplog.records]
    if expected:
        assert not any("cnf" in message for message in messages)
    else:
        assert log in messages
        assert all(
            record.levelno == logging.INFO
            for record in caplog.records
            if "cnf" in record.getMessage()
        )
        assert THUMBPRINT not in caplog.text


@pytest.mark.parametrize(("cnf", "default", "accepted", "log"), CASES)
def test_bound_tokens_over_websocket(
    cnf: Any, default: bool, accepted: bool, log: str | None
) -> None:
    client = TestClient(build_app(JWTSettings(secret=SECRET)))
    headers = bearer(_token(**_claims(cnf)))
    if default:
        with client.websocket_connect("/ws", headers=headers) as ws:
            assert ws.receive_json() == {"user_id": "holder"}
        return
    with (
        pytest.raises(WebSocketDenialResponse) as denied,
        client.websocket_connect("/ws", headers=headers),
    ):
        pass  # pragma: no cover - the handshake is refused
    assert denied.value.status_code == 401
    assert 'error="invalid_token"' in denied.value.headers["www-authenticate"]


@pytest.mark.parametrize(
    ("environment", "accepted"),
    [
        pytest.param({}, False, id="unset"),
        pytest.param({"JWT_ACCEPT_BOUND_TOKENS_AS_BEARER": "false"}, False, id="false"),
        pytest.param({"JWT_ACCEPT_BOUND_TOKENS_AS_BEARER": "true"}, True, id="true"),
    ],
)
def test_the_setting_comes_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, environment: dict[str, str], accepted: bool
) -> None:
    monkeypatch.setenv("JWT_SECRET", SECRET)
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    verifier = TokenVerifier(JWTSettings())
    token = _token(cnf={"jkt": THUMBPRINT})
    if accepted:
        assert verifier.verify(token)["cnf"] == {"jkt": THUMBPRINT}
    else:
        with pytest.raises(InvalidTokenError):
            verifier.verify(token)
