"""The ``KeySource`` contract, one table run over every key source the library ships.

Static keys (named by ``kid``; a primary key that also serves tokens naming no known
``kid``; one HMAC secret that needs no header), a JWKS fetched from a real endpoint on
loopback, keys discovered from a loopback issuer's metadata, a JWK Set given inline or
read from a file, and PEM keys fetched one per ``kid`` (AWS ALB's way). Each offers a known
``alg`` and ``kid`` now and later alike; for an unknown ``kid`` nothing, or what it offers a
token without ``kid``; never a key for an algorithm it was not bound to; says truly
whether its keys depend on the header; says truly whether it holds usable keys (what a
readiness probe asks); and survives ``prefetch`` and ``aclose`` twice.
"""

from __future__ import annotations

import asyncio
import json
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from jwt_middleware import JWTSettings, KeySource
from jwt_middleware.algorithms import ALGORITHMS
from jwt_middleware.errors import KeysUnavailableError
from jwt_middleware.keys.discovery import DiscoveredKeys
from jwt_middleware.keys.jwks import JWKSKeys, JWKSOptions
from jwt_middleware.keys.kid_urls import KidURLKeys
from jwt_middleware.keys.local import JWKSFileKeys, inline_jwks
from jwt_middleware.keys.pool import JWKSPool
from jwt_middleware.keys.static import StaticKeys
from jwt_middleware.settings.alb import KeyURLTemplate
from jwt_middleware.types import BoundKey
from tests.helpers import SECRET, FakeClock
from tests.keypairs import EC_P256, RSA, public_pem
from tests.keys.endpoint import Endpoint, public_jwk

Opener = Callable[[Endpoint, FakeClock], AbstractAsyncContextManager[KeySource]]

#: Kids a token may name: the two every asymmetric source holds, one none holds, and none.
KIDS: tuple[str | None, ...] = ("a", "e", "unknown", None)
#: Header values for ``alg`` that name no algorithm a source could be bound to.
NOT_ALGORITHMS = ("none", "", "rs256", "RS256 ", "HS256\x00")


@dataclass(frozen=True)
class SourceCase:
    """A key source under test: how to open it, a key it holds, what it is bound to."""

    open: Opener
    known: tuple[str, str]  # (alg, kid) of a key it holds
    material: Any  # what that key is: its public numbers, or the secret's bytes
    bound: frozenset[str]  # every algorithm any of its keys is bound to
    #: For an unknown kid, the keys of a token without kid (StaticKeys' primary key).
    falls_back: bool = False
    #: Its keys are the same for every header (depends_on_header is False).
    header_free: bool = False
    #: Its keys come from a provider: none are held before the first good fetch.
    fetched: bool = False
    #: Its keys are fetched one per kid when a token names it: none are held after
    #: prefetch, and it is ready all the same until a fetch fails.
    per_kid: bool = False


@asynccontextmanager
async def static_named(endpoint: Endpoint, clock: FakeClock) -> AsyncIterator[KeySource]:
    settings = JWTSettings(
        algorithms=["RS256", "ES256"],
        public_keys={"a": public_pem(RSA), "e": public_pem(EC_P256)},
    )
    yield StaticKeys.from_settings(settings)


@asynccontextmanager
async def static_primary(endpoint: Endpoint, clock: FakeClock) -> AsyncIterator[KeySource]:
    settings = JWTSettings(algorithms=["RS256"], public_key=public_pem(RSA), key_id="a")
    yield StaticKeys.from_settings(settings)


@asynccontextmanager
async def static_secret(endpoint: Endpoint, clock: FakeClock) -> AsyncIterator[KeySource]:
    yield StaticKeys.from_settings(JWTSettings(secret=SECRET))


@asynccontextmanager
async def jwks(endpoint: Endpoint, clock: FakeClock) -> AsyncIterator[KeySource]:
    endpoint.publish(public_jwk(RSA, "a"), public_jwk(EC_P256, "e"))
    yield JWKSKeys(
        endpoint.url,
        algorithms=["RS256", "ES256"],
        options=JWKSOptions(timeout_seconds=2),
        clock=clock,
    )


@asynccontextmanager
async def discovered(endpoint: Endpoint, clock: FakeClock) -> AsyncIterator[KeySource]:
    endpoint.publish(public_jwk(RSA, "a"), public_jwk(EC_P256, "e"))
    endpoint.metadata = {"issuer": endpoint.base_url, "jwks_uri": endpoint.url}
    pool = JWKSPool(options=JWKSOptions(timeout_seconds=2), clock=clock)
    try:
        yield DiscoveredKeys(endpoint.base_url, algorithms=["RS256", "ES256"], pool=pool)
    finally:
        await pool.aclose()


def _jwk_set() -> str:
    return json.dumps({"keys": [public_jwk(RSA, "a"), public_jwk(EC_P256, "e")]})


@asynccontextmanager
async def inline(endpoint: Endpoint, clock: FakeClock) -> AsyncIterator[KeySource]:
    yield inline_jwks(_jwk_set(), algorithms=["RS256", "ES256"])


@asynccontextmanager
async def jwks_file(endpoint: Endpoint, clock: FakeClock) -> AsyncIterator[KeySource]:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "jwks.json"
        path.write_text(_jwk_set())
        yield JWKSFileKeys(path, algorithms=["RS256", "ES256"], clock=clock)


@asynccontextmanager
async def kid_urls(endpoint: Endpoint, clock: FakeClock) -> AsyncIterator[KeySource]:
    endpoint.pems = {"e": public_pem(EC_P256).encode()}
    template = KeyURLTemplate.parse(endpoint.key_url_template)
    yield KidURLKeys(template, options=JWKSOptions(timeout_seconds=2), clock=clock)


async def named_once(case: SourceCase, source: KeySource) -> None:
    """What a first token naming the known key does to a source that fetches per kid."""
    if case.per_kid:
        await source.keys(*case.known)


ASYMMETRIC = frozenset({"RS256", "ES256"})
RSA_NUMBERS = RSA.public_key().public_numbers()
SOURCES = [
    pytest.param(
        SourceCase(static_named, ("RS256", "a"), RSA_NUMBERS, ASYMMETRIC), id="static-named"
    ),
    pytest.param(
        SourceCase(
            static_primary, ("RS256", "a"), RSA_NUMBERS, frozenset({"RS256"}), falls_back=True
        ),
        id="static-primary",
    ),
    pytest.param(
        SourceCase(
            static_secret,
            ("HS256", "a"),
            SECRET.encode(),
            frozenset({"HS256"}),
            falls_back=True,
            header_free=True,
        ),
        id="static-secret",
    ),
    pytest.param(
        SourceCase(jwks, ("RS256", "a"), RSA_NUMBERS, ASYMMETRIC, fetched=True), id="jwks"
    ),
    pytest.param(
        SourceCase(discovered, ("RS256", "a"), RSA_NUMBERS, ASYMMETRIC, fetched=True),
        id="discovered",
    ),
    pytest.param(SourceCase(inline, ("RS256", "a"), RSA_NUMBERS, ASYMMETRIC), id="inline-jwks"),
    pytest.param(SourceCase(jwks_file, ("RS256", "a"), RSA_NUMBERS, ASYMMETRIC), id="jwks-file"),
    pytest.param(
        SourceCase(
            kid_urls,
            ("ES256", "e"),
            EC_P256.public_key().public_numbers(),
            frozenset({"ES256"}),
            per_kid=True,
        ),
        id="kid-urls",
    ),
]


def described(keys: Sequence[BoundKey] | None) -> list[tuple[str, str | None, Any]] | None:
    """Keys by what they are (a refetched set holds equal keys in new objects)."""
    if keys is None:
        return None
    return [
        (
            key.algorithm,
            key.kid,
            key.key if isinstance(key.key, bytes) else key.key.public_numbers(),
        )
        for key in keys
    ]


def check(
    case: SourceCase,
    endpoint: Endpoint,
    clock: FakeClock,
    scenario: Callable[[KeySource], Awaitable[None]],
) -> None:
    """Open the source, prefetch it, run ``scenario`` on it, close it: on one event loop."""

    async def main() -> None:
        async with case.open(endpoint, clock) as source:
            assert isinstance(source, KeySource)
            await source.prefetch()
            await named_once(case, source)
            try:
                await scenario(source)
            finally:
                await source.aclose()

    asyncio.run(main())


async def both_answers(
    source: KeySource, algorithm: str | None, kid: str | None
) -> tuple[Sequence[BoundKey] | None, Sequence[BoundKey]]:
    """What the source answers at once, and when awaited."""
    return source.keys_now(algorithm, kid), await source.keys(algorithm, kid)


@pytest.mark.parametrize("case", SOURCES)
def test_a_known_key_is_offered_now_and_when_awaited(
    case: SourceCase, endpoint: Endpoint, clock: FakeClock
) -> None:
    algorithm, kid = case.known

    async def scenario(source: KeySource) -> None:
        now, later = await both_answers(source, algorithm, kid)
        assert now is not None, "held after prefetch: no wait"
        assert list(now) == list(later)
        assert now, "the known key is offered"
        assert all(key.algorithm == algorithm for key in now)
        assert (algorithm, kid if source.depends_on_header else None, case.material) in (
            described(now) or []
        )
        if source.depends_on_header:
            assert all(key.kid == kid for key in now)

    check(case, endpoint, clock, scenario)


@pytest.mark.parametrize("case", SOURCES)
def test_an_unknown_kid_gets_no_key_of_another_kid(
    case: SourceCase, endpoint: Endpoint, clock: FakeClock
) -> None:
    """Nothing, or (a source with keys for tokens naming no known kid) exactly those."""
    algorithm, _ = case.known

    async def scenario(source: KeySource) -> None:
        now, later = await both_answers(source, algorithm, "unknown")
        if case.falls_back:
            assert described(now) == described(source.keys_now(algorithm, None))
            assert described(later) == described(await source.keys(algorithm, None))
            assert later, "the fallback keys are offered"
        else:
            assert not now  # None (to be awaited) or nothing
            assert list(later) == []

    check(case, endpoint, clock, scenario)


@pytest.mark.parametrize("algorithm", [*ALGORITHMS, *NOT_ALGORITHMS])
@pytest.mark.parametrize("case", SOURCES)
def test_never_a_key_for_an_algorithm_it_was_not_bound_to(
    case: SourceCase, endpoint: Endpoint, clock: FakeClock, algorithm: str
) -> None:
    """Whatever the kid, every key offered for ``alg`` is bound to it, and an algorithm no
    key is bound to gets none: the header selects among keys, never rebinds one."""

    async def scenario(source: KeySource) -> None:
        for kid in KIDS:
            now, later = await both_answers(source, algorithm, kid)
            for answer in (now or (), later):
                assert all(key.algorithm == algorithm for key in answer), kid
                if algorithm not in case.bound:
                    assert not answer, kid

    check(case, endpoint, clock, scenario)


@pytest.mark.parametrize("case", SOURCES)
def test_without_an_alg_only_bound_keys_are_offered(
    case: SourceCase, endpoint: Endpoint, clock: FakeClock
) -> None:
    async def scenario(source: KeySource) -> None:
        for kid in KIDS:
            now, later = await both_answers(source, None, kid)
            for answer in (now or (), later):
                assert {key.algorithm for key in answer} <= case.bound, kid

    check(case, endpoint, clock, scenario)


@pytest.mark.parametrize("case", SOURCES)
def test_depends_on_header_tells_the_truth(
    case: SourceCase, endpoint: Endpoint, clock: FakeClock
) -> None:
    """``False`` lets the verifier ask once (``keys_now(None, None)``) and filter by
    ``alg`` itself: every header must then get exactly that. Sources that select by
    ``kid`` must say ``True``."""

    async def scenario(source: KeySource) -> None:
        assert source.depends_on_header is not case.header_free
        if not source.depends_on_header:
            every = source.keys_now(None, None)
            assert every, "a header-independent source answers at once"
            for algorithm in ALGORITHMS:
                for kid in KIDS:
                    expected = [key for key in every if key.algorithm == algorithm]
                    assert list(source.keys_now(algorithm, kid) or ()) == expected

    check(case, endpoint, clock, scenario)


@pytest.mark.parametrize("case", SOURCES)
def test_prefetch_and_aclose_are_idempotent(
    case: SourceCase, endpoint: Endpoint, clock: FakeClock
) -> None:
    algorithm, kid = case.known

    async def main() -> None:
        async with case.open(endpoint, clock) as source:
            await source.prefetch()
            await named_once(case, source)
            first = described(source.keys_now(algorithm, kid))
            await source.prefetch()
            assert first
            assert described(source.keys_now(algorithm, kid)) == first
            await source.aclose()
            await source.aclose()
        async with case.open(endpoint, clock) as never_opened:
            await never_opened.aclose()
            await never_opened.aclose()

    asyncio.run(main())


@pytest.mark.parametrize("provider_up", [True, False], ids=["provider-up", "provider-down"])
@pytest.mark.parametrize("case", SOURCES)
def test_available_says_whether_usable_keys_are_held(
    case: SourceCase, endpoint: Endpoint, clock: FakeClock, provider_up: bool
) -> None:
    """Before ``prefetch`` a fetching source holds nothing; after it, it holds keys exactly
    when the provider answered, and then offers the known key without waiting. Static
    keys are available from the start. A source that fetches per kid holds nothing before
    a token names one and is available then; after, exactly when the provider answered."""
    algorithm, kid = case.known

    async def main() -> None:
        async with case.open(endpoint, clock) as source:
            if not provider_up:
                endpoint.status = 503
            if case.per_kid:
                await source.prefetch()
                assert source.available
                assert source.keys_now(algorithm, kid) is None, "nothing held before a token"
                if provider_up:
                    assert described(await source.keys(algorithm, kid))
                else:
                    with pytest.raises(KeysUnavailableError):
                        await source.keys(algorithm, kid)
                assert source.available is provider_up
                await source.aclose()
                return
            assert source.available is not case.fetched
            await source.prefetch()
            held = provider_up or not case.fetched
            assert source.available is held
            assert bool(source.keys_now(algorithm, kid)) is held
            await source.aclose()

    asyncio.run(main())
