"""``dpop=`` rules (and ``Requirement(dpop=True)`` in ``scopes=``): chosen routes accept
only a token with its DPoP proof; a bearer token is refused there (``dpop_required``) and
still passes everywhere else."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from jwt_middleware import JWTAuthMiddleware, JWTSettings
from jwt_middleware.access.policy import Requirement
from tests.asgi import call, http_scope, scope_headers
from tests.dpop.proofs import BASE_URL, DPOP_SETTINGS, PyJWTKey, bound_token, dpop_headers
from tests.helpers import bearer, build_app, mint_token

KEY = PyJWTKey()

#: The middleware options that ask for DPoP on /posts/* only.
OPTIONS = [
    pytest.param({"dpop": ["/posts/*"]}, id="dpop-rule"),
    pytest.param({"scopes": {"/posts/*": Requirement(dpop=True)}}, id="requirement"),
]


def _bearer_request(path: str) -> dict[str, Any]:
    token = mint_token(iss="https://id.example", aud="api")
    return http_scope(path, headers=scope_headers(bearer(token)), raw_path=path.encode())


def _dpop_request(path: str) -> dict[str, Any]:
    token = bound_token(KEY.jkt)
    proof = KEY.proof(htu=BASE_URL + path, token=token)
    return http_scope(path, headers=dpop_headers(token, proof), raw_path=path.encode())


@pytest.mark.parametrize("options", OPTIONS)
def test_a_bearer_token_is_refused_where_a_rule_asks_for_dpop(
    caplog: pytest.LogCaptureFixture, options: dict[str, Any]
) -> None:
    app = build_app(JWTSettings(**DPOP_SETTINGS), **options)
    caplog.set_level(logging.INFO, logger="jwt_middleware")
    refused = call(app, _bearer_request("/posts/1"))
    assert refused.status == 401
    # Only the DPoP challenge (bearer tokens are not accepted here), with its algs (RFC
    # 9449 section 7.1).
    assert refused.headers["www-authenticate"] == (
        'DPoP realm="api", error="invalid_token", '
        'error_description="This resource accepts DPoP-bound access tokens only.", '
        'algs="ES256 EdDSA Ed25519 PS256 RS256"'
    )
    assert [r.getMessage() for r in caplog.records] == ["refused: reason=dpop_required"]
    assert call(app, _bearer_request("/private")).status == 200
    proved = call(app, _dpop_request("/posts/1"))
    assert (proved.status, proved.json()["user_id"]) == (200, "user-1")


@pytest.mark.parametrize("options", OPTIONS)
def test_a_request_without_credentials_is_offered_dpop_alone_where_a_rule_asks_for_it(
    options: dict[str, Any],
) -> None:
    app = build_app(JWTSettings(**DPOP_SETTINGS), **options)
    anonymous = http_scope("/posts/1", raw_path=b"/posts/1")
    assert call(app, anonymous).headers["www-authenticate"] == (
        'DPoP realm="api", algs="ES256 EdDSA Ed25519 PS256 RS256"'
    )
    # Elsewhere both ways in are offered, DPoP's first.
    elsewhere = call(app, http_scope("/private", raw_path=b"/private"))
    assert elsewhere.headers["www-authenticate"] == (
        'DPoP realm="api", algs="ES256 EdDSA Ed25519 PS256 RS256", Bearer realm="api"'
    )


def test_a_dpop_rule_without_dpop_on_does_not_start() -> None:
    settings = JWTSettings(**{k: v for k, v in DPOP_SETTINGS.items() if not k.startswith("dpop")})
    middleware = JWTAuthMiddleware(build_app(settings), settings=settings, dpop=["/posts/*"])
    assert middleware.configuration_error is not None
    assert "JWT_DPOP_ENABLED" in str(middleware.configuration_error)


@pytest.mark.parametrize(
    ("first", "second", "dpop"),
    [
        pytest.param(Requirement(dpop=True), Requirement(frozenset({"a"})), True, id="one"),
        pytest.param(Requirement(frozenset({"a"})), Requirement(), False, id="neither"),
    ],
)
def test_a_dpop_requirement_adds_up_with_others(
    first: Requirement, second: Requirement, dpop: bool
) -> None:
    assert first.merged(second).dpop is dpop
    assert second.merged(first).dpop is dpop
    assert ("dpop" in first.merged(second).describe()) is dpop
