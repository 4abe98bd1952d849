"""What a token's header cannot do: name an RSA key for an HMAC check, or point at keys
(``jku``, ``x5u``, an embedded ``jwk``) that the verifier would then fetch or trust.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Callable
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization

from jwt_middleware import ConfigurationError, InvalidTokenError, TokenVerifier
from jwt_middleware.keys.jwks import JWKSKeys
from tests.keypairs import RSA, RSA_ATTACKER
from tests.keys.endpoint import Endpoint, Run, public_jwk, resolve, settings_for, signed


def test_hmac_token_naming_an_rsa_key_is_refused(endpoint: Endpoint, run: Run) -> None:
    public_pem = RSA.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    # Sign HS256 with the published public key as the secret (PyJWT refuses, so by hand).
    signing_input = (
        jwt.utils.base64url_encode(json.dumps({"alg": "HS256", "kid": "a"}).encode())
        + b"."
        + jwt.utils.base64url_encode(json.dumps({"sub": "x", "exp": 2**40}).encode())
    )
    signature = hmac.new(public_pem, signing_input, hashlib.sha256).digest()
    forged = (signing_input + b"." + jwt.utils.base64url_encode(signature)).decode()

    async def scenario(keys: JWKSKeys) -> None:
        assert await resolve(keys, jwt.get_unverified_header(forged)) == ()
        verifier = TokenVerifier(settings_for("RS256"), keys=keys)
        with pytest.raises(InvalidTokenError):
            await verifier.verify_async(forged)

    run(scenario)
    # A verifier pinned to HS256 cannot even be given a JWKS: a shared secret never comes
    # from a URL, and a public key never serves as one.
    with pytest.raises(ConfigurationError, match="asymmetric"):
        settings_for("HS256")


def test_jku_x5u_and_embedded_jwk_in_a_token_are_never_followed(
    endpoint: Endpoint, start_endpoint: Callable[[], Endpoint], run: Run
) -> None:
    attacker = start_endpoint()
    attacker.publish(public_jwk(RSA_ATTACKER, "evil"), public_jwk(RSA_ATTACKER, "a"))
    pointers: dict[str, Any] = {
        "jku": attacker.url,
        "x5u": attacker.url,
        "jwk": public_jwk(RSA_ATTACKER, "evil"),
    }

    async def scenario(keys: JWKSKeys) -> None:
        verifier = TokenVerifier(settings_for("RS256"), keys=keys)
        for kid in ("evil", "a"):
            token = signed(RSA_ATTACKER, kid=kid, **pointers)
            with pytest.raises(InvalidTokenError):
                await verifier.verify_async(token)
        token = signed(RSA, kid="a", **pointers)
        assert (await verifier.verify_async(token))["sub"] == "user-1"

    run(scenario)
    assert attacker.requests == 0
    assert endpoint.requests >= 1
