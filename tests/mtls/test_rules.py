"""``mtls=`` rules (and ``Requirement(mtls=True)`` in ``scopes=``), and
``JWT_MTLS_REQUIRED``: chosen routes, or all of them, accept only a token bound to the
request's TLS client certificate; any other token is refused there (``401 invalid_token``,
``certificate_required``), and a plain bearer token still passes everywhere else. A token
bound to a DPoP key and to the certificate, proved both ways, passes too."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from jwt_middleware import ConfigurationError, JWTAuthMiddleware, JWTSettings
from jwt_middleware.access.policy import Requirement
from tests.asgi import call, http_scope
from tests.dpop.proofs import BASE_URL, DPOP_SETTINGS, PyJWTKey, bound_token, dpop_headers
from tests.helpers import SECRET, build_app, mint_token
from tests.mtls.certificates import PKI
from tests.mtls.requests import mtls_settings, request, tls

KEY = PyJWTKey()
PLAIN_TOKEN = mint_token("bob")
REQUIRED = (
    'Bearer realm="api", error="invalid_token", '
    'error_description="This resource accepts certificate-bound access tokens only."'
)
RESOURCE = "https://api.example.com/private"

#: The middleware options that ask for certificate-bound tokens on /posts/* only.
OPTIONS = [
    pytest.param({"mtls": ["/posts/*"]}, id="mtls-rule"),
    pytest.param({"scopes": {"/posts/*": Requirement(mtls=True)}}, id="requirement"),
]


def _refusals(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records]


@pytest.mark.parametrize("options", OPTIONS)
def test_a_plain_bearer_token_is_refused_where_a_rule_asks_for_a_certificate(
    caplog: pytest.LogCaptureFixture, options: dict[str, Any]
) -> None:
    app = build_app(mtls_settings(), **options)
    caplog.set_level(logging.INFO, logger="jwt_middleware")
    refused = call(app, request(PLAIN_TOKEN, path="/posts/1"))
    assert refused.status == 401
    assert refused.headers["www-authenticate"] == REQUIRED
    assert refused.json() == {
        "detail": "This resource accepts certificate-bound access tokens only."
    }
    assert _refusals(caplog) == ["refused: reason=certificate_required"]
    assert call(app, request(PLAIN_TOKEN, path="/private")).json()["user_id"] == "bob"
    with_certificate = request(path="/posts/1", extensions=tls(PKI.alice.pem))
    assert call(app, with_certificate).json()["user_id"] == "alice"


INVALID = (
    'Bearer realm="api", error="invalid_token", error_description="The access token is invalid."'
)

#: (the request, its status, the user the app sees, or the challenge of a refusal) with
#: ``JWT_MTLS_REQUIRED=true``.
REQUIRED_CASES = [
    pytest.param(request(PLAIN_TOKEN), 401, REQUIRED, id="plain-token"),
    pytest.param(
        request(PLAIN_TOKEN, extensions=tls(PKI.alice.pem)),
        401,
        REQUIRED,
        id="plain-token-with-cert",
    ),
    pytest.param(request(extensions=tls(PKI.alice.pem)), 200, "alice", id="bound-with-its-cert"),
    pytest.param(request(extensions=tls(PKI.mallory.pem)), 401, INVALID, id="bound-other-cert"),
    pytest.param(request(PLAIN_TOKEN, path="/health"), 200, None, id="public-path-anonymous"),
]


@pytest.mark.parametrize(("scope", "status", "expected"), REQUIRED_CASES)
def test_required_everywhere(scope: dict[str, Any], status: int, expected: str | None) -> None:
    answer = call(build_app(mtls_settings(mtls_required=True)), scope)
    assert answer.status == status
    if status == 200:
        assert answer.json()["user_id"] == expected
    else:
        assert answer.headers["www-authenticate"] == expected


def _dpop_request(cnf: dict[str, str], *, certificate: str | None) -> dict[str, Any]:
    token = bound_token(None, cnf=cnf)
    proof = KEY.proof(htu=BASE_URL + "/posts/1", token=token)
    return http_scope(
        "/posts/1",
        headers=dpop_headers(token, proof),
        raw_path=b"/posts/1",
        extensions=tls(certificate) if certificate is not None else None,
    )


@pytest.mark.parametrize(
    "options",
    [
        pytest.param({"mtls": ["/posts/*"]}, id="mtls-rule"),
        pytest.param({"mtls_required": True}, id="required"),
    ],
)
@pytest.mark.parametrize(
    ("cnf", "status"),
    [
        pytest.param({"jkt": KEY.jkt}, 401, id="dpop-key-only"),
        pytest.param({"jkt": KEY.jkt, "x5t#S256": PKI.alice.x5t}, 200, id="key-and-cert"),
    ],
)
def test_a_dpop_token_must_be_bound_to_the_certificate_too(
    caplog: pytest.LogCaptureFixture, options: dict[str, Any], cnf: dict[str, str], status: int
) -> None:
    required = options.pop("mtls_required", False)
    settings = JWTSettings(**DPOP_SETTINGS, mtls_enabled=True, mtls_required=required)
    app = build_app(settings, **options)
    caplog.set_level(logging.INFO, logger="jwt_middleware")
    answer = call(app, _dpop_request(cnf, certificate=PKI.alice.pem))
    assert answer.status == status
    if status == 401:
        assert answer.headers["www-authenticate"] == REQUIRED
        assert _refusals(caplog) == ["refused: reason=certificate_required"]
    else:
        assert answer.json()["user_id"] == "user-1"


def test_an_mtls_rule_without_mtls_on_does_not_start() -> None:
    settings = JWTSettings(secret=SECRET)
    middleware = JWTAuthMiddleware(build_app(settings), settings=settings, mtls=["/posts/*"])
    assert isinstance(middleware.configuration_error, ConfigurationError)
    assert "JWT_MTLS_ENABLED" in str(middleware.configuration_error)


def test_required_without_mtls_on_names_the_variable() -> None:
    with pytest.raises(ConfigurationError, match="JWT_MTLS_REQUIRED needs JWT_MTLS_ENABLED=true"):
        JWTSettings(secret=SECRET, mtls_required=True)


def test_the_environment_requires_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JWT_MTLS_ENABLED", "true")
    monkeypatch.setenv("JWT_MTLS_REQUIRED", "true")
    assert JWTSettings(secret=SECRET).mtls_required is True


@pytest.mark.parametrize(
    ("options", "changes", "variable"),
    [
        pytest.param({"cookie_name": "access"}, {}, "JWT_COOKIE_NAME", id="cookie"),
        pytest.param({"token_query_param": "t"}, {}, "token_query_param=", id="query"),
        pytest.param({}, {"token_header": "x-token"}, "JWT_TOKEN_HEADER", id="proxy-header"),
    ],
)
def test_required_with_a_way_to_send_plain_tokens_does_not_start(
    options: dict[str, Any], changes: dict[str, Any], variable: str
) -> None:
    settings = mtls_settings(mtls_required=True, **changes)
    middleware = JWTAuthMiddleware(build_app(settings), settings=settings, **options)
    assert isinstance(middleware.configuration_error, ConfigurationError)
    assert f"JWT_MTLS_REQUIRED refuses plain bearer tokens: unset {variable}" in str(
        middleware.configuration_error
    )


@pytest.mark.parametrize(
    "required", [pytest.param(True, id="required"), pytest.param(False, id="enabled")]
)
def test_the_metadata_says_certificate_bound_tokens_are_accepted(required: bool) -> None:
    """RFC 9728 section 2 has ``tls_client_certificate_bound_access_tokens`` (supported),
    and no member saying they are required, as DPoP's
    ``dpop_bound_access_tokens_required`` does: true either way."""
    settings = mtls_settings(mtls_required=required, resource=RESOURCE, audience="api")
    path = "/.well-known/oauth-protected-resource/private"
    document = call(build_app(settings), http_scope(path, raw_path=path.encode())).json()
    assert document["tls_client_certificate_bound_access_tokens"] is True
    assert document["bearer_methods_supported"] == ["header"]


@pytest.mark.parametrize(
    ("first", "second", "mtls"),
    [
        pytest.param(Requirement(mtls=True), Requirement(frozenset({"a"})), True, id="one"),
        pytest.param(Requirement(mtls=True), Requirement(dpop=True), True, id="with-dpop"),
        pytest.param(Requirement(frozenset({"a"})), Requirement(), False, id="neither"),
    ],
)
def test_an_mtls_requirement_adds_up_with_others(
    first: Requirement, second: Requirement, mtls: bool
) -> None:
    assert first.merged(second).mtls is mtls
    assert second.merged(first).mtls is mtls
    assert ("mtls" in first.merged(second).describe()) is mtls
