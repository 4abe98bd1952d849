"""A fleet of DPoP instances in one process: each a middleware of its own with a
:class:`~jwt_middleware.verification.dpop_replay_redis.RedisProofReplayCache` of its own
(its own client), all behind one Redis and one key prefix, driven on one event loop (a
Redis client belongs to one) through httpx's ASGI transport.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Final

import httpx
import jwt
from starlette.applications import Starlette

from jwt_middleware import JWTSettings
from jwt_middleware.verification.dpop_replay import replay_key
from jwt_middleware.verification.dpop_replay_redis import RedisProofReplayCache
from tests.dpop.proofs import BASE_URL, DPOP_SETTINGS, PyJWTKey, bound_token
from tests.helpers import build_app

__all__ = [
    "UNAVAILABLE",
    "Fleet",
    "Instance",
    "close_cache",
    "proof_key",
    "run_fleet",
]

#: The body of a 503 from an unreachable replay store.
UNAVAILABLE: Final = {"detail": "DPoP proof checks are temporarily unavailable."}
#: A new cache for one instance (a client of its own, under the test's key prefix).
CacheFactory = Callable[[], RedisProofReplayCache]


@dataclass
class Instance:
    """One instance of the service: its app, the client that calls it, its cache."""

    name: str
    app: Starlette
    http: httpx.AsyncClient
    cache: RedisProofReplayCache

    async def get(self, headers: dict[str, str]) -> httpx.Response:
        return await self.http.get("/private", headers=headers)


@dataclass
class Fleet:
    """Instances sharing one Redis, a client key and a token bound to it."""

    instances: list[Instance]
    key: PyJWTKey
    token: str

    def headers(self, proof: str | None = None) -> dict[str, str]:
        """The token with ``proof``, or with a fresh proof for ``GET /private``."""
        made = proof if proof is not None else self.key.proof(token=self.token)
        return {"Authorization": f"DPoP {self.token}", "DPoP": made}

    async def everywhere(
        self, headers: dict[str, str], instances: Sequence[Instance] | None = None
    ) -> list[int]:
        """The same request sent to every instance (or ``instances``) at once: statuses."""
        targets = self.instances if instances is None else instances
        answers = await asyncio.gather(*(instance.get(headers) for instance in targets))
        return [answer.status_code for answer in answers]


def proof_key(cache: RedisProofReplayCache, key: PyJWTKey, proof: str) -> str:
    """The Redis key the cache keeps ``proof`` under."""
    jti = jwt.decode(proof, options={"verify_signature": False})["jti"]
    return cache.key(replay_key(key.jkt, jti))


async def close_cache(cache: RedisProofReplayCache) -> None:
    """Close the cache, and a client the test handed it, with a Sentinel's own clients."""
    await cache.aclose()
    client: Any = cache.client
    await client.aclose()
    manager = getattr(getattr(client, "connection_pool", None), "sentinel_manager", None)
    for sentinel in manager.sentinels if manager is not None else []:
        await sentinel.aclose()


def run_fleet(
    make_cache: CacheFactory,
    scenario: Callable[[Fleet], Awaitable[Any]],
    *,
    size: int = 2,
    **settings: Any,
) -> Any:
    """Run ``scenario`` with ``size`` instances (``settings`` beside the DPoP tests'), on
    one event loop, and close every client and cache afterwards."""

    async def main() -> Any:
        configured = JWTSettings(**{**DPOP_SETTINGS, **settings})
        key = PyJWTKey()
        instances = []
        for number in range(size):
            cache = make_cache()
            app = build_app(configured, dpop_replay=cache)
            http = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE_URL)
            instances.append(Instance(f"instance-{number + 1}", app, http, cache))
        try:
            return await scenario(Fleet(instances, key, bound_token(key.jkt, sub="user-1")))
        finally:
            for instance in instances:
                await instance.http.aclose()
                await close_cache(instance.cache)

    return asyncio.run(main())
