"""``JWKSPool``: one :class:`~.jwks.JWKSKeys` per key set URL and one HTTP client, shared
by the issuers of one verifier, so two issuers that publish one ``jwks_uri`` fetch it once
and every fetch goes through one connection pool; closed together."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

import httpx

from .jwks import JWKSKeys, JWKSOptions

__all__ = ["JWKSPool"]


class JWKSPool:
    """One :class:`JWKSKeys` per ``jwks_uri`` and one HTTP client, shared by the issuers
    of one verifier; closed together."""

    def __init__(
        self,
        *,
        options: JWKSOptions | None = None,
        client: httpx.AsyncClient | None = None,
        clock: Callable[[], float] = time.monotonic,
        telemetry: bool = True,
    ) -> None:
        self.options = JWKSOptions() if options is None else options
        self.clock = clock
        #: Whether its key sets, and the discovery that uses it, report through OpenTelemetry.
        self.telemetry = telemetry
        self._client = client
        self._owned_client: httpx.AsyncClient | None = None
        self._sets: dict[tuple[str, tuple[str, ...]], JWKSKeys] = {}

    @property
    def client(self) -> httpx.AsyncClient:
        if self._client is not None:
            return self._client
        if self._owned_client is None:
            self._owned_client = httpx.AsyncClient(follow_redirects=False)
        return self._owned_client

    def key_set(self, url: str, algorithms: Sequence[str]) -> JWKSKeys:
        """The shared key set at ``url`` for these algorithms."""
        name = (url, tuple(algorithms))
        keys = self._sets.get(name)
        if keys is None:
            keys = JWKSKeys(
                url,
                algorithms=algorithms,
                options=self.options,
                client=self.client,
                clock=self.clock,
                telemetry=self.telemetry,
            )
            self._sets[name] = keys
        return keys

    def __len__(self) -> int:
        """The key sets held."""
        return len(self._sets)

    async def release(self, keys: JWKSKeys) -> None:
        """Forget the key set ``keys`` and close it: for one no issuer uses any longer (an
        evicted tenant's), so that the sets held stay as bounded as the issuers are. A
        later :meth:`key_set` for its URL makes a new one."""
        for name, held in list(self._sets.items()):
            if held is keys:
                del self._sets[name]
        await keys.aclose()

    async def aclose(self) -> None:
        for keys in self._sets.values():
            await keys.aclose()
        if self._owned_client is not None:
            client, self._owned_client = self._owned_client, None
            await client.aclose()
