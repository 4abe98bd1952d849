"""Tokens without ``jti`` can never be revoked one by one, so with a revocation check on
they are refused by default (``JWT_REQUIRE_JTI``), and a deployment that must accept them
says so explicitly.
"""

from __future__ import annotations

from typing import Any

import pytest
from starlette.testclient import TestClient

from jwt_middleware import InMemoryRevocationStore, JWTSettings
from tests.helpers import SECRET, bearer, build_app, mint_token

NO_JTI = (
    'Bearer realm="api", error="invalid_token", error_description="The access token is invalid."'
)


@pytest.mark.parametrize(
    ("require_jti", "revocation", "jti", "status"),
    [
        pytest.param(None, True, None, 401, id="default-with-revocation-refuses"),
        pytest.param(None, True, "j1", 200, id="default-with-revocation-accepts-jti"),
        pytest.param(None, False, None, 200, id="default-without-revocation-accepts"),
        pytest.param(True, False, None, 401, id="required-without-revocation"),
        pytest.param(True, True, "", 401, id="empty-jti-is-no-jti"),
        pytest.param(True, False, 17, 401, id="non-string-jti"),
        pytest.param(False, True, None, 200, id="opted-out"),
        pytest.param(False, True, "j1", 200, id="opted-out-with-jti"),
    ],
)
def test_tokens_without_jti(
    require_jti: bool | None, revocation: bool, jti: Any, status: int
) -> None:
    settings = JWTSettings(secret=SECRET, require_jti=require_jti)
    options: dict[str, Any] = {}
    if revocation:
        options["is_revoked"] = InMemoryRevocationStore().is_revoked
    client = TestClient(build_app(settings, **options))
    claims = {} if jti is None else {"jti": jti}
    reply = client.get("/private", headers=bearer(mint_token(**claims)))
    assert reply.status_code == status
    if status == 401:
        assert reply.headers["www-authenticate"] == NO_JTI


@pytest.mark.parametrize(("value", "expected"), [("true", True), ("false", False), ("", None)])
def test_the_setting_comes_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, value: str, expected: bool | None
) -> None:
    monkeypatch.setenv("JWT_SECRET", SECRET)
    if value:
        monkeypatch.setenv("JWT_REQUIRE_JTI", value)
    assert JWTSettings().require_jti is expected


def test_a_token_without_jti_on_a_public_path_stays_anonymous(settings: JWTSettings) -> None:
    store = InMemoryRevocationStore()
    client = TestClient(build_app(settings, is_revoked=store.is_revoked))
    reply = client.get("/health", headers=bearer(mint_token()))
    assert reply.status_code == 200
    assert reply.json()["user_id"] is None
