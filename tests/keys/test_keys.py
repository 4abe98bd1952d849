"""Asymmetric keys, rotation by kid, and explicit access token types."""

from __future__ import annotations

import hashlib
import hmac
from pathlib import Path
from typing import Any

import jwt
import pytest
from starlette.testclient import TestClient

from jwt_middleware import (
    ConfigurationError,
    InvalidTokenError,
    JWTSettings,
    create_jwt_token,
    verify_jwt_token,
)
from jwt_middleware.keys.jwk import key_thumbprint
from jwt_middleware.keys.static import public_jwks
from tests.helpers import OTHER_SECRET, SECRET, bearer, build_app, mint_token
from tests.keypairs import EC_P256, ED25519, RSA, RSA_1024, RSA_OTHER, private_pem, public_pem

KEYS = [
    pytest.param("RS256", RSA, id="RS256"),
    pytest.param("PS256", RSA, id="PS256"),
    pytest.param("ES256", EC_P256, id="ES256"),
    pytest.param("EdDSA", ED25519, id="EdDSA"),
]


@pytest.mark.parametrize(("algorithm", "key"), KEYS)
def test_signer_and_verifier_only_configurations(algorithm: str, key: Any) -> None:
    signer = JWTSettings(algorithm=algorithm, private_key=private_pem(key))
    verifier = JWTSettings(algorithm=algorithm, public_key=public_pem(key))
    token = create_jwt_token("asym", settings=signer)
    header = jwt.get_unverified_header(token)
    assert header["alg"] == algorithm
    assert header["typ"] == "at+jwt"
    assert header["kid"] == key_thumbprint(key.public_key())
    assert verify_jwt_token(token, settings=verifier)["sub"] == "asym"
    # PyJWT alone agrees, with the public key only.
    assert jwt.decode(token, key.public_key(), algorithms=[algorithm])["sub"] == "asym"
    with pytest.raises(ValueError, match="JWT_PRIVATE_KEY"):
        create_jwt_token("x", settings=verifier)


def test_keys_may_be_file_paths_and_escaped_env_values(tmp_path: Path) -> None:
    path = tmp_path / "private.pem"
    path.write_text(private_pem(EC_P256))
    signer = JWTSettings(algorithm="ES256", private_key=str(path))
    escaped = public_pem(EC_P256).replace("\n", "\\n")
    verifier = JWTSettings(algorithm="ES256", public_key=escaped)
    assert verify_jwt_token(create_jwt_token("f", settings=signer), settings=verifier)["sub"] == "f"


def test_asymmetric_settings_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    (tmp_path / "pub.pem").write_text(public_pem(RSA))
    monkeypatch.setenv("JWT_ALGORITHM", "RS256")
    monkeypatch.setenv("JWT_PUBLIC_KEY", str(tmp_path / "pub.pem"))
    monkeypatch.setenv("JWT_PUBLIC_KEYS", '{"old": "' + str(tmp_path / "pub.pem") + '"}')
    settings = JWTSettings()
    assert settings.algorithm == "RS256"
    assert settings.public_keys == {"old": str(tmp_path / "pub.pem")}


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        pytest.param({"algorithm": "RS256"}, "needs keys", id="no-keys"),
        pytest.param(
            {"algorithm": "RS256", "public_key": public_pem(EC_P256)}, "RSA key", id="ec-for-rsa"
        ),
        pytest.param(
            {"algorithm": "ES256", "public_key": public_pem(RSA)}, "P-256", id="rsa-for-ec"
        ),
        pytest.param(
            {"algorithm": "EdDSA", "public_key": public_pem(EC_P256)}, "Ed25519", id="ec-for-eddsa"
        ),
        pytest.param(
            {
                "algorithm": "RS256",
                "public_key": public_pem(RSA_1024),
            },
            "2048",
            id="weak-rsa",
        ),
        pytest.param(
            {"algorithm": "RS256", "public_key": "/no/such/file.pem"}, "readable", id="missing-file"
        ),
        pytest.param(
            {"algorithm": "RS256", "private_key": "-----BEGIN PRIVATE KEY-----\nxx\n"},
            "not an unencrypted PEM",
            id="garbage-pem",
        ),
        pytest.param(
            {"algorithm": "RS256", "secret": SECRET, "public_key": public_pem(RSA)},
            "JWT_SECRET is for",
            id="secret-with-rsa",
        ),
        pytest.param(
            {"secret": SECRET, "public_key": public_pem(RSA)}, "asymmetric", id="pem-with-hmac"
        ),
        pytest.param({"secret": public_pem(RSA)}, "PEM", id="public-key-as-hmac-secret"),
        pytest.param(
            {"secret": SECRET, "previous_secrets": ["short"]},
            "JWT_PREVIOUS_SECRETS",
            id="weak-previous",
        ),
        pytest.param({"algorithm": "RS256", "jwks_url": "ftp://x"}, "http", id="jwks-not-http"),
        pytest.param(
            {"algorithm": "RS256", "jwks_url": "https://id/jwks", "public_key": public_pem(RSA)},
            "replaces",
            id="jwks-and-public-key",
        ),
        pytest.param(
            {"secret": SECRET, "jwks_url": "https://id/jwks"},
            "JWT_SECRET and JWT_JWKS_URL",
            id="jwks-hmac",
        ),
    ],
)
def test_key_misconfiguration_fails_at_start_up(overrides: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigurationError, match=message) as info:
        JWTSettings(**overrides)
    assert "BEGIN PUBLIC" not in str(info.value)
    assert "BEGIN PRIVATE" not in str(info.value)


def test_asymmetric_public_key_is_never_an_hmac_secret() -> None:
    # The classic confusion: an HS256 token "signed" with the RSA public key's PEM as secret.
    verifier = JWTSettings(algorithm="RS256", public_key=public_pem(RSA))
    b64 = jwt.utils.base64url_encode
    signing_input = (
        b64(b'{"alg":"HS256","typ":"JWT"}') + b"." + b64(b'{"sub":"m","exp":9999999999}')
    )
    mac = hmac.new(public_pem(RSA).encode(), signing_input, hashlib.sha256).digest()
    forged = (signing_input + b"." + b64(mac)).decode()
    with pytest.raises(InvalidTokenError):
        verify_jwt_token(forged, settings=verifier)


def test_rotation_by_kid_for_key_pairs() -> None:
    old_signer = JWTSettings(algorithm="RS256", private_key=private_pem(RSA_OTHER), key_id="2025")
    new_signer = JWTSettings(algorithm="RS256", private_key=private_pem(RSA), key_id="2026")
    verifier = JWTSettings(
        algorithm="RS256",
        private_key=private_pem(RSA),
        key_id="2026",
        public_keys={"2025": public_pem(RSA_OTHER)},
    )
    for signer in (old_signer, new_signer):
        token = create_jwt_token("rot", settings=signer)
        assert verify_jwt_token(token, settings=verifier)["sub"] == "rot"
    # A kid may not steer a token to a key other than the one it names.
    forged = jwt.encode(
        {"sub": "x", "exp": 9999999999}, RSA_OTHER, algorithm="RS256", headers={"kid": "2026"}
    )
    with pytest.raises(InvalidTokenError):
        verify_jwt_token(forged, settings=verifier)


def test_hmac_rotation_with_previous_secrets() -> None:
    retiring = JWTSettings(secret=OTHER_SECRET)
    current = JWTSettings(secret=SECRET, previous_secrets=[OTHER_SECRET])
    old_token = create_jwt_token("h", settings=retiring)
    assert verify_jwt_token(old_token, settings=current)["sub"] == "h"
    dropped = JWTSettings(secret=SECRET)
    with pytest.raises(InvalidTokenError):
        verify_jwt_token(old_token, settings=dropped)


def test_public_jwks_document_lists_public_parts_only() -> None:
    settings = JWTSettings(
        algorithm="RS256",
        private_key=private_pem(RSA),
        key_id="k1",
        public_keys={"k0": public_pem(RSA_OTHER)},
    )
    document = public_jwks(settings)
    assert [k["kid"] for k in document["keys"]] == ["k0", "k1"]
    for jwk in document["keys"]:
        assert jwk["kty"] == "RSA"
        assert jwk["alg"] == "RS256"
        assert jwk["use"] == "sig"
        assert "d" not in jwk
        assert "p" not in jwk
    token = create_jwt_token("j", settings=settings)
    keys = jwt.PyJWKSet.from_dict(document)
    assert jwt.decode(token, keys["k1"], algorithms=["RS256"])["sub"] == "j"
    assert public_jwks(JWTSettings(secret=SECRET)) == {"keys": []}


@pytest.mark.parametrize(
    ("typ", "strict", "accepted"),
    [
        pytest.param("at+jwt", False, True, id="at+jwt"),
        pytest.param("application/at+jwt", False, True, id="media-type"),
        pytest.param("AT+JWT", False, True, id="case-insensitive"),
        pytest.param("JWT", False, True, id="untyped-jwt"),
        pytest.param(None, False, True, id="no-typ"),
        pytest.param("refresh+jwt", False, False, id="refresh"),
        pytest.param("id_token+jwt", False, False, id="other-type"),
        pytest.param("JWT", True, False, id="strict-refuses-untyped"),
        pytest.param("at+jwt", True, True, id="strict-accepts-access"),
        pytest.param("Application/At+Jwt", True, True, id="strict-media-type-any-case"),
        pytest.param(None, True, False, id="strict-refuses-no-typ"),
        pytest.param("refresh+jwt", True, False, id="strict-refuses-refresh"),
        pytest.param("at+jwt ", True, False, id="strict-no-trailing-space"),
        pytest.param("application/okta-internal-at+jwt", True, False, id="strict-okta-org"),
    ],
)
def test_access_token_typing(typ: str | None, strict: bool, accepted: bool) -> None:
    settings = JWTSettings(secret=SECRET, require_access_token_type=strict)
    token = mint_token("t", headers={"typ": typ})
    if typ is None:
        assert "typ" not in jwt.get_unverified_header(token)
    client = TestClient(build_app(settings))
    response = client.get("/private", headers=bearer(token))
    assert (response.status_code == 200) is accepted
