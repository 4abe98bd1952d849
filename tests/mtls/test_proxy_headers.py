"""The client certificate from a TLS-terminating proxy's header, in nginx's format
(``$ssl_client_escaped_cert``: URL-encoded PEM) and Envoy's (``x-forwarded-client-cert``:
``Hash=...;Cert="..."``), believed only from ``JWT_TRUSTED_PROXIES``. From a trusted proxy
the header is what counts, never the TLS session the app sees (the proxy's own); from
anyone else the header is ignored, and only the ``tls`` extension counts."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from starlette.testclient import TestClient, WebSocketDenialResponse

from tests.asgi import call
from tests.helpers import bearer, build_app, mint_token
from tests.mtls.certificates import PKI, Issued
from tests.mtls.requests import (
    ALICE_TOKEN,
    CLIENT,
    ENVOY_HEADER,
    NGINX_HEADER,
    PROXY,
    mtls_settings,
    request,
    tls,
)
from tests.servers import serve


@pytest.mark.parametrize(
    ("header", "scope", "status"),
    [
        pytest.param(
            NGINX_HEADER,
            request(peer=PROXY, headers={NGINX_HEADER: PKI.alice.nginx_header}),
            200,
            id="nginx-alice",
        ),
        pytest.param(
            NGINX_HEADER,
            request(peer=PROXY, headers={NGINX_HEADER: PKI.mallory.nginx_header}),
            401,
            id="nginx-mallory",
        ),
        pytest.param(
            ENVOY_HEADER,
            request(peer=PROXY, headers={ENVOY_HEADER: PKI.alice.envoy_header()}),
            200,
            id="envoy-hash-and-cert",
        ),
        pytest.param(
            ENVOY_HEADER,
            request(peer=PROXY, headers={ENVOY_HEADER: PKI.alice.envoy_header(hashed=False)}),
            200,
            id="envoy-cert-only",
        ),
        pytest.param(
            ENVOY_HEADER,
            request(peer=PROXY, headers={ENVOY_HEADER: PKI.alice.envoy_header(cert=False)}),
            200,
            id="envoy-hash-only",
        ),
        pytest.param(
            ENVOY_HEADER,
            request(peer=PROXY, headers={ENVOY_HEADER: PKI.mallory.envoy_header()}),
            401,
            id="envoy-mallory",
        ),
        pytest.param(
            NGINX_HEADER,
            request(peer=CLIENT, headers={NGINX_HEADER: PKI.alice.nginx_header}),
            401,
            id="header-from-a-client",
        ),
        pytest.param(
            NGINX_HEADER,
            request(
                peer=CLIENT,
                headers={NGINX_HEADER: PKI.mallory.nginx_header},
                extensions=tls(PKI.alice.pem),
            ),
            200,
            id="client-with-its-own-tls-and-a-header-it-made",
        ),
        pytest.param(
            NGINX_HEADER,
            request(
                peer=PROXY,
                headers={NGINX_HEADER: PKI.mallory.nginx_header},
                extensions=tls(PKI.alice.pem),
            ),
            401,
            id="proxy-connection-certificate-is-the-proxys",
        ),
    ],
)
def test_where_the_certificate_comes_from(header: str, scope: dict[str, Any], status: int) -> None:
    app = build_app(mtls_settings(header))
    answer = call(app, scope)
    assert answer.status == status
    if status == 200:
        assert answer.json()["user_id"] == "alice"


@pytest.mark.parametrize(
    "headers",
    [
        pytest.param({}, id="no-header"),
        pytest.param({NGINX_HEADER: "%%%"}, id="malformed-header"),
        pytest.param({NGINX_HEADER: PKI.mallory.nginx_header}, id="another-certificate"),
    ],
)
@pytest.mark.parametrize("peer", [PROXY, CLIENT])
def test_a_plain_bearer_token_needs_no_certificate(headers: dict[str, str], peer: str) -> None:
    """A token without ``cnf`` is the bearer path's: what the header says does not matter."""
    app = build_app(mtls_settings(NGINX_HEADER))
    answer = call(app, request(mint_token("bob"), peer=peer, headers=headers))
    assert answer.status == 200
    assert answer.json()["user_id"] == "bob"


@pytest.mark.parametrize(
    ("forwarded_for", "status"),
    [
        pytest.param(None, 200, id="from-the-proxy"),
        # uvicorn takes X-Forwarded-For from 127.0.0.1 by default: the peer the app sees is
        # then the address the request names, which is no trusted proxy (docs/mtls.md).
        pytest.param("203.0.113.9", 401, id="peer-rewritten-by-the-server"),
    ],
)
def test_through_a_real_server(forwarded_for: str | None, status: int) -> None:
    settings = mtls_settings(NGINX_HEADER, trusted_proxies="127.0.0.1")
    headers = {**bearer(ALICE_TOKEN), NGINX_HEADER: PKI.alice.nginx_header}
    if forwarded_for is not None:
        headers["X-Forwarded-For"] = forwarded_for
    with serve(build_app(settings)) as base_url:
        answer = httpx.get(f"{base_url}/private", headers=headers)
    assert answer.status_code == status


@pytest.mark.parametrize(
    ("certificate", "accepted"),
    [pytest.param(PKI.alice, True, id="alice"), pytest.param(PKI.mallory, False, id="mallory")],
)
def test_a_websocket_handshake_shows_its_certificate(certificate: Issued, accepted: bool) -> None:
    client = TestClient(build_app(mtls_settings(NGINX_HEADER)), client=(PROXY, 40000))
    headers = {**bearer(ALICE_TOKEN), NGINX_HEADER: certificate.nginx_header}
    if accepted:
        with client.websocket_connect("/ws", headers=headers) as websocket:
            assert websocket.receive_json() == {"user_id": "alice"}
    else:
        with pytest.raises(WebSocketDenialResponse) as denied:
            client.websocket_connect("/ws", headers=headers).__enter__()
        assert denied.value.status_code == 401
