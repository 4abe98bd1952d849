"""A real DPoP client, panva's ``dpop`` on npm, makes the key pairs and the proofs: each
algorithm it signs with is accepted, and its proofs are refused once replayed, with
another key, for another method or URL; with server nonces on, it is told the nonce and
gets through with it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from starlette.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from jwt_middleware import JWTSettings
from tests.asgi import Answer, call, http_scope
from tests.dpop.client import ClientKey, DPoPClient
from tests.dpop.proofs import BASE_URL, DPOP_SETTINGS, PRIVATE_URL, bound_token, dpop_headers
from tests.helpers import build_app

NONCE_SECRET = "d1b3c0f6a9e24c7b8f5a2e4d6c8b0a1f3e5d7c9b"


@pytest.fixture(scope="module")
def client() -> Iterator[DPoPClient]:
    with DPoPClient() as running:
        yield running


def _send(app: object, key: ClientKey, token: str, proof: str, path: str = "/private") -> Answer:
    return call(app, http_scope(path, headers=dpop_headers(token, proof), raw_path=path.encode()))  # type: ignore[arg-type]


@pytest.mark.parametrize("alg", ["ES256", "Ed25519", "PS256", "RS256"])
def test_each_algorithm_of_the_client_is_accepted_once(client: DPoPClient, alg: str) -> None:
    app = build_app(JWTSettings(**DPOP_SETTINGS))
    key = client.key(alg)
    token = bound_token(key.jkt)
    proof = key.proof("GET", PRIVATE_URL, token=token)
    answer = _send(app, key, token, proof)
    assert (answer.status, answer.json()["user_id"]) == (200, "user-1")
    again = _send(app, key, token, proof)
    assert again.status == 401
    assert 'error="invalid_dpop_proof"' in again.headers["www-authenticate"]
    fresh = _send(app, key, token, key.proof("GET", PRIVATE_URL, token=token))
    assert fresh.status == 200


@pytest.mark.parametrize(
    ("method", "url", "error"),
    [
        pytest.param("POST", PRIVATE_URL, "invalid_dpop_proof", id="another-method"),
        pytest.param("GET", BASE_URL + "/posts", "invalid_dpop_proof", id="another-url"),
        pytest.param(
            "GET", "https://other.example/private", "invalid_dpop_proof", id="another-host"
        ),
    ],
)
def test_a_proof_for_another_request_is_refused(
    client: DPoPClient, method: str, url: str, error: str
) -> None:
    app = build_app(JWTSettings(**DPOP_SETTINGS))
    key = client.key()
    token = bound_token(key.jkt)
    answer = _send(app, key, token, key.proof(method, url, token=token))
    assert answer.status == 401
    assert f'error="{error}"' in answer.headers["www-authenticate"]


def test_a_token_bound_to_another_key_is_refused(client: DPoPClient) -> None:
    app = build_app(JWTSettings(**DPOP_SETTINGS))
    owner, thief = client.key(), client.key()
    token = bound_token(owner.jkt)
    answer = _send(app, thief, token, thief.proof("GET", PRIVATE_URL, token=token))
    assert answer.status == 401
    assert answer.headers["www-authenticate"].startswith('DPoP realm="api", error="invalid_token"')


def test_the_htu_is_compared_normalized(client: DPoPClient) -> None:
    """RFC 9449 section 4.3: the client may write the URL with the default port, upper-case
    scheme and host, a query and a fragment; none of it matters."""
    app = build_app(JWTSettings(**DPOP_SETTINGS))
    key = client.key()
    token = bound_token(key.jkt)
    url = "HTTPS://API.Example.COM:443/private?page=2#top"
    assert _send(app, key, token, key.proof("GET", url, token=token)).status == 200


def test_with_nonces_the_client_is_told_one_and_gets_through_with_it(client: DPoPClient) -> None:
    settings = JWTSettings(**DPOP_SETTINGS, dpop_nonce=True, dpop_nonce_secret=NONCE_SECRET)
    app = build_app(settings)
    key = client.key()
    token = bound_token(key.jkt)
    first = _send(app, key, token, key.proof("GET", PRIVATE_URL, token=token))
    assert first.status == 401
    challenge = first.headers["www-authenticate"]
    assert challenge.startswith('DPoP realm="api", error="use_dpop_nonce", error_description="')
    nonce = first.headers["dpop-nonce"]
    assert "DPoP-Nonce" in first.headers["access-control-expose-headers"]
    second = _send(app, key, token, key.proof("GET", PRIVATE_URL, token=token, nonce=nonce))
    assert (second.status, second.json()["user_id"]) == (200, "user-1")
    wrong = _send(app, key, token, key.proof("GET", PRIVATE_URL, token=token, nonce="x" * 32))
    assert (wrong.status, wrong.headers["dpop-nonce"]) == (401, nonce)


def test_a_websocket_handshake_is_proved_as_a_get(client: DPoPClient) -> None:
    """A WebSocket handshake is an HTTP GET: its proof names ``GET`` and the https URL
    under ``JWT_DPOP_BASE_URL``."""
    app = build_app(JWTSettings(**DPOP_SETTINGS))
    key = client.key()
    token = bound_token(key.jkt)
    test_client = TestClient(app, base_url=BASE_URL)
    proof = key.proof("GET", BASE_URL + "/ws", token=token)
    headers = {"Authorization": f"DPoP {token}", "DPoP": proof}
    with test_client.websocket_connect("/ws", headers=headers) as socket:
        assert socket.receive_json() == {"user_id": "user-1"}
    with pytest.raises(WebSocketDisconnect), test_client.websocket_connect("/ws", headers=headers):
        pass  # the same proof again: a replay
