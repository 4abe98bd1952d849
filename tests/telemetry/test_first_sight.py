"""First sights: the histogram of ``jwt_middleware.verification.duration`` and a
``jwt_middleware.verify`` span per token verified or refused when not in the cache, a child
of the request's span; a reused token adds neither, only a cache hit.
"""

from __future__ import annotations

import gc
from typing import Any

import pytest
from opentelemetry import trace
from opentelemetry.trace import StatusCode

from jwt_middleware import JWTSettings
from tests.asgi import Answer, call, http_scope, scope_headers
from tests.helpers import OTHER_SECRET, SECRET, bearer, build_app, mint_token

from .readings import Recorded, added, attributes, unique_issuer, with_attribute

DURATION = "jwt_middleware.verification.duration"
LOOKUPS = "jwt_middleware.verified_cache.lookups"
VERIFY = "jwt_middleware.verify"


def app_for(issuer: str) -> Any:
    return build_app(JWTSettings(secret=SECRET, algorithm="HS256", issuer=issuer))


def request(app: Any, token: str, *, parent: str | None = None) -> Answer:
    """``GET /private`` with ``token``, inside a span named ``parent`` when given (as a
    server's instrumentation would make one per request)."""
    scope = http_scope("/private", headers=scope_headers({"host": "t", **bearer(token)}))
    if parent is None:
        return call(app, scope)
    with trace.get_tracer("tests").start_as_current_span(parent):
        return call(app, scope)


def test_a_first_sight_is_timed_once_and_a_reused_token_not_again(sdk: Recorded) -> None:
    issuer = unique_issuer()
    app = app_for(issuer)
    token = mint_token(iss=issuer)
    durations, lookups = sdk.reading(DURATION), sdk.reading(LOOKUPS)
    for _ in range(3):
        assert request(app, token).status == 200
    timed = with_attribute(added(durations, sdk.reading(DURATION)), "issuer", issuer)
    assert timed == {attributes(outcome="accepted", issuer=issuer): 1}
    looked_up = added(lookups, sdk.reading(LOOKUPS))
    assert looked_up[attributes(result="hit")] >= 2
    assert looked_up[attributes(result="miss")] >= 1


def test_the_lookups_counter_never_goes_down_when_a_cache_is_collected(sdk: Recorded) -> None:
    """An observable counter is cumulative: a cache collected with its middleware (rebuilt,
    or an ``explain`` run's) must not take its lookups out of the sum."""
    issuer = unique_issuer()
    app = app_for(issuer)
    token = mint_token(iss=issuer)
    for _ in range(3):
        assert request(app, token).status == 200
    counted = sdk.reading(LOOKUPS)
    del app
    gc.collect()
    after = sdk.reading(LOOKUPS)
    for result in ("hit", "miss"):
        key = attributes(result=result)
        assert after[key] >= counted[key] >= 1


def test_a_verification_takes_the_time_it_took(sdk: Recorded) -> None:
    issuer = unique_issuer()
    app = app_for(issuer)
    assert request(app, mint_token(iss=issuer)).status == 200
    (span,) = [
        s
        for s in sdk.finished_spans(VERIFY)
        if (s.attributes or {}).get("jwt_middleware.issuer") == issuer
    ]
    assert span.start_time is not None
    assert span.end_time is not None
    took = (span.end_time - span.start_time) / 1e9
    assert 0 < took < 1  # an HS256 token: microseconds, not a whole request's time


@pytest.mark.parametrize(
    ("secret", "outcome", "status_code"),
    [
        pytest.param(SECRET, "accepted", StatusCode.UNSET, id="accepted"),
        pytest.param(OTHER_SECRET, "bad_signature", StatusCode.ERROR, id="refused"),
    ],
)
def test_the_span_is_a_child_of_the_request_span(
    sdk: Recorded, secret: str, outcome: str, status_code: StatusCode
) -> None:
    issuer = unique_issuer()
    app = app_for(issuer)
    request(app, mint_token(iss=issuer, secret=secret), parent="GET /private")
    (server,) = sdk.finished_spans("GET /private")
    (span,) = sdk.finished_spans(VERIFY)
    assert span.parent is not None
    assert span.parent.span_id == server.context.span_id
    assert span.context.trace_id == server.context.trace_id
    assert dict(span.attributes or {}) == {
        "jwt_middleware.outcome": outcome,
        "jwt_middleware.issuer": issuer,
    }
    assert span.status.status_code is status_code


def test_a_reused_token_makes_no_span(sdk: Recorded) -> None:
    issuer = unique_issuer()
    app = app_for(issuer)
    token = mint_token(iss=issuer)
    request(app, token)
    sdk.spans.clear()
    assert request(app, token, parent="GET /private").status == 200
    assert sdk.finished_spans(VERIFY) == []
    assert len(sdk.finished_spans("GET /private")) == 1


def test_without_a_parent_the_span_is_a_root(sdk: Recorded) -> None:
    issuer = unique_issuer()
    request(app_for(issuer), mint_token(iss=issuer))
    (span,) = sdk.finished_spans(VERIFY)
    assert span.parent is None
