"""What turns certificate-bound tokens on, what start-up refuses (naming the variable),
how the paths are built (a verifier and cache of their own), and what the RFC 9728
document says."""

from __future__ import annotations

from typing import Any

import pytest

from jwt_middleware import (
    BearerAuthenticator,
    CertificateBoundAuthenticator,
    ConfigurationError,
    JWTAuthMiddleware,
    JWTSettings,
    TokenVerifier,
)
from jwt_middleware.edge.client_certificate import ClientCertificates
from jwt_middleware.verification.chain import AuthenticatorChain
from tests.asgi import call, http_scope
from tests.dpop.proofs import DPOP_SETTINGS
from tests.helpers import SECRET, build_app, case_blind_app
from tests.mtls.certificates import PKI
from tests.mtls.requests import ALICE_TOKEN, NGINX_HEADER, mtls_settings, request, tls

RESOURCE = "https://api.example.com/private"


@pytest.mark.parametrize(
    ("values", "variable"),
    [
        pytest.param(
            {"client_cert_header": NGINX_HEADER}, "JWT_CLIENT_CERT_HEADER", id="header-off"
        ),
        pytest.param({"trusted_proxies": "10.0.0.1"}, "JWT_TRUSTED_PROXIES", id="proxies-off"),
        pytest.param(
            {"mtls_enabled": True, "client_cert_header": NGINX_HEADER},
            "JWT_CLIENT_CERT_HEADER needs JWT_TRUSTED_PROXIES",
            id="header-without-proxies",
        ),
        pytest.param(
            {"mtls_enabled": True, "trusted_proxies": "10.0.0.1"},
            "JWT_TRUSTED_PROXIES is only for JWT_CLIENT_CERT_HEADER",
            id="proxies-without-header",
        ),
        pytest.param(
            {"mtls_enabled": True, "client_cert_header": "x", "trusted_proxies": "10.0.0.1/8"},
            "JWT_TRUSTED_PROXIES must list",
            id="host-bits-in-a-range",
        ),
        pytest.param(
            {"mtls_enabled": True, "client_cert_header": "x", "trusted_proxies": "proxy.local"},
            "JWT_TRUSTED_PROXIES must list",
            id="a-name-not-an-address",
        ),
        pytest.param(
            {"mtls_enabled": True, "client_cert_header": "Cookie", "trusted_proxies": "::1"},
            "JWT_CLIENT_CERT_HEADER must be",
            id="header-with-a-meaning-of-its-own",
        ),
        pytest.param(
            {"mtls_enabled": True, "client_cert_header": "a b", "trusted_proxies": "::1"},
            "JWT_CLIENT_CERT_HEADER must be",
            id="not-a-header-name",
        ),
    ],
)
def test_a_configuration_that_cannot_work_names_its_variable(
    values: dict[str, Any], variable: str
) -> None:
    with pytest.raises(ConfigurationError, match=variable):
        JWTSettings(secret=SECRET, **values)


@pytest.mark.parametrize(
    ("written", "networks"),
    [
        pytest.param("10.0.0.7", ["10.0.0.7/32"], id="one-address"),
        pytest.param("10.0.0.0/24, ::1", ["10.0.0.0/24", "::1/128"], id="commas"),
        pytest.param("10.0.0.0/24 192.168.1.1", ["10.0.0.0/24", "192.168.1.1/32"], id="spaces"),
        pytest.param(["fd00::/8"], ["fd00::/8"], id="a-list"),
    ],
)
def test_trusted_proxies_are_addresses_and_ranges(written: Any, networks: list[str]) -> None:
    settings = mtls_settings(client_cert_header=NGINX_HEADER, trusted_proxies=written)
    assert [str(network) for network in settings.trusted_proxies] == networks


def test_the_environment_turns_it_on(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JWT_MTLS_ENABLED", "true")
    monkeypatch.setenv("JWT_CLIENT_CERT_HEADER", "X-Forwarded-Client-Cert")
    monkeypatch.setenv("JWT_TRUSTED_PROXIES", "127.0.0.1,10.1.0.0/16")
    sources = ClientCertificates.from_settings(JWTSettings(secret=SECRET))
    assert sources.header == b"x-forwarded-client-cert"
    assert sources.header_format == "envoy"
    assert [str(network) for network in sources.trusted] == ["127.0.0.1/32", "10.1.0.0/16"]


def test_the_two_paths_are_built_with_caches_of_their_own() -> None:
    middleware = JWTAuthMiddleware(case_blind_app, settings=mtls_settings())
    certificate_path, bearer_path = middleware.authenticators
    assert isinstance(certificate_path, CertificateBoundAuthenticator)
    assert isinstance(bearer_path, BearerAuthenticator)
    assert certificate_path.verifier.certificate_bound
    assert not bearer_path.verifier.certificate_bound
    chain = AuthenticatorChain([certificate_path, bearer_path])
    assert chain.authenticate_now(request(extensions=tls(PKI.alice.pem))) is not None
    assert certificate_path.verifier.cached(ALICE_TOKEN) is not None
    assert bearer_path.verifier.cached(ALICE_TOKEN) is None


def test_dpop_and_mtls_come_in_this_order() -> None:
    settings = JWTSettings(**DPOP_SETTINGS, mtls_enabled=True)
    kinds = [
        type(a).__name__
        for a in JWTAuthMiddleware(case_blind_app, settings=settings).authenticators
    ]
    assert kinds == ["DPoPAuthenticator", "CertificateBoundAuthenticator", "BearerAuthenticator"]


@pytest.mark.parametrize(
    ("build", "message"),
    [
        pytest.param(
            lambda s: BearerAuthenticator(TokenVerifier(s, certificate_bound=True)),
            "certificate-bound verifier",
            id="bearer-with-a-bound-verifier",
        ),
        pytest.param(
            lambda s: CertificateBoundAuthenticator(
                TokenVerifier(s), certificates=ClientCertificates()
            ),
            "its own verifier",
            id="bound-with-a-bearer-verifier",
        ),
        pytest.param(
            lambda s: TokenVerifier(s, dpop=True, certificate_bound=True),
            "not both",
            id="one-verifier-for-both",
        ),
    ],
)
def test_parts_that_would_skip_the_certificate_are_refused(build: Any, message: str) -> None:
    with pytest.raises((ConfigurationError, ValueError), match=message):
        build(mtls_settings())


@pytest.mark.parametrize(
    ("settings", "options", "message"),
    [
        pytest.param(
            mtls_settings(),
            {"verifier": TokenVerifier(mtls_settings())},
            "JWT_MTLS_ENABLED builds its own verifier",
            id="a-verifier-of-ones-own",
        ),
        pytest.param(
            JWTSettings(**DPOP_SETTINGS, dpop_required=True, mtls_enabled=True),
            {},
            "JWT_DPOP_REQUIRED refuses bearer tokens: unset JWT_MTLS_ENABLED",
            id="dpop-required",
        ),
    ],
)
def test_a_middleware_that_would_skip_the_certificate_does_not_start(
    settings: JWTSettings, options: dict[str, Any], message: str
) -> None:
    middleware = JWTAuthMiddleware(case_blind_app, settings=settings, **options)
    assert isinstance(middleware.configuration_error, ConfigurationError)
    assert message in str(middleware.configuration_error)


@pytest.mark.parametrize("enabled", [pytest.param(True, id="on"), pytest.param(False, id="off")])
def test_the_metadata_says_certificate_bound_tokens_are_accepted(enabled: bool) -> None:
    app = build_app(mtls_settings(mtls_enabled=enabled, resource=RESOURCE, audience="api"))
    path = "/.well-known/oauth-protected-resource/private"
    document = call(app, http_scope(path, raw_path=path.encode())).json()
    if enabled:
        assert document["tls_client_certificate_bound_access_tokens"] is True
    else:
        assert "tls_client_certificate_bound_access_tokens" not in document
