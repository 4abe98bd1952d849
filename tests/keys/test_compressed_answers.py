"""Compressed answers from a key or metadata endpoint: decoded within the size limit, so a
gzip bomb (a few kilobytes that inflate to many megabytes) fails as "too large" at once,
without the memory its decoded size would take. A real HTTP server on loopback sends the
encoded bytes as they are.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import time
import tracemalloc
import zlib
from collections.abc import Callable, Coroutine
from typing import Any

import pytest

from jwt_middleware.errors import KeysUnavailableError
from jwt_middleware.keys.discovery import DiscoveredKeys
from jwt_middleware.keys.http import ACCEPT_ENCODING
from jwt_middleware.keys.jwks import JWKSKeys
from jwt_middleware.keys.pool import JWKSPool
from tests.helpers import FakeClock
from tests.keypairs import RSA
from tests.keys.endpoint import Endpoint, header, open_keys, public_jwk, resolve

#: How much a bomb inflates to; the limit of the fetches here is far below it.
BOMB_DECODED_BYTES = 64 * 1024 * 1024
MAX_RESPONSE_BYTES = 1024 * 1024
#: The most memory a fetch may take at its peak, whatever its answer inflates to.
PEAK_BOUND_BYTES = 8 * 1024 * 1024


def gzip(data: bytes) -> bytes:
    return _compress(data, 16 + zlib.MAX_WBITS)


def deflate(data: bytes) -> bytes:
    """RFC 9110's ``deflate``: zlib-wrapped."""
    return _compress(data, zlib.MAX_WBITS)


def raw_deflate(data: bytes) -> bytes:
    """What some servers send as ``deflate``: no zlib wrapper."""
    return _compress(data, -zlib.MAX_WBITS)


def _compress(data: bytes, window_bits: int) -> bytes:
    compressor = zlib.compressobj(9, zlib.DEFLATED, window_bits)
    return compressor.compress(data) + compressor.flush()


@functools.cache
def bomb(window_bits: int) -> bytes:
    """A JSON object of :data:`BOMB_DECODED_BYTES`, mostly spaces, compressed (about 64 KB)."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, window_bits)
    parts = [compressor.compress(b'{"keys": [], "pad": "')]
    block = b" " * (1024 * 1024)
    parts += [compressor.compress(block) for _ in range(BOMB_DECODED_BYTES // len(block))]
    parts += [compressor.compress(b'"}'), compressor.flush()]
    return b"".join(parts)


JWKS = json.dumps({"keys": [public_jwk(RSA, "a")]}).encode()


@pytest.mark.parametrize(
    ("encoding", "encode"),
    [
        pytest.param("gzip", gzip, id="gzip"),
        pytest.param("x-gzip", gzip, id="x-gzip"),
        pytest.param("GZIP", gzip, id="gzip-upper-case"),
        pytest.param("deflate", deflate, id="deflate"),
        pytest.param("deflate", raw_deflate, id="raw-deflate"),
        pytest.param("identity", lambda data: data, id="identity"),
    ],
)
def test_a_compressed_key_set_is_read(
    endpoint: Endpoint, clock: FakeClock, encoding: str, encode: Callable[[bytes], bytes]
) -> None:
    endpoint.body, endpoint.encoding = encode(JWKS), encoding

    async def scenario() -> int:
        async with open_keys(endpoint.url, clock) as keys:
            return len(await resolve(keys, header("a")))

    assert asyncio.run(scenario()) == 1
    assert endpoint.accept_encodings == [ACCEPT_ENCODING]  # only what is decoded with a bound


def _measured(scenario: Callable[[], Coroutine[Any, Any, None]]) -> tuple[float, int]:
    """Run ``scenario``; its seconds and its peak of traced memory, in bytes."""
    tracemalloc.start()
    try:
        started = time.monotonic()
        asyncio.run(scenario())
        elapsed = time.monotonic() - started
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return elapsed, peak


@pytest.mark.parametrize(
    ("encoding", "window_bits"),
    [
        pytest.param("gzip", 16 + zlib.MAX_WBITS, id="gzip"),
        pytest.param("deflate", zlib.MAX_WBITS, id="deflate"),
        pytest.param("deflate", -zlib.MAX_WBITS, id="raw-deflate"),
    ],
)
def test_a_key_set_bomb_is_too_large_at_once_and_in_little_memory(
    endpoint: Endpoint,
    clock: FakeClock,
    caplog: pytest.LogCaptureFixture,
    encoding: str,
    window_bits: int,
) -> None:
    endpoint.body, endpoint.encoding = bomb(window_bits), encoding
    assert len(endpoint.body) < 128 * 1024  # small on the wire: the limit does not see it

    async def scenario() -> None:
        async with open_keys(
            endpoint.url, clock, max_response_bytes=MAX_RESPONSE_BYTES, timeout_seconds=10
        ) as keys:
            with pytest.raises(KeysUnavailableError):
                await resolve(keys, header("a"))

    with caplog.at_level(logging.WARNING, logger="jwt_middleware"):
        elapsed, peak = _measured(scenario)
    assert peak < PEAK_BOUND_BYTES, f"peak {peak / 2**20:.1f} MiB"
    assert elapsed < 2
    assert f"failed: response larger than {MAX_RESPONSE_BYTES} bytes" in caplog.text


def test_a_metadata_bomb_is_too_large_at_once_and_in_little_memory(
    endpoint: Endpoint, caplog: pytest.LogCaptureFixture
) -> None:
    endpoint.metadata, endpoint.encoding = bomb(16 + zlib.MAX_WBITS), "gzip"

    async def scenario() -> None:
        source = DiscoveredKeys(endpoint.base_url, algorithms=["RS256"], pool=JWKSPool())
        try:
            with pytest.raises(KeysUnavailableError):
                await source.keys("RS256", "a")
        finally:
            await source.aclose()

    with caplog.at_level(logging.WARNING, logger="jwt_middleware"):
        elapsed, peak = _measured(scenario)
    assert peak < PEAK_BOUND_BYTES, f"peak {peak / 2**20:.1f} MiB"
    assert elapsed < 2
    assert "response larger than 262144 bytes" in caplog.text


def test_compressed_metadata_and_key_set_are_read(endpoint: Endpoint) -> None:
    endpoint.metadata = gzip(
        json.dumps({"issuer": endpoint.base_url, "jwks_uri": endpoint.url}).encode()
    )
    endpoint.body, endpoint.encoding = gzip(JWKS), "gzip"

    async def scenario() -> int:
        source = DiscoveredKeys(endpoint.base_url, algorithms=["RS256"], pool=JWKSPool())
        try:
            return len(await source.keys("RS256", "a"))
        finally:
            await source.aclose()

    assert asyncio.run(scenario()) == 1


@pytest.mark.parametrize(
    ("encoding", "body", "reason"),
    [
        pytest.param(
            "gzip", b"\x1f\x8b not gzip at all", "response does not decode", id="bad-gzip"
        ),
        pytest.param("gzip", gzip(JWKS)[:-30], "response does not decode", id="truncated-gzip"),
        pytest.param(
            "deflate", b"\xff\xff not deflate", "response does not decode", id="bad-deflate"
        ),
        pytest.param("br", JWKS, "unsupported content encoding", id="brotli"),
        pytest.param("zstd", JWKS, "unsupported content encoding", id="zstd"),
        pytest.param("gzip, gzip", gzip(gzip(JWKS)), "unsupported content encoding", id="stacked"),
    ],
)
def test_an_encoding_that_does_not_decode_gets_no_keys(
    endpoint: Endpoint,
    clock: FakeClock,
    caplog: pytest.LogCaptureFixture,
    encoding: str,
    body: bytes,
    reason: str,
) -> None:
    endpoint.body, endpoint.encoding = body, encoding

    async def scenario(keys: JWKSKeys) -> None:
        with pytest.raises(KeysUnavailableError):
            await resolve(keys, header("a"))

    async def main() -> None:
        async with open_keys(endpoint.url, clock) as keys:
            await scenario(keys)

    with caplog.at_level(logging.WARNING, logger="jwt_middleware"):
        asyncio.run(main())
    assert reason in caplog.text
