"""``RedisRevocationStore`` on the Redis that people operate: a Redis Cluster
(``RedisCluster``, sharded pub/sub) and a primary with Sentinel failover
(``Sentinel.master_for``), each started by the test (see ``deployments.py``).

The same contract on both: a revocation made on one instance is refused by the others
within 100 ms; a primary killed with ``SIGKILL`` makes the views fail as configured (503,
or allow with ``on_error="allow"``) until the failover, after which they read everything
again, and no revocation made before or during the failover is lost: not by the running
instances, nor by one started afterwards.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from typing import Any

import pytest

from jwt_middleware import JWTSettings
from jwt_middleware.errors import RevocationStoreUnavailableError
from jwt_middleware.revocation import revoke_token_claims
from jwt_middleware.revocation.redis import RedisRevocationStore
from tests.revocation.deployments import FAILOVER_SECONDS, Deployment, LocalCluster, Server
from tests.revocation.fleet import Instance, current, fleet, until

#: What the issue asks of a logout: refused by every other instance within this long.
PROPAGATION_SECONDS = 0.1
#: A bound on the view noticing a dead primary (its heartbeat, bounded by the timeout).
NOTICE_SECONDS = 3.0
KEY_PREFIX = "jwt:revoked:"
#: Small, so an outage shows quickly; the default staleness bound (1 s) is kept.
STORE_OPTIONS: dict[str, Any] = {"key_prefix": KEY_PREFIX, "timeout_seconds": 0.3}


def later(seconds: int = 600) -> int:
    return int(time.time()) + seconds


def jti_held_by(deployment: Deployment, server: Server, label: str) -> str:
    """A ``jti`` whose revocation key lives on ``server`` (in a cluster, one of three)."""
    for index in range(1000):
        jti = f"{label}-{index}"
        if deployment.primary_for(KEY_PREFIX + jti).port == server.port:
            return jti
    raise AssertionError("no jti hashes to that server")


def test_a_revocation_on_one_instance_is_refused_by_the_others_within_100ms(
    deployment: Deployment, settings: JWTSettings
) -> None:
    async def scenario() -> list[float]:
        seen_after: list[float] = []
        async with fleet(deployment, settings, 3, **STORE_OPTIONS) as (here, *others):
            for index in range(6):  # in a cluster, keys on every primary
                jti = f"logged-out-{index}"
                claims = {"sub": "alice", "jti": jti, "exp": later()}
                assert all([await other.status(jti) == 200 for other in others])
                await revoke_token_claims(here.store, claims)
                for other in others:
                    seen_after.append(
                        await until(
                            functools.partial(refused, other, jti),
                            PROPAGATION_SECONDS * 10,
                            "the others refuse the token",
                        )
                    )
                assert await here.status(jti) == 401
        return seen_after

    seen_after = asyncio.run(scenario())
    assert len(seen_after) == 12
    assert max(seen_after) < PROPAGATION_SECONDS


async def refused(instance: Instance, jti: str) -> bool:
    return await instance.status(jti) == 401


@pytest.mark.parametrize(
    ("on_error", "during_outage"),
    [pytest.param("deny", 503, id="deny-fails-closed"), pytest.param("allow", 200, id="allow")],
)
def test_a_killed_primary_fails_as_configured_until_the_failover_and_loses_nothing(
    deployment: Deployment,
    settings: JWTSettings,
    on_error: str,
    during_outage: int,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The primary killed is the one the views listen to (in a cluster, the owner of the
    channel's slot); the token asked about during the outage has its key there too."""

    async def scenario() -> dict[str, Any]:
        outcome: dict[str, Any] = {}
        options = {**STORE_OPTIONS, "on_error": on_error}
        async with fleet(deployment, settings, 3, **options) as instances:
            here, there, _third = instances
            dead = deployment.primary_for(KEY_PREFIX)
            before = [f"before-{index}" for index in range(6)]
            holders = {deployment.primary_for(KEY_PREFIX + jti).port for jti in before}
            outcome["primaries holding them"] = len(holders)
            for jti in before:
                await here.store.revoke(jti, expires_at=later())
            # What the primary acknowledged is on its replica before it dies (Redis
            # replicates asynchronously; see the docs).
            await asyncio.to_thread(deployment.wait_replicated)
            asked = jti_held_by(deployment, dead, "asked-during-outage")

            dead.kill()
            outcome["noticed after"] = await until(
                lambda: not there.store.view_is_current, NOTICE_SECONDS, "the view is lost"
            )
            outcome["during outage"] = await there.status(asked)
            outcome["revoke during outage"] = await attempt_revoke(here.store, "during")

            failover = asyncio.create_task(
                asyncio.to_thread(deployment.wait_failover, dead, KEY_PREFIX)
            )
            # A logout retried through the outage, as a client would, until it is recorded.
            await until(
                lambda: attempt_revoke(here.store, "during"),
                FAILOVER_SECONDS,
                "a revocation is recorded after the failover",
            )
            await failover
            for instance in instances:
                await current(instance, within=FAILOVER_SECONDS)
            jtis = [*before, "during", asked]
            outcome["after"] = [[await i.status(jti) for jti in jtis] for i in instances]
        # An instance started after the failover has nothing but what Redis kept.
        async with fleet(deployment, settings, 1, **STORE_OPTIONS) as (newcomer,):
            outcome["newcomer"] = [await newcomer.status(jti) for jti in jtis]
        return outcome

    with caplog.at_level(logging.WARNING, logger="jwt_middleware"):
        outcome = asyncio.run(scenario())
    assert outcome["primaries holding them"] == deployment.primary_count  # every one read
    assert outcome["noticed after"] < NOTICE_SECONDS
    assert outcome["during outage"] == during_outage
    assert outcome["revoke during outage"] is False  # never reported done while it was not
    revoked = [401] * 7 + [200]  # the six before, the one during; the token asked about
    assert outcome["after"] == [revoked] * 3
    assert outcome["newcomer"] == revoked
    assert "revocation view (Redis) lost" in caplog.text
    assert "current again" in caplog.text
    assert "before-" not in caplog.text


async def attempt_revoke(store: RedisRevocationStore, jti: str) -> bool:
    """Whether ``revoke`` reported the revocation recorded (it raises when it cannot)."""
    try:
        await store.revoke(jti, expires_at=later())
    except RevocationStoreUnavailableError:
        await asyncio.sleep(0.05)
        return False
    return True


def test_in_a_cluster_another_primary_dying_leaves_the_views_answering(
    cluster: LocalCluster, settings: JWTSettings
) -> None:
    """Every revocation message passes through the channel's primary: while another one is
    down and replaced, the views stay current, so a token revoked on the dead primary stays
    refused (401, not 503) and other tokens pass, without a question to Redis."""

    async def scenario() -> dict[str, Any]:
        outcome: dict[str, Any] = {"current throughout": True, "answers": set()}
        async with fleet(cluster, settings, 2, **STORE_OPTIONS) as (here, there):
            channel = cluster.primary_for(KEY_PREFIX)
            dying = next(server for server in cluster.primaries() if server != channel)
            revoked = jti_held_by(cluster, dying, "held-by-the-dying-primary")
            await here.store.revoke(revoked, expires_at=later())
            await until(functools.partial(refused, there, revoked), 1.0, "refused there")
            dying.kill()
            failover = asyncio.create_task(
                asyncio.to_thread(cluster.wait_failover, dying, KEY_PREFIX + revoked)
            )
            while not failover.done():
                outcome["current throughout"] &= there.store.view_is_current
                answers = (await there.status(revoked), await there.status("not-revoked"))
                outcome["answers"].add(answers)
                await asyncio.sleep(0.01)
            await failover
        return outcome

    outcome = asyncio.run(scenario())
    assert outcome["current throughout"] is True
    assert outcome["answers"] == {(401, 200)}
