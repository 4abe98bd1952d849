"""``KidURLKeys`` against a real HTTP server on loopback, on a fake clock: what a hostile
``kid`` can make it do (no URL but the template's, a bounded number of fetches, bounded
memory), what the key host's answers make of a key (only a P-256 PEM public key is one),
how held keys are refreshed and dropped, and what happens while the host is down.
"""

from __future__ import annotations

import asyncio
import string
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from jwt_middleware.errors import KeysUnavailableError
from jwt_middleware.keys.jwks import JWKSOptions
from jwt_middleware.keys.kid_urls import MISSING_KID_SECONDS, KidURLKeys
from jwt_middleware.settings.alb import KeyURLTemplate
from tests.helpers import FakeClock
from tests.keypairs import EC_P256, EC_P384, RSA, private_pem
from tests.keys.alb import KID, KIDS_UNFIT_FOR_A_URL, NEXT_KEY, NEXT_KID, pem_of, random_kid
from tests.keys.endpoint import Endpoint

CACHE_SECONDS = 300.0
REFETCH_SECONDS = 5.0

Scenario = Callable[[KidURLKeys], Awaitable[None]]


def run(endpoint: Endpoint, clock: FakeClock, scenario: Scenario, **options: Any) -> None:
    """``scenario`` on a source of ``endpoint``'s PEM files (:data:`KID` published)."""
    if not endpoint.pems:
        endpoint.pems = {KID: pem_of(EC_P256)}
    fetching = {
        "cache_seconds": CACHE_SECONDS,
        "min_refetch_seconds": REFETCH_SECONDS,
        "timeout_seconds": options.pop("timeout_seconds", 2),
    }
    if "max_stale_seconds" in options:
        fetching["max_stale_seconds"] = options.pop("max_stale_seconds")

    async def main() -> None:
        source = KidURLKeys(
            KeyURLTemplate.parse(endpoint.key_url_template),
            options=JWKSOptions(**fetching),
            clock=clock,
            **options,
        )
        try:
            await scenario(source)
        finally:
            await source.aclose()

    asyncio.run(main())


async def kids_of(source: KidURLKeys, kid: Any, algorithm: str = "ES256") -> list[str | None]:
    return [key.kid for key in await source.keys(algorithm, kid)]


def test_a_key_is_fetched_once_bound_to_es256(endpoint: Endpoint, clock: FakeClock) -> None:
    async def scenario(source: KidURLKeys) -> None:
        assert source.keys_now("ES256", KID) is None, "not held before a token names it"
        (key,) = await source.keys("ES256", KID)
        assert (key.algorithm, key.kid) == ("ES256", KID)
        assert key.key.public_numbers() == EC_P256.public_key().public_numbers()
        for _ in range(10):
            assert source.keys_now("ES256", KID) == (key,)
        for algorithm in ("RS256", "ES384", "HS256", "none", None):
            assert source.keys_now(algorithm, KID) == ()
            assert await source.keys(algorithm, KID) == ()
        assert source.fetches == 1

    run(endpoint, clock, scenario)
    assert endpoint.paths == [f"/keys/{KID}".encode()]


def test_concurrent_tokens_share_one_fetch(endpoint: Endpoint, clock: FakeClock) -> None:
    endpoint.delay = 0.2

    async def scenario(source: KidURLKeys) -> None:
        answers = await asyncio.gather(*(kids_of(source, KID) for _ in range(20)))
        assert answers == [[KID]] * 20
        assert source.fetches == 1

    run(endpoint, clock, scenario)


def test_a_kid_the_host_does_not_know_is_remembered(endpoint: Endpoint, clock: FakeClock) -> None:
    missing = random_kid()

    async def scenario(source: KidURLKeys) -> None:
        for _ in range(50):
            assert await kids_of(source, missing) == []
        assert source.keys_now("ES256", missing) == (), "answered at once, without a wait"
        assert source.fetches == 1
        clock.advance(MISSING_KID_SECONDS)
        assert await kids_of(source, missing) == []
        assert source.fetches == 2

    run(endpoint, clock, scenario)


def test_a_flood_of_made_up_kids_costs_the_budget(endpoint: Endpoint, clock: FakeClock) -> None:
    async def scenario(source: KidURLKeys) -> None:
        for _ in range(500):
            assert await kids_of(source, random_kid()) == []
        assert source.fetches == 3, "the burst, then nothing"
        assert await kids_of(source, KID) == [], "past the budget a real new kid waits too"
        clock.advance(60)  # the budget refills over a minute
        assert await kids_of(source, KID) == [KID]
        assert source.fetches == 4

    run(endpoint, clock, scenario, new_kids_per_minute=3)


def test_keys_held_are_bounded(endpoint: Endpoint, clock: FakeClock) -> None:
    kids = [random_kid() for _ in range(5)]
    endpoint.pems = {kid: pem_of(EC_P256) for kid in kids}

    async def scenario(source: KidURLKeys) -> None:
        for kid in kids[:4]:
            assert await kids_of(source, kid) == [kid]
            assert source.keys_now("ES256", kids[0]), "used each time: kept"
        assert await kids_of(source, kids[4]) == [kids[4]]
        held = [kid for kid in kids if source.keys_now("ES256", kid)]
        assert held == [kids[0], kids[4]], "the least recently used are forgotten"

    run(endpoint, clock, scenario, max_keys=2)


@pytest.mark.parametrize("kid", KIDS_UNFIT_FOR_A_URL)
def test_a_kid_not_fit_for_a_url_is_never_fetched(
    endpoint: Endpoint, clock: FakeClock, kid: Any
) -> None:
    async def scenario(source: KidURLKeys) -> None:
        assert source.keys_now("ES256", kid) == ()
        assert await source.keys("ES256", kid) == ()
        assert source.fetches == 0

    run(endpoint, clock, scenario)
    assert endpoint.paths == []


@given(st.text(max_size=80) | st.text(string.ascii_letters + string.digits + "-_.%/", max_size=70))
def test_a_kid_goes_into_the_url_as_one_unchanged_segment_or_not_at_all(kid: str) -> None:
    template = KeyURLTemplate.parse("https://keys.example/region/{kid}.pem")
    url = template.url(kid)
    if url is None:
        assert not (
            kid
            and len(kid) <= 64
            and kid.isascii()
            and kid.replace("-", "").replace("_", "").isalnum()
        )
        return
    parsed = httpx.URL(url)
    assert parsed.host == "keys.example"
    assert parsed.raw_path == f"/region/{kid}.pem".encode()
    assert parsed.query == b""


BAD_ANSWERS = [
    pytest.param(pem_of(RSA), id="rsa-key"),
    pytest.param(pem_of(EC_P384), id="p384-key"),
    pytest.param(private_pem(EC_P256).encode(), id="private-key"),
    pytest.param(pem_of(EC_P256) + pem_of(NEXT_KEY), id="two-keys"),
    pytest.param(b"<html>not a key</html>", id="garbage"),
    pytest.param(b"-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n", id="broken-pem"),
    pytest.param(pem_of(EC_P256) + b"x" * 20_000, id="oversized"),
]


@pytest.mark.parametrize("body", BAD_ANSWERS)
def test_an_answer_that_is_not_one_es256_key_is_a_failed_fetch(
    endpoint: Endpoint, clock: FakeClock, body: bytes
) -> None:
    endpoint.body = body

    async def scenario(source: KidURLKeys) -> None:
        with pytest.raises(KeysUnavailableError):
            await source.keys("ES256", KID)
        assert not source.available

    run(endpoint, clock, scenario)


def test_the_host_down_then_back(endpoint: Endpoint, clock: FakeClock) -> None:
    """503 for a kid not held, no second fetch within the refetch limit, not ready until
    the host answers again, and prefetch (what a readiness probe calls) retries it."""

    async def scenario(source: KidURLKeys) -> None:
        assert source.available, "ready before any token: nothing is known to be wrong"
        endpoint.status = 503
        with pytest.raises(KeysUnavailableError):
            await source.keys("ES256", KID)
        assert not source.available
        with pytest.raises(KeysUnavailableError):
            await source.keys("ES256", KID)
        assert source.fetches == 1, "not again within the refetch limit"
        endpoint.status = 200
        clock.advance(REFETCH_SECONDS)
        await source.prefetch()
        assert source.available
        assert source.keys_now("ES256", KID)

    run(endpoint, clock, scenario)


def test_a_slow_host_times_out(endpoint: Endpoint, clock: FakeClock) -> None:
    endpoint.delay = 1.5

    async def scenario(source: KidURLKeys) -> None:
        with pytest.raises(KeysUnavailableError):
            await source.keys("ES256", KID)

    run(endpoint, clock, scenario, timeout_seconds=0.3)


def test_a_held_key_is_refreshed_and_dropped_when_withdrawn(
    endpoint: Endpoint, clock: FakeClock
) -> None:
    async def scenario(source: KidURLKeys) -> None:
        assert await kids_of(source, KID) == [KID]
        clock.advance(CACHE_SECONDS)
        endpoint.status = 503
        assert source.keys_now("ES256", KID), "answers while it is refreshed"
        await asyncio.sleep(0.5)  # the refresh, in the background, fails
        assert source.keys_now("ES256", KID), "a failed refresh keeps the key"
        assert source.available
        endpoint.status = 200
        del endpoint.pems[KID]
        clock.advance(REFETCH_SECONDS)
        assert source.keys_now("ES256", KID)
        await asyncio.sleep(0.5)  # this refresh hears that the kid is gone
        assert source.keys_now("ES256", KID) == ()
        assert source.fetches == 3

    run(endpoint, clock, scenario)


def test_a_key_too_old_is_not_used_while_the_host_is_down(
    endpoint: Endpoint, clock: FakeClock
) -> None:
    async def scenario(source: KidURLKeys) -> None:
        assert await kids_of(source, KID) == [KID]
        endpoint.status = 503
        clock.advance(601)
        assert source.keys_now("ES256", KID) is None
        with pytest.raises(KeysUnavailableError):
            await source.keys("ES256", KID)
        assert not source.available

    run(endpoint, clock, scenario, max_stale_seconds=600)


def test_a_new_kid_beside_the_held_one(endpoint: Endpoint, clock: FakeClock) -> None:
    async def scenario(source: KidURLKeys) -> None:
        assert await kids_of(source, KID) == [KID]
        assert await kids_of(source, NEXT_KID) == []
        endpoint.pems[NEXT_KID] = pem_of(NEXT_KEY)
        clock.advance(MISSING_KID_SECONDS)
        assert await kids_of(source, NEXT_KID) == [NEXT_KID]
        assert await kids_of(source, KID) == [KID]

    run(endpoint, clock, scenario)


@pytest.mark.parametrize(
    "template",
    [
        "https://keys.example/{kid}",
        "https://keys.example:8443/prod/{kid}.pem",
        "http://127.0.0.1:8080/keys/{kid}",
        "http://localhost/{kid}/key",
    ],
)
def test_templates_that_are_accepted(template: str) -> None:
    parsed = KeyURLTemplate.parse(template)
    assert parsed.url("abc-1_2") == template.replace("{kid}", "abc-1_2")


@pytest.mark.parametrize(
    "template",
    [
        "https://keys.example/",
        "https://keys.example/{kid}/{kid}",
        "https://keys.example/{key}",
        "https://{kid}.keys.example/",
        "https://keys.example{kid}",
        "https://keys.example/x{kid}",
        "https://keys.example/?kid={kid}",
        "https://keys.example/{kid}?x=1",
        "https://keys.example/{kid}#x",
        "https://user@keys.example/{kid}",
        "https://keys.example/%2e/{kid}",
        "https://keys.example/../{kid}",
        "https://keys.example/{kid}/..",
        "http://keys.example/{kid}",
        "http://10.0.0.1/{kid}",
        "ftp://keys.example/{kid}",
        "keys.example/{kid}",
    ],
)
def test_templates_that_are_refused(template: str) -> None:
    with pytest.raises(ValueError, match="JWT_KEY_URL_TEMPLATE") as refused:
        KeyURLTemplate.parse(template)
    assert template not in str(refused.value)
