"""DPoP end to end with real peers: a real OpenID provider issues the DPoP-bound token and a
real DPoP client proves each request.

The client is panva's ``dpop`` (:mod:`tests.dpop.client`): it makes the key pair, the proof
of the token request, and the proof of every request to the app; and, in Python,
``requests-oauth2client`` (the maintained Python OAuth client with DPoP; Authlib has none
yet), which does the whole flow itself over HTTP, server nonces included. The provider is
``oidc-provider`` with its ``dPoP`` feature (:mod:`tests.oidc.provider`): it checks the
token request's proof and binds the RFC 9068 access token to the client's key
(``cnf.jkt``). The middleware knows nothing but the issuer URL, the audience and its DPoP
settings. None of the three is the tests' own code, so what passes here is what a
deployment with these peers sees: the token works with its key's proofs, and not when it
is replayed with another key, at another URL, with another method, or after the window.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from typing import Any

import jwt
import pytest
import requests
from requests_oauth2client import DPoPToken, OAuth2Client
from starlette.testclient import TestClient

from jwt_middleware import JWTSettings
from jwt_middleware.refusals import Reason
from jwt_middleware.verification.dpop_authenticator import DPoPAuthenticator
from tests.dpop.client import ClientKey, DPoPClient
from tests.dpop.proofs import BASE_URL, PRIVATE_URL, thumbprint
from tests.helpers import build_app
from tests.oidc.provider import (
    SERVICE_CLIENT_ID,
    OpenIDProvider,
    ProviderConfig,
    ResourceServer,
    generate_jwk,
)
from tests.servers import free_port, serve

pytestmark = pytest.mark.oidc

#: The resource indicator the client asks for: the tokens' audience.
API = BASE_URL + "/"
#: The proof algorithms both the provider and the middleware accept.
PROOF_ALGORITHMS = ["ES256", "Ed25519", "PS256", "RS256"]


@pytest.fixture(scope="module")
def provider() -> Iterator[OpenIDProvider]:
    config = ProviderConfig(
        keys=[generate_jwk("ES256", "provider-es256")],
        resources={API: ResourceServer(alg="ES256", scope="read")},
    )
    with OpenIDProvider(config, issuer_path="/realms/dpop") as op:
        yield op


@pytest.fixture(scope="module")
def client() -> Iterator[DPoPClient]:
    with DPoPClient() as running:
        yield running


def dpop_settings(
    provider: OpenIDProvider, base_url: str = BASE_URL, **changes: Any
) -> JWTSettings:
    """The middleware configured as a user would: the issuer (found by discovery), the
    audience, and DPoP under the URL clients call."""
    return JWTSettings(
        issuer=provider.issuer,
        audience=API,
        algorithms=["ES256"],
        dpop_enabled=True,
        dpop_base_url=base_url,
        _env_file=None,
        **changes,
    )


def bound_token(provider: OpenIDProvider, key: ClientKey) -> str:
    """A token bound to ``key``, from the client_credentials grant with the client's proof
    of the token request."""
    proof = key.proof("POST", provider.token_endpoint)
    answer = provider.client_credentials_answer(API, "read", dpop_proof=proof)
    assert answer["token_type"] == "DPoP"
    return str(answer["access_token"])


def proved(token: str, proof: str) -> dict[str, str]:
    return {"Authorization": f"DPoP {token}", "DPoP": proof}


@pytest.mark.parametrize("alg", PROOF_ALGORITHMS)
def test_a_token_from_the_provider_is_accepted_with_its_keys_proof(
    provider: OpenIDProvider, client: DPoPClient, alg: str
) -> None:
    key = client.key(alg)
    token = bound_token(provider, key)
    # The provider bound it to the thumbprint the tests work out themselves (RFC 7638).
    assert jwt.decode(token, options={"verify_signature": False})["cnf"] == {"jkt": key.jkt}
    with TestClient(build_app(dpop_settings(provider)), base_url=BASE_URL) as http:
        proof = key.proof("GET", PRIVATE_URL, token=token)
        answer = http.get("/private", headers=proved(token, proof))
        assert answer.status_code == 200
        assert (answer.json()["user_id"], answer.json()["scopes"]) == (
            SERVICE_CLIENT_ID,
            ["authenticated", "read"],
        )
        fresh = key.proof("GET", PRIVATE_URL, token=token)
        assert http.get("/private", headers=proved(token, fresh)).status_code == 200
        replayed = http.get("/private", headers=proved(token, proof))
        assert replayed.status_code == 401
        assert 'error="invalid_dpop_proof"' in replayed.headers["www-authenticate"]
        as_bearer = http.get("/private", headers={"Authorization": f"Bearer {token}"})
        assert as_bearer.status_code == 401
        # RFC 9449 sections 7.1 and 7.2: refused, and told which scheme the token needs.
        challenges = as_bearer.headers["www-authenticate"]
        assert challenges.startswith('Bearer realm="api", error="invalid_token"')
        assert ', DPoP realm="api", error="invalid_token", ' in challenges


def _later(seconds: int) -> Any:
    return lambda: time.time() + seconds


#: What is done with the owner's token: who proves (``thief``: another key of the client),
#: the proof's method and URL, the request's method, whether it arrives after the window,
#: and the reason logged and the error answered.
MISUSES = [
    pytest.param(
        "thief", "GET", PRIVATE_URL, "GET", False, Reason.DPOP_BINDING, "invalid_token",
        id="another-key",
    ),
    pytest.param(
        "owner", "GET", BASE_URL + "/posts", "GET", False, Reason.DPOP_REQUEST,
        "invalid_dpop_proof", id="another-url",
    ),
    pytest.param(
        "owner", "GET", PRIVATE_URL, "POST", False, Reason.DPOP_REQUEST, "invalid_dpop_proof",
        id="another-method",
    ),
    pytest.param(
        "owner", "GET", PRIVATE_URL, "GET", True, Reason.DPOP_TIME, "invalid_dpop_proof",
        id="after-the-window",
    ),
]  # fmt: skip


@pytest.mark.parametrize(("prover", "htm", "htu", "method", "late", "reason", "error"), MISUSES)
def test_the_token_used_otherwise_is_refused(
    caplog: pytest.LogCaptureFixture,
    provider: OpenIDProvider,
    client: DPoPClient,
    prover: str,
    htm: str,
    htu: str,
    method: str,
    late: bool,
    reason: Reason,
    error: str,
) -> None:
    """The token of the owner's key, with a proof the real client made: by a thief's key
    (for the right request), for another URL or method, or received after the proof
    window (the authenticator's clock a second past ``JWT_DPOP_PROOF_SECONDS`` plus the
    leeway; the token itself still valid). Each is refused for its own reason, logged."""
    owner = client.key()
    token = bound_token(provider, owner)
    key = client.key() if prover == "thief" else owner
    settings = dpop_settings(provider)
    options: dict[str, Any] = {}
    if late:
        window = settings.dpop_proof_seconds + settings.leeway_seconds
        options["authenticators"] = [
            DPoPAuthenticator.from_settings(settings, clock=_later(window + 1))
        ]
    proof = key.proof(htm, htu, token=token)
    caplog.set_level(logging.INFO, logger="jwt_middleware")
    with TestClient(build_app(settings, **options), base_url=BASE_URL) as http:
        answer = http.request(method, "/private", headers=proved(token, proof))
    assert answer.status_code == 401
    lines = [r.getMessage() for r in caplog.records if r.name == "jwt_middleware.refusals"]
    assert lines == [f"refused: reason={reason.value}"]
    assert answer.headers["www-authenticate"].startswith(f'DPoP realm="api", error="{error}"')


@pytest.mark.parametrize("nonces", [False, True], ids=["no-nonces", "server-nonces"])
def test_a_python_client_gets_a_bound_token_and_calls_the_app_over_http(
    provider: OpenIDProvider, nonces: bool
) -> None:
    """``requests-oauth2client`` asks the provider for a DPoP-bound token (its own key, its
    own proof) and calls the app on a real server with it, each request with a fresh proof
    of its own making; with server nonces on, it is told one and sends the request again
    with it, by itself. The proof of an accepted request, sent again, is refused."""
    session = requests.Session()
    session.trust_env = False  # loopback only, whatever proxy the environment names
    oauth = OAuth2Client(
        provider.token_endpoint,
        provider.service_client,
        session=session,
        dpop_bound_access_tokens=True,
        testing=True,  # the provider is plain http on loopback
    )
    token = oauth.client_credentials(scope="read", resource=API)
    assert isinstance(token, DPoPToken)
    claims = jwt.decode(token.access_token, options={"verify_signature": False})
    assert claims["cnf"] == {"jkt": thumbprint(dict(token.dpop_key.public_jwk))}
    port = free_port()
    origin = f"http://127.0.0.1:{port}"
    nonce_settings: dict[str, Any] = (
        {"dpop_nonce": True, "dpop_nonce_secret": "a-nonce-secret-for-this-test-only-7c41e0b9"}
        if nonces
        else {}
    )
    app = build_app(dpop_settings(provider, origin, **nonce_settings))
    with serve(app, port=port), session:
        first = session.get(f"{origin}/private", auth=token, timeout=10)
        assert (first.status_code, first.json()["user_id"]) == (200, SERVICE_CLIENT_ID)
        assert (token.dpop_key.rs_nonce is not None) is nonces
        assert session.get(f"{origin}/private", auth=token, timeout=10).status_code == 200
        sent = first.request.headers
        replayed = session.get(
            f"{origin}/private",
            headers={"Authorization": sent["Authorization"], "DPoP": sent["DPoP"]},
            timeout=10,
        )
    assert replayed.status_code == 401
    assert 'error="invalid_dpop_proof"' in replayed.headers["www-authenticate"]
