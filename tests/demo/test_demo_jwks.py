"""``GET /.well-known/jwks.json``: public keys when the demo signs with a key pair, 404 with
a shared secret. Tokens from the asymmetric demo are checked with PyJWT against the
published key alone, as an independent verifier would.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import jwt
import pytest
from fastapi.testclient import TestClient

from demo_app.app import create_app
from demo_app.settings import DemoSettings
from jwt_middleware import JWTSettings
from tests.helpers import SECRET, bearer
from tests.keypairs import EC_P256, ED25519, RSA, private_pem

from .accounts import cheap_passwords, login_pair, register

#: JWK members that only a private key has (RFC 7518 sections 6.2.2 and 6.3.2, RFC 8037).
PRIVATE_MEMBERS = {"d", "p", "q", "dp", "dq", "qi", "oth", "k"}


KEY_PAIRS = [
    pytest.param(("RS256", RSA), id="RS256"),
    pytest.param(("ES256", EC_P256), id="ES256"),
    pytest.param(("EdDSA", ED25519), id="EdDSA"),
]


@pytest.fixture(params=KEY_PAIRS)
def signing(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[str, Path]:
    """An algorithm and a private key for it, in a file (JWT_PRIVATE_KEY as a path)."""
    algorithm, key = request.param
    path = tmp_path / "signing.pem"
    path.write_text(private_pem(key))
    path.chmod(0o600)
    return algorithm, path


@pytest.fixture
def asymmetric_client(
    signing: tuple[str, Path], demo_settings: DemoSettings
) -> Iterator[TestClient]:
    algorithm, path = signing
    jwt_settings = JWTSettings(algorithm=algorithm, private_key=str(path))
    with TestClient(create_app(demo_settings, jwt_settings, passwords=cheap_passwords())) as client:
        yield client


def test_hmac_demo_publishes_nothing(client: TestClient) -> None:
    reply = client.get("/.well-known/jwks.json")

    assert (reply.status_code, reply.json()) == (404, {"detail": "Not Found"})
    assert SECRET not in reply.text


def test_asymmetric_demo_publishes_its_public_key(asymmetric_client: TestClient) -> None:
    reply = asymmetric_client.get("/.well-known/jwks.json")

    assert reply.status_code == 200
    assert reply.headers["content-type"] == "application/json"
    keys = reply.json()["keys"]
    assert len(keys) == 1
    assert not PRIVATE_MEMBERS & set(keys[0])
    assert keys[0]["use"] == "sig"
    assert keys[0]["kid"]


def test_tokens_verify_with_nothing_but_the_published_key(
    asymmetric_client: TestClient, signing: tuple[str, Path]
) -> None:
    algorithm, _ = signing
    document = asymmetric_client.get("/.well-known/jwks.json").json()
    register(asymmetric_client, "alice@example.com")
    access, refresh_token = login_pair(asymmetric_client, "alice@example.com")

    published = jwt.PyJWKSet.from_dict(document)
    header = jwt.get_unverified_header(access)
    assert header["alg"] == algorithm
    key = published[header["kid"]]
    claims = jwt.decode(access, key=key, algorithms=[algorithm])
    assert claims["email"] == "alice@example.com"
    assert jwt.get_unverified_header(refresh_token)["kid"] == header["kid"]
    # The asymmetric demo works like the HMAC one end to end.
    assert asymmetric_client.get("/auth/me", headers=bearer(access)).status_code == 200
    rotated = asymmetric_client.post("/auth/refresh", json={"refresh_token": refresh_token})
    assert rotated.status_code == 200
    logout = asymmetric_client.post("/auth/logout", headers=bearer(access))
    assert logout.status_code == 204
    assert asymmetric_client.get("/auth/me", headers=bearer(access)).status_code == 401


def test_jwks_needs_no_token_and_ignores_a_bad_one(asymmetric_client: TestClient) -> None:
    reply = asymmetric_client.get("/.well-known/jwks.json", headers=bearer("abc.def.ghi"))

    assert reply.status_code == 200
