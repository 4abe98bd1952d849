"""The DPoP path has a verifier and a verified-token cache of its own, so a DPoP-bound
token it accepted is never answered from the cache the bearer path reads first: a stolen
DPoP token does not work as a bearer token, however recently its owner used it."""

from __future__ import annotations

import pytest

from jwt_middleware import (
    BearerAuthenticator,
    ConfigurationError,
    JWTAuthMiddleware,
    JWTSettings,
    TokenVerifier,
)
from jwt_middleware.verification.chain import AuthenticatorChain
from jwt_middleware.verification.dpop_authenticator import DPoPAuthenticator
from tests.asgi import call, http_scope, scope_headers
from tests.dpop.proofs import DPOP_SETTINGS, PyJWTKey, bound_token, dpop_headers
from tests.helpers import bearer, build_app, case_blind_app


@pytest.mark.parametrize("first_as_bearer", [False, True], ids=["dpop-first", "bearer-first"])
def test_a_dpop_token_is_refused_as_bearer_after_the_dpop_path_accepted_it(
    first_as_bearer: bool,
) -> None:
    """Fails if the two paths share a cache: the bearer path would find the token there."""
    app = build_app(JWTSettings(**DPOP_SETTINGS))
    key = PyJWTKey()
    token = bound_token(key.jkt)
    as_bearer = http_scope("/private", headers=scope_headers(bearer(token)), raw_path=b"/private")
    if first_as_bearer:
        assert call(app, as_bearer).status == 401
    as_dpop = http_scope(
        "/private", headers=dpop_headers(token, key.proof(token=token)), raw_path=b"/private"
    )
    assert call(app, as_dpop).status == 200
    refused = call(app, as_bearer)
    assert refused.status == 401
    assert refused.headers["www-authenticate"].startswith(
        'Bearer realm="api", error="invalid_token"'
    )


def test_the_two_paths_are_built_with_caches_of_their_own() -> None:
    middleware = JWTAuthMiddleware(case_blind_app, settings=JWTSettings(**DPOP_SETTINGS))
    dpop, bearer_path = middleware.authenticators
    assert isinstance(dpop, DPoPAuthenticator)
    assert isinstance(bearer_path, BearerAuthenticator)
    assert dpop.verifier is not bearer_path.verifier
    assert dpop.verifier.dpop
    assert not bearer_path.verifier.dpop
    key = PyJWTKey()
    token = bound_token(key.jkt)
    scope = http_scope(
        "/private", headers=dpop_headers(token, key.proof(token=token)), raw_path=b"/private"
    )
    assert AuthenticatorChain([dpop, bearer_path]).authenticate_now(scope) is not None
    assert dpop.verifier.cached(token) is not None
    assert bearer_path.verifier.cached(token) is None


def test_a_bearer_authenticator_refuses_a_dpop_verifier() -> None:
    verifier = TokenVerifier(JWTSettings(**DPOP_SETTINGS), dpop=True)
    with pytest.raises(ConfigurationError, match="DPoP verifier"):
        BearerAuthenticator(verifier)


def test_a_dpop_authenticator_refuses_a_bearer_verifier() -> None:
    settings = JWTSettings(**DPOP_SETTINGS)
    with pytest.raises(ConfigurationError, match="its own verifier"):
        DPoPAuthenticator.from_settings(settings, TokenVerifier(settings))
