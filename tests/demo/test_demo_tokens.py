"""Which bearer tokens the demo accepts: only unexpired ones it signed, for a real user.

Tokens are minted with PyJWT directly (``mint_token``) as well as taken from /auth/login,
so a bug in the library's token helper cannot hide one in verification.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable

import jwt
import pytest
from fastapi.testclient import TestClient

from jwt_middleware import JWTSettings, create_jwt_token
from tests.helpers import OTHER_SECRET, SECRET, b64url_json, bearer, mint_token

from .accounts import Account


def _with_payload(token: str, **changes: object) -> str:
    """The token with its payload edited and its original signature kept."""
    header, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims.update(changes)
    return ".".join([header, b64url_json(claims), signature])


def _flip_last_signature_char(token: str) -> str:
    head, _, signature = token.rpartition(".")
    return f"{head}.{signature[:-1]}{'A' if signature[-1] != 'A' else 'B'}"


def test_minted_token_for_a_user_is_accepted(client: TestClient, alice: Account) -> None:
    token = mint_token(str(alice.id), jti="minted")
    reply = client.get("/auth/me", headers=bearer(token))

    assert reply.status_code == 200
    assert reply.json()["email"] == alice.email


def test_minted_token_without_jti_is_refused(client: TestClient, alice: Account) -> None:
    # The demo checks revocation, so a token that could never be revoked is refused.
    reply = client.get("/auth/me", headers=bearer(mint_token(str(alice.id))))

    assert reply.status_code == 401


def test_token_made_by_the_library_helper_is_accepted(
    client: TestClient, alice: Account, jwt_settings: JWTSettings
) -> None:
    token = create_jwt_token(alice.id, settings=jwt_settings)

    assert client.get("/auth/me", headers=bearer(token)).status_code == 200


def test_expired_token_is_refused_as_expired(client: TestClient, alice: Account) -> None:
    token = mint_token(str(alice.id), lifetime=-60)

    reply = client.get("/todos", headers=bearer(token))

    assert reply.status_code == 401
    assert reply.json() == {"detail": "The access token expired."}
    assert 'error="invalid_token"' in reply.headers["www-authenticate"]


BAD_TOKENS: list[tuple[str, Callable[[Account], str]]] = [
    ("wrong-secret", lambda a: mint_token(str(a.id), secret=OTHER_SECRET)),
    ("alg-none", lambda a: jwt.encode({"sub": str(a.id), "exp": 2**40}, "", algorithm="none")),
    ("hs512-not-allowed", lambda a: mint_token(str(a.id), algorithm="HS512", secret=SECRET * 2)),
    ("no-exp", lambda a: mint_token(str(a.id), drop=("exp",))),
    ("no-sub", lambda a: mint_token(str(a.id), drop=("sub",))),
    ("sub-not-a-string", lambda a: mint_token(a.id)),
    ("not-yet-valid", lambda a: mint_token(str(a.id), nbf=2**40)),
    ("sub-swapped-signature-kept", lambda a: _with_payload(a.token, sub=str(a.id + 1))),
    ("exp-extended-signature-kept", lambda a: _with_payload(a.token, exp=2**40)),
    ("signature-flipped", lambda a: _flip_last_signature_char(a.token)),
    ("signature-stripped", lambda a: a.token.rpartition(".")[0] + "."),
    ("garbage", lambda a: "abc.def.ghi"),
    ("two-parts", lambda a: ".".join(a.token.split(".")[:2])),
]


@pytest.mark.parametrize(
    "make_token", [case for _, case in BAD_TOKENS], ids=[name for name, _ in BAD_TOKENS]
)
def test_bad_tokens_are_refused_everywhere_protected(
    client: TestClient, alice: Account, bob: Account, make_token: Callable[[Account], str]
) -> None:
    headers = bearer(make_token(alice))

    for method, path in [("GET", "/auth/me"), ("GET", "/todos"), ("DELETE", "/todos/1")]:
        reply = client.request(method, path, headers=headers)
        assert reply.status_code == 401, (method, path, reply.text)
        assert reply.json()["detail"] in {
            "The access token is invalid.",
            "The access token expired.",
        }
        assert 'error="invalid_token"' in reply.headers["www-authenticate"]


@pytest.mark.parametrize(
    "authorization",
    ["Bearer", "Bearer ", "Bearer a b", "Bearer <script>"],
    ids=["no-token", "blank-token", "two-tokens", "not-b64"],
)
def test_malformed_authorization_header_is_400(client: TestClient, authorization: str) -> None:
    reply = client.get("/todos", headers={"Authorization": authorization})

    assert reply.status_code == 400
    assert 'error="invalid_request"' in reply.headers["www-authenticate"]


@pytest.mark.parametrize(
    "authorization", ["Basic YWxpY2U6cGFzcw==", "Token abc"], ids=["basic", "other-scheme"]
)
def test_other_schemes_count_as_no_credentials(client: TestClient, authorization: str) -> None:
    reply = client.get("/todos", headers={"Authorization": authorization})

    assert reply.status_code == 401
    assert reply.json() == {"detail": "Authentication required."}


def test_a_bad_token_on_a_public_route_is_ignored(client: TestClient) -> None:
    """Public routes answer as if no token were sent, so a stale token cannot lock you out."""
    stale = bearer(mint_token("1", lifetime=-60))

    assert client.get("/health", headers=stale).status_code == 200
    reply = client.post(
        "/auth/register",
        json={"email": "new@example.com", "password": "long enough"},
        headers=stale,
    )
    assert reply.status_code == 201
