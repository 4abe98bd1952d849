"""Certificate-bound tokens from a real authorization server: oidc-provider with its mTLS
feature binds a client_credentials token to the certificate the client showed (passed to
it in a header, as a TLS-terminating proxy in front of it would), and the middleware,
configured from the issuer URL, accepts that token over real TLS with that certificate
only. The thumbprint the provider wrote is the one the tests compute themselves."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path

import httpx
import jwt
import pytest

from jwt_middleware import JWTSettings
from tests.helpers import bearer, build_app
from tests.mtls.certificates import PKI, Issued
from tests.mtls.tls_server import client_context, serve_mtls, server_context
from tests.oidc.provider import OpenIDProvider, ProviderConfig, ResourceServer, generate_jwk

pytestmark = pytest.mark.oidc

API = "https://api.test/"
CERTIFICATE_HEADER = "x-ssl-client-cert"
CLIENT = ("bound-service", secrets.token_urlsafe(24))


@pytest.fixture(scope="module")
def provider() -> Iterator[OpenIDProvider]:
    config = ProviderConfig(
        keys=[generate_jwk("RS256", "key-rs256")],
        resources={API: ResourceServer(alg="RS256", scope="read")},
        mtls_certificate_header=CERTIFICATE_HEADER,
        extra_clients=[
            {
                "client_id": CLIENT[0],
                "client_secret": CLIENT[1],
                "grant_types": ["client_credentials"],
                "response_types": [],
                "redirect_uris": [],
                "token_endpoint_auth_method": "client_secret_basic",
                "tls_client_certificate_bound_access_tokens": True,
            }
        ],
    )
    with OpenIDProvider(config) as op:
        yield op


def bound_token(provider: OpenIDProvider, certificate: Issued) -> str:
    """A token the provider binds to ``certificate``, by the client_credentials grant."""
    answer = httpx.post(
        provider.token_endpoint,
        data={"grant_type": "client_credentials", "resource": API, "scope": "read"},
        auth=CLIENT,
        headers={CERTIFICATE_HEADER: certificate.nginx_header},
        trust_env=False,
    )
    assert answer.status_code == 200, answer.text
    return str(answer.json()["access_token"])


@pytest.fixture(scope="module")
def base_url(provider: OpenIDProvider, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    settings = JWTSettings(issuer=provider.issuer, audience=API, mtls_enabled=True)
    context = server_context(tmp_path_factory.mktemp("server"), require=False)
    with serve_mtls(build_app(settings), context) as url:
        yield url


def test_the_provider_binds_the_token_to_the_certificate(provider: OpenIDProvider) -> None:
    claims = jwt.decode(bound_token(provider, PKI.alice), options={"verify_signature": False})
    assert claims["cnf"] == {"x5t#S256": PKI.alice.x5t}


@pytest.mark.parametrize(
    ("presenting", "status"),
    [
        pytest.param(PKI.alice, 200, id="its-certificate"),
        pytest.param(PKI.mallory, 401, id="another-certificate"),
        pytest.param(None, 401, id="no-certificate"),
    ],
)
def test_the_providers_token_passes_with_its_certificate_only(
    provider: OpenIDProvider,
    base_url: str,
    tmp_path: Path,
    presenting: Issued | None,
    status: int,
) -> None:
    token = bound_token(provider, PKI.alice)
    verify = client_context(tmp_path, presenting)
    with httpx.Client(base_url=base_url, verify=verify, trust_env=False) as client:
        answer = client.get("/private", headers=bearer(token))
    assert answer.status_code == status
    if status == 200:
        assert answer.json()["user_id"] == CLIENT[0]
