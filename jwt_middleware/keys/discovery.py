"""``DiscoveredKeys``: an issuer's verification keys, found from its metadata.

    keys = DiscoveredKeys("https://idp.example/realms/x", algorithms=["RS256"])

The metadata is read from ``{issuer}/.well-known/openid-configuration`` (OpenID Connect
Discovery 1.0), or, when that is not found, from the RFC 8414 location, which for an issuer
with a path puts the well-known part between the host and the path:
``https://idp.example/.well-known/oauth-authorization-server/realms/x``. The document's
``issuer`` must equal the configured issuer exactly (OpenID Connect Discovery section 4.3,
RFC 8414 section 3.3), or the document is not used; its ``jwks_uri`` names the key set,
which a :class:`~.jwks.JWKSKeys` then fetches and refreshes.

Like the key set, the metadata is fetched asynchronously, cached (``cache_seconds`` of the
pool's :class:`~.jwks.JWKSOptions`) and refreshed in the background, never more than once
per ``min_refetch_seconds``;
the last good document stays in use while the provider is down. Requests only wait for
discovery when nothing was ever discovered (the first request, unless :meth:`prefetch`
ran at start-up); then, if it still fails, asking for keys raises
:class:`~.errors.KeysUnavailableError` (503).

Several issuers may publish one key set (Microsoft Entra ID's tenants do): a
:class:`JWKSPool` shared by their ``DiscoveredKeys`` fetches each ``jwks_uri`` once.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Sequence
from typing import Any, Final

import httpx

from ..errors import KeysUnavailableError
from ..telemetry import instruments
from ..types import BoundKey
from .http import FetchError, fetch_capped
from .jwks import JWKSKeys, JWKSOptions
from .pool import JWKSPool
from .refetch import SingleFlight

__all__ = ["DiscoveredKeys", "metadata_urls"]

logger = logging.getLogger(__name__)

_ACCEPT: Final = "application/json"
_LOOPBACK_HOSTS: Final = frozenset({"localhost", "127.0.0.1", "::1"})
_MAX_METADATA_BYTES: Final = 256 * 1024


class _NotUsable(Exception):
    """A metadata document could not be used; the message is safe to log."""


def metadata_urls(issuer: str) -> tuple[str, str]:
    """Where an issuer's metadata may be: OpenID Connect's URL, then RFC 8414's."""
    parsed = httpx.URL(issuer)
    path = parsed.path.rstrip("/")
    openid = issuer.rstrip("/") + "/.well-known/openid-configuration"
    oauth = str(parsed.copy_with(path="/.well-known/oauth-authorization-server" + path))
    return openid, oauth


class DiscoveredKeys:
    """A :class:`~.source.KeySource` for one issuer, whose key set its metadata names.

    ``pool`` shares key sets and an HTTP client with other issuers, and carries the
    :class:`~.jwks.JWKSOptions` for the metadata too; without one, the source makes its own
    from ``options`` (default options when left out) and closes it with :meth:`aclose`.
    """

    def __init__(
        self,
        issuer: str,
        *,
        algorithms: Sequence[str],
        pool: JWKSPool | None = None,
        options: JWKSOptions | None = None,
    ) -> None:
        if pool is not None and options is not None:
            raise TypeError("pass options to the JWKSPool, not beside it")
        self.issuer = issuer
        self._algorithms = tuple(algorithms)
        self._pool = pool if pool is not None else JWKSPool(options=options)
        self._owns_pool = pool is None
        self._options = self._pool.options
        self._clock = self._pool.clock
        self._urls = metadata_urls(issuer)
        self._log_issuer = _loggable(issuer)
        self._jwks: JWKSKeys | None = None
        self._metadata: dict[str, Any] | None = None
        self._fetched_at: float | None = None
        self._flight = SingleFlight(
            self._discover,
            min_interval_seconds=self._options.min_refetch_seconds,
            clock=self._clock,
            name=f"metadata of {self._log_issuer}",
        )
        parsed = httpx.URL(issuer)
        if parsed.scheme == "http" and parsed.host not in _LOOPBACK_HOSTS:
            logger.warning(
                "issuer %s is plain http: its metadata and keys can be substituted in transit",
                self._log_issuer,
            )

    @property
    def depends_on_header(self) -> bool:
        return True

    @property
    def available(self) -> bool:
        """Whether the metadata named a key set and that set is available."""
        return self._jwks is not None and self._jwks.available

    @property
    def key_set(self) -> JWKSKeys | None:
        """The key set the metadata named, or ``None`` before the first document."""
        return self._jwks

    @property
    def metadata(self) -> dict[str, Any] | None:
        """The last good metadata document, or ``None`` before the first one."""
        return self._metadata

    def keys_now(self, algorithm: str | None, kid: str | None) -> Sequence[BoundKey] | None:
        jwks = self._jwks
        if jwks is None:
            return None
        now = self._clock()
        if (
            self._fetched_at is not None
            and now - self._fetched_at >= self._options.cache_seconds
            and self._flight.allowed(now)
        ):
            self._flight.start()  # refresh in the background; the keys held keep answering
        return jwks.keys_now(algorithm, kid)

    async def keys(self, algorithm: str | None, kid: str | None) -> Sequence[BoundKey]:
        if self._jwks is None:
            if self._flight.allowed():
                await self._flight.wait()
            if self._jwks is None:
                raise KeysUnavailableError
        return await self._jwks.keys(algorithm, kid)

    async def prefetch(self) -> None:
        """Discover the key set and fetch it now (at start-up); never raises."""
        await self._flight.wait()
        if self._jwks is not None:
            await self._jwks.prefetch()

    async def aclose(self) -> None:
        await self._flight.cancel()
        if self._owns_pool:
            await self._pool.aclose()

    def __repr__(self) -> str:
        return f"DiscoveredKeys({self._log_issuer!r}, algorithms={list(self._algorithms)!r})"

    @property
    def fetches(self) -> int:
        """Metadata fetches started (for monitoring and tests)."""
        return self._flight.fetches

    async def _discover(self) -> None:
        telemetry = instruments() if self._pool.telemetry else None
        if telemetry is None:
            await self._discover_once()
            return
        with telemetry.key_fetch("metadata", self._log_issuer) as outcome:
            outcome(await self._discover_once())

    async def _discover_once(self) -> str:
        """Read the metadata and use it if it is usable; the outcome of the last location
        tried, one word (as metrics count it): ``success``, ``timeout``, ``unreachable`` or
        ``bad_response``."""
        reasons: list[str] = []
        outcome = "bad_response"
        for url in self._urls:
            try:
                async with asyncio.timeout(self._options.timeout_seconds):
                    document = await self._download(url)
                jwks_uri = self._checked(document)
            except TimeoutError:
                reasons.append("timed out")
                outcome = "timeout"
            except httpx.HTTPError as exc:
                reasons.append(type(exc).__name__)
                outcome = "unreachable"
            except _NotUsable as exc:
                reasons.append(str(exc))
                outcome = "bad_response"
                if str(exc).startswith("its issuer"):
                    break  # a document for another issuer: never fall back past it
            else:
                self._use(document, jwks_uri)
                return "success"
        logger.warning(
            "discovery for %s failed (%s)%s",
            self._log_issuer,
            "; ".join(reasons),
            "; keeping the metadata fetched earlier" if self._metadata is not None else "",
        )
        return outcome

    async def _download(self, url: str) -> dict[str, Any]:
        try:
            body = await fetch_capped(
                self._pool.client, url, max_bytes=_MAX_METADATA_BYTES, accept=_ACCEPT
            )
        except FetchError as exc:
            raise _NotUsable(str(exc)) from None
        try:
            document = json.loads(body)
        except (ValueError, RecursionError):
            raise _NotUsable("metadata is not JSON") from None
        if not isinstance(document, dict):
            raise _NotUsable("metadata is not a JSON object")
        return document

    def _checked(self, document: dict[str, Any]) -> str:
        """The document's ``jwks_uri``, if the document is this issuer's and usable."""
        if document.get("issuer") != self.issuer:
            raise _NotUsable("its issuer is not the configured one, exactly")
        jwks_uri = document.get("jwks_uri")
        if not isinstance(jwks_uri, str):
            raise _NotUsable("no jwks_uri")
        try:
            parsed = httpx.URL(jwks_uri)
        except httpx.InvalidURL:
            raise _NotUsable("jwks_uri is not a URL") from None
        if parsed.scheme not in ("https", "http") or not parsed.host:
            raise _NotUsable("jwks_uri is not an absolute http(s) URL")
        if httpx.URL(self.issuer).scheme == "https" and parsed.scheme != "https":
            raise _NotUsable("jwks_uri is not https, though the issuer is")
        return jwks_uri

    def _use(self, document: dict[str, Any], jwks_uri: str) -> None:
        previous = self._jwks
        self._jwks = self._pool.key_set(jwks_uri, self._algorithms)
        self._metadata = document
        self._fetched_at = self._clock()
        if previous is not self._jwks:
            logger.info("discovered %s: keys at %s", self._log_issuer, _loggable(jwks_uri))


def _loggable(url: str) -> str:
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL:
        return "<invalid URL>"
    return str(parsed.copy_with(username=None, password=None, query=None, fragment=None))
