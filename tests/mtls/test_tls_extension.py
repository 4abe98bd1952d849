"""Certificate-bound tokens over real TLS: a server that verifies the client's certificate
in the handshake and hands it to the app through the ASGI ``tls`` extension
(:mod:`tests.mtls.tls_server`), clients (httpx) that present certificates the tests made.
A token bound to alice's certificate passes with alice's connection only, on every
request: the verified-token cache remembers the token, never the certificate."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.types import Receive, Scope, Send

from jwt_middleware import JWTSettings
from tests.helpers import SECRET, bearer, build_app, mint_token
from tests.mtls.certificates import PKI, Issued
from tests.mtls.tls_server import client_context, serve_mtls, server_context


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("pki")


@pytest.fixture(scope="module")
def base_url(folder: Path) -> Iterator[str]:
    app = build_app(JWTSettings(secret=SECRET, mtls_enabled=True))
    with serve_mtls(app, server_context(folder, require=False)) as url:
        yield url


def tls_client(folder: Path, base_url: str, presenting: Issued | None) -> httpx.Client:
    return httpx.Client(base_url=base_url, verify=client_context(folder, presenting))


def _refusals(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "jwt_middleware.refusals"]


@pytest.mark.parametrize(
    ("presenting", "bound_to", "status", "refusal"),
    [
        pytest.param("alice", "alice", 200, None, id="bound-right-certificate"),
        pytest.param("mallory", "alice", 401, "certificate_mismatch", id="bound-other-certificate"),
        pytest.param(None, "alice", 401, "certificate_missing", id="bound-no-certificate"),
        pytest.param("alice", None, 200, None, id="plain-with-certificate"),
        pytest.param(None, None, 200, None, id="plain-without-certificate"),
    ],
)
def test_a_bound_token_passes_with_its_certificate_only(
    folder: Path,
    base_url: str,
    caplog: pytest.LogCaptureFixture,
    presenting: str | None,
    bound_to: str | None,
    status: int,
    refusal: str | None,
) -> None:
    claims: dict[str, Any] = {"cnf": {"x5t#S256": getattr(PKI, bound_to).x5t}} if bound_to else {}
    token = mint_token("alice", **claims)
    caplog.set_level(logging.INFO, logger="jwt_middleware")
    with tls_client(folder, base_url, getattr(PKI, presenting) if presenting else None) as client:
        answer = client.get("/private", headers=bearer(token))
    assert answer.status_code == status
    if status == 200:
        assert answer.json()["user_id"] == "alice"
        assert _refusals(caplog) == []
    else:
        assert answer.headers["www-authenticate"] == (
            'Bearer realm="api", error="invalid_token", '
            'error_description="The access token is invalid."'
        )
        assert _refusals(caplog) == [f"refused: reason={refusal}"]


def test_the_certificate_is_compared_on_every_request(folder: Path, base_url: str) -> None:
    """The token is verified once and cached; each connection still shows its own
    certificate, and only alice's passes, before and after the others tried."""
    token = mint_token("alice", cnf={"x5t#S256": PKI.alice.x5t})
    clients = {
        name: tls_client(folder, base_url, who)
        for name, who in [("alice", PKI.alice), ("mallory", PKI.mallory), ("none", None)]
    }
    try:
        statuses = [
            clients[name].get("/private", headers=bearer(token)).status_code
            for name in ["alice", "mallory", "none", "alice", "mallory", "alice"]
        ]
    finally:
        for client in clients.values():
            client.close()
    assert statuses == [200, 401, 401, 200, 401, 200]


def test_the_server_hands_the_handshakes_certificate(folder: Path) -> None:
    """What the app sees is the certificate alice's client presented, as PEM, first."""
    seen: list[object] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        seen.append(scope["extensions"]["tls"]["client_cert_chain"])
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    with (
        serve_mtls(app, server_context(folder, require=True)) as url,
        tls_client(folder, url, PKI.alice) as client,
    ):
        assert client.get("/").status_code == 204
    assert seen == [[PKI.alice.pem]]
