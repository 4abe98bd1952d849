"""Several issuers, audiences and algorithms: a token's ``iss`` selects whose keys may
verify it, and each issuer's own audience and algorithms apply to its tokens.

The two issuers' key sets are served by a real HTTP server on loopback (each issuer names its
own ``jwks_url``, so no discovery is involved; discovery is tested against a real OpenID
provider in ``tests/oidc``).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from jwt_middleware import (
    ConfigurationError,
    InvalidTokenError,
    JWTSettings,
    TokenExpiredError,
    TokenVerifier,
)
from tests.servers import serve

SECRET = "issuers-test-secret-that-is-long-enough-012345"
KEY_A = rsa.generate_private_key(public_exponent=65537, key_size=2048)
KEY_B = rsa.generate_private_key(public_exponent=65537, key_size=2048)
KEY_E = ec.generate_private_key(ec.SECP256R1())
ISSUER_A = "https://a.example"
ISSUER_B = "https://b.example"


def _jwk(key: Any, kid: str) -> dict[str, Any]:
    algorithm = ECAlgorithm if isinstance(key, ec.EllipticCurvePrivateKey) else RSAAlgorithm
    jwk: dict[str, Any] = algorithm.to_jwk(key.public_key(), as_dict=True)
    jwk["kid"] = kid
    return jwk


@pytest.fixture(scope="module")
def key_sets() -> Iterator[str]:
    """A loopback server: /a publishes A's key and /b B's, both under the kid "shared"."""
    documents = {
        "a": {"keys": [_jwk(KEY_A, "shared"), _jwk(KEY_E, "ec")]},
        "b": {"keys": [_jwk(KEY_B, "shared")]},
    }

    async def key_set(request: Request) -> JSONResponse:
        return JSONResponse(documents[request.path_params["name"]])

    with serve(Starlette(routes=[Route("/{name}", key_set)])) as base_url:
        yield base_url


def _token(key: Any, algorithm: str = "RS256", kid: str = "shared", **claims: Any) -> str:
    now = int(time.time())
    payload = {"sub": "user", "iat": now, "exp": now + 600, **claims}
    return jwt.encode(payload, key, algorithm=algorithm, headers={"kid": kid})


def _verifier(key_sets: str, **overrides: Any) -> TokenVerifier:
    options: dict[str, Any] = {
        "issuer": [
            {"issuer": ISSUER_A, "jwks_url": f"{key_sets}/a", "algorithms": ["RS256", "ES256"]},
            {"issuer": ISSUER_B, "jwks_url": f"{key_sets}/b", "audience": "b-api"},
        ],
        "audience": "a-api",
    }
    options.update(overrides)
    return TokenVerifier(JWTSettings(**options))


def _outcome(verifier: TokenVerifier, token: str) -> str:
    async def run() -> str:
        try:
            claims = await verifier.verify_async(token)
        except InvalidTokenError as exc:
            return type(exc).__name__
        finally:
            await verifier.aclose()
        return f"ok:{claims['iss']}"

    return asyncio.run(run())


@pytest.mark.parametrize(
    ("key", "algorithm", "kid", "claims", "outcome"),
    [
        pytest.param(
            KEY_A, "RS256", "shared", {"iss": ISSUER_A, "aud": "a-api"}, "ok:" + ISSUER_A, id="a"
        ),
        pytest.param(
            KEY_B,
            "RS256",
            "shared",
            {"iss": ISSUER_B, "aud": "b-api"},
            "ok:" + ISSUER_B,
            id="b-own-audience",
        ),
        pytest.param(
            KEY_B,
            "RS256",
            "shared",
            {"iss": ISSUER_A, "aud": "a-api"},
            "InvalidTokenError",
            id="names-a-signed-by-b",
        ),
        pytest.param(
            KEY_A,
            "RS256",
            "shared",
            {"iss": ISSUER_B, "aud": "b-api"},
            "InvalidTokenError",
            id="names-b-signed-by-a",
        ),
        pytest.param(
            KEY_B,
            "RS256",
            "shared",
            {"iss": ISSUER_B, "aud": "a-api"},
            "InvalidTokenError",
            id="b-with-global-audience",
        ),
        pytest.param(
            KEY_A,
            "RS256",
            "shared",
            {"iss": "https://c.example", "aud": "a-api"},
            "InvalidTokenError",
            id="unknown-issuer",
        ),
        pytest.param(KEY_A, "RS256", "shared", {"aud": "a-api"}, "InvalidTokenError", id="no-iss"),
        pytest.param(
            KEY_E, "ES256", "ec", {"iss": ISSUER_A, "aud": "a-api"}, "ok:" + ISSUER_A, id="a-es256"
        ),
        pytest.param(
            KEY_A,
            "RS256",
            "shared",
            {"iss": ISSUER_A, "aud": ["x", "a-api"]},
            "ok:" + ISSUER_A,
            id="audience-list",
        ),
    ],
)
def test_a_tokens_issuer_selects_whose_keys_verify_it(
    key_sets: str, key: Any, algorithm: str, kid: str, claims: dict[str, Any], outcome: str
) -> None:
    assert _outcome(_verifier(key_sets), _token(key, algorithm, kid, **claims)) == outcome


def test_an_issuers_algorithms_are_its_own(key_sets: str) -> None:
    # B takes only the global RS256: an ES256 token claiming B is refused even if B's set
    # published an EC key under that kid.
    verifier = _verifier(key_sets, algorithms=["RS256"])
    token = _token(KEY_E, "ES256", "ec", iss=ISSUER_B, aud="b-api")
    assert _outcome(verifier, token) == "InvalidTokenError"


@pytest.mark.parametrize(
    ("configured", "claimed", "passes"),
    [
        pytest.param(["api", "other"], "other", True, id="second-of-two"),
        pytest.param(["api", "other"], ["x", "api"], True, id="list-claim"),
        pytest.param(["api", "other"], "third", False, id="none-match"),
        pytest.param("api", None, False, id="missing"),
        pytest.param(None, "api", False, id="unexpected"),
    ],
)
def test_several_audiences_any_matches(configured: Any, claimed: Any, passes: bool) -> None:
    verifier = TokenVerifier(JWTSettings(secret=SECRET, audience=configured))
    claims = {} if claimed is None else {"aud": claimed}
    token = jwt.encode({"sub": "u", "exp": int(time.time()) + 60, **claims}, SECRET)
    if passes:
        assert verifier.verify(token)["sub"] == "u"
    else:
        with pytest.raises(InvalidTokenError):
            verifier.verify(token)


@pytest.mark.parametrize(
    ("variables", "issuers", "audiences"),
    [
        pytest.param({"JWT_ISSUER": "https://a"}, ["https://a"], None, id="one"),
        pytest.param(
            {"JWT_ISSUER": '["https://a", "https://b"]'},
            ["https://a", "https://b"],
            None,
            id="list",
        ),
        pytest.param(
            {
                "JWT_ISSUER": '[{"issuer": "https://a", "audience": ["x", "y"]}]',
                "JWT_AUDIENCE": "z",
            },
            ["https://a"],
            [("x", "y")],
            id="object",
        ),
        pytest.param(
            {"JWT_AUDIENCE": '["x", "y"]', "JWT_ISSUER": "https://a"},
            ["https://a"],
            [("x", "y")],
            id="audiences",
        ),
    ],
)
def test_issuers_and_audiences_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
    variables: dict[str, str],
    issuers: list[str],
    audiences: list[tuple[str, ...]] | None,
) -> None:
    monkeypatch.setenv("JWT_SECRET", SECRET)
    monkeypatch.setenv("JWT_ALGORITHM", "HS256")  # the secret is meant, beside JWT_ISSUER
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    verifier = TokenVerifier(JWTSettings())
    assert [p.issuer for p in verifier.policies] == issuers
    if audiences is not None:
        assert [p.audiences for p in verifier.policies] == audiences


@pytest.mark.parametrize(
    ("options", "says"),
    [
        pytest.param(
            {"algorithms": ["HS256", "RS256"], "secret": SECRET}, "mixes HMAC", id="mixed-families"
        ),
        pytest.param(
            {"issuer": "https://a", "algorithms": ["HS256"]}, "JWT_SECRET", id="hmac-without-secret"
        ),
        pytest.param({"issuer": ["https://a", "https://a"]}, "twice", id="issuer-twice"),
        pytest.param({"issuer": []}, "empty", id="no-issuers"),
        pytest.param({"audience": []}, "empty", id="no-audiences"),
        pytest.param({"issuer": "not-a-url"}, r"http\(s\) URL", id="issuer-not-discoverable"),
        pytest.param(
            {"issuer": [{"issuer": "https://a", "algorithms": ["HS512"]}]},
            "mixes HMAC",
            id="issuer-mixes",
        ),
        pytest.param(
            {"issuer": [{"issuer": "https://a", "colour": "blue"}]},
            "JWT_ISSUER",
            id="unknown-member",
        ),
    ],
)
def test_impossible_issuer_configurations_stop_at_start_up(
    options: dict[str, Any], says: str
) -> None:
    with pytest.raises(ConfigurationError, match=says):
        JWTSettings(**options)


def test_jwt_issuer_alone_means_rs256_keys_from_discovery() -> None:
    settings = JWTSettings(issuer="https://idp.example/realms/x", audience="api")
    assert settings.algorithms == ("RS256",)
    assert settings.discovered_issuers == ("https://idp.example/realms/x",)


@pytest.mark.parametrize(
    ("claims", "max_age", "required", "outcome"),
    [
        pytest.param({"iat": 0}, 300, (), "TokenExpiredError", id="too-old"),
        pytest.param({"iat": -200}, 300, (), "ok", id="young-enough"),
        pytest.param({}, 300, (), "InvalidTokenError", id="max-age-needs-iat"),
        pytest.param({"tid": "t1"}, None, ("tid",), "ok", id="required-present"),
        pytest.param({}, None, ("tid",), "InvalidTokenError", id="required-missing"),
        pytest.param({"tid": None}, None, ("tid",), "InvalidTokenError", id="required-null"),
    ],
)
def test_token_age_and_required_claims(
    claims: dict[str, Any], max_age: int | None, required: tuple[str, ...], outcome: str
) -> None:
    now = int(time.time())
    payload = {"sub": "u", "exp": now + 3600, **claims}
    if "iat" in payload:
        payload["iat"] = now + payload["iat"] - (400 if payload["iat"] == 0 else 0)
    settings = JWTSettings(
        secret=SECRET, max_token_age_seconds=max_age, required_claims=required, leeway_seconds=0
    )
    verifier = TokenVerifier(settings)
    if outcome == "ok":
        assert verifier.verify(jwt.encode(payload, SECRET))["sub"] == "u"
        return
    with pytest.raises((InvalidTokenError, TokenExpiredError)) as info:
        verifier.verify(jwt.encode(payload, SECRET))
    assert type(info.value).__name__ == outcome


@pytest.mark.parametrize(
    ("skew", "passes"),
    [
        pytest.param(1.5, True, id="provider-1.5s-ahead"),
        pytest.param(29, True, id="29s-ahead"),
        pytest.param(45, False, id="45s-ahead"),
    ],
)
def test_the_default_leeway_survives_ordinary_clock_skew(skew: float, passes: bool) -> None:
    issued = int(time.time() + skew)  # the provider's clock runs ahead of ours
    token = jwt.encode({"sub": "u", "iat": issued, "nbf": issued, "exp": issued + 300}, SECRET)
    verifier = TokenVerifier(JWTSettings(secret=SECRET))
    if passes:
        assert verifier.verify(token)["sub"] == "u"
    else:
        with pytest.raises(InvalidTokenError):
            verifier.verify(token)


@pytest.mark.parametrize(
    ("scope_claims", "claims", "scopes"),
    [
        pytest.param(["scope", "scp"], {"scope": "a b", "scp": ["c"]}, ["a", "b", "c"], id="both"),
        pytest.param(["roles"], {"roles": ["admin"], "scope": "a"}, ["admin"], id="roles-only"),
        pytest.param(
            ["realm_access.roles"],
            {"realm_access": {"roles": ["r1", "r2"]}},
            ["r1", "r2"],
            id="nested",
        ),
        pytest.param(
            [["resource_access", "my.app", "roles"]],
            {"resource_access": {"my.app": {"roles": ["editor"]}}},
            ["editor"],
            id="keys-with-dots",
        ),
        pytest.param(
            ["permissions", "scope"],
            {"permissions": ["p:1"], "scope": "p:1 s"},
            ["p:1", "s"],
            id="deduplicated",
        ),
        pytest.param(
            ["cognito:groups"], {"cognito:groups": ["admins"]}, ["admins"], id="colon-name"
        ),
        pytest.param(["realm_access.roles"], {"realm_access": "admin"}, [], id="not-an-object"),
    ],
)
def test_scopes_and_roles_from_configured_claims(
    scope_claims: list[Any], claims: dict[str, Any], scopes: list[str]
) -> None:
    settings = JWTSettings(secret=SECRET, scope_claims=scope_claims)
    token = jwt.encode({"sub": "u", "exp": int(time.time()) + 60, **claims}, SECRET)
    verified = asyncio.run(TokenVerifier(settings).authenticate(token))
    assert list(verified.scopes) == scopes


def test_scope_claims_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JWT_SECRET", SECRET)
    monkeypatch.setenv("JWT_SCOPE_CLAIMS", '["scope", "realm_access.roles", ["a.b", "c"]]')
    assert JWTSettings().scope_claims == ("scope", "realm_access.roles", ("a.b", "c"))


def test_a_claims_check_refuses_what_it_returns_false_for() -> None:
    verifier = TokenVerifier(
        JWTSettings(secret=SECRET), check_claims=lambda claims: claims.get("token_use") == "access"
    )
    now = int(time.time())
    good = jwt.encode({"sub": "u", "exp": now + 60, "token_use": "access"}, SECRET)
    bad = jwt.encode({"sub": "u", "exp": now + 60, "token_use": "id"}, SECRET)
    assert verifier.verify(good)["sub"] == "u"
    with pytest.raises(InvalidTokenError):
        verifier.verify(bad)
