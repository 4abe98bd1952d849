"""A service that verifies the demo's tokens with nothing but ``JWT_ISSUER``: the demo, signing
with a key pair and given its own address as issuer, publishes discovery metadata next to its
JWK Set, and the verifier finds the keys from there, as it would at an identity provider.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import jwt
import pytest
from starlette.applications import Starlette
from starlette.routing import Route
from starlette.testclient import TestClient

from demo_app.app import create_app
from demo_app.settings import DemoSettings
from jwt_middleware import JWTAuthMiddleware, JWTSettings
from tests.helpers import SECRET, bearer, mint_token, whoami
from tests.keypairs import RSA, RSA_ATTACKER, private_pem
from tests.servers import free_port, serve

from .accounts import cheap_passwords, login_pair, register


@pytest.fixture
def demo(tmp_path: Path) -> Iterator[str]:
    """The demo on a loopback port, signing RS256, with its own address as issuer."""
    port = free_port()
    issuer = f"http://127.0.0.1:{port}"
    settings = JWTSettings(algorithm="RS256", private_key=private_pem(RSA), issuer=issuer)
    app = create_app(
        DemoSettings(database_url=f"sqlite:///{tmp_path / 'demo.db'}"),
        settings,
        passwords=cheap_passwords(),
    )
    with serve(app, port=port) as base_url:
        assert base_url == issuer
        yield issuer


def verifier_app(issuer: str) -> Starlette:
    """A service configured with the issuer alone (RS256 follows), as from JWT_ISSUER."""
    app = Starlette(routes=[Route("/private", whoami)])
    app.add_middleware(JWTAuthMiddleware, settings=JWTSettings(issuer=issuer))
    return app


@pytest.mark.parametrize(
    "document", ["/.well-known/openid-configuration", "/.well-known/oauth-authorization-server"]
)
def test_the_demo_publishes_its_metadata(demo: str, document: str) -> None:
    metadata = httpx.get(demo + document).json()
    assert metadata["issuer"] == demo
    assert metadata["jwks_uri"] == demo + "/.well-known/jwks.json"
    assert httpx.get(metadata["jwks_uri"]).json()["keys"]


def test_a_verifier_with_only_jwt_issuer_accepts_the_demos_tokens(demo: str) -> None:
    with httpx.Client(base_url=demo) as client:
        register(client, "alice@example.com")
        access, refresh = login_pair(client, "alice@example.com")
    assert jwt.decode(access, options={"verify_signature": False})["iss"] == demo
    forged = jwt.encode(
        {"sub": "1", "iss": demo, "exp": 2**40, "jti": "x"},
        RSA_ATTACKER,
        algorithm="RS256",
        headers={"kid": jwt.get_unverified_header(access)["kid"]},
    )
    with TestClient(verifier_app(demo)) as client:
        assert client.get("/private", headers=bearer(access)).json()["user_id"] is not None
        for refused in (forged, refresh, mint_token("1", iss=demo)):
            assert client.get("/private", headers=bearer(refused)).status_code == 401


def test_no_metadata_with_a_shared_secret(tmp_path: Path) -> None:
    settings = JWTSettings(secret=SECRET, algorithm="HS256", issuer="http://127.0.0.1:9")
    app = create_app(
        DemoSettings(database_url=f"sqlite:///{tmp_path / 'demo.db'}"),
        settings,
        passwords=cheap_passwords(),
    )
    with TestClient(app) as client:
        assert client.get("/.well-known/openid-configuration").status_code == 404
        assert client.get("/.well-known/jwks.json").status_code == 404
