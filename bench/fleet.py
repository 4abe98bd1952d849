"""A fleet on one machine: N instances behind a round-robin balancer, one Redis, one provider.

``make fleet`` (``python bench/fleet.py``) prints one table per fleet size (1, 3 and 10
instances by default) and the same traffic on paper (:mod:`bench.zipf`).

Each instance is what a separate process would hold: its own app behind its own
``JWTAuthMiddleware``, with its own ``TokenVerifier`` (verified-token cache, key sources and
HTTP client) and its own ``RedisRevocationStore`` (Redis connections and local view, kept
current by its own follower task). They share one event loop and one CPU, which a fleet
does not (see the docs' "A fleet on paper" for what that hides). They share, as a fleet
does, one Redis (``REDIS_URL``, a key prefix of the run's own, deleted afterwards) and one
identity provider: the project's :class:`~jwt_middleware.testing.FakeIssuer` on loopback,
whose discovery document and key set every instance fetches over HTTP at start-up.

The traffic: requests go to the instances in turn; each comes from a user drawn from a
Zipf population, who sends the one token minted for them (RS256, as most providers sign)
until they log out. A share of requests is followed by a logout through the instance that
served it (``POST /logout``: ``revoke_token_claims`` on that instance's store); that user's
next request carries a new token. The same seed draws the same traffic for every fleet size.

Then the revocation propagation: a token that every instance has accepted (so every
instance's cache holds it) is revoked through instance 0, and every other instance is asked
again and again until it refuses it as revoked; the time from the logout request to each
refusal is one sample per instance.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Final

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from redis.asyncio import Redis
from redis.exceptions import RedisError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message

from bench.fleet_report import (
    FleetConfig,
    FleetReport,
    InstanceReport,
    format_paper,
    format_report,
)
from bench.timing import answer
from bench.zipf import ZipfPopulation, first_sight_share
from jwt_middleware import JWTAuthMiddleware, RedisRevocationStore, TokenVerifier
from jwt_middleware.keys.discovery import DiscoveredKeys
from jwt_middleware.revocation import revoke_token_claims
from jwt_middleware.revocation.view import RevocationView
from jwt_middleware.testing import FakeIssuer

__all__ = ["UserTokens", "simulate", "view_bytes"]

#: Library defaults where the provider's test settings differ: a key set may be refetched
#: every 5 s, not every 0.01 s.
_MIN_REFETCH_SECONDS: Final = 5.0
#: Longer than any run, so no token expires while it is in use.
_TOKEN_SECONDS: Final = 3600
#: How long an instance may take to refuse a revoked token before the sample counts as lost.
_PROPAGATION_GIVE_UP_SECONDS: Final = 2.0
_REVOKED_BODY: Final = b"The access token was revoked."


# One instance ------------------------------------------------------------------------------


def view_bytes(view: RevocationView) -> int:
    """The memory a view's entries hold: its dict, each ``jti`` string and each deadline
    (``sys.getsizeof``, so a float shared by two entries is counted twice: an upper bound)."""
    entries = view.entries
    return sys.getsizeof(entries) + sum(
        sys.getsizeof(jti) + sys.getsizeof(deadline) for jti, deadline in entries.items()
    )


def _service(store: RedisRevocationStore) -> Starlette:
    """The protected app: who is asking, and a logout that revokes the token it came with."""

    async def me(request: Request) -> PlainTextResponse:
        return PlainTextResponse(request.state.user_id)

    async def logout(request: Request) -> Response:
        await revoke_token_claims(store, request.state.claims)
        return Response(status_code=204)

    return Starlette(routes=[Route("/me", me), Route("/logout", logout, methods=["POST"])])


class _Instance:
    """One instance of the service, as its own process would hold it, with a lifespan."""

    def __init__(self, name: str, issuer: FakeIssuer, redis_url: str, key_prefix: str) -> None:
        self.report = InstanceReport(name)
        settings = issuer.settings(jwks_min_refetch_seconds=_MIN_REFETCH_SECONDS)
        self.verifier = TokenVerifier(settings)
        self.store = RedisRevocationStore.from_settings(
            settings, client=redis_url, key_prefix=key_prefix
        )
        self.app: ASGIApp = JWTAuthMiddleware(
            _service(self.store), verifier=self.verifier, is_revoked=self.store.is_revoked
        )
        self._lifespan_in: asyncio.Queue[Message] = asyncio.Queue()
        self._lifespan_out: asyncio.Queue[Message] = asyncio.Queue()
        self._lifespan: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """The ASGI lifespan's start-up: the middleware fetches the provider's keys."""
        scope = {"type": "lifespan", "asgi": {"version": "3.0"}, "state": {}}

        async def lifespan() -> None:
            await self.app(scope, self._lifespan_in.get, self._lifespan_out.put)

        self._lifespan = asyncio.create_task(lifespan())
        await self._lifespan_in.put({"type": "lifespan.startup"})
        answer = await self._lifespan_out.get()
        if answer["type"] != "lifespan.startup.complete":
            raise RuntimeError(f"{self.report.name} did not start: {answer.get('message')}")
        await self.store.start()

    async def stop(self) -> None:
        if self._lifespan is not None:
            await self._lifespan_in.put({"type": "lifespan.shutdown"})
            await self._lifespan_out.get()
            await self._lifespan
        await self.store.aclose()

    async def call(self, method: str, path: str, token: str) -> tuple[int, bytes]:
        """One request with ``token``, straight to the ASGI app; its status and body."""
        return await answer(self.app, _request(method, path, token))

    def cached(self, token: str) -> bool:
        """Whether the instance's verified-token cache answers for ``token`` right now."""
        return self.verifier.cached(token) is not None

    def settle(self) -> None:
        """Fill in what the instance fetched and holds after the traffic and the timed
        revocations (before the final check, whose tokens would add to its cache)."""
        report = self.report
        source = self.verifier.policies[0].keys
        if isinstance(source, DiscoveredKeys):
            report.metadata_fetches = source.fetches
            report.key_set_fetches = source.key_set.fetches if source.key_set else 0
        report.view_entries = len(self.store.view)
        report.view_bytes = view_bytes(self.store.view)
        # The cache object itself, as bench/compare.py reads it: it has no public handle.
        cache = self.verifier._cache
        if cache is not None:
            report.cache_entries, report.cache_bytes = len(cache), cache.size_bytes


def _request(method: str, path: str, token: str) -> dict[str, Any]:
    """The ASGI scope of one request with ``token`` as its bearer token."""
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": [(b"host", b"fleet"), (b"authorization", b"Bearer " + token.encode())],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
    }


def _refused_as_revoked(answer: tuple[int, bytes]) -> bool:
    status, body = answer
    return status == 401 and _REVOKED_BODY in body


# The run -----------------------------------------------------------------------------------


class UserTokens:
    """One token per user, minted at the user's first request and kept until they log out;
    shared by the runs of one invocation, since minting (an RSA signature) is the slow part."""

    def __init__(self, issuer: FakeIssuer) -> None:
        self._issuer = issuer
        self._held: dict[int, str] = {}

    def of(self, user: int) -> str:
        token = self._held.get(user)
        if token is None:
            token = self._held[user] = self._issuer.mint(f"user-{user}", expires_in=_TOKEN_SECONDS)
        return token

    def renew(self, user: int) -> None:
        self._held.pop(user, None)


async def simulate(
    config: FleetConfig,
    *,
    issuer: FakeIssuer,
    population: ZipfPopulation,
    tokens: UserTokens | None = None,
) -> FleetReport:
    """Run one fleet of ``config.instances`` against ``issuer`` (whose request counts it
    resets) and ``config.redis_url``; ``tokens`` carries the users' tokens from one run to
    the next."""
    if (population.users, population.exponent) != (config.users, config.zipf_exponent):
        raise ValueError("the population is not the one the config describes")
    tokens = tokens if tokens is not None else UserTokens(issuer)
    key_prefix = f"jwt-fleet:{uuid.uuid4().hex}:"
    issuer.reset()
    started = time.perf_counter()
    instances = [
        _Instance(f"instance {n}", issuer, config.redis_url, key_prefix)
        for n in range(config.instances)
    ]
    try:
        for instance in instances:
            await instance.start()
        rng = random.Random(config.seed)  # noqa: S311 - traffic to replay, not a secret
        draws = population.draw(rng, config.requests)
        unexpected, logged_out = await _traffic(instances, draws, rng, config, tokens)
        probes = await _propagation(instances, issuer, config.propagation_samples)
        for instance in instances:
            instance.settle()
        checked = [*probes, *logged_out]
        refused = 0
        for token in checked:
            answers = [await instance.call("GET", "/me", token) for instance in instances]
            refused += all(map(_refused_as_revoked, answers))
    finally:
        for instance in instances:
            await instance.stop()
        await _delete_keys(config.redis_url, key_prefix)
    provider = issuer.requests
    per_instance = -(-config.requests // config.instances)
    expected = first_sight_share(
        population,
        requests=per_instance,
        max_entries=instances[0].verifier.settings.verified_cache_size,
    )
    for instance in instances:
        instance.report.expected_share = expected
    return FleetReport(
        config,
        [instance.report for instance in instances],
        provider.discovery,
        provider.jwks,
        unexpected,
        refused,
        len(checked),
        time.perf_counter() - started,
        key_prefix,
    )


async def _traffic(
    instances: Sequence[_Instance],
    draws: Sequence[int],
    rng: random.Random,
    config: FleetConfig,
    tokens: UserTokens,
) -> tuple[int, list[str]]:
    """Serve ``draws`` in turn; the answers that were not 200/204, and the logged-out tokens.

    After each request the loop lets other tasks run, as a server's loop does between
    requests: a request answered from the cache and the local view never waits, so without
    it the followers would not hear a revocation until the traffic ended.
    """
    unexpected = 0
    logged_out: list[str] = []
    count = len(instances)
    for number, user in enumerate(draws):
        instance = instances[number % count]
        report = instance.report
        token = tokens.of(user)
        first = not instance.cached(token)
        before = time.perf_counter_ns()
        status, _ = await instance.call("GET", "/me", token)
        elapsed = time.perf_counter_ns() - before
        report.requests += 1
        if first:
            report.first_sights += 1
            report.first_sight_ns += elapsed
        else:
            report.reused_ns += elapsed
        unexpected += status != 200
        if rng.random() < config.logout_rate:
            status, _ = await instance.call("POST", "/logout", token)
            unexpected += status != 204
            report.logouts += 1
            tokens.renew(user)
            logged_out.append(token)
        await asyncio.sleep(0)
    return unexpected, logged_out


async def _propagation(
    instances: Sequence[_Instance], issuer: FakeIssuer, samples: int
) -> list[str]:
    """Revoke ``samples`` tokens through instance 0 and time each other instance's first
    refusal; the revoked tokens."""
    first, *others = instances
    revoked: list[str] = []
    for sample in range(samples):
        token = issuer.mint(f"probe-{sample}", expires_in=_TOKEN_SECONDS)
        for instance in instances:
            status, _ = await instance.call("GET", "/me", token)
            if status != 200:
                raise RuntimeError(f"{instance.report.name} refused a fresh token: {status}")
        await _until_views_are_current(instances)
        logout_at = time.perf_counter()
        status, _ = await first.call("POST", "/logout", token)
        if status != 204:
            raise RuntimeError(f"the logout through instance 0 answered {status}")
        revoked.append(token)
        waiting = list(others)
        while waiting:
            elapsed = time.perf_counter() - logout_at
            for instance in list(waiting):
                if _refused_as_revoked(await instance.call("GET", "/me", token)):
                    instance.report.propagation_seconds.append(time.perf_counter() - logout_at)
                    waiting.remove(instance)
                elif elapsed > _PROPAGATION_GIVE_UP_SECONDS:
                    instance.report.propagation_lost += 1
                    waiting.remove(instance)
            await asyncio.sleep(0.0002)
    return revoked


async def _until_views_are_current(instances: Sequence[_Instance]) -> None:
    """Wait (up to a few seconds) until every instance answers from its local view, so the
    propagation measured is the message's, not a lookup in Redis."""
    deadline = time.monotonic() + 5
    while not all(instance.store.view_is_current for instance in instances):
        if time.monotonic() > deadline:
            raise RuntimeError("a revocation view did not become current within 5 s")
        await asyncio.sleep(0.01)


async def _delete_keys(redis_url: str, key_prefix: str) -> None:
    client: Redis = Redis.from_url(redis_url)
    try:
        keys = [key async for key in client.scan_iter(match=f"{key_prefix}*")]
        if keys:
            await client.delete(*keys)
    finally:
        await client.aclose()


async def _redis_answers(redis_url: str) -> bool:
    client: Redis = Redis.from_url(redis_url, socket_connect_timeout=2, socket_timeout=2)
    try:
        return bool(await client.ping())
    except (RedisError, OSError):
        return False
    finally:
        await client.aclose()


async def _main(arguments: argparse.Namespace) -> None:
    if not await _redis_answers(arguments.redis_url):
        # Never the URL itself: it may carry a password.
        raise SystemExit(
            "Redis does not answer: set REDIS_URL or --redis-url (default redis://127.0.0.1:6379/0)"
        )
    population = ZipfPopulation(arguments.users, arguments.exponent)
    with FakeIssuer() as issuer:
        tokens = UserTokens(issuer)
        for count in arguments.instances:
            config = FleetConfig(
                instances=count,
                users=arguments.users,
                zipf_exponent=arguments.exponent,
                requests=arguments.requests,
                logout_rate=arguments.logout_rate,
                propagation_samples=arguments.samples,
                seed=arguments.seed,
                redis_url=arguments.redis_url,
            )
            report = await simulate(config, issuer=issuer, population=population, tokens=tokens)
            print(format_report(report), end="\n\n", flush=True)
        settings = issuer.settings()
    print(
        format_paper(
            instances=arguments.paper_instances,
            users=arguments.paper_users,
            exponent=arguments.exponent,
            rates=arguments.paper_rates,
            max_entries=settings.verified_cache_size,
            ttl_seconds=settings.verified_cache_seconds,
        )
    )


def main(argv: Sequence[str] | None = None) -> None:
    defaults = FleetConfig(instances=1)
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--instances", type=int, nargs="+", default=[1, 3, 10])
    parser.add_argument("--users", type=int, default=defaults.users)
    parser.add_argument("--exponent", type=float, default=defaults.zipf_exponent)
    parser.add_argument("--requests", type=int, default=defaults.requests)
    parser.add_argument("--logout-rate", type=float, default=defaults.logout_rate)
    parser.add_argument("--samples", type=int, default=defaults.propagation_samples)
    parser.add_argument("--seed", type=int, default=defaults.seed)
    parser.add_argument("--redis-url", default=defaults.redis_url)
    parser.add_argument("--paper-instances", type=int, default=100)
    parser.add_argument("--paper-users", type=int, default=1_000_000)
    parser.add_argument("--paper-rates", type=int, nargs="+", default=[100, 1000])
    asyncio.run(_main(parser.parse_args(argv)))


if __name__ == "__main__":
    main()
