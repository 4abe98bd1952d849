"""Which scopes a verified token grants (``request.auth.scopes``, ``@requires``).

RFC 6749 section 3.3: scope tokens are separated by U+0020 only, and each is made of
``%x21 / %x23-5B / %x5D-7E``. A signed ``"read\\u00a0admin"`` is one malformed token,
never the scope ``admin``.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from starlette.testclient import TestClient

from jwt_middleware import JWTSettings
from jwt_middleware.user import scopes_of
from jwt_middleware.verification.scopes import scopes_from
from tests.helpers import bearer, build_app, mint_token


@pytest.mark.parametrize(
    ("claims", "scopes"),
    [
        pytest.param({"scope": "read write"}, ["read", "write"], id="space-separated"),
        pytest.param({"scope": "read  write "}, ["read", "write"], id="extra-spaces"),
        pytest.param({"scope": ""}, [], id="empty"),
        pytest.param({"scope": "read\u00a0admin"}, [], id="nbsp-is-no-separator"),
        pytest.param({"scope": "read\tadmin"}, [], id="tab-is-no-separator"),
        pytest.param({"scope": "read\nadmin"}, [], id="newline-is-no-separator"),
        pytest.param({"scope": "read\u3000admin"}, [], id="ideographic-space"),
        pytest.param({"scope": "read\u2003admin write"}, ["write"], id="em-space-then-valid"),
        pytest.param({"scope": "caf\u00e9 read"}, ["read"], id="non-ascii-dropped"),
        pytest.param({"scope": 'a"b c\\d ok'}, ["ok"], id="quote-backslash-dropped"),
        pytest.param(
            {"scope": "orders:read https://api/x.y"},
            ["orders:read", "https://api/x.y"],
            id="colons-slashes",
        ),
        pytest.param({"scp": ["read", "write"]}, ["read", "write"], id="scp-list"),
        pytest.param({"scp": ["read admin", "x\u00a0y", 7, None]}, [], id="scp-list-bad-items"),
        pytest.param({"scp": "read write"}, ["read", "write"], id="scp-string"),
        pytest.param({"scope": "a", "scp": ["b"]}, ["a", "b"], id="both-claims-count"),
        pytest.param({"scope": 42}, [], id="not-a-string"),
        pytest.param({}, [], id="none"),
    ],
)
def test_scope_claims(claims: dict[str, Any], scopes: list[str]) -> None:
    assert scopes_of(claims) == ["authenticated", *scopes]


@pytest.mark.parametrize(
    "scope", ["read\u00a0admin", "read\tadmin", "read\u3000admin", "read\u0085admin"]
)
def test_no_whitespace_but_space_grants_a_scope_through_the_middleware(
    settings: JWTSettings, scope: str
) -> None:
    client = TestClient(build_app(settings))
    reply = client.get("/private", headers=bearer(mint_token(scope=scope)))
    assert reply.status_code == 200
    assert "admin" not in reply.json()["scopes"]


#: Characters that make or break a scope token: valid ones, the one separator, and
#: look-alikes, quotes, backslashes and controls that must never split or pass.
_SCOPE_ALPHABET = 'ab:/. \u00a0\t\n"\\\u3000\x7f\x00é'


def _each_token_checked(raw: str) -> list[str]:
    """The rule scopes_from keeps, token by token, as a reference."""
    return list(dict.fromkeys(item for item in raw.split(" ") if _is_scope_token(item)))


def _is_scope_token(item: str) -> bool:
    return bool(item) and all("\x21" <= char <= "\x7e" and char not in '"\\' for char in item)


@given(raw=st.text(alphabet=_SCOPE_ALPHABET, max_size=24))
def test_a_scope_string_reads_as_its_tokens_checked_one_by_one(raw: str) -> None:
    # scopes_from matches a wholly valid string once rather than each token: the same result.
    assert scopes_from({"scope": raw}, ["scope"]) == _each_token_checked(raw)
