"""create_jwt_token / verify_jwt_token / TokenVerifier, checked against PyJWT directly."""

from __future__ import annotations

import asyncio
import logging
import sys
import time

import jwt
import pytest
from starlette.applications import Starlette

from jwt_middleware import (
    AuthenticationError,
    ConfigurationError,
    InvalidTokenError,
    JWTAuthMiddleware,
    JWTSettings,
    StaticKeys,
    TokenExpiredError,
    TokenVerifier,
    create_jwt_token,
    verify_jwt_token,
)
from jwt_middleware.tokens import get_token_expiry_seconds, reset_default_settings
from jwt_middleware.types import BoundKey
from tests.helpers import OTHER_SECRET, SECRET, hs256_key, mint_token


def test_created_token_has_the_standard_claims(settings: JWTSettings) -> None:
    before = int(time.time())
    token = create_jwt_token(7, "a@example.com", settings=settings, role="admin")
    claims = jwt.decode(token, SECRET, algorithms=["HS256"])
    assert claims["sub"] == "7"
    assert claims["email"] == "a@example.com"
    assert claims["role"] == "admin"
    assert before <= claims["iat"] <= int(time.time())
    assert claims["exp"] - claims["iat"] == 7 * 86400
    assert isinstance(claims["jti"], str)
    assert len(claims["jti"]) >= 16
    assert "iss" not in claims
    assert "aud" not in claims
    assert jwt.get_unverified_header(token)["alg"] == "HS256"


def test_each_token_gets_a_unique_jti(settings: JWTSettings) -> None:
    jtis = {
        verify_jwt_token(create_jwt_token("u", settings=settings), settings=settings)["jti"]
        for _ in range(50)
    }
    assert len(jtis) == 50


def test_issuer_audience_and_algorithm_follow_settings() -> None:
    settings = JWTSettings(
        secret=SECRET + OTHER_SECRET, algorithm="HS512", issuer="https://id", audience="api"
    )
    token = create_jwt_token("u", settings=settings)
    assert jwt.get_unverified_header(token)["alg"] == "HS512"
    claims = jwt.decode(
        token, SECRET + OTHER_SECRET, algorithms=["HS512"], audience="api", issuer="https://id"
    )
    assert (claims["iss"], claims["aud"]) == ("https://id", "api")
    assert verify_jwt_token(token, settings=settings)["sub"] == "u"


@pytest.mark.parametrize("claim", ["sub", "exp", "iat", "jti", "iss", "aud", "nbf"])
def test_extra_claims_cannot_override_reserved_ones(settings: JWTSettings, claim: str) -> None:
    with pytest.raises(ValueError, match="reserved"):
        create_jwt_token("u", settings=settings, **{claim: "x"})


@pytest.mark.parametrize("user_id", ["", "  "])
def test_empty_user_id_is_refused(settings: JWTSettings, user_id: str) -> None:
    with pytest.raises(ValueError, match="user_id"):
        create_jwt_token(user_id, settings=settings)


def test_verify_accepts_tokens_minted_by_pyjwt(settings: JWTSettings) -> None:
    claims = verify_jwt_token(mint_token("carol", extra="x"), settings=settings)
    assert (claims["sub"], claims["extra"]) == ("carol", "x")


@pytest.mark.parametrize(
    ("token", "error"),
    [
        pytest.param(mint_token(lifetime=-120), TokenExpiredError, id="expired"),
        pytest.param(mint_token(secret=OTHER_SECRET), InvalidTokenError, id="bad-signature"),
        pytest.param("nonsense", InvalidTokenError, id="nonsense"),
    ],
)
def test_verify_raises_our_errors(
    settings: JWTSettings, token: str, error: type[Exception]
) -> None:
    with pytest.raises(error) as info:
        verify_jwt_token(token, settings=settings)
    assert isinstance(info.value, AuthenticationError)
    assert token not in str(info.value)


def test_expired_is_a_kind_of_invalid() -> None:
    assert issubclass(TokenExpiredError, InvalidTokenError)
    assert issubclass(InvalidTokenError, AuthenticationError)


def test_helpers_read_the_environment_when_settings_are_omitted(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("JWT_SECRET", SECRET)
    monkeypatch.setenv("JWT_EXPIRY_DAYS", "0.5")
    assert get_token_expiry_seconds() == 43200
    token = create_jwt_token("env-user")
    assert verify_jwt_token(token)["sub"] == "env-user"


def test_get_token_expiry_seconds(settings: JWTSettings) -> None:
    assert get_token_expiry_seconds(settings) == 604800


def test_named_keys_are_chosen_by_kid(settings: JWTSettings) -> None:
    keys = StaticKeys(named=[hs256_key(OTHER_SECRET, "old"), hs256_key(SECRET, "new")])
    verifier = TokenVerifier(settings, keys=keys)
    assert (
        verifier.verify(mint_token("a", secret=OTHER_SECRET, headers={"kid": "old"}))["sub"] == "a"
    )
    assert verifier.verify(mint_token("b", secret=SECRET, headers={"kid": "new"}))["sub"] == "b"
    for kid, secret in (("old", SECRET), ("unknown", SECRET), (None, SECRET)):
        headers = {"kid": kid} if kid else None
        with pytest.raises(InvalidTokenError):
            verifier.verify(mint_token("c", secret=secret, headers=headers))


def test_several_unnamed_keys_are_tried_in_turn(settings: JWTSettings) -> None:
    verifier = TokenVerifier(settings, keys=StaticKeys(hs256_key(SECRET), hs256_key(OTHER_SECRET)))
    assert verifier.verify(mint_token("a", secret=OTHER_SECRET))["sub"] == "a"
    with pytest.raises(TokenExpiredError):
        verifier.verify(mint_token("a", secret=OTHER_SECRET, lifetime=-120))


def test_async_key_sources_plug_in(settings: JWTSettings) -> None:
    class Remote:
        calls = 0
        depends_on_header = True
        available = True

        def keys_now(self, algorithm: str | None, kid: str | None) -> None:
            return None  # always has to wait

        async def keys(self, algorithm: str | None, kid: str | None) -> list[BoundKey]:
            Remote.calls += 1
            await asyncio.sleep(0)
            return [hs256_key(SECRET)]

        async def prefetch(self) -> None:
            return None

        async def aclose(self) -> None:
            return None

    verifier = TokenVerifier(settings, keys=Remote())
    assert asyncio.run(verifier.verify_async(mint_token("z")))["sub"] == "z"
    assert Remote.calls == 1
    with pytest.raises(TypeError, match="verify_async"):
        verifier.verify(mint_token("not-yet-verified"))


def test_key_source_with_no_key_fails_closed(settings: JWTSettings) -> None:
    class Empty:
        depends_on_header = True
        available = False

        def keys_now(self, algorithm: str | None, kid: str | None) -> None:
            return None

        async def keys(self, algorithm: str | None, kid: str | None) -> list[BoundKey]:
            return []

        async def prefetch(self) -> None:
            return None

        async def aclose(self) -> None:
            return None

    with pytest.raises(InvalidTokenError):
        asyncio.run(TokenVerifier(settings, keys=Empty()).verify_async(mint_token()))


def test_rejections_are_logged_without_the_token(
    settings: JWTSettings, caplog: pytest.LogCaptureFixture
) -> None:
    token = mint_token(secret=OTHER_SECRET)
    with caplog.at_level(logging.DEBUG, logger="jwt_middleware"), pytest.raises(InvalidTokenError):
        verify_jwt_token(token, settings=settings)
    assert "reason=bad_signature" in caplog.text
    assert token not in caplog.text
    assert SECRET not in caplog.text
    for part in token.split("."):
        assert part not in caplog.text


def test_static_keys_repr_hides_keys() -> None:
    keys = StaticKeys(hs256_key(SECRET), named=[hs256_key(OTHER_SECRET, "k")])
    assert SECRET not in repr(keys)
    assert OTHER_SECRET not in repr(keys)
    assert SECRET not in repr(hs256_key(SECRET))
    with pytest.raises(ValueError, match="at least one key"):
        StaticKeys()


def test_helpers_read_the_environment_once(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JWT_SECRET", SECRET)
    first = create_jwt_token("a")
    monkeypatch.setenv("JWT_SECRET", OTHER_SECRET)  # too late: the settings were read
    assert verify_jwt_token(create_jwt_token("b"))["sub"] == "b"
    assert verify_jwt_token(first)["sub"] == "a"
    reset_default_settings()
    with pytest.raises(InvalidTokenError):
        verify_jwt_token(first)  # now the new secret is in use


def test_a_jwks_url_without_httpx_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "httpx", None)  # as if it were not installed
    for module in ("jwt_middleware.keys.jwks", "jwt_middleware.keys.discovery"):
        monkeypatch.delitem(sys.modules, module, raising=False)
    settings = JWTSettings(algorithm="RS256", jwks_url="https://idp.example/jwks.json")
    with pytest.raises(ConfigurationError, match=r"jwt-middleware-asgi\[jwks\]"):
        TokenVerifier(settings)
    middleware = JWTAuthMiddleware(Starlette(), settings=settings)
    assert middleware.configuration_error is not None
    assert "jwks extra" in str(middleware.configuration_error)
