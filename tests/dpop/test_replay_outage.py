"""A replay store that cannot answer fails closed: 503 with ``Retry-After`` by default, 401
``invalid_dpop_proof`` with ``JWT_DPOP_REPLAY_ON_ERROR=refuse``, never 200; within a
bounded time; the outage logged once, without a token, a proof or a ``jti``; and requests
pass again once Redis answers: after a restart, and after a failover of a Redis Cluster
or a Sentinel setup."""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path
from typing import Any

import pytest

from jwt_middleware.verification.dpop_replay_redis import RedisProofReplayCache
from tests.dpop.fleet import UNAVAILABLE, Fleet, proof_key, run_fleet
from tests.revocation.deployments import (
    FAILOVER_SECONDS,
    SETUP_SECONDS,
    Deployment,
    free_ports,
    redis_binaries,
    start_server,
    wait_until,
)

# A safety bound so a broken timeout fails the test instead of hanging it; not a benchmark.
MAX_WAIT_SECONDS = 3.0
TIMEOUT_SECONDS = 0.3

#: (JWT_DPOP_REPLAY_ON_ERROR, the status, what the answer starts with).
ON_ERROR_CASES = [
    pytest.param("deny", 503, None, id="deny-503"),
    pytest.param("refuse", 401, 'DPoP realm="api", error="invalid_dpop_proof"', id="refuse-401"),
]


@pytest.mark.parametrize(("on_error", "status", "challenge"), ON_ERROR_CASES)
def test_an_unreachable_replay_store_refuses_every_proof(
    unreachable_redis_url: str,
    on_error: str,
    status: int,
    challenge: str | None,
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def scenario(fleet: Fleet) -> list[tuple[Any, ...]]:
        (instance,) = fleet.instances
        answers = []
        for _ in range(2):
            headers = fleet.headers()
            started = time.monotonic()
            answer = await instance.get(headers)
            answers.append((answer, time.monotonic() - started, headers))
        return answers

    caplog.set_level(logging.INFO, logger="jwt_middleware")
    answers = run_fleet(
        lambda: RedisProofReplayCache(unreachable_redis_url, timeout_seconds=TIMEOUT_SECONDS),
        scenario,
        size=1,
        dpop_replay_on_error=on_error,
    )
    for answer, elapsed, headers in answers:
        assert answer.status_code == status
        assert elapsed < MAX_WAIT_SECONDS
        if challenge is None:
            assert answer.json() == UNAVAILABLE
            assert answer.headers["retry-after"] == "5"
            assert "www-authenticate" not in answer.headers
        else:
            assert answer.headers["www-authenticate"].startswith(challenge)
        for secret in (headers["DPoP"], headers["Authorization"].split()[1]):
            assert secret not in caplog.text
    outages = [r for r in caplog.records if "replay store (Redis) unreachable" in r.getMessage()]
    assert len(outages) == 1  # once per outage, not per request
    refusals = [r.getMessage() for r in caplog.records if r.name == "jwt_middleware.refusals"]
    assert refusals == ["refused: reason=dpop_replay_unavailable"] * 2


def test_requests_pass_again_once_redis_is_back(tmp_path: Path, redis_prefix: str) -> None:
    binary, _ = redis_binaries()
    (port,) = free_ports(1)
    server = start_server(binary, tmp_path / "redis", port)
    url = f"redis://127.0.0.1:{port}/0"

    async def scenario(fleet: Fleet) -> None:
        first, second = fleet.instances
        wait_until(server.answers, SETUP_SECONDS, "redis-server answers")
        assert (await first.get(fleet.headers())).status_code == 200
        server.stop()
        during = [await instance.get(fleet.headers()) for instance in (first, second)]
        assert [answer.status_code for answer in during] == [503, 503]
        restarted = start_server(binary, tmp_path / "redis", port)
        try:
            await asyncio.to_thread(
                wait_until, restarted.answers, SETUP_SECONDS, "redis-server answers again"
            )
            headers = fleet.headers()
            assert (await second.get(headers)).status_code == 200
            assert (await first.get(headers)).status_code == 401
        finally:
            restarted.stop()

    try:
        run_fleet(
            lambda: RedisProofReplayCache(url, key_prefix=redis_prefix, timeout_seconds=0.5),
            scenario,
        )
    finally:
        server.stop()


def test_a_failover_never_lets_a_replay_through(deployment: Deployment, redis_prefix: str) -> None:
    """The primary holding an accepted proof's key is killed: its replay is refused (503
    while no primary answers, 401 after), never accepted, and fresh proofs pass again once
    a replica took over."""

    async def scenario(fleet: Fleet) -> None:
        first, second = fleet.instances
        proof = fleet.key.proof(token=fleet.token)
        assert (await first.get(fleet.headers(proof))).status_code == 200
        await asyncio.to_thread(deployment.wait_replicated)
        dead = deployment.primary_for(proof_key(first.cache, fleet.key, proof))
        dead.kill()
        deadline = time.monotonic() + FAILOVER_SECONDS
        seen: list[int] = []
        while True:
            replayed = await second.get(fleet.headers(proof))
            assert replayed.status_code in (401, 503)
            fresh = await first.get(fleet.headers())
            seen.append(fresh.status_code)
            assert fresh.status_code in (200, 503)
            if fresh.status_code == 200 and replayed.status_code == 401:
                break
            assert time.monotonic() < deadline, f"not recovered in {FAILOVER_SECONDS} s: {seen}"
            await asyncio.sleep(0.1)

    run_fleet(
        lambda: RedisProofReplayCache(
            deployment.client(), key_prefix=redis_prefix, timeout_seconds=1.0
        ),
        scenario,
    )
