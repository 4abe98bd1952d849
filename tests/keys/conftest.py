"""JWKS fixtures: endpoints on loopback, a fake clock, and a runner for async scenarios.

Time is a fake clock, so TTLs and refetch intervals are crossed by advancing it, not by
waiting.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator
from contextlib import ExitStack
from typing import Any

import pytest

from jwt_middleware.keys.jwks import JWKSKeys
from tests.helpers import FakeClock
from tests.keys.endpoint import Endpoint, Run, open_keys


@pytest.fixture
def start_endpoint() -> Iterator[Callable[[], Endpoint]]:
    with ExitStack() as stack:
        yield lambda: Endpoint(stack)


@pytest.fixture
def endpoint(start_endpoint: Callable[[], Endpoint]) -> Endpoint:
    return start_endpoint()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(1000.0)


@pytest.fixture
def run(endpoint: Endpoint, clock: FakeClock) -> Run:
    """Run an async scenario against ``endpoint`` with a fresh JWKSKeys (RS256, 2 s timeout)."""

    def runner(scenario: Callable[[JWKSKeys], Awaitable[None]], **options: Any) -> None:
        async def main() -> None:
            async with open_keys(endpoint.url, clock, **options) as keys:
                await scenario(keys)

        asyncio.run(main())

    return runner
