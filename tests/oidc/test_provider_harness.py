"""The OpenID provider harness itself, checked with PyJWT and httpx only (never the library
under test): if these pass, a failing identity-provider test is about the library.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from collections.abc import Iterator
from dataclasses import replace
from urllib.parse import urlencode

import httpx
import jwt
import pytest

from tests.oidc.provider import (
    JWK,
    SERVICE_CLIENT_ID,
    SIGNING_ALGORITHMS,
    WEB_CLIENT_ID,
    OpenIDProvider,
    ProviderConfig,
    ResourceServer,
    generate_jwk,
    public_jwk,
)
from tests.servers import free_port

pytestmark = pytest.mark.oidc

ISSUER_PATHS = [pytest.param("", id="root-issuer"), pytest.param("/realms/test", id="path-issuer")]
SCOPE = "read write"
TTL_SECONDS = 120


def resource_for(alg: str) -> str:
    return f"https://api.test/{alg.lower()}"


@pytest.fixture(scope="module")
def signing_keys() -> dict[str, JWK]:
    """One private key per algorithm, kid ``key-<alg>``."""
    return {alg: generate_jwk(alg, f"key-{alg}") for alg in SIGNING_ALGORITHMS}


@pytest.fixture(scope="module")
def config(signing_keys: dict[str, JWK]) -> ProviderConfig:
    """Every key published, and a resource server per algorithm."""
    return ProviderConfig(
        keys=list(signing_keys.values()),
        resources={
            resource_for(alg): ResourceServer(
                alg=alg, scope=SCOPE, access_token_ttl_seconds=TTL_SECONDS
            )
            for alg in SIGNING_ALGORITHMS
        },
    )


@pytest.fixture(scope="module", params=ISSUER_PATHS)
def provider(request: pytest.FixtureRequest, config: ProviderConfig) -> Iterator[OpenIDProvider]:
    """Shared by the tests that do not change it; one with an issuer at the root, one with a
    path (where the OpenID and the RFC 8414 metadata locations differ)."""
    with OpenIDProvider(config, issuer_path=request.param) as running:
        yield running


def es256_config(kid: str = "es256") -> ProviderConfig:
    return ProviderConfig(
        keys=[generate_jwk("ES256", kid)],
        resources={resource_for("ES256"): ResourceServer(alg="ES256", scope=SCOPE)},
    )


def verify(token: str, provider: OpenIDProvider, *, audience: str) -> dict[str, object]:
    """``token`` verified with the key its kid names in the provider's JWKS."""
    key = jwt.PyJWKClient(provider.jwks_uri, cache_keys=False).get_signing_key_from_jwt(token)
    claims: dict[str, object] = jwt.decode(
        token,
        key,
        algorithms=[jwt.get_unverified_header(token)["alg"]],
        audience=audience,
        issuer=provider.issuer,
    )
    return claims


def kids(provider: OpenIDProvider) -> list[str]:
    return [key["kid"] for key in httpx.get(provider.jwks_uri, trust_env=False).json()["keys"]]


# -- metadata ---------------------------------------------------------------------------------


def test_openid_discovery_names_the_issuer_exactly(provider: OpenIDProvider) -> None:
    metadata = httpx.get(provider.discovery_url, trust_env=False).raise_for_status().json()
    assert metadata["issuer"] == provider.issuer
    assert provider.issuer == f"http://127.0.0.1:{provider.port}{provider.issuer_path}"
    assert metadata["jwks_uri"] == f"{provider.issuer}/jwks" == provider.jwks_uri
    assert metadata["token_endpoint"] == f"{provider.issuer}/token"
    assert "client_credentials" in metadata["grant_types_supported"]


def test_rfc8414_metadata_is_between_host_and_issuer_path(provider: OpenIDProvider) -> None:
    """Same document at /.well-known/oauth-authorization-server<path>; the provider's own
    <issuer>/.well-known/oauth-authorization-server is not where RFC 8414 looks, so a client
    that looks there must not find it."""
    openid = httpx.get(provider.discovery_url, trust_env=False).json()
    oauth = httpx.get(provider.oauth_metadata_url, trust_env=False).raise_for_status().json()
    assert oauth == openid
    misplaced = f"{provider.issuer}/.well-known/oauth-authorization-server"
    if misplaced != provider.oauth_metadata_url:
        assert httpx.get(misplaced, trust_env=False).status_code == 404


def test_jwks_publishes_the_public_part_of_each_key_in_order(
    provider: OpenIDProvider, signing_keys: dict[str, JWK]
) -> None:
    published = httpx.get(provider.jwks_uri, trust_env=False).json()["keys"]
    assert [key["kid"] for key in published] == [f"key-{alg}" for alg in SIGNING_ALGORITHMS]
    for key, mine in zip(published, signing_keys.values(), strict=True):
        assert not {"d", "p", "q", "dp", "dq", "qi"} & key.keys()
        assert {name: key[name] for name in public_jwk(mine)} == public_jwk(mine)
        assert "key_ops" not in key  # a verifier may refuse a key marked only for "sign"


# -- access tokens ----------------------------------------------------------------------------


@pytest.mark.parametrize("alg", SIGNING_ALGORITHMS)
def test_client_credentials_token_is_an_rfc9068_jwt_for_the_resource(
    provider: OpenIDProvider, signing_keys: dict[str, JWK], alg: str
) -> None:
    resource = resource_for(alg)
    token = provider.client_credentials_token(resource, "read write admin")

    header = jwt.get_unverified_header(token)
    assert header == {"alg": alg, "typ": "at+jwt", "kid": f"key-{alg}"}
    claims = verify(token, provider, audience=resource)
    assert claims["aud"] == resource
    assert claims["iss"] == provider.issuer
    assert claims["scope"] == "read write"  # "admin" is not the resource server's
    assert claims["client_id"] == claims["sub"] == SERVICE_CLIENT_ID
    expires, issued = claims["exp"], claims["iat"]
    assert isinstance(expires, int)
    assert isinstance(issued, int)
    assert expires - issued == TTL_SECONDS
    # The key we generated, not only the one the provider publishes, verifies it.
    own_key = jwt.PyJWK(public_jwk(signing_keys[alg]))
    jwt.decode(token, own_key, algorithms=[alg], audience=resource, issuer=provider.issuer)


def test_scope_is_omitted_when_none_asked_for(provider: OpenIDProvider) -> None:
    token = provider.client_credentials_token(resource_for("ES256"))
    assert "scope" not in verify(token, provider, audience=resource_for("ES256"))


def test_unknown_resource_is_refused(provider: OpenIDProvider) -> None:
    with pytest.raises(RuntimeError, match="invalid_target"):
        provider.client_credentials_token("https://unknown.test/api")


# -- authorization code flow ------------------------------------------------------------------


def test_id_token_from_the_code_flow(provider: OpenIDProvider) -> None:
    token = provider.id_token(login="alice")
    assert jwt.get_unverified_header(token).get("typ") != "at+jwt"
    claims = verify(token, provider, audience=WEB_CLIENT_ID)
    assert claims["sub"] == "alice"
    assert claims["aud"] == WEB_CLIENT_ID
    assert "nonce" in claims


def test_code_flow_access_token_for_a_resource_carries_the_user(provider: OpenIDProvider) -> None:
    resource = resource_for("PS256")
    tokens = provider.authorization_code_tokens(login="bob", scope="openid read", resource=resource)
    claims = verify(tokens.access_token, provider, audience=resource)
    assert jwt.get_unverified_header(tokens.access_token)["typ"] == "at+jwt"
    assert (claims["sub"], claims["client_id"], claims["scope"]) == ("bob", WEB_CLIENT_ID, "read")
    assert verify(tokens.id_token, provider, audience=WEB_CLIENT_ID)["sub"] == "bob"


# -- several providers, restarts --------------------------------------------------------------


def test_two_providers_with_the_same_kid_and_different_keys() -> None:
    with (
        OpenIDProvider(es256_config("shared")) as first,
        OpenIDProvider(es256_config("shared")) as second,
    ):
        assert first.port != second.port
        assert kids(first) == kids(second) == ["shared"]
        resource = resource_for("ES256")
        token = first.client_credentials_token(resource)
        verify(token, first, audience=resource)
        other_key = jwt.PyJWKClient(second.jwks_uri).get_signing_key("shared")
        with pytest.raises(jwt.InvalidSignatureError):
            jwt.decode(token, other_key, algorithms=["ES256"], audience=resource)


def test_restart_with_a_new_key_first_signs_with_it_and_keeps_port_and_issuer() -> None:
    old = es256_config("old")
    resource = resource_for("ES256")
    with OpenIDProvider(old, issuer_path="/realms/rotation") as provider:
        port, issuer = provider.port, provider.issuer
        old_token = provider.client_credentials_token(resource)

        provider.restart(replace(old, keys=[generate_jwk("ES256", "new"), *old.keys]))
        assert (provider.port, provider.issuer) == (port, issuer)
        assert kids(provider) == ["new", "old"]
        new_token = provider.client_credentials_token(resource)
        assert jwt.get_unverified_header(new_token)["kid"] == "new"
        verify(new_token, provider, audience=resource)
        verify(old_token, provider, audience=resource)  # still published

        provider.restart(replace(provider.config, keys=provider.config.keys[:1]))
        assert kids(provider) == ["new"]
        with pytest.raises(jwt.PyJWKClientError):
            verify(old_token, provider, audience=resource)


def test_stop_takes_the_provider_down_and_start_brings_it_back() -> None:
    with OpenIDProvider(es256_config()) as provider:
        issuer = provider.issuer
        provider.stop()
        with pytest.raises(httpx.ConnectError):
            httpx.get(provider.discovery_url, trust_env=False)
        provider.stop()  # twice is fine
        provider.start()
        assert provider.issuer == issuer
        metadata = httpx.get(provider.discovery_url, trust_env=False).raise_for_status().json()
        assert metadata["issuer"] == issuer


def test_the_provider_stops_when_the_test_fails() -> None:
    with pytest.raises(ZeroDivisionError), OpenIDProvider(es256_config()) as provider:  # noqa: PT012
        url = provider.discovery_url
        assert httpx.get(url, trust_env=False).status_code == 200
        _ = 1 / 0
    with pytest.raises(httpx.ConnectError):
        httpx.get(url, trust_env=False)


# -- switches ---------------------------------------------------------------------------------


@pytest.mark.parametrize("issuer_path", ISSUER_PATHS)
def test_openid_discovery_off_leaves_rfc8414_metadata(issuer_path: str) -> None:
    config = replace(es256_config(), openid_discovery=False)
    with OpenIDProvider(config, issuer_path=issuer_path) as provider:
        assert httpx.get(provider.discovery_url, trust_env=False).status_code == 404
        oauth = httpx.get(provider.oauth_metadata_url, trust_env=False)
        assert oauth.status_code == 200
        assert oauth.json()["issuer"] == provider.issuer
        assert oauth.json()["jwks_uri"] == provider.jwks_uri
        stats = provider.stats()
        assert (stats.openid_configuration, stats.oauth_authorization_server) == (1, 1)


def test_metadata_issuer_switch_claims_another_issuer_in_both_documents() -> None:
    port = free_port()  # the issuer is known before the provider starts
    wrong = f"http://127.0.0.1:{port}/realms/test/"  # one trailing slash off
    config = replace(es256_config(), metadata_issuer=wrong)
    with OpenIDProvider(config, issuer_path="/realms/test", port=port) as provider:
        assert provider.issuer == wrong.rstrip("/")
        for url in (provider.discovery_url, provider.oauth_metadata_url):
            assert httpx.get(url, trust_env=False).json()["issuer"] == wrong
        # Tokens keep the real issuer: only the metadata lies.
        token = provider.client_credentials_token(resource_for("ES256"))
        assert verify(token, provider, audience=resource_for("ES256"))["iss"] == provider.issuer


def test_dynamic_registration_is_off_by_default(provider: OpenIDProvider) -> None:
    metadata = httpx.get(provider.oauth_metadata_url, trust_env=False).json()
    assert "registration_endpoint" not in metadata
    assert metadata["scopes_supported"] == ["openid", "offline_access"]


@pytest.mark.parametrize("issuer_path", ISSUER_PATHS)
def test_dynamically_registered_native_client_gets_a_token_for_a_resource(
    issuer_path: str,
) -> None:
    """RFC 7591 registration, then a code flow through :meth:`follow_authorization` as an MCP
    client runs it: a public native client, PKCE, no ``openid``, a resource indicator."""
    resource = resource_for("ES256")
    config = replace(es256_config(), dynamic_registration=True, scopes=["read"])
    with OpenIDProvider(config, issuer_path=issuer_path) as provider:
        metadata = httpx.get(provider.oauth_metadata_url, trust_env=False).json()
        assert metadata["registration_endpoint"] == provider.registration_endpoint
        assert metadata["scopes_supported"] == ["openid", "offline_access", "read"]
        redirect_uri = "http://127.0.0.1/callback"
        registration = {
            "redirect_uris": [redirect_uri],
            "application_type": "native",
            "token_endpoint_auth_method": "none",
            "scope": "read",
        }
        registered = httpx.post(provider.registration_endpoint, json=registration, trust_env=False)
        assert registered.status_code == 201, registered.text
        client_id = registered.json()["client_id"]

        verifier = secrets.token_urlsafe(48)
        digest = hashlib.sha256(verifier.encode()).digest()
        query = {
            "client_id": client_id,
            "response_type": "code",
            "redirect_uri": redirect_uri,
            "scope": "read",
            "state": "the-state",
            "code_challenge": base64.urlsafe_b64encode(digest).rstrip(b"=").decode(),
            "code_challenge_method": "S256",
            "resource": resource,
        }
        url = f"{metadata['authorization_endpoint']}?{urlencode(query)}"
        params = provider.follow_authorization(url, redirect_uri=redirect_uri, login="carol")
        assert params.keys() == {"code", "state", "iss"}
        assert (params["state"], params["iss"]) == ("the-state", provider.issuer)

        form = {
            "grant_type": "authorization_code",
            "client_id": client_id,
            "code": params["code"],
            "redirect_uri": redirect_uri,
            "code_verifier": verifier,
            "resource": resource,
        }
        answer = httpx.post(provider.token_endpoint, data=form, trust_env=False)
        assert answer.status_code == 200, answer.text
        claims = verify(answer.json()["access_token"], provider, audience=resource)
        assert (claims["sub"], claims["client_id"], claims["scope"]) == ("carol", client_id, "read")


# -- counters ---------------------------------------------------------------------------------


def test_stats_count_jwks_and_metadata_fetches(provider: OpenIDProvider) -> None:
    provider.reset_stats()
    assert provider.stats().jwks == 0
    jwks_client = jwt.PyJWKClient(provider.jwks_uri, cache_jwk_set=False)
    jwks_client.get_jwk_set()
    jwks_client.get_jwk_set()
    httpx.get(provider.discovery_url, trust_env=False)
    provider.client_credentials_token(resource_for("RS256"))  # no GET of either

    stats = provider.stats()
    assert (stats.jwks, stats.openid_configuration, stats.oauth_authorization_server) == (2, 1, 0)
    assert stats.paths[f"{provider.issuer_path}/jwks"] == 2
    provider.reset_stats()
    assert provider.stats().jwks == 0
    assert provider.stats().paths == {}


# -- configuration checked before Node runs ---------------------------------------------------


@pytest.mark.parametrize(
    ("keys", "resource_server"),
    [
        pytest.param(["RS256"], ResourceServer(alg="ES256"), id="no-key-of-the-type"),
        pytest.param(["ES256"], ResourceServer(alg="ES384"), id="wrong-curve"),
        pytest.param(["RS256"], ResourceServer(alg="PS256"), id="rsa-key-bound-to-rs256"),
        pytest.param(["ES256"], ResourceServer(alg="ES256", kid="other"), id="unknown-kid"),
    ],
)
def test_config_without_a_key_for_a_resource_is_refused(
    signing_keys: dict[str, JWK], keys: list[str], resource_server: ResourceServer
) -> None:
    with pytest.raises(ValueError, match="no key for"):
        ProviderConfig(
            keys=[signing_keys[alg] for alg in keys],
            resources={"https://api.test/": resource_server},
        )
