"""``jwt_middleware.auth.outcomes``: one count per request the middleware authenticated or
refused, by the refusal's reason (or ``accepted``) and the issuer as configured, through
real requests; none where no token was needed and none came.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from jwt_middleware import JWTSettings
from jwt_middleware.revocation.memory import InMemoryRevocationStore
from jwt_middleware.telemetry import UNKNOWN_ISSUER
from tests.asgi import call, http_scope, scope_headers
from tests.helpers import OTHER_SECRET, SECRET, bearer, build_app, mint_token

from .readings import Recorded, added, attributes, unique_issuer, with_attribute

OUTCOMES = "jwt_middleware.auth.outcomes"
REVOKED_JTI = "revoked-jti"


@dataclass(frozen=True)
class Case:
    """A request (path and headers, from the issuer the app accepts) and what it counts:
    ``(outcome, whether the issuer is named)``, or ``None`` for nothing; and its status."""

    path: str
    headers: Callable[[str], dict[str, str]]
    counted: tuple[str, bool] | None
    status: int


def token(issuer: str, **claims: Any) -> str:
    return mint_token(**{"iss": issuer, "aud": "api", "jti": "j-1", **claims})


CASES = [
    pytest.param(
        Case("/private", lambda i: bearer(token(i)), ("accepted", True), 200), id="accepted"
    ),
    pytest.param(Case("/private", lambda i: {}, ("missing", False), 401), id="missing"),
    pytest.param(Case("/health", lambda i: {}, None, 200), id="missing-on-a-public-path"),
    pytest.param(
        Case(
            "/health", lambda i: bearer(token(i, secret=OTHER_SECRET)), ("bad_signature", True), 200
        ),
        id="bad-token-on-a-public-path",
    ),
    pytest.param(
        Case(
            "/private",
            lambda i: bearer(token(i, secret=OTHER_SECRET)),
            ("bad_signature", True),
            401,
        ),
        id="bad-signature",
    ),
    pytest.param(
        Case("/private", lambda i: {"Authorization": "Bearer abc.def"}, ("malformed", False), 401),
        id="malformed",
    ),
    pytest.param(
        Case(
            "/private",
            lambda i: {"Authorization": "Bearer a\tb"},
            ("malformed_request", False),
            400,
        ),
        id="malformed-request",
    ),
    pytest.param(
        Case("/private", lambda i: bearer(token(i, lifetime=-3600)), ("expired", True), 401),
        id="expired",
    ),
    pytest.param(
        Case("/private", lambda i: bearer(token(i, aud="other")), ("audience_mismatch", True), 401),
        id="audience",
    ),
    pytest.param(
        Case("/private", lambda i: bearer(token("https://evil.example/")), ("issuer", True), 401),
        id="another-issuer-named-as-configured",
    ),
    pytest.param(
        Case("/posts", lambda i: bearer(token(i)), ("insufficient_scope", True), 403),
        id="insufficient-scope",
    ),
    pytest.param(
        Case("/private", lambda i: bearer(token(i, jti=REVOKED_JTI)), ("revoked", True), 401),
        id="revoked",
    ),
]


def settings_for(issuer: str, **changes: Any) -> JWTSettings:
    return JWTSettings(secret=SECRET, algorithm="HS256", issuer=issuer, audience="api", **changes)


async def _revoked(store: InMemoryRevocationStore) -> InMemoryRevocationStore:
    await store.revoke(REVOKED_JTI, expires_at=2**40)
    return store


def app_for(issuer: str, **changes: Any) -> Any:
    import asyncio

    store = asyncio.run(_revoked(InMemoryRevocationStore()))
    return build_app(
        settings_for(issuer, **changes),
        scopes={"/posts": ["posts:write"]},
        is_revoked=store.is_revoked,
    )


@pytest.mark.parametrize("case", CASES)
def test_each_request_counts_its_outcome_once(sdk: Recorded, case: Case) -> None:
    issuer = unique_issuer()
    app = app_for(issuer)
    scope = http_scope(case.path, headers=scope_headers({"host": "t", **case.headers(issuer)}))
    before = sdk.reading(OUTCOMES)
    answer = call(app, scope)
    assert answer.status == case.status
    # Counts of this test's own: its issuer's, or unknown-issuer counts it made.
    counted = added(before, sdk.reading(OUTCOMES))
    mine = with_attribute(counted, "issuer", issuer) | with_attribute(
        counted, "issuer", UNKNOWN_ISSUER
    )
    if case.counted is None:
        assert mine == {}
        return
    outcome, named = case.counted
    expected = attributes(outcome=outcome, issuer=issuer if named else UNKNOWN_ISSUER)
    assert mine == {expected: 1}


def test_a_reused_token_counts_each_request(sdk: Recorded) -> None:
    issuer = unique_issuer()
    app = app_for(issuer)
    scope = http_scope("/private", headers=scope_headers({"host": "t", **bearer(token(issuer))}))
    before = sdk.reading(OUTCOMES)
    for _ in range(3):
        assert call(app, scope).status == 200
    counted = with_attribute(added(before, sdk.reading(OUTCOMES)), "issuer", issuer)
    assert counted == {attributes(outcome="accepted", issuer=issuer): 3}


def test_nothing_is_counted_with_telemetry_off(sdk: Recorded) -> None:
    issuer = unique_issuer()
    app = app_for(issuer, telemetry=False)
    good = http_scope("/private", headers=scope_headers({"host": "t", **bearer(token(issuer))}))
    bad = http_scope(
        "/private",
        headers=scope_headers({"host": "t", **bearer(token(issuer, secret=OTHER_SECRET))}),
    )
    before = sdk.reading(OUTCOMES)
    assert call(app, good).status == 200
    assert call(app, bad).status == 401
    assert with_attribute(added(before, sdk.reading(OUTCOMES)), "issuer", issuer) == {}
