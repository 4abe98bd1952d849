"""Which published keys a token is offered: by ``kid`` and ``alg``, only keys fit to verify
with, and never one a JWK marks for another use or that carries private material.
"""

from __future__ import annotations

import asyncio
import base64
import logging
from typing import Any

import jwt
import pytest
from jwt.algorithms import RSAAlgorithm

from jwt_middleware import InvalidTokenError, TokenVerifier
from jwt_middleware.algorithms import Algorithm
from jwt_middleware.keys.jwks import MAX_KEYS_WITHOUT_KID, JWKSKeys
from tests.helpers import FakeClock
from tests.keypairs import EC_P256, EC_P384, ED25519, RSA, RSA_1024, RSA_OTHER, PrivateKey
from tests.keys.endpoint import (
    Endpoint,
    Run,
    header,
    jwk_of,
    open_keys,
    public_jwk,
    public_numbers,
    resolve,
    settings_for,
    signed,
)


@pytest.mark.parametrize(
    ("private", "algorithm", "members"),
    [
        pytest.param(RSA, "RS256", {"alg": "RS256", "use": "sig"}, id="RS256"),
        pytest.param(RSA, "RS512", {}, id="RS512-jwk-without-alg"),
        pytest.param(RSA, "PS256", {}, id="PS256-jwk-without-alg"),
        pytest.param(EC_P256, "ES256", {"alg": "ES256"}, id="ES256"),
        pytest.param(EC_P384, "ES384", {}, id="ES384"),
        pytest.param(ED25519, "EdDSA", {"key_ops": ["verify"]}, id="EdDSA"),
    ],
)
def test_token_signed_with_a_published_key_verifies(
    endpoint: Endpoint,
    clock: FakeClock,
    private: PrivateKey,
    algorithm: Algorithm,
    members: dict[str, Any],
) -> None:
    endpoint.publish(public_jwk(RSA_OTHER, "other"), public_jwk(private, "k1", **members))
    token = signed(private, algorithm, kid="k1")

    async def main() -> None:
        async with open_keys(endpoint.url, clock, algorithms=[algorithm]) as keys:
            claims = await TokenVerifier(settings_for(algorithm), keys=keys).verify_async(token)
            assert claims["sub"] == "user-1"
            found = await resolve(keys, jwt.get_unverified_header(token))
            assert len(found) == 1
            # The key as returned decodes the token with PyJWT alone, too.
            assert jwt.decode(token, found[0].key, algorithms=[algorithm])["sub"] == "user-1"

    asyncio.run(main())
    assert endpoint.requests == 1


def test_kid_selects_only_its_own_key(endpoint: Endpoint, run: Run) -> None:
    endpoint.publish(public_jwk(RSA, "a"), public_jwk(RSA_OTHER, "b"))
    verifier_settings = settings_for("RS256")

    async def scenario(keys: JWKSKeys) -> None:
        (key,) = await resolve(keys, header("b"))
        assert public_numbers(key.key) == public_numbers(RSA_OTHER.public_key())
        verifier = TokenVerifier(verifier_settings, keys=keys)
        assert (await verifier.verify_async(signed(RSA_OTHER, kid="b")))["sub"] == "user-1"
        with pytest.raises(InvalidTokenError):
            await verifier.verify_async(signed(RSA_OTHER, kid="a"))  # the right key, wrong kid

    run(scenario)


@pytest.mark.parametrize(
    ("published", "accepted"),
    [
        pytest.param(1, True, id="one-key"),
        pytest.param(MAX_KEYS_WITHOUT_KID, True, id="at-the-limit"),
        pytest.param(MAX_KEYS_WITHOUT_KID + 1, False, id="over-the-limit"),
    ],
)
def test_token_without_kid_tries_every_key_of_a_small_set(
    endpoint: Endpoint, run: Run, published: int, accepted: bool
) -> None:
    others = [public_jwk(RSA, f"a{i}") for i in range(published - 1)]
    endpoint.publish(*others, public_jwk(RSA_OTHER))  # the signing key has no kid either
    token = signed(RSA_OTHER, kid=None)

    async def scenario(keys: JWKSKeys) -> None:
        verifier = TokenVerifier(settings_for("RS256"), keys=keys)
        if accepted:
            assert (await verifier.verify_async(token))["sub"] == "user-1"
            assert len(await resolve(keys, header(None))) == published
        else:
            with pytest.raises(InvalidTokenError):
                await verifier.verify_async(token)

    run(scenario)
    assert endpoint.requests == 1  # a missing kid never asks for a refetch


def test_key_is_offered_only_to_tokens_of_its_algorithm(endpoint: Endpoint, run: Run) -> None:
    endpoint.publish(public_jwk(RSA, "a"), public_jwk(EC_P256, "e"))

    async def scenario(keys: JWKSKeys) -> None:
        assert len(await resolve(keys, header("a", "RS256"))) == 1
        assert len(await resolve(keys, header("e", "ES256"))) == 1
        assert await resolve(keys, header("a", "ES256")) == ()
        assert await resolve(keys, header("e", "RS256")) == ()
        assert await resolve(keys, header("a", "PS256")) == ()  # an algorithm not pinned

    run(scenario, algorithms=["RS256", "ES256"])
    assert endpoint.requests == 1


@pytest.mark.parametrize(
    "token_header",
    [
        pytest.param({"alg": "HS256", "kid": "a"}, id="hmac-alg"),
        pytest.param({"alg": "none", "kid": "a"}, id="alg-none"),
        pytest.param({"kid": "a"}, id="no-alg"),
        pytest.param({"alg": "RS256", "kid": 7}, id="kid-not-a-string"),
        pytest.param({"alg": ["RS256"], "kid": "a"}, id="alg-not-a-string"),
    ],
)
def test_headers_we_would_never_verify_get_no_key_and_no_fetch(
    endpoint: Endpoint, run: Run, token_header: dict[str, Any]
) -> None:
    async def scenario(keys: JWKSKeys) -> None:
        assert await resolve(keys, token_header) == ()

    run(scenario)
    assert endpoint.requests == 0


# --- which published keys are used ---------------------------------------------------------


WARNING, DEBUG = logging.WARNING, logging.DEBUG
UNUSABLE = "not a usable public key"


@pytest.mark.parametrize(
    ("member", "level", "reason"),
    [
        pytest.param(public_jwk(RSA_OTHER, "x", use="enc"), DEBUG, "'use'", id="use-enc"),
        pytest.param(
            public_jwk(RSA_OTHER, "x", key_ops=["encrypt"]),
            DEBUG,
            "'key_ops'",
            id="key-ops-encrypt",
        ),
        pytest.param(
            public_jwk(RSA_OTHER, "x", key_ops="verify"), DEBUG, "'key_ops'", id="key-ops-not-list"
        ),
        pytest.param(public_jwk(RSA_OTHER, "x", alg="RS512"), DEBUG, "'alg'", id="alg-not-pinned"),
        pytest.param(public_jwk(RSA_OTHER, "x", alg="HS256"), DEBUG, "'alg'", id="alg-hmac"),
        pytest.param(public_jwk(EC_P384, "x"), WARNING, UNUSABLE, id="curve-not-pinned"),
        pytest.param(
            public_jwk(EC_P384, "x", alg="ES256"), WARNING, UNUSABLE, id="curve-mismatches-alg"
        ),
        pytest.param(jwk_of(RSA_OTHER, "x"), WARNING, "private key material", id="rsa-private"),
        pytest.param(jwk_of(EC_P256, "x"), WARNING, "private key material", id="ec-private"),
        pytest.param(jwk_of(ED25519, "x"), WARNING, "private key material", id="okp-private"),
        pytest.param(
            {"kty": "oct", "kid": "x", "k": base64.urlsafe_b64encode(b"s" * 32).decode()},
            WARNING,
            "symmetric",
            id="oct-secret",
        ),
        pytest.param(
            {"kty": "oct", "kid": "x", "alg": "RS256", "k": "c2VjcmV0"},
            WARNING,
            "symmetric",
            id="oct-claiming-rs256",
        ),
        pytest.param(public_jwk(RSA_1024, "x"), WARNING, UNUSABLE, id="rsa-1024"),
        pytest.param({"kty": "RSA", "kid": "x", "e": "AQAB"}, WARNING, UNUSABLE, id="no-n"),
        pytest.param(
            {"kty": "RSA", "kid": "x", "n": 12345, "e": "AQAB"}, WARNING, UNUSABLE, id="n-int"
        ),
        pytest.param({"kty": "XYZ", "kid": "x"}, WARNING, UNUSABLE, id="unknown-kty"),
        pytest.param({"kid": "x", "n": "AQAB", "e": "AQAB"}, WARNING, UNUSABLE, id="no-kty"),
        pytest.param(public_jwk(RSA_OTHER, 7), WARNING, "'kid'", id="kid-not-a-string"),
        pytest.param("not an object", WARNING, "not a JSON object", id="not-an-object"),
    ],
)
def test_unusable_jwks_are_ignored_and_the_rest_still_serve(
    endpoint: Endpoint,
    run: Run,
    caplog: pytest.LogCaptureFixture,
    member: Any,
    level: int,
    reason: str,
) -> None:
    caplog.set_level(logging.DEBUG, logger="jwt_middleware")
    endpoint.publish(member, public_jwk(RSA, "a"))
    token = signed(RSA_OTHER, kid="x")  # would verify if the ignored key were used

    async def scenario(keys: JWKSKeys) -> None:
        assert await resolve(keys, header("x")) == ()
        assert len(await resolve(keys, header("a"))) == 1
        with pytest.raises(InvalidTokenError):
            await TokenVerifier(settings_for("RS256"), keys=keys).verify_async(token)

    run(scenario, algorithms=["RS256", "ES256"])
    ignored = [r for r in caplog.records if "keys[0] ignored" in r.getMessage()]
    assert len(ignored) == 1
    assert ignored[0].levelno == level
    assert reason in ignored[0].getMessage()


def test_private_key_material_is_never_logged(
    endpoint: Endpoint, run: Run, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="jwt_middleware")
    endpoint.publish(jwk_of(RSA_OTHER, "leaked"), public_jwk(RSA, "a"))

    async def scenario(keys: JWKSKeys) -> None:
        assert len(await resolve(keys, header("a"))) == 1

    run(scenario)
    messages = [r.getMessage() for r in caplog.records]
    assert any("private key material" in message for message in messages)
    private_exponent = RSAAlgorithm.to_jwk(RSA_OTHER, as_dict=True)["d"]
    assert not any(private_exponent in message for message in messages)
