"""Our RFC 9728 metadata, consumed by a real client: the official MCP Python SDK.

An MCP server built with the SDK (:mod:`tests.mcp.protected_server`) is protected by the
middleware, configured with nothing but its resource URL and the issuer of a real OpenID
provider (``oidc-provider`` on loopback, :mod:`tests.oidc.provider`, with dynamic client
registration open). The SDK's own client (:mod:`tests.mcp.sdk_client`) connects knowing
only the MCP URL: from the middleware's 401 it must find our metadata, from that the
provider, register itself, run the authorization code flow with PKCE for the MCP resource
(RFC 8707), and call tools with the JWT access token the provider issues, which the
middleware then verifies by the provider's discovered keys.

Everything runs twice: with an issuer at the provider's root and with an issuer path, where
RFC 8414 puts the authorization server's metadata between host and path.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Final
from urllib.parse import parse_qs, urlsplit

import httpx
import httpx2
import jwt
import pytest
from mcp.client.auth.utils import (
    extract_field_from_www_auth,
    extract_resource_metadata_from_www_auth,
    extract_scope_from_www_auth,
    get_client_metadata_scopes,
)
from mcp.shared.auth import OAuthToken, ProtectedResourceMetadata
from starlette.applications import Starlette
from starlette.testclient import TestClient

from jwt_middleware import JWTAuthMiddleware, JWTSettings
from tests.mcp.protected_server import (
    MCP_PATH,
    METADATA_PATH,
    REQUIRED_SCOPE,
    MCPEndpoint,
    RequestLog,
    ServedRequest,
    serve_protected_mcp,
)
from tests.mcp.sdk_client import (
    REDIRECT_URI,
    MemoryTokenStorage,
    ProviderBrowser,
    SentRequest,
    Session,
    run_session,
)
from tests.oidc.provider import OpenIDProvider, ProviderConfig, ResourceServer, generate_jwk

pytestmark = pytest.mark.oidc

ISSUER_PATHS = [pytest.param("", id="root-issuer"), pytest.param("/realms/mcp", id="path-issuer")]
OTHER_RESOURCE: Final = "https://other-mcp.test/mcp"
"""Another resource server of the same provider: its tokens must not open ours."""
LOGIN: Final = "alice"
# The SDK asks for the scopes of our metadata, plus offline_access because the provider
# supports it and the client registers for refresh tokens (the SDK's SEP-2207 rule).
REQUESTED_SCOPE: Final = f"{REQUIRED_SCOPE} offline_access"
MCP_HEADERS: Final = {
    "Accept": "application/json, text/event-stream",
    "Content-Type": "application/json",
}
INITIALIZE: Final = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {
        "protocolVersion": "2025-11-25",
        "capabilities": {},
        "clientInfo": {"name": "raw-httpx", "version": "0"},
    },
}


@dataclass(frozen=True)
class Deployment:
    provider: OpenIDProvider
    endpoint: MCPEndpoint
    log: RequestLog


@pytest.fixture(scope="module", params=ISSUER_PATHS)
def shared_deployment(request: pytest.FixtureRequest) -> Iterator[Deployment]:
    """The provider, then the protected MCP server that trusts it; shared by the module's
    tests, which each start with empty logs (:func:`deployment`). The MCP port is chosen first:
    the provider's resource server is the MCP URL, and the MCP server's issuer is the
    provider's."""
    endpoint = MCPEndpoint.on_a_free_port()
    config = ProviderConfig(
        keys=[generate_jwk("RS256", "mcp-key")],
        resources={
            endpoint.resource: ResourceServer(alg="RS256", scope=REQUIRED_SCOPE),
            OTHER_RESOURCE: ResourceServer(alg="RS256", scope=REQUIRED_SCOPE),
        },
        dynamic_registration=True,
        scopes=[REQUIRED_SCOPE],
    )
    with (
        OpenIDProvider(config, issuer_path=request.param) as provider,
        serve_protected_mcp(endpoint, issuer=provider.issuer) as log,
    ):
        yield Deployment(provider=provider, endpoint=endpoint, log=log)


@pytest.fixture
def deployment(shared_deployment: Deployment) -> Deployment:
    shared_deployment.log.clear()
    shared_deployment.provider.reset_stats()
    return shared_deployment


def run_client(
    deployment: Deployment, *, storage: MemoryTokenStorage, mode: str = "auto"
) -> Session:
    return run_session(
        deployment.endpoint.resource,
        ProviderBrowser(deployment.provider, login=LOGIN),
        storage,
        mode=mode,
    )


def discovery_and_token(
    deployment: Deployment, first_status: int, message: str
) -> list[SentRequest]:
    """What the SDK sends, in order, from the refused MCP request to the token."""
    provider = deployment.provider
    return [
        SentRequest("POST", deployment.endpoint.resource, first_status, message),
        SentRequest("GET", deployment.endpoint.metadata_url, 200, None),
        SentRequest("GET", provider.oauth_metadata_url, 200, None),
        SentRequest("POST", provider.registration_endpoint, 201, None),
        SentRequest("POST", provider.token_endpoint, 200, None),
    ]


def challenge_parameters(header: str) -> dict[str, str]:
    scheme, _, parameters = header.partition(" ")
    assert scheme == "Bearer"
    return dict(re.findall(r'(\w+)="([^"]*)"', parameters))


def verified_claims(token: str, deployment: Deployment) -> dict[str, object]:
    """The token verified with PyJWT alone, against the provider's published keys."""
    key = jwt.PyJWKClient(deployment.provider.jwks_uri).get_signing_key_from_jwt(token)
    claims: dict[str, object] = jwt.decode(
        token,
        key,
        algorithms=["RS256"],
        audience=deployment.endpoint.resource,
        issuer=deployment.provider.issuer,
    )
    return claims


# -- what the middleware answers, on the wire --------------------------------------------------


def test_metadata_names_the_provider_and_the_scope(deployment: Deployment) -> None:
    answer = httpx.get(deployment.endpoint.metadata_url, trust_env=False)
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "application/json"
    assert answer.json() == {
        "resource": deployment.endpoint.resource,
        "authorization_servers": [deployment.provider.issuer],
        "scopes_supported": [REQUIRED_SCOPE],
        "bearer_methods_supported": ["header"],
    }


@pytest.mark.parametrize(
    ("token_kind", "status", "expected"),
    [
        pytest.param("none", 401, {"scope": REQUIRED_SCOPE}, id="no-token"),
        pytest.param(
            "other-resource",
            401,
            {
                "error": "invalid_token",
                "error_description": "The access token is invalid.",
                "scope": REQUIRED_SCOPE,
            },
            id="token-for-another-resource",
        ),
        pytest.param(
            "no-scope",
            403,
            {
                "error": "insufficient_scope",
                "error_description": "The access token lacks the required scope.",
                "scope": REQUIRED_SCOPE,
            },
            id="token-without-the-scope",
        ),
    ],
)
def test_refused_mcp_requests_point_at_the_metadata(
    deployment: Deployment, token_kind: str, status: int, expected: dict[str, str]
) -> None:
    """Every refusal of an MCP message names our metadata (RFC 9728 section 5.1), so that a
    client can start (or, for the 403, step up) from any of them, and the scope the MCP
    endpoint needs (the MCP authorization spec's SHOULD), so that the SDK asks for that
    scope rather than every one in ``scopes_supported``; and the SDK's own parser reads
    both there. (The SDK would also try the path-based well-known URL on its own, which
    is the same URL here: this is what shows it is the challenge it reads first.)"""
    headers = dict(MCP_HEADERS)
    if token_kind != "none":
        token = refused_token(deployment, token_kind).access_token
        headers["Authorization"] = f"Bearer {token}"
    answer = httpx2.post(
        deployment.endpoint.resource, json=INITIALIZE, headers=headers, trust_env=False
    )
    assert answer.status_code == status
    assert challenge_parameters(answer.headers["www-authenticate"]) == {
        "realm": "api",
        **expected,
        "resource_metadata": deployment.endpoint.metadata_url,
    }
    assert deployment.log.served() == [ServedRequest("POST", MCP_PATH, status)]

    assert extract_resource_metadata_from_www_auth(answer) == deployment.endpoint.metadata_url
    assert extract_field_from_www_auth(answer, "error") == expected.get("error")
    assert extract_scope_from_www_auth(answer) == expected.get("scope")


def refused_token(deployment: Deployment, kind: str) -> OAuthToken:
    """A real token from the provider that the middleware refuses: ``other-resource`` is for
    :data:`OTHER_RESOURCE` (``aud``), ``no-scope`` is for the MCP server but was granted
    without :data:`REQUIRED_SCOPE` (asked for ``openid`` only)."""
    resource = OTHER_RESOURCE if kind == "other-resource" else deployment.endpoint.resource
    scope = "openid mcp:tools" if kind == "other-resource" else "openid"
    tokens = deployment.provider.authorization_code_tokens(
        login=LOGIN, scope=scope, resource=resource
    )
    return OAuthToken(access_token=tokens.access_token, expires_in=300, scope=tokens.scope)


# -- the SDK's client ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("mode", "messages_after_the_token"),
    [
        pytest.param(
            "auto",
            ["server/discover", "tools/list", "tools/call", "tools/call"],
            id="2026-protocol",
        ),
        pytest.param(
            "legacy",
            [
                "initialize",
                "notifications/initialized",
                "GET",  # the session's event stream
                "tools/list",
                "tools/call",
                "tools/call",
                "DELETE",  # the session's end
            ],
            id="initialize-handshake",
        ),
    ],
)
def test_sdk_finds_our_metadata_from_the_401_then_the_provider(
    deployment: Deployment, mode: str, messages_after_the_token: list[str]
) -> None:
    """The first MCP message is refused; the SDK reads ``resource_metadata`` from the
    challenge, fetches our metadata, then the provider's RFC 8414 metadata, registers,
    gets a token, and sends the message again; every later request carries the token and
    gets through (with the handshake, that includes the GET of the session's event stream
    and the DELETE that ends it)."""
    session = run_client(deployment, mode=mode, storage=MemoryTokenStorage())

    assert session.sent[:5] == discovery_and_token(deployment, 401, messages_after_the_token[0])
    served = deployment.log.served()
    assert served[:2] == [
        ServedRequest("POST", MCP_PATH, 401),
        ServedRequest("GET", METADATA_PATH, 200),
    ]
    assert [request.path for request in served].count(METADATA_PATH) == 1
    # The provider saw the SDK at the RFC 8414 location only (no OpenID discovery needed).
    assert deployment.provider.stats().paths == {
        urlsplit(deployment.provider.oauth_metadata_url).path: 1,
    }
    after = session.sent[5:]
    assert {(sent.url, sent.status < 300) for sent in after} == {
        (deployment.endpoint.resource, True)
    }
    assert all(request.status < 300 for request in served[2:])
    # The event stream runs beside the messages, so only the multiset is certain.
    assert sorted(sent.message or sent.method for sent in after) == sorted(messages_after_the_token)


def test_sdk_authorizes_for_the_mcp_resource_and_calls_tools(deployment: Deployment) -> None:
    """The authorization request names our resource and scope, the provider issues a JWT
    for it, the middleware accepts it, and the tools run as the user who logged in."""
    session = run_client(deployment, storage=MemoryTokenStorage())

    [authorization_url] = session.browser.authorization_urls
    query = {
        name: values[0] for name, values in parse_qs(urlsplit(authorization_url).query).items()
    }
    client_info = session.storage.client_info
    assert client_info is not None
    assert query["client_id"] == client_info.client_id
    assert query["resource"] == deployment.endpoint.resource
    assert query["scope"] == REQUESTED_SCOPE
    assert query["redirect_uri"] == REDIRECT_URI
    assert query["code_challenge_method"] == "S256"

    tokens = session.storage.tokens
    assert tokens is not None
    assert jwt.get_unverified_header(tokens.access_token)["typ"] == "at+jwt"
    claims = verified_claims(tokens.access_token, deployment)
    assert claims["aud"] == deployment.endpoint.resource
    assert (claims["sub"], claims["scope"]) == (LOGIN, REQUIRED_SCOPE)
    assert claims["client_id"] == client_info.client_id

    assert session.tool_names == ["add", "whoami"]
    assert session.sum_text == "5"
    assert session.whoami_text == LOGIN

    # A later run with the stored token goes straight in: no discovery, no login.
    again = run_client(deployment, storage=session.storage)
    assert again.browser.authorization_urls == []
    assert {sent.url for sent in again.sent} == {deployment.endpoint.resource}
    assert all(sent.status == 200 for sent in again.sent)


@pytest.mark.parametrize(
    ("token_kind", "status", "stored_scope"),
    [
        pytest.param("other-resource", 401, REQUIRED_SCOPE, id="token-for-another-resource"),
        pytest.param("no-scope", 403, "", id="token-without-the-scope"),
    ],
)
def test_sdk_with_a_refused_token_goes_back_to_the_provider(
    deployment: Deployment, token_kind: str, status: int, stored_scope: str
) -> None:
    """A stored token the middleware refuses: for another resource, a 401 ``invalid_token``,
    and the SDK authorizes afresh; without the scope, a 403 ``insufficient_scope`` with
    ``scope``, and the SDK steps up (SEP-2350: the union of what it had and the challenged
    scope). Either way it finds our metadata again, from the 401 or the 403, and registers
    (nothing but the token was stored)."""
    stored = refused_token(deployment, token_kind)
    session = run_client(deployment, storage=MemoryTokenStorage(tokens=stored))

    assert session.sent[:5] == discovery_and_token(deployment, status, "server/discover")
    [authorization_url] = session.browser.authorization_urls
    query = parse_qs(urlsplit(authorization_url).query)
    assert query["resource"] == [deployment.endpoint.resource]
    # On the 403 the SDK asks for the union of the stored token's scope (the provider
    # granted none for this resource) and the challenged one, here the same as on a 401.
    assert stored.scope == stored_scope
    assert query["scope"] == [REQUESTED_SCOPE]
    tokens = session.storage.tokens
    assert tokens is not None
    assert tokens.access_token != stored.access_token
    assert verified_claims(tokens.access_token, deployment)["scope"] == REQUIRED_SCOPE
    assert (session.sum_text, session.whoami_text) == ("5", LOGIN)


def test_the_sdk_asks_for_the_scope_of_the_endpoint_not_every_scope_supported() -> None:
    """With several scope rules, ``scopes_supported`` lists them all; the 401 of one
    endpoint names only its own, and that is what the SDK asks the provider for."""
    resource = "https://api.example.com/mcp"
    app = Starlette()
    app.add_middleware(
        JWTAuthMiddleware,
        settings=JWTSettings(issuer="https://idp.example/realms/x", resource=resource),
        scopes={"/mcp": [REQUIRED_SCOPE], "/admin": ["admin"]},
    )
    client = TestClient(app)
    challenge = client.post("/mcp")
    assert challenge.status_code == 401
    metadata = ProtectedResourceMetadata.model_validate(
        client.get("/.well-known/oauth-protected-resource/mcp").json()
    )
    assert metadata.scopes_supported == ["admin", REQUIRED_SCOPE]
    response = httpx2.Response(
        401,
        headers={"WWW-Authenticate": challenge.headers["www-authenticate"]},
        request=httpx2.Request("POST", resource),
    )
    scopes = get_client_metadata_scopes(extract_scope_from_www_auth(response), metadata)
    assert scopes == REQUIRED_SCOPE
