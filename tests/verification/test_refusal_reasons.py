"""Every refusal is one log line with its reason: the verifier's for what it decides about a
token, the middleware's for what it decides about a request; the issuer only as configured,
the kid only of a key we hold. Tokens are minted with PyJWT directly.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import Any

import jwt
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from jwt_middleware import (
    AuthenticationError,
    InvalidTokenError,
    JWTAuthMiddleware,
    JWTSettings,
    StaticKeys,
    TokenVerifier,
    current_user_id,
    verify_refresh_token,
)
from jwt_middleware.access.policy import Requirement
from jwt_middleware.errors import KeysUnavailableError
from jwt_middleware.refusals import REQUEST_REASONS, Reason
from jwt_middleware.types import BoundKey, Claims
from tests.asgi import call, http_scope, scope_headers
from tests.dpop.test_refusals import CASES as DPOP_CASES
from tests.dpop.test_refusals import STATEFUL_CASES as DPOP_STATEFUL_CASES
from tests.helpers import (
    OTHER_SECRET,
    SECRET,
    bearer,
    build_app,
    hs256_key,
    issuers_with_named_keys,
    mint_token,
)
from tests.keypairs import RSA
from tests.mtls.test_refusals import CASES as MTLS_CASES

ISSUER = "https://id.example"
ALB_ARN = "arn:aws:elasticloadbalancing:eu-west-1:123456789012:loadbalancer/app/a/50dc6c495c0c9188"
AUDIENCE = "api"
SETTINGS: dict[str, Any] = {
    "secret": SECRET,
    "algorithm": "HS256",
    "issuer": ISSUER,
    "audience": AUDIENCE,
}


def _good(**claims: Any) -> str:
    """A token the base settings accept, with ``claims`` changed (``None`` drops one)."""
    payload: dict[str, Any] = {"iss": ISSUER, "aud": AUDIENCE, **claims}
    drop = tuple(name for name, value in payload.items() if value is None)
    return mint_token(drop=drop, **{k: v for k, v in payload.items() if v is not None})


def _refusal_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "jwt_middleware.refusals"]


#: settings beyond SETTINGS, the token, and the reason.
VERIFIER_CASES = [
    pytest.param({}, "x" * 9000, Reason.TOO_LARGE, id="too-large"),
    pytest.param({}, "not.a-token", Reason.MALFORMED, id="malformed"),
    pytest.param({}, mint_token(headers={"crit": ["exp"]}), Reason.MALFORMED, id="crit"),
    pytest.param(
        {},
        jwt.encode({"sub": "a", "iss": ISSUER}, RSA, algorithm="RS256"),
        Reason.ALGORITHM,
        id="algorithm",
    ),
    pytest.param(
        {"require_access_token_type": True}, _good(), Reason.TOKEN_TYPE, id="untyped-when-explicit"
    ),
    pytest.param(
        {},
        mint_token(iss=ISSUER, aud=AUDIENCE, headers={"typ": "refresh+jwt"}),
        Reason.TOKEN_TYPE,
        id="refresh-token-as-access",
    ),
    pytest.param({"alb_signer": ALB_ARN}, _good(), Reason.SIGNER, id="no-signer"),
    pytest.param(
        {"alb_signer": ALB_ARN},
        mint_token(
            iss=ISSUER,
            aud=AUDIENCE,
            headers={"signer": ALB_ARN.replace("123456789012", "210987654321")},
        ),
        Reason.SIGNER,
        id="another-signer",
    ),
    pytest.param(
        {}, mint_token(iss=ISSUER, secret=OTHER_SECRET), Reason.BAD_SIGNATURE, id="signature"
    ),
    pytest.param({}, _good(iss="https://elsewhere.example"), Reason.ISSUER, id="issuer"),
    pytest.param({}, _good(iss=None), Reason.ISSUER, id="no-issuer"),
    pytest.param({}, _good(exp=1_000_000_000), Reason.EXPIRED, id="expired"),
    pytest.param(
        {"max_token_age_seconds": 60}, _good(iat=1_000_000_000), Reason.TOO_OLD, id="too-old"
    ),
    pytest.param({}, _good(nbf=4_000_000_000), Reason.NOT_YET_VALID, id="nbf"),
    pytest.param({}, _good(iat=4_000_000_000), Reason.ISSUED_IN_FUTURE, id="iat-future"),
    pytest.param({}, _good(exp=None), Reason.MISSING_CLAIM, id="no-exp"),
    pytest.param({}, _good(sub=""), Reason.MISSING_CLAIM, id="empty-sub"),
    pytest.param({"required_claims": ["tid"]}, _good(), Reason.MISSING_CLAIM, id="required-claim"),
    pytest.param({}, _good(exp="soon"), Reason.MALFORMED_CLAIM, id="exp-text"),
    pytest.param({}, _good(nonce="n-1"), Reason.ID_TOKEN, id="id-token"),
    pytest.param({}, _good(jti=7), Reason.MALFORMED_CLAIM, id="jti-number"),
    pytest.param({}, _good(cnf={"jkt": "x"}), Reason.BOUND_TOKEN, id="bound-token"),
    pytest.param({}, _good(cnf="x"), Reason.MALFORMED_CLAIM, id="cnf-not-an-object"),
    pytest.param({}, _good(aud=[AUDIENCE, 7]), Reason.MALFORMED_CLAIM, id="aud-malformed"),
    pytest.param({}, _good(aud=None), Reason.AUDIENCE_MISSING, id="no-audience"),
    pytest.param({}, _good(aud="someone-else"), Reason.AUDIENCE_MISMATCH, id="audience"),
    pytest.param({"audience": None}, _good(), Reason.AUDIENCE_UNEXPECTED, id="audience-unexpected"),
]


@pytest.mark.parametrize(("overrides", "token", "reason"), VERIFIER_CASES)
def test_the_verifier_logs_one_line_with_the_reason(
    caplog: pytest.LogCaptureFixture, overrides: dict[str, Any], token: str, reason: Reason
) -> None:
    verifier = TokenVerifier(JWTSettings(**{**SETTINGS, **overrides}))
    caplog.set_level(logging.DEBUG, logger="jwt_middleware")
    with pytest.raises(InvalidTokenError) as refused:
        verifier.verify(token)
    assert refused.value.reason is reason
    issuer = f" issuer={ISSUER}" if reason not in _BEFORE_ANY_KEY else ""
    assert _refusal_lines(caplog) == [f"refused: reason={reason.value}{issuer}"]
    assert [r.levelno for r in caplog.records] == [logging.INFO]


TEMPLATE = "https://login.example/{tid}/v2.0"
#: A token of tenant t1 for each case; the tenant that came before it (or None); the reason
#: and the log line's details: the template, never the token's iss.
TENANT_CASES = [
    pytest.param(
        _good(iss="https://login.example/t1/v2.0", tid="t2"),
        None,
        Reason.TENANT_MISMATCH,
        f" issuer={TEMPLATE}",
        id="tid-disagrees",
    ),
    pytest.param(
        _good(iss="https://login.example/t1/v2.0"),
        None,
        Reason.TENANT_MISMATCH,
        f" issuer={TEMPLATE}",
        id="tid-missing",
    ),
    pytest.param(
        _good(iss="https://login.example/t1/v2.0", tid="t1"),
        _good(iss="https://login.example/t0/v2.0", tid="t0"),
        Reason.TENANT_LIMIT,
        f" issuer={TEMPLATE}",
        id="new-tenants-limited",
    ),
    pytest.param(
        _good(iss="https://login.example/t1/v2.0/x", tid="t1"),
        None,
        Reason.ISSUER,
        "",
        id="template-does-not-match",
    ),
]


@pytest.mark.parametrize(("token", "before", "reason", "details"), TENANT_CASES)
def test_a_tenant_is_named_by_its_template(
    caplog: pytest.LogCaptureFixture,
    token: str,
    before: str | None,
    reason: Reason,
    details: str,
) -> None:
    settings = {**SETTINGS, "issuer": [ISSUER, TEMPLATE], "new_tenants_per_minute": 1}
    verifier = TokenVerifier(JWTSettings(**settings))
    if before is not None:
        assert verifier.verify(before)["tid"] == "t0"
    caplog.set_level(logging.DEBUG, logger="jwt_middleware")
    with pytest.raises(AuthenticationError) as refused:
        verifier.verify(token)
    assert refused.value.reason is reason
    assert _refusal_lines(caplog) == [f"refused: reason={reason.value}{details}"]


# Refused before the keys of the (one) issuer are looked up, so without its name.
_BEFORE_ANY_KEY = {
    Reason.TOO_LARGE,
    Reason.MALFORMED,
    Reason.ALGORITHM,
    Reason.TOKEN_TYPE,
    Reason.SIGNER,
}


def _named_keys_verifier(**settings: Any) -> TokenVerifier:
    keys = StaticKeys(named=[hs256_key(SECRET, "k1"), hs256_key(SECRET, "k\n2")])
    return TokenVerifier(JWTSettings(**{**SETTINGS, **settings}), keys=keys)


KID_CASES = [
    pytest.param(
        _good(), {"kid": "nobody-holds-this"}, Reason.UNKNOWN_KID, f" issuer={ISSUER}", id="kid"
    ),
    pytest.param(
        mint_token(iss=ISSUER, secret=OTHER_SECRET, headers={"kid": "k1"}),
        None,
        Reason.BAD_SIGNATURE,
        f" issuer={ISSUER} kid=k1",
        id="signature-kid",
    ),
    pytest.param(
        _good(aud="someone-else"),
        {"kid": "k1"},
        Reason.AUDIENCE_MISMATCH,
        f" issuer={ISSUER} kid=k1",
        id="audience-kid",
    ),
    pytest.param(
        _good(iss="https://elsewhere.example"),
        {"kid": "k1"},
        Reason.ISSUER,
        f" issuer={ISSUER} kid=k1",
        id="issuer-kid",
    ),
    pytest.param(
        _good(exp=1_000_000_000),
        {"kid": "k\n2"},
        Reason.EXPIRED,
        f" issuer={ISSUER} kid=k\\n2",
        id="kid-escaped",
    ),
]


@pytest.mark.parametrize(("token", "header", "reason", "details"), KID_CASES)
def test_the_kid_of_a_key_we_hold_is_named(
    caplog: pytest.LogCaptureFixture,
    token: str,
    header: dict[str, str] | None,
    reason: Reason,
    details: str,
) -> None:
    if header is not None:  # re-sign the same claims with this header
        claims = jwt.decode(token, options={"verify_signature": False})
        token = jwt.encode(claims, SECRET, algorithm="HS256", headers=header)
    caplog.set_level(logging.INFO, logger="jwt_middleware")
    with pytest.raises(InvalidTokenError):
        _named_keys_verifier().verify(token)
    assert _refusal_lines(caplog) == [f"refused: reason={reason.value}{details}"]


#: Keys offered for a token without a kid (all of them: none is named), the line logged when
#: none verifies it: the kid only when the keys tried have one between them.
SEVERAL_KEYS_CASES = [
    pytest.param(
        (hs256_key(SECRET), hs256_key(SECRET + "-retired")),
        f"reason=bad_signature issuer={ISSUER}",
        id="retired-secret",
    ),
    pytest.param(
        (hs256_key(SECRET, "a"), hs256_key(SECRET + "-retired", "b")),
        f"reason=bad_signature issuer={ISSUER}",
        id="two-kids",
    ),
    pytest.param(
        (hs256_key(SECRET, "a"), hs256_key(SECRET + "-retired", "a")),
        f"reason=bad_signature issuer={ISSUER} kid=a",
        id="one-kid",
    ),
]


@pytest.mark.parametrize(("keys", "line"), SEVERAL_KEYS_CASES)
def test_a_signature_no_key_verifies_is_logged_once(
    caplog: pytest.LogCaptureFixture, keys: tuple[BoundKey, ...], line: str
) -> None:
    verifier = TokenVerifier(JWTSettings(**SETTINGS), keys=StaticKeys(*keys))
    caplog.set_level(logging.INFO, logger="jwt_middleware")
    with pytest.raises(InvalidTokenError) as refused:
        verifier.verify(mint_token(iss=ISSUER, aud=AUDIENCE, secret=OTHER_SECRET))
    assert refused.value.reason is Reason.BAD_SIGNATURE
    assert _refusal_lines(caplog) == [f"refused: {line}"]


TWO_ISSUERS = ["https://one.example", "https://two.example"]

SEVERAL_ISSUERS_CASES = [
    pytest.param(
        {"iss": TWO_ISSUERS[1], "aud": AUDIENCE},
        {"kid": "unknown"},
        f"reason=unknown_kid issuer={TWO_ISSUERS[1]}",
        id="unknown-kid-of-an-accepted-issuer",
    ),
    pytest.param(
        {"iss": "https://three.example", "aud": AUDIENCE},
        {"kid": "k1"},
        f"reason=issuer issuer={TWO_ISSUERS[0]} kid=k1",
        id="issuer-not-the-keys",
    ),
    pytest.param(
        {"iss": "https://three.example", "aud": AUDIENCE},
        {"kid": "shared"},
        "reason=issuer",
        id="issuer-not-accepted",
    ),
    pytest.param(
        {"iss": TWO_ISSUERS[0], "aud": "someone-else"},
        {"kid": "k1"},
        f"reason=audience_mismatch issuer={TWO_ISSUERS[0]} kid=k1",
        id="audience-of-the-issuer",
    ),
]


@pytest.mark.parametrize(("claims", "header", "line"), SEVERAL_ISSUERS_CASES)
def test_with_several_issuers_only_an_accepted_one_is_named(
    caplog: pytest.LogCaptureFixture, claims: dict[str, Any], header: dict[str, str], line: str
) -> None:
    """Each issuer has a key of its own and one they share; the token's own iss is never
    written, only an issuer we accept."""
    settings = JWTSettings(secret=SECRET, algorithm="HS256", issuer=TWO_ISSUERS, audience=AUDIENCE)
    issuers = issuers_with_named_keys(TWO_ISSUERS, AUDIENCE)
    token = mint_token(headers=header, **claims)
    caplog.set_level(logging.INFO, logger="jwt_middleware")
    with pytest.raises(InvalidTokenError):
        asyncio.run(TokenVerifier(settings, issuers=issuers).verify_async(token))
    assert _refusal_lines(caplog) == [f"refused: {line}"]


def test_a_failing_check_claims_is_logged_as_such(caplog: pytest.LogCaptureFixture) -> None:
    def never(claims: Claims) -> bool:
        return False

    verifier = TokenVerifier(JWTSettings(**SETTINGS), check_claims=never)
    caplog.set_level(logging.INFO, logger="jwt_middleware")
    with pytest.raises(InvalidTokenError):
        verifier.verify(_good())
    assert _refusal_lines(caplog) == [f"refused: reason=check_claims issuer={ISSUER}"]


def test_a_refresh_token_without_family_is_logged_as_such(
    caplog: pytest.LogCaptureFixture,
) -> None:
    settings = JWTSettings(secret=SECRET)
    token = mint_token(headers={"typ": "refresh+jwt"})
    caplog.set_level(logging.INFO, logger="jwt_middleware")
    with pytest.raises(InvalidTokenError) as refused:
        verify_refresh_token(token, settings=settings)
    assert refused.value.reason is Reason.NO_FAMILY
    assert _refusal_lines(caplog) == ["refused: reason=no_family"]


class _Down:
    """A key source whose provider never answered."""

    depends_on_header = True
    available = False

    def keys_now(self, algorithm: str | None, kid: str | None) -> None:
        return None

    async def keys(self, algorithm: str | None, kid: str | None) -> Sequence[BoundKey]:
        raise KeysUnavailableError

    async def prefetch(self) -> None:
        return None

    async def aclose(self) -> None:
        return None


def test_unavailable_keys_are_a_warning_naming_the_issuer(
    caplog: pytest.LogCaptureFixture,
) -> None:
    verifier = TokenVerifier(JWTSettings(**SETTINGS), keys=_Down())
    caplog.set_level(logging.INFO, logger="jwt_middleware")
    with pytest.raises(KeysUnavailableError):
        asyncio.run(verifier.verify_async(_good()))
    assert [(r.levelno, r.getMessage()) for r in caplog.records] == [
        (logging.WARNING, f"refused: reason=keys_unavailable issuer={ISSUER}")
    ]


async def _no_one_is_revoked(claims: Claims) -> bool:
    return False


async def _everyone_is_revoked(claims: Claims) -> bool:
    return True


#: middleware options, the request's headers, the answer's status, the one line logged.
MIDDLEWARE_CASES = [
    pytest.param({}, {}, 401, "reason=missing", id="missing"),
    pytest.param({}, {"Authorization": "Bearer a b"}, 400, "reason=malformed_request", id="b64"),
    pytest.param(
        {"cookie_name": "access", "method": "POST"},
        {"Cookie": f"access={_good()}", "Origin": "https://elsewhere.example"},
        403,
        "reason=csrf",
        id="csrf",
    ),
    pytest.param(
        {"is_revoked": _no_one_is_revoked},
        bearer(_good(jti=None)),
        401,
        "reason=no_jti",
        id="no-jti",
    ),
    pytest.param(
        {"is_revoked": _everyone_is_revoked},
        bearer(_good(jti="j1")),
        401,
        "reason=revoked",
        id="revoked",
    ),
    pytest.param(
        {"scopes": {"/private": ["admin"]}},
        bearer(_good()),
        403,
        "reason=insufficient_scope",
        id="scope",
    ),
    pytest.param(
        {"scopes": {"/private": Requirement(acr_values=("mfa",))}},
        bearer(_good()),
        401,
        "reason=step_up",
        id="step-up",
    ),
    pytest.param(
        {}, bearer(_good(aud="x")), 401, f"reason=audience_mismatch issuer={ISSUER}", id="token"
    ),
]


@pytest.mark.parametrize(("options", "headers", "status", "line"), MIDDLEWARE_CASES)
def test_the_middleware_logs_one_line_per_refusal(
    caplog: pytest.LogCaptureFixture,
    options: dict[str, Any],
    headers: dict[str, str],
    status: int,
    line: str,
) -> None:
    """``options`` are the middleware's, and ``method`` the request's (GET by default)."""
    method = options.get("method", "GET")
    middleware_options = {name: value for name, value in options.items() if name != "method"}
    app = build_app(JWTSettings(**SETTINGS), **middleware_options)
    caplog.set_level(logging.DEBUG, logger="jwt_middleware")
    answer = call(app, http_scope("/private", method=method, headers=scope_headers(headers)))
    assert answer.status == status
    assert [r.getMessage() for r in caplog.records] == [f"refused: {line}"]


@pytest.mark.parametrize(
    "headers",
    [pytest.param({}, id="missing"), pytest.param({"Authorization": "Bearer a b"}, id="b64")],
)
def test_what_a_public_path_lets_through_is_not_a_refusal(
    caplog: pytest.LogCaptureFixture, headers: dict[str, str]
) -> None:
    app = build_app(JWTSettings(**SETTINGS))
    caplog.set_level(logging.DEBUG, logger="jwt_middleware")
    answer = call(app, http_scope("/health", headers=scope_headers(headers)))
    assert answer.status == 200
    assert _refusal_lines(caplog) == []


def test_a_refusal_raised_by_the_app_is_logged_as_the_apps(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def me(request: Request) -> JSONResponse:
        return JSONResponse({"user_id": current_user_id(request)})

    app = Starlette(routes=[Route("/me", me)])
    app.add_middleware(JWTAuthMiddleware, public=["/me"], settings=JWTSettings(**SETTINGS))
    caplog.set_level(logging.DEBUG, logger="jwt_middleware")
    answer = call(app, http_scope("/me"))
    assert answer.status == 401
    assert _refusal_lines(caplog) == ["refused: reason=app"]


def test_every_reason_is_tested_here() -> None:
    """A new reason needs a case above (and a row in docs/troubleshooting.md)."""
    tested = {p.values[2] for p in VERIFIER_CASES} | {p.values[2] for p in KID_CASES}
    tested |= {p.values[2] for p in TENANT_CASES}
    tested |= {
        Reason(str(p.values[3]).split()[0].removeprefix("reason=")) for p in MIDDLEWARE_CASES
    }
    tested |= {Reason.CHECK_CLAIMS, Reason.NO_FAMILY, Reason.KEYS_UNAVAILABLE, Reason.APP}
    # Raised by the typed-claims helpers: tests/framework/test_typed_claims.py.
    tested |= {Reason.CLAIMS_MODEL, Reason.USER_UNKNOWN}
    # Logged by introspection: test_introspection.py::test_a_refusal_is_logged_with_its_reason.
    tested |= {Reason.INACTIVE, Reason.INTROSPECTION_UNAVAILABLE}
    # Logged by the DPoP authenticator: tests/dpop/test_refusals.py.
    tested |= {p.values[1] for p in DPOP_CASES} | {p.values[2] for p in DPOP_STATEFUL_CASES}
    # Logged when the shared replay store cannot answer: tests/dpop/test_replay_outage.py.
    tested |= {Reason.DPOP_REPLAY_UNAVAILABLE}
    # Logged by the certificate-bound authenticator: tests/mtls/test_refusals.py.
    tested |= {p.values[2] for p in MTLS_CASES}
    # Logged by the middleware where a certificate-bound token is required:
    # tests/mtls/test_rules.py.
    tested |= {Reason.CERTIFICATE_REQUIRED}
    assert tested >= REQUEST_REASONS
    # Never logged: the reasons of errors raised without one, and of a revocation store
    # that is down (one line per outage, logged when it starts and ends).
    assert set(Reason) - tested == {Reason.INVALID, Reason.UNAVAILABLE}
