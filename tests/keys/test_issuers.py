"""Several issuers, audiences and algorithms: a token's ``iss`` selects whose keys may
verify it, and each issuer's own audience and algorithms apply to its tokens.

The two issuers are the fake OpenID providers of :mod:`jwt_middleware.testing` on loopback,
whose key sets both name their RS256 key ``rs256-1``; each issuer is given its ``jwks_url``,
so no discovery is involved (discovery is tested against a real OpenID provider in
``tests/oidc``, and through the fake one in ``tests/plugin``).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from typing import Any

import jwt
import pytest

from jwt_middleware import (
    ConfigurationError,
    InvalidTokenError,
    JWTSettings,
    TokenExpiredError,
    TokenVerifier,
)
from jwt_middleware.testing import FakeIssuer
from jwt_middleware.testing.issuer import SigningAlgorithm

SECRET = "issuers-test-secret-that-is-long-enough-012345"
OTHER_ISSUER = "https://c.example"


@pytest.fixture(scope="module")
def issuers() -> Iterator[dict[str, FakeIssuer]]:
    """Issuers "a" and "b", whose RS256 keys differ under one kid."""
    with FakeIssuer(audience="a-api") as a, FakeIssuer(audience="b-api") as b:
        yield {"a": a, "b": b}


def _verifier(issuers: dict[str, FakeIssuer], **overrides: Any) -> TokenVerifier:
    a, b = issuers["a"], issuers["b"]
    options: dict[str, Any] = {
        "issuer": [
            {"issuer": a.url, "jwks_url": a.jwks_url, "algorithms": ["RS256", "ES256"]},
            {"issuer": b.url, "jwks_url": b.jwks_url, "audience": "b-api"},
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


def _token(
    issuers: dict[str, FakeIssuer],
    signer: str,
    claimed: str | None,
    audience: str | list[str],
    algorithm: SigningAlgorithm = "RS256",
) -> str:
    """A token signed by ``signer``'s key whose ``iss`` names the issuer ``claimed`` ("a",
    "b"), another issuer ("c"), or none (``None``)."""
    named: dict[str | None, str | None] = {
        **{name: issuer.url for name, issuer in issuers.items()},
        "c": OTHER_ISSUER,
        None: None,
    }
    return issuers[signer].mint("user", audience=audience, algorithm=algorithm, iss=named[claimed])


@pytest.mark.parametrize(
    ("signer", "algorithm", "claimed", "audience", "outcome"),
    [
        pytest.param("a", "RS256", "a", "a-api", "ok:a", id="a"),
        pytest.param("b", "RS256", "b", "b-api", "ok:b", id="b-own-audience"),
        pytest.param("b", "RS256", "a", "a-api", "InvalidTokenError", id="names-a-signed-by-b"),
        pytest.param("a", "RS256", "b", "b-api", "InvalidTokenError", id="names-b-signed-by-a"),
        pytest.param("b", "RS256", "b", "a-api", "InvalidTokenError", id="b-with-global-audience"),
        pytest.param("a", "RS256", "c", "a-api", "InvalidTokenError", id="unknown-issuer"),
        pytest.param("a", "RS256", None, "a-api", "InvalidTokenError", id="no-iss"),
        pytest.param("a", "ES256", "a", "a-api", "ok:a", id="a-es256"),
        pytest.param("a", "RS256", "a", ["x", "a-api"], "ok:a", id="audience-list"),
    ],
)
def test_a_tokens_issuer_selects_whose_keys_verify_it(
    issuers: dict[str, FakeIssuer],
    signer: str,
    algorithm: SigningAlgorithm,
    claimed: str | None,
    audience: str | list[str],
    outcome: str,
) -> None:
    token = _token(issuers, signer, claimed, audience, algorithm)
    expected = outcome.replace("ok:a", "ok:" + issuers["a"].url).replace(
        "ok:b", "ok:" + issuers["b"].url
    )
    assert _outcome(_verifier(issuers), token) == expected


def test_an_issuers_algorithms_are_its_own(issuers: dict[str, FakeIssuer]) -> None:
    # B takes only the global RS256: an ES256 token claiming B is refused, though B's set
    # publishes an EC key under its kid.
    verifier = _verifier(issuers, algorithms=["RS256"])
    token = issuers["b"].mint("user", algorithm="ES256")
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
