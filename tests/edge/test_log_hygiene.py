"""No text a client chose ever reaches a log record: not through a token's header or claims
(PyJWT's exception messages quote them), not through the request line or headers, and not
through an exception raised by a revocation check.

Every request-controlled input below carries the marker ``INJECTED`` and a CR/LF pair; no
record at any level may contain either, or a traceback.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from typing import Any

import jwt
import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from jwt_middleware import InvalidTokenError, JWTSettings, StaticKeys, TokenVerifier
from tests.asgi import call, http_scope, scope_headers
from tests.helpers import (
    OTHER_SECRET,
    SECRET,
    b64url_json,
    bearer,
    build_app,
    hs256_key,
    issuers_with_named_keys,
    mint_token,
)
from tests.keypairs import RSA

MARK = "INJECTED\r\n2026-01-01 00:00:00 CRITICAL fake line"


@pytest.fixture
def caplog(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    """Every record, from every logger, at every level."""
    caplog.set_level(logging.DEBUG)
    return caplog


def _assert_clean(records: list[logging.LogRecord], *, refused: bool = True) -> None:
    if refused:  # a refusal is logged; without a record the test would prove nothing
        assert any(record.name.startswith("jwt_middleware") for record in records)
    for record in records:
        message = record.getMessage()
        assert "INJECTED" not in message, message
        assert not any(ord(char) < 0x20 or ord(char) == 0x7F for char in message), message
        assert record.exc_info is None, f"traceback logged: {message}"


def _hs(headers: dict[str, Any] | None = None, /, **claims: Any) -> str:
    return mint_token(claims.pop("sub", "alice"), headers=headers, **claims)


TOKENS = [
    pytest.param(_hs({"crit": [MARK]}), id="crit"),
    pytest.param(_hs({"crit": [MARK], MARK: 1}), id="crit-with-the-extension"),
    pytest.param(_hs({"kid": MARK}), id="kid"),
    pytest.param(_hs({"typ": MARK}), id="typ"),
    pytest.param(_hs({"jku": MARK, "x5u": MARK}), id="jku-x5u"),
    pytest.param(_hs(iss=MARK), id="iss"),
    pytest.param(_hs(aud=MARK), id="aud"),
    pytest.param(_hs(aud=[MARK, 7]), id="aud-list"),
    pytest.param(_hs(sub=MARK), id="sub"),
    pytest.param(_hs(jti=MARK), id="jti"),
    pytest.param(_hs(nbf=MARK), id="nbf-text"),
    pytest.param(_hs(iat=MARK), id="iat-text"),
    pytest.param(_hs(exp=MARK), id="exp-text"),
    pytest.param(_hs(scope=MARK), id="scope"),
    pytest.param(mint_token("alice", secret="x" * 40) + "", id="bad-signature"),
    pytest.param(
        ".".join(
            [
                b64url_json({"alg": MARK, "typ": "JWT"}),
                b64url_json({"sub": "a", "exp": 2**40}),
                "c2ln",
            ]
        ),
        id="alg-claimed",
    ),
    pytest.param(
        jwt.encode({"sub": "a", "exp": 2**40}, RSA, algorithm="RS256", headers={"kid": MARK}),
        id="rs256-kid",
    ),
]

CONFIGURATIONS = [
    pytest.param({}, id="hs256-default"),
    pytest.param({"issuer": "https://id.example", "audience": "api"}, id="hs256-iss-aud"),
    pytest.param({"require_access_token_type": True}, id="explicit-type"),
]


@pytest.mark.parametrize("overrides", CONFIGURATIONS)
@pytest.mark.parametrize("token", TOKENS)
def test_no_token_text_reaches_a_log_record(
    caplog: pytest.LogCaptureFixture, overrides: dict[str, Any], token: str
) -> None:
    settings = JWTSettings(secret=SECRET, algorithm="HS256", **overrides)
    answer = call(
        build_app(settings),
        http_scope("/private", headers=scope_headers(bearer(token))),
    )
    assert answer.status in (200, 401)
    _assert_clean(caplog.records, refused=answer.status != 200)


def test_keys_chosen_by_kid_log_no_header_text(caplog: pytest.LogCaptureFixture) -> None:
    settings = JWTSettings(secret=SECRET)
    verifier = TokenVerifier(
        settings, keys=StaticKeys(hs256_key(SECRET), named=[hs256_key(SECRET, "k1")])
    )
    for token in (_hs({"kid": MARK}), _hs({"kid": "k1", "crit": [MARK]})):
        with contextlib.suppress(InvalidTokenError):  # what matters is what was logged
            verifier.verify(token)
    _assert_clean(caplog.records)


ISSUERS = ["https://one.example", "https://two.example"]


def _naming_verifier(*, fallback: bool = False) -> TokenVerifier:
    """A verifier whose refusal lines name issuers and kids: two issuers with keys by kid
    (and, with ``fallback``, a key without kid that any other kid is tried against)."""
    settings = JWTSettings(secret=SECRET, algorithm="HS256", issuer=ISSUERS, audience="api")
    issuers = issuers_with_named_keys(ISSUERS, "api", fallback=fallback)
    return TokenVerifier(settings, issuers=issuers)


def _marked(secret: str = SECRET, **chosen: Any) -> str:
    """A token whose iss, kid, aud and sub are the attacker's, unless ``chosen`` says."""
    claims: dict[str, Any] = {"iss": MARK, "aud": MARK, "sub": MARK, "kid": MARK, **chosen}
    kid = claims.pop("kid")
    return mint_token(secret=secret, headers={"kid": kid}, **claims)


# Each reaches a refusal line that names an issuer, a kid or both: only ours may be there.
NAMED_REFUSALS = [
    pytest.param(_marked(), id="all-chosen"),
    pytest.param(_marked(kid="k1"), id="our-kid"),
    pytest.param(_marked(kid="shared"), id="shared-kid"),
    pytest.param(_marked(iss=ISSUERS[0]), id="our-issuer"),
    pytest.param(_marked(iss=ISSUERS[0], kid="k1"), id="our-issuer-and-kid"),
    pytest.param(_marked(iss=ISSUERS[1], kid="k1"), id="the-other-issuers-kid"),
    pytest.param(_marked(OTHER_SECRET, iss=ISSUERS[0], kid="k1"), id="bad-signature"),
    pytest.param(_marked(iss=ISSUERS[0], kid="k1", exp=1), id="expired"),
]


@pytest.mark.parametrize("fallback", [False, True], ids=["by-kid", "with-fallback-key"])
@pytest.mark.parametrize("token", NAMED_REFUSALS)
def test_refusal_lines_name_only_our_issuers_and_kids(
    caplog: pytest.LogCaptureFixture, token: str, fallback: bool
) -> None:
    with pytest.raises(InvalidTokenError):
        asyncio.run(_naming_verifier(fallback=fallback).verify_async(token))
    _assert_clean(caplog.records)
    lines = [r.getMessage() for r in caplog.records if r.name == "jwt_middleware.refusals"]
    assert len(lines) == 1
    for name, value in re.findall(r" (issuer|kid)=(\S+)", lines[0]):
        assert value in (ISSUERS if name == "issuer" else ["k1", "k2", "shared"]), lines[0]


REQUESTS = [
    pytest.param({"headers": [(b"authorization", b"Bearer a.b.c\r\nINJECTED")]}, id="auth-crlf"),
    pytest.param({"headers": [(b"authorization", b"Bearer \xffINJECTED")]}, id="auth-bytes"),
    pytest.param({"headers": [(b"authorization", b"INJECTED\r\n x")]}, id="auth-scheme"),
    pytest.param(
        {"headers": [(b"authorization", b"Bearer x"), (b"authorization", b"INJECTED")]},
        id="two-headers",
    ),
    pytest.param({"path": "/private/INJECTED\r\nx"}, id="path"),
    pytest.param({"path": "/static/%0d%0aINJECTED", "raw_path": None}, id="path-encoded"),
    pytest.param({"query_string": b"access_token=INJECTED%0d%0a"}, id="query"),
]


@pytest.mark.parametrize("request_parts", REQUESTS)
def test_no_request_text_reaches_a_log_record(
    caplog: pytest.LogCaptureFixture, settings: JWTSettings, request_parts: dict[str, Any]
) -> None:
    path = request_parts.pop("path", "/private")
    app = build_app(settings, token_query_param="access_token")
    answer = call(app, http_scope(path, **request_parts))
    assert answer.status in (400, 401)
    _assert_clean(caplog.records)


def test_an_exception_from_the_revocation_check_is_logged_by_class_only(
    caplog: pytest.LogCaptureFixture, settings: JWTSettings
) -> None:
    async def is_revoked(claims: Any) -> bool:
        raise ValueError(f"lookup failed for {claims['sub']}")

    app = build_app(settings, is_revoked=is_revoked)
    token = mint_token(MARK, jti="j")
    for _ in range(3):
        answer = call(app, http_scope("/private", headers=scope_headers(bearer(token))))
        assert answer.status == 503
    _assert_clean(caplog.records)
    failures = [r for r in caplog.records if "revocation check failed" in r.getMessage()]
    assert len(failures) == 1  # one line per outage, not one per request
    assert "ValueError" in failures[0].getMessage()


@hypothesis_settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    text=st.text(min_size=1, max_size=40),
    where=st.sampled_from(["crit", "kid", "typ", "sub", "iss", "aud"]),
)
def test_any_text_in_header_or_claims_never_reaches_a_log(
    caplog: pytest.LogCaptureFixture, text: str, where: str
) -> None:
    caplog.clear()
    caplog.set_level(logging.DEBUG)
    marked = "INJECTED" + text
    if where in ("crit", "kid", "typ"):
        token = _hs({where: [marked] if where == "crit" else marked})
    else:
        token = _hs(**{where: marked})
    verifier = TokenVerifier(
        JWTSettings(secret=SECRET, algorithm="HS256", issuer="https://i", audience="a")
    )
    error: Exception | None = None
    try:
        verifier.verify(token)
    except Exception as exc:  # refused or not, what matters is what was logged
        error = exc
    assert error is None or "INJECTED" not in str(error)
    if error is not None:
        _assert_clean(caplog.records)


@hypothesis_settings(
    max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    text=st.text(min_size=1, max_size=40),
    issuer=st.sampled_from([None, *ISSUERS]),
    kid=st.sampled_from([None, "k1", "shared"]),
    fallback=st.booleans(),
)
def test_chosen_iss_kid_aud_sub_never_reach_a_refusal_line(
    caplog: pytest.LogCaptureFixture,
    text: str,
    issuer: str | None,
    kid: str | None,
    fallback: bool,
) -> None:
    """Whatever of iss, kid, aud and sub the attacker writes, and whichever of ours they
    borrow, the line says ours only."""
    caplog.clear()
    caplog.set_level(logging.DEBUG)
    marked = "INJECTED" + text
    chosen = {k: v for k, v in {"iss": issuer, "kid": kid}.items() if v is not None}
    token = mint_token(
        marked,
        headers={"kid": chosen.get("kid", marked)},
        iss=chosen.get("iss", marked),
        aud=marked,
    )
    with pytest.raises(InvalidTokenError):
        asyncio.run(_naming_verifier(fallback=fallback).verify_async(token))
    _assert_clean(caplog.records)
