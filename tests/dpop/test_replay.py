"""The replay memory of one process: a proof is accepted once while it is accepted at all,
forgotten when it expires, and bounded without ever accepting a replay (fail closed)."""

from __future__ import annotations

import asyncio

from jwt_middleware.verification.dpop_replay import (
    InMemoryProofReplayCache,
    ProofReplayCache,
    replay_key,
)
from tests.helpers import FakeClock


def test_a_proof_is_accepted_once_until_it_expires() -> None:
    clock = FakeClock(1000)
    cache = InMemoryProofReplayCache(max_entries=10, clock=clock)
    key = replay_key("thumbprint", "jti-1")
    assert cache.first_use_now(key, expires_at=1090) is True
    assert cache.first_use_now(key, expires_at=1090) is False
    assert asyncio.run(cache.first_use(key, expires_at=1090)) is False
    clock.advance(90)
    assert cache.first_use_now(key, expires_at=1200) is True  # forgotten at 1090


def test_a_jti_is_scoped_by_its_key() -> None:
    cache = InMemoryProofReplayCache(max_entries=10, clock=FakeClock(0))
    assert cache.first_use_now(replay_key("key-a", "same"), expires_at=60) is True
    assert cache.first_use_now(replay_key("key-b", "same"), expires_at=60) is True
    assert replay_key("a:b", "c") != replay_key("a", "b:c")


def test_when_full_it_forgets_the_oldest_and_refuses_what_may_be_a_replay_of_it() -> None:
    clock = FakeClock(0)
    cache = InMemoryProofReplayCache(max_entries=3, clock=clock)
    for number in range(3):
        assert cache.first_use_now(replay_key("k", str(number)), expires_at=100 + number)
    # Full: a new proof pushes out the one that expires first (at 100)...
    assert cache.first_use_now(replay_key("k", "new"), expires_at=200) is True
    assert len(cache) == 3
    # ...which, replayed, is refused all the same, as is anything expiring as early.
    assert cache.first_use_now(replay_key("k", "0"), expires_at=100) is False
    assert cache.first_use_now(replay_key("k", "other"), expires_at=99) is False
    # Proofs made later still pass.
    assert cache.first_use_now(replay_key("k", "later"), expires_at=201) is True
    assert len(cache) == 3


def test_the_memory_is_a_replay_cache() -> None:
    assert isinstance(InMemoryProofReplayCache(), ProofReplayCache)
