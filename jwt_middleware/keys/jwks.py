"""``JWKSKeys``: verification keys published at a JWKS URL (RFC 7517), cached and refreshed.

    jwks = JWKSKeys("https://idp.example/.well-known/jwks.json", algorithms=["RS256"])
    verifier = TokenVerifier(settings, keys=jwks)

How sets are fetched and cached is one :class:`JWKSOptions`, whose fields are the
``JWT_JWKS_*`` settings under the same names without the prefix (``cache_seconds`` is
``JWT_JWKS_CACHE_SECONDS``); :meth:`JWKSOptions.from_settings` reads them.

The key set is fetched asynchronously with httpx, cached for ``cache_seconds``, and
refreshed on first use after that, in the background: tokens whose key is already known
never wait on the network. A token naming an unknown ``kid`` waits for one refetch, but
refetches happen at most once per ``min_refetch_seconds`` whatever triggers them, so a
client spraying random ``kid`` values cannot make us hammer the endpoint. Concurrent
requests share one fetch.

The defaults pick up a key the provider starts signing with within seconds (a refetch is
allowed every 5 s) while a flood of random ``kid`` values still costs at most one fetch per
5 s.

Every fetch is a span and a count by outcome, and the set's age and size are gauges
(:mod:`~jwt_middleware.telemetry`), unless ``telemetry=False``. Failures (endpoint down,
slow, non-200, oversized, not a JWK Set, nothing usable in it) are logged at WARNING:
the last good key set stays in use (as long as ``max_stale_seconds`` allows, forever by
default), and a token we hold no key for gets none, which the verifier answers with 401.
With no usable key set at all (never fetched, or too old), asking for keys raises
:class:`~.errors.KeysUnavailableError`, answered with 503: the token may well be valid.

What is trusted, and why: keys come only from the configured URL, never from a token's
``jku``, ``x5u``, ``jwk`` or ``x5c``; which members of the set are used, and with which
algorithm, is decided by :func:`~.jwk.parse_jwk_set` (public signature keys only, each bound
to one pinned algorithm). A token without ``kid`` is tried against every key bound to its
``alg``, as long as there are at most :data:`MAX_KEYS_WITHOUT_KID` of them; beyond that it
gets none, so a large set cannot turn one token into dozens of signature checks.

One instance belongs to one event loop. Call :meth:`JWKSKeys.prefetch` at start-up and
:meth:`JWKSKeys.aclose` at shutdown (e.g. in the app's lifespan).
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Final

import httpx

from ..algorithms import ALGORITHMS, HMAC_ALGORITHMS
from ..errors import ConfigurationError, KeysUnavailableError
from ..telemetry import Telemetry, instruments
from ..types import BoundKey
from .http import FetchError, fetch_capped
from .jwk import MAX_KEYS_WITHOUT_KID, JWKSetError, KeySet, parse_jwk_set
from .refetch import SingleFlight

if TYPE_CHECKING:
    from ..settings import JWTSettings

__all__ = ["MAX_KEYS_WITHOUT_KID", "JWKSKeys", "JWKSOptions"]

logger = logging.getLogger(__name__)

_ACCEPT: Final = "application/jwk-set+json, application/json"
_LOOPBACK_HOSTS: Final = frozenset({"localhost", "127.0.0.1", "::1"})


@dataclass(frozen=True, slots=True)
class JWKSOptions:
    """How key sets and discovery metadata are fetched and cached: the ``JWT_JWKS_*``
    settings, one name each from the environment to the code (``JWT_JWKS_CACHE_SECONDS``
    is ``cache_seconds``). The defaults are the settings' defaults.

    Attributes:
        cache_seconds: how long a fetched set (or metadata document) is used before it is
            refreshed, in the background.
        min_refetch_seconds: the least time between two fetches of one URL, whatever asks
            for them (expiry, an unknown ``kid``, a failed fetch being retried).
        max_stale_seconds: a set older than this (all refreshes having failed) is no longer
            used; ``None`` keeps the last good one for ever.
        timeout_seconds: a whole fetch (connect, headers and body) must fit in this.

    Each is a positive, finite number of seconds (:class:`TypeError` or :class:`ValueError`
    otherwise, at construction).
    """

    cache_seconds: float = 300
    min_refetch_seconds: float = 5
    max_stale_seconds: float | None = None
    timeout_seconds: float = 5

    def __post_init__(self) -> None:
        for field in fields(self):
            value = getattr(self, field.name)
            if value is not None or field.name != "max_stale_seconds":
                object.__setattr__(self, field.name, _positive(field.name, value))

    @classmethod
    def from_settings(cls, settings: JWTSettings) -> JWKSOptions:
        """The ``JWT_JWKS_*`` settings; a value no fetch can use raises
        :class:`~jwt_middleware.errors.ConfigurationError` naming its variable."""
        values = {field.name: getattr(settings, "jwks_" + field.name) for field in fields(cls)}
        for name, value in values.items():
            if value is not None and not math.isfinite(value):
                raise ConfigurationError(
                    f"JWT_JWKS_{name.upper()} must be a finite number of seconds"
                )
        return cls(**values)


class JWKSKeys:
    """A :class:`~jwt_middleware.keys.source.KeySource` backed by a JWKS URL.

    Args:
        url: the ``http(s)`` URL of the JWK Set. Plain ``http`` is accepted but logged as a
            warning unless the host is loopback: keys fetched in clear can be substituted.
        algorithms: the asymmetric algorithms keys may be used with (e.g. ``["RS256"]``);
            normally just the verifier's own algorithm.
        options: how the set is fetched and cached (:class:`JWKSOptions`; its defaults
            when left out).
        max_response_bytes: a larger body (after decompression) is refused.
        client: an ``httpx.AsyncClient`` to fetch with, left open by :meth:`aclose`; one is
            created on first use otherwise. Redirects are never followed.
        clock: a monotonic clock in seconds; tests pass a fake one.
        telemetry: report fetches and the set's health through OpenTelemetry, when it is
            installed (:mod:`~jwt_middleware.telemetry`).
    """

    __slots__ = (
        "__weakref__",
        "_algorithms",
        "_cache_seconds",
        "_client",
        "_clock",
        "_fetched_at",
        "_flight",
        "_key_set",
        "_log_url",
        "_max_bytes",
        "_max_stale",
        "_owned_client",
        "_telemetry",
        "_timeout",
        "_url",
    )

    def __init__(
        self,
        url: str,
        *,
        algorithms: Sequence[str],
        options: JWKSOptions | None = None,
        max_response_bytes: int = 1_000_000,
        client: httpx.AsyncClient | None = None,
        clock: Callable[[], float] = time.monotonic,
        telemetry: bool = True,
    ) -> None:
        self._url = _checked_url(url)
        self._log_url = str(
            self._url.copy_with(username=None, password=None, query=None, fragment=None)
        )
        self._algorithms = _checked_algorithms(algorithms)
        if options is None:
            options = JWKSOptions()
        elif not isinstance(options, JWKSOptions):
            raise TypeError("options must be a JWKSOptions")
        # Copied out of the options: keys_now reads them on every cache miss.
        self._cache_seconds = options.cache_seconds
        self._timeout = options.timeout_seconds
        self._max_stale = options.max_stale_seconds
        if isinstance(max_response_bytes, bool) or not isinstance(max_response_bytes, int):
            raise TypeError("max_response_bytes must be an int")
        if max_response_bytes <= 0:
            raise ValueError("max_response_bytes must be positive")
        self._max_bytes = max_response_bytes
        self._client = client
        self._owned_client: httpx.AsyncClient | None = None
        self._clock = clock
        self._key_set = KeySet()
        self._fetched_at: float | None = None
        self._flight = SingleFlight(
            self._fetch,
            min_interval_seconds=options.min_refetch_seconds,
            clock=clock,
            name=self._log_url,
        )
        if self._url.scheme == "http" and self._url.host not in _LOOPBACK_HOSTS:
            logger.warning(
                "JWKS URL %s is plain http: keys can be substituted in transit", self._log_url
            )
        self._telemetry: Telemetry | None = instruments() if telemetry else None
        if self._telemetry is not None:
            self._telemetry.key_sets.add(self)

    @property
    def depends_on_header(self) -> bool:
        return True

    def keys_now(self, algorithm: str | None, kid: str | None) -> Sequence[BoundKey] | None:
        """The keys for this ``alg`` and ``kid`` if the held set answers, else ``None``.

        A held set answers unless nothing was fetched yet or the ``kid`` is unknown (a
        new key may have been published). An expired set keeps answering while it is
        refreshed in the background, so a known key never waits on the network.
        """
        if not isinstance(algorithm, str) or algorithm not in self._algorithms:
            return ()
        if kid is not None and not isinstance(kid, str):
            return ()
        if self._fetched_at is None or (kid is not None and kid not in self._key_set.kids):
            return None
        now = self._clock()
        age = now - self._fetched_at
        if self._max_stale is not None and age > self._max_stale:
            return None  # too old to trust without trying a fetch first
        if age >= self._cache_seconds and self._flight.allowed(now):
            self._flight.start()
        return self._key_set.select(kid, algorithm)

    async def keys(self, algorithm: str | None, kid: str | None) -> Sequence[BoundKey]:
        """The keys for this ``alg`` and ``kid``, fetching first when that may help.

        Waits for a fetch only when the answer depends on it (nothing fetched yet, or an
        unknown ``kid`` and a refetch is allowed by the rate limit).
        """
        known = self.keys_now(algorithm, kid)
        if known is not None:
            return known
        assert algorithm is not None
        if self._flight.allowed():
            await self._flight.wait()
        else:
            logger.debug("no key for this token; JWKS refetch not allowed yet")
        if not self.available:
            # Nothing usable was ever fetched, or only too long ago: the token may be
            # perfectly valid, so this is "try again" (503), not "bad token" (401).
            raise KeysUnavailableError
        return self._key_set.select(kid, algorithm)

    @property
    def available(self) -> bool:
        """Whether a key set is held that is young enough to use."""
        if self._fetched_at is None or not self._key_set.size:
            return False
        return self._max_stale is None or self._clock() - self._fetched_at <= self._max_stale

    async def prefetch(self) -> None:
        """Fetch the key set now (or wait for the fetch in flight).

        Meant for start-up, so the first requests do not wait. It does not raise when the
        fetch fails (that is logged): the app starts and keeps retrying; :attr:`has_keys`
        says whether any keys are held.
        """
        await self._flight.wait()

    @property
    def has_keys(self) -> bool:
        """Whether a key set is held (fetched now or earlier)."""
        return self._key_set.size > 0

    async def aclose(self) -> None:
        """Cancel a fetch in flight and close the HTTP client this instance created."""
        await self._flight.cancel()
        if self._owned_client is not None:
            client, self._owned_client = self._owned_client, None
            await client.aclose()

    def __repr__(self) -> str:
        return (
            f"JWKSKeys({self._log_url!r}, algorithms={list(self._algorithms)!r}, "
            f"<{self._key_set.size} keys>)"
        )

    @property
    def fetches(self) -> int:
        """Fetches started, successful or not (for monitoring, and the kid-flood tests)."""
        return self._flight.fetches

    @property
    def source(self) -> str:
        """The URL without credentials, query or fragment: how logs and metrics name it."""
        return self._log_url

    @property
    def age_seconds(self) -> float | None:
        """Seconds since the last successful fetch, or ``None`` before the first."""
        return None if self._fetched_at is None else self._clock() - self._fetched_at

    @property
    def key_count(self) -> int:
        """The usable keys held."""
        return self._key_set.size

    async def _fetch(self) -> None:
        if self._telemetry is None:
            await self._fetch_once()
            return
        with self._telemetry.key_fetch("jwks", self._log_url) as outcome:
            outcome(await self._fetch_once())

    async def _fetch_once(self) -> str:
        """Fetch the set and use it if it is usable; the outcome, one word (as metrics
        count it): ``success``, ``timeout``, ``unreachable``, ``bad_response`` (status,
        size, encoding) or ``bad_key_set``."""
        try:
            async with asyncio.timeout(self._timeout):
                body = await self._download()
            bound, skipped = parse_jwk_set(body, self._algorithms)
        except TimeoutError:
            logger.warning("JWKS fetch from %s timed out after %gs", self._log_url, self._timeout)
            outcome = "timeout"
        except httpx.HTTPError as exc:
            logger.warning("JWKS fetch from %s failed: %s", self._log_url, type(exc).__name__)
            outcome = "unreachable"
        except (FetchError, JWKSetError) as exc:
            logger.warning("JWKS fetch from %s failed: %s", self._log_url, exc)
            outcome = "bad_response" if isinstance(exc, FetchError) else "bad_key_set"
        else:
            for index, level, reason in skipped:
                logger.log(
                    level, "JWKS from %s: keys[%d] ignored: %s", self._log_url, index, reason
                )
            key_set = KeySet(bound)
            self._key_set = key_set
            self._fetched_at = self._clock()
            logger.info("JWKS from %s: %d usable keys", self._log_url, key_set.size)
            return "success"
        if self._key_set.size:
            logger.warning("keeping the %d JWKS keys fetched earlier", self._key_set.size)
        return outcome

    async def _download(self) -> bytes:
        client = self._client if self._client is not None else self._own_client()
        return await fetch_capped(
            client,
            self._url,
            max_bytes=self._max_bytes,
            accept=_ACCEPT,
            operation_timeout_seconds=self._timeout,
        )

    def _own_client(self) -> httpx.AsyncClient:
        if self._owned_client is None:
            self._owned_client = httpx.AsyncClient(follow_redirects=False)
        return self._owned_client


def _checked_url(url: str) -> httpx.URL:
    if not isinstance(url, str):
        raise TypeError("url must be a string")
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL:
        raise ValueError("url is not a valid URL") from None
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise ValueError("url must be an absolute http:// or https:// URL")
    return parsed


def _checked_algorithms(algorithms: Sequence[str]) -> tuple[str, ...]:
    if isinstance(algorithms, str):
        raise TypeError("algorithms is a list of names, e.g. ['RS256']")
    pinned = tuple(dict.fromkeys(algorithms))
    if not pinned:
        raise ValueError("algorithms must name at least one algorithm, e.g. ['RS256']")
    for name in pinned:
        if name not in ALGORITHMS:
            raise ValueError(f"algorithm {name!r} is not a supported signature algorithm")
        if name in HMAC_ALGORITHMS:
            raise ValueError(
                f"{name} is an HMAC algorithm: a JWKS publishes public keys, and a shared "
                "secret must never come from a URL (use StaticKeys for HMAC)"
            )
    return pinned


def _positive(name: str, value: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"{name} must be a number")
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"{name} must be a positive, finite number of seconds")
    return float(value)
