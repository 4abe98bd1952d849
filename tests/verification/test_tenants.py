"""Tenants at request time, with keys at hand (a shared secret): which issuers a template
matches, which the app's resolver accepts, the tenant claim, and which tenants are held.
Tokens are minted with PyJWT directly. Fetching tenants' keys: tests/keys/test_tenants.py."""

from __future__ import annotations

from typing import Any

import pytest

from jwt_middleware import AuthenticationError, ConfigurationError, JWTSettings, TokenVerifier
from jwt_middleware.refusals import Reason
from jwt_middleware.settings import IssuerSettings
from jwt_middleware.settings.tenants import IssuerTemplate
from jwt_middleware.verification.tenants import TokenBucket
from tests.helpers import OTHER_SECRET, SECRET, FakeClock, mint_token

TEMPLATE = "https://login.example/{tid}/v2.0"
LISTED = "https://id.example"

SEGMENTS = [
    pytest.param("https://login.example/abc-123/v2.0", "abc-123", id="tenant"),
    pytest.param("https://login.example/a.b_c~d/v2.0", "a.b_c~d", id="all-allowed-characters"),
    pytest.param("https://login.example/" + "a" * 128 + "/v2.0", "a" * 128, id="128-chars"),
    pytest.param("https://login.example/" + "a" * 129 + "/v2.0", None, id="129-chars"),
    pytest.param("https://login.example/../v2.0", None, id="dot-dot"),
    pytest.param("https://login.example/./v2.0", None, id="dot"),
    pytest.param("https://login.example/a/../v2.0", None, id="dot-dot-segment"),
    pytest.param("https://login.example/a%2fb/v2.0", None, id="escaped-slash"),
    pytest.param("https://login.example/a%2F..%2F/v2.0", None, id="escaped-traversal"),
    pytest.param("https://login.example/a/b/v2.0", None, id="extra-segment"),
    pytest.param("https://login.example//v2.0", None, id="empty-segment"),
    pytest.param("https://evil.example/a/v2.0", None, id="other-host"),
    pytest.param("https://login.example.evil.example/a/v2.0", None, id="longer-host"),
    pytest.param("https://login.example@evil.example/a/v2.0", None, id="userinfo-before-host"),
    pytest.param("https://user@login.example/a/v2.0", None, id="userinfo"),
    pytest.param("https://login.example:8443/a/v2.0", None, id="port"),
    pytest.param("http://login.example/a/v2.0", None, id="plain-http"),
    pytest.param("https://login.example/\u00e9/v2.0", None, id="unicode"),
    pytest.param("https://login.example/a\n/v2.0", None, id="newline"),
    pytest.param("https://login.example/a/v2.0/", None, id="trailing-slash"),
    pytest.param("https://login.example/a/v2.0?x=1", None, id="query"),
    pytest.param("https://login.example/a?/v2.0", None, id="query-in-segment"),
    pytest.param("https://login.example/a@b/v2.0", None, id="at-in-segment"),
    pytest.param("https://LOGIN.example/a/v2.0", None, id="host-case"),
]


@pytest.mark.parametrize(("issuer", "segment"), SEGMENTS)
def test_a_template_matches_one_whole_segment_only(issuer: str, segment: str | None) -> None:
    assert IssuerTemplate.parse(TEMPLATE).segment_of(issuer) == segment


BAD_TEMPLATES = [
    pytest.param("https://login.example/{tid}/{tid}", id="two-placeholders"),
    pytest.param("https://{tid}.example/v2.0", id="in-the-host"),
    pytest.param("https://login.example/x{tid}/v2.0", id="part-of-a-segment"),
    pytest.param("https://login.example/{tid}x", id="part-of-the-last-segment"),
    pytest.param("http://login.example/{tid}", id="plain-http"),
    pytest.param("https://login.example/{tid}?a=1", id="query"),
    pytest.param("https://login.example/{}", id="no-claim"),
    pytest.param("https://user@login.example/{tid}", id="userinfo"),
    pytest.param("https://login.example/{tid", id="unclosed"),
]


@pytest.mark.parametrize("template", BAD_TEMPLATES)
def test_a_bad_template_stops_start_up_naming_jwt_issuer(template: str) -> None:
    with pytest.raises(ConfigurationError, match=r"^JWT_ISSUER") as refused:
        JWTSettings(issuer=["https://id.example", template], jwks_url="https://k.example/j")
    assert template not in str(refused.value)


def test_the_bucket_admits_per_minute_in_bursts() -> None:
    clock = FakeClock()
    bucket = TokenBucket(per_minute=3, clock=clock)
    taken = [bucket.take() for _ in range(4)]
    clock.advance(20)  # a third of a minute: one more
    taken += [bucket.take(), bucket.take()]
    assert taken == [True, True, True, False, True, False]


def _verifier(**settings: Any) -> TokenVerifier:
    values: dict[str, Any] = {"secret": SECRET, "algorithm": "HS256", "issuer": [LISTED, TEMPLATE]}
    return TokenVerifier(JWTSettings(**{**values, **settings}))


def _tenant(segment: str, **claims: Any) -> str:
    """A token of the tenant ``segment``, whose ``tid`` claim is the segment unless given."""
    claims.setdefault("tid", segment)
    return mint_token(iss=f"https://login.example/{segment}/v2.0", **claims)


def _forged(tid: str) -> str:
    return mint_token(iss=f"https://login.example/{tid}/v2.0", tid=tid, secret=OTHER_SECRET)


#: The tokens verified in turn (good or forged), and the tenants then held: proven ones
#: least recently used first, and unproven ones.
HELD_CASES = [
    pytest.param(
        [_tenant("t1"), _tenant("t2"), _tenant("t3")], ["t2", "t3"], [], id="lru-past-the-bound"
    ),
    pytest.param(
        [_tenant("t1"), _tenant("t2"), _tenant("t1", n=2), _tenant("t3")],
        ["t1", "t3"],
        [],
        id="used-again-is-kept",
    ),
    pytest.param(
        [_tenant("t1"), _tenant("t2"), _forged("f1"), _forged("f2"), _forged("f3")],
        ["t1", "t2"],
        ["f1"],
        id="forged-never-evict-proven",
    ),
    pytest.param([_forged("t1"), _tenant("t1")], ["t1"], [], id="unproven-then-proven"),
    pytest.param([mint_token(iss=LISTED)], [], [], id="listed-is-no-tenant"),
]


@pytest.mark.parametrize(("tokens", "proven", "unproven"), HELD_CASES)
def test_which_tenants_are_held(tokens: list[str], proven: list[str], unproven: list[str]) -> None:
    verifier = _verifier(max_tenants=2, new_tenants_per_minute=3)
    reasons = set()
    for token in tokens:
        try:
            verifier.verify(token)
        except AuthenticationError as refused:
            reasons.add(refused.reason)
    assert reasons <= {Reason.BAD_SIGNATURE, Reason.TENANT_LIMIT}
    tenants = verifier.tenants
    assert tenants is not None
    name = "https://login.example/{}/v2.0".format
    assert tenants.proven == tuple(name(t) for t in proven)
    assert tenants.unproven == tuple(name(t) for t in unproven)
    assert len(tenants) == len(proven) + len(unproven)


def _resolve(issuer: str) -> IssuerSettings | None:
    if issuer == "https://a.example":
        return IssuerSettings(issuer=issuer, audience="api-a")
    if issuer == "https://liar.example":
        return IssuerSettings(issuer="https://other.example")
    return None


#: Settings beyond the shared secret, the token, and the reason it is refused (None: accepted).
ACCEPT_CASES = [
    pytest.param({"issuer": TEMPLATE}, _tenant("t1"), None, id="template-only"),
    pytest.param(
        {"issuer": TEMPLATE}, mint_token(iss=LISTED), Reason.ISSUER, id="template-only-other"
    ),
    pytest.param({"issuer": TEMPLATE}, mint_token(), Reason.ISSUER, id="template-only-no-iss"),
    pytest.param({}, mint_token(iss=LISTED), None, id="listed"),
    pytest.param({}, _tenant("t1", tid="t2"), Reason.TENANT_MISMATCH, id="tid-disagrees"),
    pytest.param({}, _tenant("t1", tid=1), Reason.TENANT_MISMATCH, id="tid-not-a-string"),
    pytest.param(
        {"issuer": [{"issuer": TEMPLATE, "audience": "api"}]},
        _tenant("t1"),
        Reason.AUDIENCE_MISSING,
        id="template-audience",
    ),
    pytest.param(
        {"issuer": [{"issuer": TEMPLATE, "audience": "api"}]},
        _tenant("t1", aud="api"),
        None,
        id="template-audience-met",
    ),
]


@pytest.mark.parametrize(("settings", "token", "reason"), ACCEPT_CASES)
def test_which_issuers_a_template_accepts(
    settings: dict[str, Any], token: str, reason: Reason | None
) -> None:
    verifier = _verifier(**settings)
    if reason is None:
        assert verifier.verify(token)["sub"] == "user-1"
        return
    with pytest.raises(AuthenticationError) as refused:
        verifier.verify(token)
    assert refused.value.reason is reason


RESOLVER_CASES = [
    pytest.param(mint_token(iss="https://a.example", aud="api-a"), None, id="resolved"),
    pytest.param(mint_token(iss="https://a.example"), Reason.AUDIENCE_MISSING, id="its-audience"),
    pytest.param(mint_token(iss="https://b.example"), Reason.ISSUER, id="refused"),
    pytest.param(mint_token(iss="https://liar.example"), Reason.ISSUER, id="other-issuer"),
    pytest.param(mint_token(), Reason.ISSUER, id="no-iss"),
]


@pytest.mark.parametrize(("token", "reason"), RESOLVER_CASES)
def test_which_issuers_the_resolver_accepts(token: str, reason: Reason | None) -> None:
    settings = JWTSettings(secret=SECRET, algorithm="HS256")
    verifier = TokenVerifier(settings, resolve_issuer=_resolve)
    if reason is None:
        assert verifier.verify(token)["iss"] == "https://a.example"
        return
    with pytest.raises(AuthenticationError) as refused:
        verifier.verify(token)
    assert refused.value.reason is reason
