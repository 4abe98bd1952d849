"""Key sources: a span and a count by outcome per fetch of a real key set on loopback (or
of an issuer's metadata), and the set's age and size as gauges."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Callable, Iterator
from contextlib import ExitStack

import pytest
from opentelemetry import trace
from opentelemetry.trace import StatusCode

from jwt_middleware import JWTSettings
from jwt_middleware.keys.discovery import DiscoveredKeys
from jwt_middleware.keys.jwks import JWKSOptions
from jwt_middleware.keys.kid_urls import KidURLKeys
from jwt_middleware.settings.alb import KeyURLTemplate
from tests.asgi import call, http_scope, scope_headers
from tests.helpers import FakeClock, bearer, build_app
from tests.keypairs import EC_P256, RSA
from tests.keys.alb import KID, pem_of, random_kid
from tests.keys.endpoint import (
    Endpoint,
    answer,
    answer_body,
    answer_slowly,
    go_down,
    jwks_keys,
    public_jwk,
    signed,
)

from .readings import Recorded, added, attributes, with_attribute

FETCHES = "jwt_middleware.keys.fetches"
AGE = "jwt_middleware.keys.age"
HELD = "jwt_middleware.keys.held"
FETCH = "jwt_middleware.keys.fetch"


@pytest.fixture
def endpoint() -> Iterator[Endpoint]:
    with ExitStack() as stack:
        yield Endpoint(stack)


def fetch_once(url: str, *, telemetry: bool = True) -> None:
    async def main() -> None:
        keys = jwks_keys(url, timeout_seconds=0.5, telemetry=telemetry)
        try:
            await keys.prefetch()
        finally:
            await keys.aclose()

    asyncio.run(main())


@pytest.mark.parametrize(
    ("breaker", "outcome"),
    [
        pytest.param(lambda endpoint: None, "success", id="success"),
        pytest.param(go_down, "unreachable", id="down"),
        pytest.param(answer_slowly, "timeout", id="slow"),
        pytest.param(answer(500), "bad_response", id="http-500"),
        pytest.param(answer_body(b"<html>not json</html>"), "bad_key_set", id="garbage"),
    ],
)
def test_each_fetch_counts_its_outcome_and_is_a_span(
    sdk: Recorded, endpoint: Endpoint, breaker: Callable[[Endpoint], None], outcome: str
) -> None:
    url = endpoint.url
    breaker(endpoint)
    before = sdk.reading(FETCHES)
    fetch_once(url)
    counted = with_attribute(added(before, sdk.reading(FETCHES)), "source", url)
    assert counted == {attributes(source=url, document="jwks", outcome=outcome): 1}
    (span,) = sdk.finished_spans(FETCH)
    assert dict(span.attributes or {}) == {
        "jwt_middleware.key_source": url,
        "jwt_middleware.document": "jwks",
        "jwt_middleware.outcome": outcome,
    }
    success = outcome == "success"
    assert span.status.status_code is (StatusCode.UNSET if success else StatusCode.ERROR)


def test_the_age_and_size_of_a_key_set_are_gauges(sdk: Recorded, endpoint: Endpoint) -> None:
    clock = FakeClock(1000.0)

    async def main() -> None:
        keys = jwks_keys(endpoint.url, clock=clock)
        try:
            assert sdk.reading(AGE).get(attributes(source=endpoint.url)) is None
            assert sdk.reading(HELD)[attributes(source=endpoint.url)] == 0
            await keys.prefetch()
            clock.advance(42)
            assert sdk.reading(AGE)[attributes(source=endpoint.url)] == 42
            assert sdk.reading(HELD)[attributes(source=endpoint.url)] == 2
        finally:
            await keys.aclose()

    endpoint.publish(public_jwk(RSA, "a"), public_jwk(RSA, "b"))
    asyncio.run(main())


def test_a_key_set_no_longer_held_is_no_longer_reported(sdk: Recorded, endpoint: Endpoint) -> None:
    fetch_once(endpoint.url)
    gc.collect()
    assert attributes(source=endpoint.url) not in sdk.reading(HELD)


def test_a_fetch_for_a_request_is_a_child_of_its_span(sdk: Recorded, endpoint: Endpoint) -> None:
    app = build_app(JWTSettings(algorithm="RS256", jwks_url=endpoint.url))
    scope = http_scope("/private", headers=scope_headers({"host": "t", **bearer(signed(RSA))}))
    with trace.get_tracer("tests").start_as_current_span("GET /private"):
        assert call(app, scope).status == 200
    (server,) = sdk.finished_spans("GET /private")
    (fetch,) = sdk.finished_spans(FETCH)
    (verify,) = sdk.finished_spans("jwt_middleware.verify")
    assert fetch.parent is not None
    assert fetch.parent.span_id == server.context.span_id
    assert verify.parent is not None
    assert verify.parent.span_id == server.context.span_id


def test_discovery_counts_its_metadata_fetches(sdk: Recorded, endpoint: Endpoint) -> None:
    issuer = endpoint.base_url
    endpoint.metadata = {"issuer": issuer, "jwks_uri": endpoint.url}
    before = sdk.reading(FETCHES)

    async def main() -> None:
        keys = DiscoveredKeys(issuer, algorithms=["RS256"])
        try:
            await keys.prefetch()
            assert keys.available
        finally:
            await keys.aclose()

    asyncio.run(main())
    counted = added(before, sdk.reading(FETCHES))
    assert counted[attributes(source=issuer, document="metadata", outcome="success")] == 1
    assert counted[attributes(source=endpoint.url, document="jwks", outcome="success")] == 1


def test_a_key_set_built_without_telemetry_reports_nothing(
    sdk: Recorded, endpoint: Endpoint
) -> None:
    before = sdk.reading(FETCHES)
    fetch_once(endpoint.url, telemetry=False)
    assert with_attribute(added(before, sdk.reading(FETCHES)), "source", endpoint.url) == {}
    assert sdk.finished_spans(FETCH) == []


def test_keys_fetched_per_kid_are_counted_under_their_template(
    sdk: Recorded, endpoint: Endpoint
) -> None:
    endpoint.pems = {KID: pem_of(EC_P256)}
    template = endpoint.key_url_template
    unknown = random_kid()
    before = sdk.reading(FETCHES)

    async def main() -> None:
        source = KidURLKeys(
            KeyURLTemplate.parse(endpoint.key_url_template), options=JWKSOptions(timeout_seconds=2)
        )
        try:
            assert len(await source.keys("ES256", KID)) == 1
            assert await source.keys("ES256", unknown) == ()
            assert sdk.reading(HELD)[attributes(source=template)] == 1
        finally:
            await source.aclose()

    asyncio.run(main())
    counted = with_attribute(added(before, sdk.reading(FETCHES)), "source", template)
    assert counted == {
        attributes(source=template, document="pem", outcome="success"): 1,
        attributes(source=template, document="pem", outcome="absent"): 1,
    }
    reported = [
        str(value)
        for span in sdk.finished_spans(FETCH)
        for value in (span.attributes or {}).values()
    ]
    assert not [value for value in reported if KID in value or unknown in value]
