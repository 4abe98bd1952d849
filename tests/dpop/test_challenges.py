"""What a client is told (RFC 9449 section 7.1, RFC 9728): a request without credentials
learns both schemes, a refused DPoP request gets a DPoP challenge (and the Bearer one while
bearer tokens pass), ``JWT_DPOP_REQUIRED`` refuses bearer tokens, and the protected
resource metadata says which proof algorithms are accepted and whether DPoP is required."""

from __future__ import annotations

from typing import Any

import pytest

from jwt_middleware import ConfigurationError, JWTAuthMiddleware, JWTSettings
from tests.asgi import call, http_scope, scope_headers
from tests.dpop.proofs import DPOP_SETTINGS, PyJWTKey, bound_token, dpop_headers
from tests.helpers import bearer, build_app, mint_token

ALGS = 'algs="ES256 EdDSA Ed25519 PS256 RS256"'
AS_BEARER = "This access token is DPoP-bound: send it with a DPoP proof."
RESOURCE = "https://api.example.com/private"
METADATA = (
    'resource_metadata="https://api.example.com/.well-known/oauth-protected-resource/private"'
)


def _app(**changes: Any) -> Any:
    return build_app(JWTSettings(**{**DPOP_SETTINGS, **changes}))


#: (settings beyond DPOP_SETTINGS, the request's headers, status, WWW-Authenticate).
CASES = [
    pytest.param({}, {}, 401, f'DPoP realm="api", {ALGS}, Bearer realm="api"', id="no-credentials"),
    pytest.param(
        {"dpop_required": True}, {}, 401, f'DPoP realm="api", {ALGS}', id="no-credentials-required"
    ),
    pytest.param(
        {"resource": RESOURCE, "audience": "api"},
        {},
        401,
        f'DPoP realm="api", {ALGS}, {METADATA}, Bearer realm="api", {METADATA}',
        id="no-credentials-with-metadata",
    ),
    pytest.param(
        {"dpop_required": True},
        bearer(mint_token(iss="https://id.example", aud="api")),
        401,
        'DPoP realm="api", error="invalid_token", error_description="This resource accepts '
        f'DPoP-bound access tokens only.", {ALGS}',
        id="bearer-when-required",
    ),
    pytest.param(
        {},
        bearer(bound_token(PyJWTKey().jkt)),
        401,
        f'Bearer realm="api", error="invalid_token", error_description="{AS_BEARER}", '
        f'DPoP realm="api", error="invalid_token", error_description="{AS_BEARER}", {ALGS}',
        id="bound-token-as-bearer",
    ),
    pytest.param(
        {"resource": RESOURCE},
        bearer(bound_token(PyJWTKey().jkt)),
        401,
        f'Bearer realm="api", error="invalid_token", error_description="{AS_BEARER}", '
        f'{METADATA}, DPoP realm="api", error="invalid_token", '
        f'error_description="{AS_BEARER}", {ALGS}, {METADATA}',
        id="bound-token-as-bearer-with-metadata",
    ),
    pytest.param(
        {"dpop_algorithms": ["ES256"]},
        bearer(bound_token(PyJWTKey().jkt)),
        401,
        f'Bearer realm="api", error="invalid_token", error_description="{AS_BEARER}", '
        f'DPoP realm="api", error="invalid_token", error_description="{AS_BEARER}", '
        'algs="ES256"',
        id="bound-token-as-bearer-one-algorithm",
    ),
    pytest.param(
        {},
        {"Authorization": "Basic dXNlcjpwYXNz"},
        401,
        f'DPoP realm="api", {ALGS}, Bearer realm="api"',
        id="another-scheme",
    ),
]


@pytest.mark.parametrize(("changes", "headers", "status", "challenge"), CASES)
def test_the_challenge(
    changes: dict[str, Any], headers: dict[str, str], status: int, challenge: str
) -> None:
    answer = call(
        _app(**changes),
        http_scope("/private", headers=scope_headers(headers), raw_path=b"/private"),
    )
    assert answer.status == status
    assert answer.headers["www-authenticate"] == challenge


def test_bearer_tokens_still_pass_unless_dpop_is_required() -> None:
    token = mint_token(iss="https://id.example", aud="api")
    request = http_scope("/private", headers=scope_headers(bearer(token)), raw_path=b"/private")
    assert call(_app(), request).status == 200
    assert call(_app(dpop_required=True), request).status == 401


def test_dpop_passes_when_required() -> None:
    key = PyJWTKey()
    token = bound_token(key.jkt)
    request = http_scope(
        "/private", headers=dpop_headers(token, key.proof(token=token)), raw_path=b"/private"
    )
    answer = call(_app(dpop_required=True), request)
    assert (answer.status, answer.json()["user_id"]) == (200, "user-1")


def test_an_optional_path_lets_a_request_without_credentials_through() -> None:
    app = build_app(JWTSettings(**DPOP_SETTINGS), optional=["/private"])
    answer = call(app, http_scope("/private", raw_path=b"/private"))
    assert (answer.status, answer.json()["user_id"]) == (200, None)


@pytest.mark.parametrize(
    ("changes", "required"),
    [
        pytest.param({}, False, id="dpop-on"),
        pytest.param({"dpop_required": True}, True, id="required"),
    ],
)
def test_the_metadata_names_the_proof_algorithms(changes: dict[str, Any], required: bool) -> None:
    app = _app(resource=RESOURCE, audience="api", **changes)
    path = "/.well-known/oauth-protected-resource/private"
    document = call(app, http_scope(path, raw_path=path.encode())).json()
    assert document["dpop_signing_alg_values_supported"] == [
        "ES256",
        "EdDSA",
        "Ed25519",
        "PS256",
        "RS256",
    ]
    assert document["dpop_bound_access_tokens_required"] is required
    assert document["bearer_methods_supported"] == ([] if required else ["header"])


def test_the_metadata_says_nothing_of_dpop_when_it_is_off() -> None:
    settings = {k: v for k, v in DPOP_SETTINGS.items() if not k.startswith("dpop")} | {
        "resource": RESOURCE,
        "audience": "api",
    }
    app = build_app(JWTSettings(**settings))
    path = "/.well-known/oauth-protected-resource/private"
    document = call(app, http_scope(path, raw_path=path.encode())).json()
    assert "dpop_signing_alg_values_supported" not in document


@pytest.mark.parametrize(
    ("options", "changes", "variable"),
    [
        pytest.param({"cookie_name": "access"}, {}, "JWT_COOKIE_NAME", id="cookie"),
        pytest.param({"token_query_param": "t"}, {}, "token_query_param=", id="query"),
        pytest.param({}, {"token_header": "x-token"}, "JWT_TOKEN_HEADER", id="proxy-header"),
    ],
)
def test_required_dpop_with_a_way_to_send_bearer_tokens_does_not_start(
    options: dict[str, Any], changes: dict[str, Any], variable: str
) -> None:
    settings = JWTSettings(**DPOP_SETTINGS, dpop_required=True, **changes)
    middleware = JWTAuthMiddleware(build_app(settings), settings=settings, **options)
    assert middleware.configuration_error is not None
    assert variable in str(middleware.configuration_error)


def test_dpop_with_a_verifier_of_ones_own_does_not_start() -> None:
    from jwt_middleware import TokenVerifier

    settings = JWTSettings(**DPOP_SETTINGS)
    middleware = JWTAuthMiddleware(build_app(settings), verifier=TokenVerifier(settings))
    assert isinstance(middleware.configuration_error, ConfigurationError)
    assert "authenticators=" in str(middleware.configuration_error)
