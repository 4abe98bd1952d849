"""Refresh tokens: typed ``refresh+jwt``, of a family, never accepted where an access token
is, and refused when expired or without a family (minted with PyJWT directly for those).
"""

from __future__ import annotations

import jwt
import pytest
from starlette.testclient import TestClient

from jwt_middleware import (
    InvalidTokenError,
    JWTSettings,
    TokenExpiredError,
    create_jwt_token,
    create_refresh_token,
    verify_jwt_token,
    verify_refresh_token,
)
from tests.helpers import bearer, build_app, mint_token


def test_refresh_tokens_are_separate_from_access_tokens(settings: JWTSettings) -> None:
    refresh = create_refresh_token("r", settings=settings)
    access = create_jwt_token("r", settings=settings)
    assert jwt.get_unverified_header(refresh)["typ"] == "refresh+jwt"
    claims = verify_refresh_token(refresh, settings=settings)
    assert claims["sub"] == "r"
    assert claims["exp"] - claims["iat"] == 30 * 86400
    assert isinstance(claims["fam"], str)
    with pytest.raises(InvalidTokenError):
        verify_jwt_token(refresh, settings=settings)
    with pytest.raises(InvalidTokenError):
        verify_refresh_token(access, settings=settings)
    client = TestClient(build_app(settings))
    assert client.get("/private", headers=bearer(refresh)).status_code == 401
    same_family = create_refresh_token("r", family=claims["fam"], settings=settings)
    assert verify_refresh_token(same_family, settings=settings)["fam"] == claims["fam"]


def test_refresh_token_checks(settings: JWTSettings) -> None:
    expired = mint_token("r", lifetime=-120, fam="f", headers={"typ": "refresh+jwt"})
    with pytest.raises(TokenExpiredError):
        verify_refresh_token(expired, settings=settings)
    no_family = mint_token("r", headers={"typ": "refresh+jwt"})
    with pytest.raises(InvalidTokenError):
        verify_refresh_token(no_family, settings=settings)
