"""Replay refused across a fleet, through Redis: a proof accepted at one instance is refused
at every other, the same proof sent to many instances at once is accepted exactly once,
and each proof's key lives in Redis only while the proof would be accepted. Run against
the Redis on loopback (from a URL and through a client), a Redis Cluster and a Sentinel
setup."""

from __future__ import annotations

import pytest

from jwt_middleware import JWTSettings
from jwt_middleware.verification.dpop_replay_redis import RedisProofReplayCache
from tests.dpop.fleet import CacheFactory, Fleet, proof_key, run_fleet
from tests.dpop.proofs import DPOP_SETTINGS

#: How long a proof is accepted by the DPoP tests' settings: its window plus the leeway.
PROOF_MILLISECONDS = (
    JWTSettings(**DPOP_SETTINGS).dpop_proof_seconds + JWTSettings(**DPOP_SETTINGS).leeway_seconds
) * 1000
#: Instances that receive the same proof at once.
CONCURRENT_INSTANCES = 9


def test_a_proof_used_at_one_instance_is_refused_at_another(
    make_replay_cache: CacheFactory,
) -> None:
    async def scenario(fleet: Fleet) -> None:
        first, second = fleet.instances
        headers = fleet.headers()
        accepted = await first.get(headers)
        assert (accepted.status_code, accepted.json()["user_id"]) == (200, "user-1")
        for instance in (second, first):
            replayed = await instance.get(headers)
            assert replayed.status_code == 401, instance.name
            assert replayed.headers["www-authenticate"].startswith(
                'DPoP realm="api", error="invalid_dpop_proof"'
            )
        # A fresh proof is accepted wherever it is sent first, and nowhere after.
        fresh = fleet.headers()
        assert (await second.get(fresh)).status_code == 200
        assert (await first.get(fresh)).status_code == 401

    run_fleet(make_replay_cache, scenario)


def test_the_same_proof_sent_to_every_instance_at_once_is_accepted_once(
    make_replay_cache: CacheFactory,
) -> None:
    async def scenario(fleet: Fleet) -> None:
        for _round in range(3):
            statuses = await fleet.everywhere(fleet.headers())
            assert sorted(statuses) == [200] + [401] * (CONCURRENT_INSTANCES - 1)

    run_fleet(make_replay_cache, scenario, size=CONCURRENT_INSTANCES)


def test_a_proof_is_kept_only_while_it_is_accepted(make_replay_cache: CacheFactory) -> None:
    async def scenario(fleet: Fleet) -> None:
        (instance,) = fleet.instances
        proof = fleet.key.proof(token=fleet.token)
        assert (await instance.get(fleet.headers(proof))).status_code == 200
        key = proof_key(instance.cache, fleet.key, proof)
        remaining = await instance.cache.client.pttl(key)
        assert 0 < remaining <= PROOF_MILLISECONDS
        prefix = instance.cache.key(b"")
        # The 16-byte replay key in hex: never the jti itself.
        assert key.startswith(prefix)
        assert len(key) - len(prefix) == 32

    run_fleet(make_replay_cache, scenario, size=1)


def test_a_replay_cache_answers_only_through_redis(make_replay_cache: CacheFactory) -> None:
    cache = make_replay_cache()
    assert cache.first_use_now(b"k" * 16, expires_at=1e12) is None
    assert "redis://" not in repr(cache)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        pytest.param({"key_prefix": ""}, "key_prefix", id="empty-prefix"),
        pytest.param({"timeout_seconds": 0}, "timeout_seconds", id="no-timeout"),
        pytest.param({"timeout_seconds": float("inf")}, "timeout_seconds", id="endless-timeout"),
    ],
)
def test_a_cache_that_cannot_work_is_refused(options: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        RedisProofReplayCache("redis://127.0.0.1:6379/0", **options)  # type: ignore[arg-type]
