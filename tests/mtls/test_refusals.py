"""Every way a certificate-bound token is refused: ``401 invalid_token`` with the plain
``Bearer`` challenge (RFC 8705 has no scheme of its own), and one log line with the reason,
never the header's text. Tokens are minted with PyJWT directly; the certificates are the
tests' own (:mod:`tests.mtls.certificates`)."""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import quote

import pytest

from jwt_middleware.refusals import Reason
from tests.asgi import call
from tests.helpers import build_app, mint_token
from tests.mtls.certificates import PKI
from tests.mtls.requests import (
    CLIENT,
    ENVOY_HEADER,
    NGINX_HEADER,
    PROXY,
    mtls_settings,
    request,
    tls,
)

_GARBLED_PEM = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"
_ALICE_ENVOY = PKI.alice.envoy_header()

#: The header setting, the request, and the reason it is refused with.
CASES = [
    pytest.param(None, request(), Reason.CERTIFICATE_MISSING, id="no-certificate"),
    pytest.param(
        None,
        request(extensions=tls(PKI.mallory.pem)),
        Reason.CERTIFICATE_MISMATCH,
        id="other-certificate",
    ),
    pytest.param(
        None,
        request(extensions=tls(PKI.alice.pem, error="unknown issuer")),
        Reason.CERTIFICATE_UNTRUSTED,
        id="certificate-the-server-could-not-verify",
    ),
    pytest.param(
        None, request(extensions=tls(_GARBLED_PEM)), Reason.CERTIFICATE_MALFORMED, id="garbled-tls"
    ),
    pytest.param(
        NGINX_HEADER,
        request(peer=CLIENT, headers={NGINX_HEADER: PKI.alice.nginx_header}),
        Reason.CERTIFICATE_UNTRUSTED,
        id="header-from-untrusted-peer",
    ),
    pytest.param(
        NGINX_HEADER,
        request(peer=PROXY),
        Reason.CERTIFICATE_MISSING,
        id="proxy-without-header",
    ),
    pytest.param(
        NGINX_HEADER,
        request(peer=PROXY, headers={NGINX_HEADER: ""}),
        Reason.CERTIFICATE_MISSING,
        id="proxy-with-empty-header",
    ),
    pytest.param(
        NGINX_HEADER,
        request(peer=PROXY, headers={NGINX_HEADER: "not-a-certificate"}),
        Reason.CERTIFICATE_MALFORMED,
        id="nginx-not-pem",
    ),
    pytest.param(
        NGINX_HEADER,
        request(peer=PROXY, headers={NGINX_HEADER: quote(_GARBLED_PEM, safe="")}),
        Reason.CERTIFICATE_MALFORMED,
        id="nginx-garbled-pem",
    ),
    pytest.param(
        NGINX_HEADER,
        request(
            peer=PROXY,
            headers={NGINX_HEADER: PKI.alice.nginx_header, NGINX_HEADER.upper(): "x"},
        ),
        Reason.CERTIFICATE_MALFORMED,
        id="nginx-header-twice",
    ),
    pytest.param(
        ENVOY_HEADER,
        request(peer=PROXY, headers={ENVOY_HEADER: f"{_ALICE_ENVOY},{_ALICE_ENVOY}"}),
        Reason.CERTIFICATE_MALFORMED,
        id="envoy-two-elements",
    ),
    pytest.param(
        ENVOY_HEADER,
        request(
            peer=PROXY,
            headers={
                ENVOY_HEADER: f'Hash={PKI.mallory.sha256_hex};Cert="{PKI.alice.nginx_header}"'
            },
        ),
        Reason.CERTIFICATE_MALFORMED,
        id="envoy-hash-contradicts-cert",
    ),
    pytest.param(
        ENVOY_HEADER,
        request(peer=PROXY, headers={ENVOY_HEADER: "Hash=xyz"}),
        Reason.CERTIFICATE_MALFORMED,
        id="envoy-hash-not-hex",
    ),
    pytest.param(
        ENVOY_HEADER,
        request(peer=PROXY, headers={ENVOY_HEADER: 'Cert="unclosed'}),
        Reason.CERTIFICATE_MALFORMED,
        id="envoy-unclosed-quote",
    ),
    pytest.param(
        ENVOY_HEADER,
        request(peer=PROXY, headers={ENVOY_HEADER: "By=spiffe://x"}),
        Reason.CERTIFICATE_MISSING,
        id="envoy-without-cert-or-hash",
    ),
    pytest.param(
        None,
        request(
            mint_token("alice", cnf={"x5t#S256": PKI.alice.x5t, "jkt": "k"}),
            extensions=tls(PKI.alice.pem),
        ),
        Reason.BOUND_TOKEN,
        id="also-bound-to-a-dpop-key",
    ),
    pytest.param(
        None,
        request(mint_token("alice", cnf={"x5t#S256": 7}), extensions=tls(PKI.alice.pem)),
        Reason.MALFORMED_CLAIM,
        id="thumbprint-not-a-string",
    ),
]


@pytest.mark.parametrize(("header", "scope", "reason"), CASES)
def test_a_bound_token_without_its_certificate_is_refused(
    caplog: pytest.LogCaptureFixture, header: str | None, scope: dict[str, Any], reason: Reason
) -> None:
    app = build_app(mtls_settings(header))
    caplog.set_level(logging.INFO, logger="jwt_middleware")
    answer = call(app, scope)
    assert answer.status == 401
    assert answer.headers["www-authenticate"] == (
        'Bearer realm="api", error="invalid_token", '
        'error_description="The access token is invalid."'
    )
    assert [r.getMessage() for r in caplog.records] == [f"refused: reason={reason.value}"]


@pytest.mark.parametrize(
    "mtls_enabled", [pytest.param(False, id="mtls-off"), pytest.param(True, id="mtls-on")]
)
def test_a_bound_token_is_never_a_bearer_token(mtls_enabled: bool) -> None:
    """Off, the bearer path refuses it (any ``cnf``); on, only with its certificate, however
    recently it passed with it."""
    settings = mtls_settings() if mtls_enabled else mtls_settings(mtls_enabled=False)
    app = build_app(settings)
    if mtls_enabled:
        assert call(app, request(extensions=tls(PKI.alice.pem))).status == 200
    assert call(app, request()).status == 401
    assert call(app, request(extensions=tls(PKI.mallory.pem))).status == 401


_AS_BEARER = "This access token is DPoP-bound: send it with a DPoP proof."


def test_with_dpop_on_only_a_dpop_bound_token_is_told_of_dpop() -> None:
    """RFC 8705 section 3: a certificate-bound token without its certificate is a plain
    ``401 invalid_token``, DPoP on or not; one bound to a DPoP key as well came without
    its proof, and is told of the DPoP scheme too (RFC 9449 section 7.1)."""
    settings = mtls_settings(
        dpop_enabled=True, dpop_base_url="https://api.example.com", dpop_algorithms=["ES256"]
    )
    app = build_app(settings)
    bound_once = call(app, request(mint_token("alice", cnf={"x5t#S256": PKI.alice.x5t})))
    assert (bound_once.status, bound_once.headers["www-authenticate"]) == (
        401,
        'Bearer realm="api", error="invalid_token", '
        'error_description="The access token is invalid."',
    )
    bound_twice = mint_token("alice", cnf={"x5t#S256": PKI.alice.x5t, "jkt": "k"})
    answer = call(app, request(bound_twice))
    assert (answer.status, answer.headers["www-authenticate"]) == (
        401,
        f'Bearer realm="api", error="invalid_token", error_description="{_AS_BEARER}", '
        f'DPoP realm="api", error="invalid_token", error_description="{_AS_BEARER}", '
        'algs="ES256"',
    )
