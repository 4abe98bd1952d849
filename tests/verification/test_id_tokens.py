"""The RFC 9068 profile: an OpenID Connect ID token is no access token, and
``JWT_REQUIRE_EXPLICIT_TYPE`` is renamed, loudly. (Which ``typ`` headers pass:
``tests/keys/test_keys.py::test_access_token_typing``.)

Tokens are minted with PyJWT directly, so that a bug in our helpers cannot hide one in
verification; the real provider's ID tokens are in ``tests/oidc/test_identity_provider.py``.
"""

from __future__ import annotations

import time
from typing import Any

import jwt
import pytest

from jwt_middleware import ConfigurationError, InvalidTokenError, JWTSettings, TokenVerifier
from jwt_middleware.refusals import Reason
from tests.helpers import SECRET

CLIENT = "web-client"


def _verifier(**settings: Any) -> TokenVerifier:
    # The client's id among the audiences: what lets an ID token through on audience alone.
    return TokenVerifier(
        JWTSettings(secret=SECRET, audience=["api", CLIENT], **settings), cache_verified=False
    )


def _token(claims: dict[str, Any]) -> str:
    now = int(time.time())
    payload = {"sub": "alice", "aud": CLIENT, "iat": now, "exp": now + 300, **claims}
    return jwt.encode(payload, SECRET, algorithm="HS256", headers={"typ": "JWT"})


def _reason(verifier: TokenVerifier, token: str) -> Reason | None:
    try:
        verifier.verify(token)
    except InvalidTokenError as exc:
        return exc.reason
    return None


@pytest.mark.parametrize(
    ("settings", "claims", "refused"),
    [
        pytest.param({}, {}, None, id="access-token"),
        pytest.param({}, {"at_hash": "x1"}, Reason.ID_TOKEN, id="at-hash"),
        pytest.param({}, {"c_hash": "x1"}, Reason.ID_TOKEN, id="c-hash"),
        pytest.param({}, {"nonce": "n-1"}, Reason.ID_TOKEN, id="nonce"),
        pytest.param({}, {"nonce": None}, Reason.ID_TOKEN, id="nonce-null"),
        pytest.param({}, {"at_hash": "x", "nonce": "n"}, Reason.ID_TOKEN, id="all-marks"),
        pytest.param({}, {"at_hashes": "x", "nonces": "n"}, None, id="look-alike-names"),
        pytest.param(
            {"allow_nonce_in_access_tokens": True}, {"nonce": "n-1"}, None, id="nonce-allowed"
        ),
        pytest.param(
            {"allow_nonce_in_access_tokens": True},
            {"nonce": "n-1", "at_hash": "x1"},
            Reason.ID_TOKEN,
            id="nonce-allowed-at-hash-not",
        ),
        pytest.param(
            {"allow_nonce_in_access_tokens": True},
            {"c_hash": "x1"},
            Reason.ID_TOKEN,
            id="nonce-allowed-c-hash-not",
        ),
        pytest.param(
            {"require_access_token_type": True},
            {"nonce": "n-1"},
            Reason.TOKEN_TYPE,
            id="typed-check-first",
        ),
    ],
)
def test_id_tokens_are_refused(
    settings: dict[str, Any], claims: dict[str, Any], refused: Reason | None
) -> None:
    assert _reason(_verifier(**settings), _token(claims)) is refused


def test_the_id_token_check_is_named_and_assembled_once() -> None:
    names = [check.name for check in _verifier().claim_checks()]
    assert names.count("id_token") == 1
    assert names[-1] == "id_token"


@pytest.mark.parametrize(
    "values",
    [
        pytest.param({"require_explicit_type": True}, id="true"),
        pytest.param({"require_explicit_type": False}, id="false"),
    ],
)
def test_the_old_name_stops_start_up(values: dict[str, Any]) -> None:
    with pytest.raises(ConfigurationError, match="JWT_REQUIRE_ACCESS_TOKEN_TYPE"):
        JWTSettings(secret=SECRET, **values)


def test_the_old_name_in_the_environment_stops_start_up(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JWT_REQUIRE_EXPLICIT_TYPE", "true")
    with pytest.raises(ConfigurationError, match="JWT_REQUIRE_EXPLICIT_TYPE was renamed"):
        JWTSettings(secret=SECRET)
